/**
 * The supervised warm start of the default model on the cpu engine:
 *
 *   npx tsx model/train-warmstart.ts --out DIR [--steps 1600] [--batch 24] [--lr 2e-3] [--warmup 20]
 *       [--count 10000] [--copy-drills N] [--init MODEL_DIR] [--seed 0] [--threads 1] [--eval-every 100]
 *       [--save-every 250] [--max-steps-this-run N] [--resume]
 *
 * Builds `--count` warm-start examples (noisy mix, every code block run in the QuickJS sandbox)
 * plus `--copy-drills` copy drills (default: as many; sft.ts copyDrill), shuffled together, then
 * trains with masked cross-entropy from a fresh init or from `--init` (a model directory).
 * Writes into DIR:
 *   model/         the exported model (ONNX + config + tokenizer), servable by the API, every --save-every steps and at the end
 *   state/         optimizer state, for --resume
 *   metrics.jsonl  one line per step: loss, accuracy, lr, grad norm, tokens, seconds, tokens/s, eval loss
 * `--resume` continues from DIR/model + DIR/state at the step it reached, on the same batches.
 * Progress on stderr; a JSON summary on stdout.
 */
import { existsSync } from 'node:fs';
import { appendFile, mkdir, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadTokenizer } from '../api/models/tokenizer.ts';
import { createQuickJSNodeExecutor } from '../api/sandbox/quickjs/node.ts';
import { countParameters } from '../core/onnx/decoder.ts';
import { parseScriptArgs } from '../scripts/args.ts';
import { createCpuEngine } from '../trainer/engines/cpu/engine.ts';
import { Progress } from '../trainer/run/progress.ts';
import type { Engine } from '../trainer/engines/types.ts';
import { DEFAULT_INIT_STD, DEFAULT_MODEL_CONFIG } from './config.ts';
import { buildCopyDrills, buildDataset, datasetStats } from './data.ts';
import type { SupervisedSequence } from '../trainer/batch/types.ts';
import { DEFAULT_WARMSTART, runWarmstart, type WarmstartSchedule } from './warmstart.ts';
import { writeVocabFiles } from './vocab.ts';

const USAGE =
  'usage: npx tsx model/train-warmstart.ts --out DIR [--steps 1600] [--batch 24] [--lr 2e-3] [--warmup 20] [--count 10000] [--seed 0] ' +
  '[--copy-drills N] [--init MODEL_DIR] [--threads 1] [--eval-every 100] [--save-every 250] [--max-steps-this-run N] [--resume]';

const args = parseScriptArgs(USAGE, {
  options: {
    out: { type: 'string' },
    steps: { type: 'string', default: String(DEFAULT_WARMSTART.steps) },
    batch: { type: 'string', default: String(DEFAULT_WARMSTART.batchSize) },
    lr: { type: 'string', default: String(DEFAULT_WARMSTART.lr) },
    warmup: { type: 'string', default: String(DEFAULT_WARMSTART.warmupSteps) },
    count: { type: 'string', default: '10000' },
    'copy-drills': { type: 'string' },
    init: { type: 'string' },
    seed: { type: 'string', default: '0' },
    threads: { type: 'string', default: '1' },
    'eval-every': { type: 'string', default: '100' },
    'save-every': { type: 'string', default: '250' },
    'max-steps-this-run': { type: 'string' },
    resume: { type: 'boolean', default: false },
  },
});

const { values, fail, int } = args;
const out = resolve(args.required('out'));
const lr = args.number('lr', 0, true);
const schedule: WarmstartSchedule = {
  ...DEFAULT_WARMSTART,
  steps: int('steps', 1),
  batchSize: int('batch', 1),
  lr,
  warmupSteps: int('warmup', 0),
  seed: int('seed', 0),
};
const count = int('count', 1);
const copyDrills = values['copy-drills'] === undefined ? count : int('copy-drills', 0);
const init = values.init === undefined ? undefined : resolve(values.init);
if (init !== undefined && !existsSync(join(init, 'model.onnx'))) fail(`--init ${init} has no model.onnx`);
const threads = int('threads', 1);
const evalEvery = int('eval-every', 0);
const saveEvery = int('save-every', 0);
const maxStepsThisRun = values['max-steps-this-run'] === undefined ? undefined : int('max-steps-this-run', 1);

const modelDir = join(out, 'model');
const stateDir = join(out, 'state');
const tokenizerDir = join(out, 'tokenizer');
const metricsFile = join(out, 'metrics.jsonl');
await mkdir(out, { recursive: true });
await writeVocabFiles(tokenizerDir, DEFAULT_MODEL_CONFIG.maxPositionEmbeddings);
const tokenizer = await loadTokenizer(tokenizerDir);

const started = performance.now();
const executor = createQuickJSNodeExecutor({ threads: 1 });
const progress = new Progress(process.stderr);
let data: SupervisedSequence[];
let evalData: SupervisedSequence[];
try {
  const items = await buildDataset(executor, tokenizer, { split: 'warmstart', count, seed: schedule.seed, onExample: (done, total) => progress.update('warm-start data', done, total) });
  progress.clear();
  data = [...items.map((i) => i.example), ...buildCopyDrills(tokenizer, copyDrills, schedule.seed)];
  console.error(`data: ${count} examples + ${copyDrills} copy drills in ${((performance.now() - started) / 1000).toFixed(1)} s: ${JSON.stringify(datasetStats(items))}`);
  // Held-out loss is measured on correct solutions of problems with phrasings the warm start never sees.
  const heldout = await buildDataset(executor, tokenizer, { split: 'heldout', count: 32, seed: schedule.seed, mix: { clean: 1, bug: 0, recover: 0, no_tools: 0 } });
  evalData = heldout.map((i) => i.example);
} finally {
  await executor.dispose();
}

const resuming = values.resume && existsSync(join(stateDir, 'optimizer.json'));
const engineOptions = { threads, optimizer: { lr: schedule.lr, weightDecay: 0.01, maxGradNorm: 1 } };
const startDir = resuming ? modelDir : init;
const engine: Engine = await createCpuEngine(
  startDir !== undefined
    ? { kind: 'model-dir', dir: startDir }
    : { kind: 'fresh', config: DEFAULT_MODEL_CONFIG, seed: schedule.seed, initStd: DEFAULT_INIT_STD, tokenizerDir },
  engineOptions,
);
if (resuming) await engine.loadState(stateDir);
else await rm(metricsFile, { force: true });
console.error(
  `${resuming ? `resuming at step ${engine.optimizerSteps}` : (init ?? 'fresh')}: ${(countParameters(engine.config) / 1e6).toFixed(2)}M parameters, ` +
    `${schedule.steps} steps of ${schedule.batchSize} sequences, lr ${schedule.lr}, ${threads} thread(s)`,
);

/** Exports model and optimizer state side by side, each replaced only once complete. */
async function save(): Promise<void> {
  for (const [dir, write] of [
    [modelDir, (d: string) => engine.exportOnnx(d)],
    [stateDir, (d: string) => engine.saveState(d)],
  ] as const) {
    const staging = `${dir}.tmp`;
    await rm(staging, { recursive: true, force: true });
    await write(staging);
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
  }
}

const trainStarted = performance.now();
let tokens = 0;
try {
  const history = await runWarmstart(engine, data, {
    schedule,
    maxStepsThisRun,
    evalEvery,
    evalExamples: evalData,
    onStep: async (m) => {
      tokens += m.tokens;
      await appendFile(metricsFile, `${JSON.stringify(m)}\n`);
      const elapsed = (performance.now() - trainStarted) / 1000;
      process.stderr.write(
        `step ${m.step}/${schedule.steps} loss ${m.loss.toFixed(3)} acc ${m.accuracy.toFixed(3)} lr ${m.lr.toExponential(2)} ` +
          `${m.tokensPerSecond.toFixed(0)} tok/s${m.evalLoss !== undefined ? ` eval ${m.evalLoss.toFixed(3)}` : ''} (${elapsed.toFixed(0)} s)\n`,
      );
      if (saveEvery > 0 && m.step % saveEvery === 0) await save();
    },
  });
  await save();
  const seconds = (performance.now() - trainStarted) / 1000;
  const lastEval = history.findLast((m) => m.evalLoss !== undefined)?.evalLoss;
  console.log(
    JSON.stringify(
      {
        out,
        model: modelDir,
        parameters: countParameters(engine.config),
        steps_run: history.length,
        step: engine.optimizerSteps,
        steps_total: schedule.steps,
        first_loss: history[0]?.loss,
        last_loss: history.at(-1)?.loss,
        last_eval_loss: lastEval,
        tokens,
        seconds,
        tokens_per_second: tokens / seconds,
        estimated_full_run_seconds: (schedule.steps * (seconds / Math.max(1, history.length))),
      },
      null,
      2,
    ),
  );
} finally {
  await engine.dispose();
}
