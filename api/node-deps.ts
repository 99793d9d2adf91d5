import type { Config } from './config.ts';
import { createSandboxFromConfig, type Sandbox } from './sandbox/index.ts';
import type { Executor, Language } from './sandbox/types.ts';
import { createQuickJSNodeExecutor } from './sandbox/quickjs/node.ts';
import { createPythonExecutor, probePython } from './sandbox/python/index.ts';
import { createSandboxFusionExecutor } from './sandbox/sandboxfusion.ts';

/**
 * Builds the sandbox for Node hosts from the validated config: QuickJS for JavaScript, and for
 * Python the bwrap executor when the host has it, or a remote SandboxFusion server when configured.
 * Shared by `cir serve` and `cir exec` so both run code identically; `shared`: the server's, whose
 * callers get their shares of each executor (CIR_EXEC_CALLER_*).
 */
export interface NodeSandboxOptions {
  /** The server's sandbox, whose callers get their shares of each executor. */
  shared?: boolean;
  /**
   * The language of one snippet and done (`cir exec`): only its executor starts, one sandbox of it, and no
   * preloaded Python sandboxes: a snippet importing sympy pays that import once either way (0.87-0.92 s
   * per `cir exec` with or without a sympy-preloaded sandbox), and warming them costs ~0.4 s of CPU.
   */
  oneShot?: Language;
}

export async function createNodeSandbox(config: Config, { shared = false, oneShot }: NodeSandboxOptions = {}): Promise<Sandbox> {
  const executors: Executor[] = [];
  const unavailableReasons: Partial<Record<Language, string>> = {};
  const concurrency = oneShot ? 1 : config.CIR_EXEC_CONCURRENCY;
  const wanted = (language: Language) => !oneShot || oneShot === language;
  const notStarted = (language: Language) => `not started: this one-shot run is ${oneShot}, not ${language}`;
  if (wanted('javascript')) executors.push(createQuickJSNodeExecutor({ threads: concurrency }));
  else unavailableReasons.javascript = notStarted('javascript');
  const pythonMode = wanted('python') ? config.CIR_PYTHON_EXECUTOR : null;
  if (!pythonMode) unavailableReasons.python = notStarted('python');

  const remote = () =>
    createSandboxFusionExecutor({ url: config.CIR_SANDBOX_URL!, apiKey: config.CIR_SANDBOX_API_KEY, languages: ['python'] });

  switch (pythonMode) {
    case 'off':
      unavailableReasons.python = 'disabled by CIR_PYTHON_EXECUTOR=off';
      break;
    case 'remote':
      executors.push(remote());
      break;
    case 'auto':
    case 'bwrap': {
      const probe = await probePython({ pythonBin: config.CIR_PYTHON_BIN });
      if (probe.available) {
        const python = createPythonExecutor({
          pythonBin: config.CIR_PYTHON_BIN,
          poolSize: concurrency,
          preloadModules: oneShot ? [] : config.CIR_PYTHON_PRELOAD,
        });
        const gaps = python.containment.not_contained;
        // Said once at start-up as well as in /v1/info: an operator should not have to look to learn it.
        for (const gap of gaps) console.warn(`python sandbox: not contained on this host: ${gap}`);
        executors.push(python);
      } else if (pythonMode === 'bwrap') {
        throw new Error(`CIR_PYTHON_EXECUTOR=bwrap but the Python sandbox is unavailable: ${probe.reason}`);
      } else if (config.CIR_SANDBOX_URL) {
        executors.push(remote());
      } else {
        unavailableReasons.python = `${probe.reason} (install bubblewrap and python3, or set CIR_SANDBOX_URL)`;
      }
      break;
    }
  }

  return createSandboxFromConfig(config, executors, unavailableReasons, shared);
}
