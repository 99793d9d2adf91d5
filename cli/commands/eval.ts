import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../api/config.ts';
import { loadModelBackend, modelSpecFromEnv, type ModelSpec } from '../../api/models/index.ts';
import type { ServedModel } from '../../api/models/served.ts';
import { createNodeSandbox } from '../../api/node-deps.ts';
import { reasoningSettingsFromConfig, type PromptTemplate } from '../../api/reasoning/index.ts';
import type { GradingMode } from '../../api/grading/index.ts';
import { GradingPool } from '../../api/grading/pool/index.ts';
import { BenchmarkError, benchmarksDir, parseBenchList } from '../../eval/benchmarks.ts';
import { compareRuns } from '../../eval/compare.ts';
import { DEFAULT_EVAL_SETTINGS, EvalInputError, loadPlanBenchmarks, prepareEval, type EvalPlan } from '../../eval/harness.ts';
import { loadPrompt } from '../../eval/prompts.ts';
import { compareProtocolRuns, PROTOCOL_FILE, PROTOCOLS, TABLE_FILE, writeProtocolTable } from '../../eval/protocol.ts';
import { ProgressBar, formatDuration } from '../../eval/progress.ts';
import { buildRunOutputs, pct, plural, type EvalSummary } from '../../eval/report.ts';
import { readRun, RunDirError } from '../../eval/store.ts';
import { withEmbeddedModel } from '../embedded-model.ts';
import { UsageError, type CommandIO } from '../io.ts';

export const evalUsage = `usage: cir eval --bench LIST [--backend DIR|URL] [options]
       cir eval --protocol cir-paper [--backend DIR|URL] [--prompt NAME|FILE] [--out DIR] [--limit N] [--concurrency C]
       cir eval compare RUN_DIR RUN_DIR... [--json] [--plot FILE.svg]
       cir eval report RUN_DIR
Evaluates a model on math benchmarks with code-integrated reasoning and writes a run directory:
samples.jsonl (every sample: transcript, answer, correct), summary.json, report.md, plots/*.svg.
A re-run of the same command resumes: finished samples are skipped. Ctrl-C stops cleanly (resumable).
  --bench LIST          comma-separated benchmark names (math500,aime24,...: files NAME.jsonl in --data)
                        or paths to JSONL files with lines { id, problem, answer, subject?, level? }
  --backend DIR|URL     ONNX model directory, or an OpenAI-compatible base URL (http://host:8000/v1);
                        default CIR_MODEL_DIR / CIR_MODEL_URL, else the embedded model (model/default)
  --model NAME          model name on the server (URL backend; default CIR_MODEL_NAME, else the server's only model)
  --tokenizer DIR       the served model's tokenizer files (URL backend; default CIR_MODEL_TOKENIZER_DIR)
  --data DIR            benchmark directory (default CIR_BENCHMARKS_DIR, else ../shared/data/benchmarks)
  --k N                 samples per problem for avg@k / pass@k (default ${DEFAULT_EVAL_SETTINGS.k}; up to 1024, in groups
                        of at most the model's max n; sample i always uses the problem's seed + i)
  --temperature T       sampling temperature (default ${DEFAULT_EVAL_SETTINGS.temperature})
  --top-p P             nucleus sampling (default ${DEFAULT_EVAL_SETTINGS.topP})
  --greedy              one greedy solution per problem (accuracy), instead of k samples
  --max-tool-calls N    code executions per solution (default ${DEFAULT_EVAL_SETTINGS.maxToolCalls})
  --max-tokens N        tokens generated per solution (default: the model's context, at most 4096)
  --limit N             only the first N problems of each benchmark (a run directory keeps the samples of
                        earlier plans; its report covers the latest and counts the rest apart)
  --concurrency C       problems solved at once (default ${DEFAULT_EVAL_SETTINGS.concurrency})
  --seed N              base seed (default ${DEFAULT_EVAL_SETTINGS.seed}); sample i of a problem uses its seed + i
  --retries N           retries of a problem after a backend failure, with doubling pauses, before the
                        run stops resumable (default ${DEFAULT_EVAL_SETTINGS.retries})
  --retry-delay-ms N    first pause (default ${DEFAULT_EVAL_SETTINGS.retryDelayMs})
  --out DIR             run directory (default eval-runs/MODEL-SETTINGS)
  --prompt NAME|FILE    the prompt: default, cir-qwen2.5-math (the paper's, plain text, no chat template),
                        cir-qwen3 (the paper's, user message, thinking off), or a file: JSON {user: "...{problem}...",
                        system?, raw?, template_variables?} or text with {problem}
  --max-tokens-per-turn N  tokens per model turn (between tool outputs), apart from --max-tokens
  --protocol NAME       an evaluation protocol in one run: cir-paper = Table 1 of the paper (MATH500 greedy;
                        AIME24, AIME25, AMC23, OlymMATH avg@16 at T 1, top-p 0.95; 5 executions; 16,384 tokens
                        per turn; the seed's grading; prompt cir-qwen2.5-math unless --prompt). One sub-run per
                        benchmark in --out; table.md (first: the Table 1 row with 95% intervals and Avg)
compare: one table with a column per run (headline metric and pass@k) and tool-use rows; --json prints
  the comparison as JSON instead, --plot writes a grouped bar chart. Protocol runs compare as Table 1 rows
  side by side, with each run's paired difference from the first (± 95% interval over shared problems).
report: rewrites summary.json, report.md and the plots of a run from its samples.jsonl.
Progress goes to stderr, the summary JSON to stdout.
Exit code: 0 complete, 1 stopped by backend failures (resumable), 130 interrupted (resumable), 2 bad input.`;

function intFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new UsageError(`--${name} must be an integer, got "${value}"`);
  return n;
}

function numberFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${value}"`);
  return n;
}

const isUrl = (s: string) => /^https?:\/\//i.test(s);

/** The one model a server lists, for a URL backend given without --model. */
async function onlyServedModel(baseUrl: string, apiKey: string | undefined): Promise<string> {
  const url = `${baseUrl.replace(/\/+$/, '')}/models`;
  let body: { data?: { id?: unknown }[] };
  try {
    const response = await fetch(url, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {}, signal: AbortSignal.timeout(15_000) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    body = (await response.json()) as typeof body;
  } catch (e) {
    throw new BackendUnavailable(`cannot list the models of ${baseUrl} (${url}: ${(e as Error).message}); is the server running? (or give --model)`);
  }
  const ids = (body.data ?? []).map((m) => m.id).filter((id): id is string => typeof id === 'string');
  if (ids.length !== 1) throw new UsageError(`${baseUrl} serves ${ids.length ? ids.join(', ') : 'no models'}: say which with --model`);
  return ids[0]!;
}

class BackendUnavailable extends Error {}

async function modelSpec(values: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv): Promise<{ spec: ModelSpec; label: string }> {
  const backend = values.backend as string | undefined;
  if (backend === undefined) {
    const spec = modelSpecFromEnv(withEmbeddedModel(env));
    if (!spec) throw new UsageError('give --backend DIR|URL (or set CIR_MODEL_DIR or CIR_MODEL_URL)');
    return { spec, label: spec.kind === 'onnx' ? spec.dir : spec.baseUrl };
  }
  if (!isUrl(backend)) return { spec: { kind: 'onnx', dir: resolve(backend) }, label: backend };
  const tokenizerDir = (values.tokenizer as string | undefined) ?? env.CIR_MODEL_TOKENIZER_DIR;
  if (!tokenizerDir) {
    throw new UsageError('a URL backend needs --tokenizer DIR (tokenizer.json + tokenizer_config.json of the served model), or CIR_MODEL_TOKENIZER_DIR');
  }
  const apiKey = env.CIR_MODEL_API_KEY || undefined;
  const model = (values.model as string | undefined) ?? (env.CIR_MODEL_NAME || (await onlyServedModel(backend, apiKey)));
  return {
    spec: {
      kind: 'openai',
      baseUrl: backend,
      model,
      apiKey,
      tokenizerDir: resolve(tokenizerDir),
      ...(env.CIR_MODEL_TIMEOUT_MS && { timeoutMs: Number(env.CIR_MODEL_TIMEOUT_MS) }),
      ...(env.CIR_MODEL_RETRIES && { retries: Number(env.CIR_MODEL_RETRIES) }),
    },
    label: backend,
  };
}

function defaultOutDir(model: string, greedy: boolean, k: number, temperature: number, topP: number, maxToolCalls: number): string {
  const mode = greedy ? 'greedy' : `k${k}-t${temperature}-p${topP}`;
  return resolve('eval-runs', `${basename(model).replace(/[^\w.-]+/g, '_')}-${mode}-tc${maxToolCalls}`);
}

/** What stdout gets: the status and the headline figures (the full summary is in summary.json). */
function briefSummary(summary: EvalSummary, dir: string): unknown {
  const m = summary.metrics;
  return {
    status: summary.status,
    ...(summary.error !== undefined && { error: summary.error }),
    run_dir: dir,
    model: summary.model,
    metric: m.metric,
    progress: summary.progress,
    average: m.average,
    benchmarks: Object.fromEntries(m.benchmarks.map((b) => [b.name, { accuracy: b.accuracy, ...b.pass_at_k, problems: b.problems_evaluated, samples: b.samples }])),
    tool_use: {
      calls_per_solution: m.tool_use.calls_per_solution,
      code_usage_rate: m.tool_use.code_usage_rate,
      exec_error_rate: m.tool_use.exec_error_rate,
    },
  };
}

export async function evalCommand(argv: string[], io: CommandIO): Promise<number> {
  try {
    if (argv[0] === 'compare') return compareCommand(argv.slice(1), io);
    if (argv[0] === 'report') return reportCommand(argv.slice(1), io);
    return await runCommand(argv, io);
  } catch (e) {
    if (e instanceof BenchmarkError || e instanceof RunDirError || e instanceof EvalInputError) {
      io.stderr.write(`cir eval: ${e.message}\n`);
      return 2;
    }
    if (e instanceof BackendUnavailable) {
      io.stderr.write(`cir eval: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

type EvalFlags = Record<string, string | boolean | undefined>;

/** One run directory's worth of work: benchmarks under one set of settings. */
interface EvalJob {
  benches: string[];
  settings: EvalPlan['settings'];
  /** The run directory, once the model's id is known. */
  outDir: (modelId: string) => string;
  prompt?: { name: string; template: PromptTemplate };
  recorded?: EvalPlan['recorded'];
}

async function runCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      bench: { type: 'string' },
      backend: { type: 'string' },
      model: { type: 'string' },
      tokenizer: { type: 'string' },
      data: { type: 'string' },
      k: { type: 'string' },
      temperature: { type: 'string' },
      'top-p': { type: 'string' },
      greedy: { type: 'boolean' },
      'max-tool-calls': { type: 'string' },
      'max-tokens': { type: 'string' },
      limit: { type: 'string' },
      concurrency: { type: 'string' },
      seed: { type: 'string' },
      retries: { type: 'string' },
      'retry-delay-ms': { type: 'string' },
      out: { type: 'string' },
      prompt: { type: 'string' },
      'max-tokens-per-turn': { type: 'string' },
      protocol: { type: 'string' },
    },
  });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (values.protocol !== undefined) return protocolCommand(values, io);
  if (!values.bench) throw new UsageError('give --bench LIST (e.g. --bench math500,aime24), or --protocol cir-paper');
  const greedy = values.greedy ?? false;
  if (greedy && (values.k !== undefined || values.temperature !== undefined || values['top-p'] !== undefined)) {
    throw new UsageError('--greedy takes no --k, --temperature or --top-p');
  }
  const d = DEFAULT_EVAL_SETTINGS;
  const settings = {
    ...commonSettings(values),
    greedy,
    k: intFlag('k', values.k) ?? d.k,
    temperature: numberFlag('temperature', values.temperature) ?? d.temperature,
    topP: numberFlag('top-p', values['top-p']) ?? d.topP,
    maxToolCalls: intFlag('max-tool-calls', values['max-tool-calls']) ?? d.maxToolCalls,
    maxTokens: intFlag('max-tokens', values['max-tokens']),
    ...(values['max-tokens-per-turn'] !== undefined && { maxTokensPerTurn: intFlag('max-tokens-per-turn', values['max-tokens-per-turn']) }),
  };
  const prompt = values.prompt === undefined ? undefined : loadPrompt(values.prompt);
  const job: EvalJob = {
    benches: parseBenchList(values.bench),
    settings,
    outDir: (modelId) => (values.out ? resolve(values.out) : defaultOutDir(modelId, greedy, settings.k, settings.temperature, settings.topP, settings.maxToolCalls)),
    ...(prompt && { prompt, recorded: { prompt: prompt.name } }),
  };
  return executeJobs(values, io, [job]);
}

/** The settings every job shares: seed, concurrency and retries. */
function commonSettings(values: EvalFlags) {
  const d = DEFAULT_EVAL_SETTINGS;
  return {
    seed: intFlag('seed', values.seed as string | undefined) ?? d.seed,
    concurrency: intFlag('concurrency', values.concurrency as string | undefined) ?? d.concurrency,
    retries: intFlag('retries', values.retries as string | undefined) ?? d.retries,
    retryDelayMs: numberFlag('retry-delay-ms', values['retry-delay-ms'] as string | undefined) ?? d.retryDelayMs,
  };
}

/** `--protocol NAME`: one job per benchmark of the protocol, into --out/<benchmark>, then the protocol's table. */
async function protocolCommand(values: EvalFlags, io: CommandIO): Promise<number> {
  const protocol = Object.hasOwn(PROTOCOLS, values.protocol as string) ? PROTOCOLS[values.protocol as string] : undefined;
  if (!protocol) throw new UsageError(`unknown --protocol "${values.protocol}" (known: ${Object.keys(PROTOCOLS).join(', ')})`);
  const fixed = ['bench', 'k', 'greedy', 'temperature', 'top-p', 'max-tool-calls', 'max-tokens', 'max-tokens-per-turn'].filter((f) => values[f] !== undefined);
  if (fixed.length) throw new UsageError(`--protocol ${protocol.name} sets ${fixed.map((f) => `--${f}`).join(', ')} itself`);
  const prompt = loadPrompt((values.prompt as string | undefined) ?? protocol.defaultPrompt);
  let root = '';
  const jobs: EvalJob[] = protocol.benchmarks.map((b) => ({
    benches: [b.name],
    settings: {
      ...commonSettings(values),
      greedy: b.greedy,
      k: b.k,
      temperature: b.greedy ? DEFAULT_EVAL_SETTINGS.temperature : b.temperature,
      topP: b.greedy ? DEFAULT_EVAL_SETTINGS.topP : b.topP,
      maxToolCalls: protocol.maxToolCalls,
      maxTokensPerTurn: protocol.maxTokensPerTurn,
    },
    outDir: (modelId) => {
      root = values.out ? resolve(values.out as string) : resolve('eval-runs', `${basename(modelId).replace(/[^\w.-]+/g, '_')}-${protocol.name}`);
      mkdirSync(root, { recursive: true });
      writeFileSync(join(root, PROTOCOL_FILE), `${JSON.stringify({ protocol: protocol.name, prompt: prompt.name, model: modelId, benchmarks: protocol.benchmarks }, null, 2)}\n`);
      return join(root, b.name);
    },
    prompt,
    recorded: { prompt: prompt.name, gradingMode: protocol.gradingMode },
  }));
  const code = await executeJobs(values, io, jobs, { wholeContext: true });
  if (root) {
    const { markdown } = writeProtocolTable(root);
    io.stderr.write(`\n${markdown}\ncir eval: ${protocol.name} table: ${join(root, TABLE_FILE)}\n`);
  }
  return code;
}

/**
 * Loads the model and the sandbox once and runs the jobs in order, each into its run directory;
 * stops at the first that is interrupted or stopped by backend failures (every one resumes).
 * `wholeContext`: a solution may use the model's whole context (per-turn limits bound it instead).
 */
async function executeJobs(values: EvalFlags, io: CommandIO, jobs: EvalJob[], { wholeContext = false } = {}): Promise<number> {
  const limit = intFlag('limit', values.limit as string | undefined);
  if (limit !== undefined && limit < 1) throw new EvalInputError(`limit must be an integer in [1, 10000000], got ${limit}`);
  const env = process.env;
  const config = loadConfig(env);
  const dataDir = resolve((values.data as string | undefined) ?? benchmarksDir(env));
  // Benchmark files are checked before the model loads, so a typo fails at once.
  const loaded = jobs.map((job) => loadPlanBenchmarks({ benchmarks: job.benches, dataDir, limit }));
  const { spec, label } = await modelSpec(values, env);

  let backend;
  try {
    backend = await loadModelBackend(spec);
  } catch (e) {
    const message = `cannot load the model (${label}): ${(e as Error).message}`;
    throw spec.kind === 'openai' ? new BackendUnavailable(message) : new EvalInputError(message);
  }
  const sandbox = await createNodeSandbox(config).catch(async (e) => {
    await backend.dispose();
    throw e;
  });
  const served: ServedModel = { backend, checkpoint: { version: spec.kind === 'onnx' ? basename(spec.dir) : 'remote' } };
  // Grading in worker threads with a hard deadline: no answer can hold the run.
  const grader = new GradingPool();

  const controller = new AbortController();
  let interrupts = 0;
  let outDir = '';
  const onSignal = (name: string) => {
    interrupts++;
    if (interrupts > 1) {
      io.stderr.write(`\ncir eval: ${name} again, quitting now; finished samples are saved in ${outDir}\n`);
      process.exit(130);
    }
    io.stderr.write(`\ncir eval: ${name}: stopping; finished samples are kept (${name} again to quit at once)\n`);
    controller.abort(new Error(`interrupted by ${name}`));
  };
  const onSigint = () => onSignal('SIGINT');
  const onSigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  try {
    for (const [i, job] of jobs.entries()) {
      outDir = job.outDir(backend.info.id);
      const reasoning = reasoningSettingsFromConfig(config);
      const settings = wholeContext && job.settings.maxTokens === undefined ? { ...job.settings, maxTokens: backend.info.contextLength } : job.settings;
      const prepared = prepareEval(
        { benchmarks: job.benches, dataDir, limit, settings, outDir, backendLabel: label, loaded: loaded[i], ...(job.recorded && { recorded: job.recorded }) },
        {
          served: () => served,
          sandbox,
          grader,
          settings: {
            ...reasoning,
            ...(job.prompt && { prompt: job.prompt.template }),
            ...(job.recorded?.gradingMode && { grading: { ...reasoning.grading, mode: job.recorded.gradingMode } }),
          },
        },
      );
      const sets = prepared.benchmarks.map((b) => `${b.name} (${b.problems.length}${b.problems.length < b.total ? ` of ${b.total}` : ''})`).join(', ');
      io.stderr.write(
        `cir eval: ${backend.info.id} on ${sets}: ${prepared.total} samples` +
          `${prepared.alreadyDone ? `, ${prepared.alreadyDone} already done (resuming)` : ''} → ${outDir}\n`,
      );
      const { outsidePlan } = prepared;
      if (outsidePlan.samples > 0) {
        io.stderr.write(
          `cir eval: ${plural(outsidePlan.samples, 'sample')} of ${plural(outsidePlan.problems, 'problem')} in ${outDir} are outside this plan (another --limit or --bench before): kept, not in this report\n`,
        );
      }
      const bar = new ProgressBar(io.stderr as NodeJS.WritableStream & { isTTY?: boolean });
      const started = Date.now();
      const { outcome, summary } = await prepared.run({ signal: controller.signal, onProgress: (p) => bar.update(p) });
      bar.finish();
      const took = formatDuration(Date.now() - started);
      const table = summary.metrics.benchmarks.map((b) => `  ${b.name.padEnd(18)} ${summary.metrics.metric} ${pct(b.accuracy).padStart(6)}  (${b.samples} samples)`).join('\n');
      io.stderr.write(`${table}\n`);
      if (outcome.status === 'done') io.stderr.write(`cir eval: done in ${took}; report: ${outDir}/report.md\n`);
      else if (outcome.status === 'interrupted') io.stderr.write(`cir eval: interrupted after ${took} with ${outcome.done} of ${outcome.total} samples; re-run the same command to resume\n`);
      else io.stderr.write(`cir eval: stopped: ${outcome.error}\n  ${outcome.done} of ${outcome.total} samples are saved in ${outDir}; re-run the same command to resume once the backend is back\n`);
      io.stdout.write(`${JSON.stringify(briefSummary(summary, outDir))}\n`);
      if (outcome.status !== 'done') return outcome.status === 'interrupted' ? 130 : 1;
    }
    return 0;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
    await Promise.all([sandbox.dispose(), backend.dispose(), grader.dispose()]);
  }
}

/** A run's outputs rebuilt from its samples; complete when every planned sample is there, else partial. */
function rebuild(dir: string): { summary: EvalSummary; files: Record<string, string> } {
  const { config, records } = readRun(dir);
  const draft = buildRunOutputs(config, records, 'done');
  return draft.summary.progress.done >= draft.summary.progress.total ? draft : buildRunOutputs(config, records, 'interrupted');
}

function compareCommand(argv: string[], io: CommandIO): number {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean' }, plot: { type: 'string' } } });
  if (positionals.length === 0) throw new UsageError('give the run directories to compare');
  const labels = positionals.map((dir) => basename(resolve(dir)));
  // Two runs in directories of the same name get their full paths as labels.
  const labelOf = (dir: string, i: number) => (labels.indexOf(labels[i]!) === labels.lastIndexOf(labels[i]!) ? labels[i]! : dir);
  const protocolRuns = positionals.filter((dir) => existsSync(join(dir, PROTOCOL_FILE)));
  if (protocolRuns.length > 0) {
    if (protocolRuns.length !== positionals.length) throw new UsageError('compare protocol runs (cir eval --protocol) with protocol runs only');
    if (values.plot) throw new UsageError('--plot applies to benchmark runs, not protocol runs');
    const { markdown, json } = compareProtocolRuns(positionals.map((dir, i) => ({ label: labelOf(dir, i), dir })));
    io.stdout.write(values.json ? `${JSON.stringify(json)}\n` : markdown);
    return 0;
  }
  const runs = positionals.map((dir, i) => ({ label: labelOf(dir, i), summary: rebuild(dir).summary }));
  const { markdown, svg, json } = compareRuns(runs);
  if (values.plot) writeFileSync(values.plot, svg);
  io.stdout.write(values.json ? `${JSON.stringify(json)}\n` : markdown);
  return 0;
}

function reportCommand(argv: string[], io: CommandIO): number {
  const { positionals } = parseArgs({ args: argv, allowPositionals: true, options: {} });
  if (positionals.length !== 1) throw new UsageError('give one run directory');
  const dir = resolve(positionals[0]!);
  const { summary, files } = rebuild(dir);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(resolve(dir, path)), { recursive: true });
    writeFileSync(resolve(dir, path), content);
  }
  io.stdout.write(`${JSON.stringify(briefSummary(summary, dir))}\n`);
  return 0;
}
