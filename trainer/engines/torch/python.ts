/**
 * Which Python runs the torch engine, and what it can do. The default is `$CIR_TORCH_PYTHON`, else the
 * project's `.venv` (made by `npm run setup:python`), else `python3` on PATH. `probeTorchPython` asks
 * the interpreter what it has, so a missing interpreter, torch, transformers or CUDA is reported as a
 * sentence naming what to install before any training starts.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const PROJECT_VENV_PYTHON = join(PROJECT_ROOT, '.venv', 'bin', 'python');

const SETUP_HINT = 'run `npm run setup:python` (a .venv with torch and transformers) or set CIR_TORCH_PYTHON to an interpreter that has them';

export function defaultTorchPython(env: Record<string, string | undefined> = process.env): string {
  if (env.CIR_TORCH_PYTHON) return env.CIR_TORCH_PYTHON;
  return existsSync(PROJECT_VENV_PYTHON) ? PROJECT_VENV_PYTHON : 'python3';
}

export interface TorchPythonInfo {
  python: string;
  torch: string;
  transformers: string;
  /** CUDA devices torch can use (0 on a CPU build or without a driver). */
  cudaDevices: number;
  /** Why CUDA is unusable, when it is (e.g. a CPU build of torch). */
  cudaReason?: string;
  bf16: boolean;
}

const PROBE = `
import json, sys
out = {}
try:
    import torch
    out["torch"] = torch.__version__
except Exception as e:
    out["error"] = "torch is not importable (%s: %s)" % (type(e).__name__, e)
    print(json.dumps(out)); sys.exit(0)
try:
    import transformers
    out["transformers"] = transformers.__version__
except Exception as e:
    out["error"] = "transformers is not importable (%s: %s)" % (type(e).__name__, e)
    print(json.dumps(out)); sys.exit(0)
out["cuda_devices"] = torch.cuda.device_count() if torch.cuda.is_available() else 0
if out["cuda_devices"] == 0:
    out["cuda_reason"] = "torch %s was built without CUDA" % torch.__version__ if torch.version.cuda is None else "torch %s (CUDA %s) sees no GPU: check the driver and CUDA_VISIBLE_DEVICES" % (torch.__version__, torch.version.cuda)
out["bf16"] = bool(out["cuda_devices"] and torch.cuda.is_bf16_supported())
print(json.dumps(out))
`;

/** Asks `python` for its torch, transformers and CUDA; throws an Error saying what to install when something is missing. */
export function probeTorchPython(python: string): Promise<TorchPythonInfo> {
  return new Promise((resolvePromise, reject) => {
    execFile(python, ['-c', PROBE], { timeout: 300_000 }, (error, stdout, stderr) => {
      if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error(`no Python interpreter at "${python}": ${SETUP_HINT}`));
        return;
      }
      let parsed: { torch?: string; transformers?: string; cuda_devices?: number; cuda_reason?: string; bf16?: boolean; error?: string };
      try {
        parsed = JSON.parse(stdout.trim().split('\n').at(-1) ?? '');
      } catch {
        reject(new Error(`"${python}" could not be asked about torch (${error?.message ?? 'no answer'}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
        return;
      }
      if (parsed.error) {
        reject(new Error(`${python}: ${parsed.error}; ${SETUP_HINT}`));
        return;
      }
      resolvePromise({
        python,
        torch: parsed.torch!,
        transformers: parsed.transformers!,
        cudaDevices: parsed.cuda_devices ?? 0,
        cudaReason: parsed.cuda_reason,
        bf16: parsed.bf16 ?? false,
      });
    });
  });
}
