/**
 * Held-out accuracy of a model directory with tools vs without, through the real rollout loop:
 *
 *   npx tsx model/eval.ts --model DIR [--split heldout] [--count 120] [--seed 0] [--budget 2]
 *                         [--sweep 1,3,4] [--n 1] [--temperature 0] [--max-tokens 768] [--threads 1]
 *                         [--baseline DIR] [--out FILE]
 *
 * Writes one JSON object to FILE (--out; with the headline figures on stdout), else to stdout (with
 * the headline figures on stderr): { model, split, count, with_tools: EvalReport,
 * without_tools: EvalReport, lift, by_budget?, baseline? } (lift = accuracy with tools minus
 * without, in points; by_budget: accuracy and tool use at each --sweep budget, the effect of the
 * budget; baseline: the --baseline model with tools on the same problems and samples, and the
 * paired difference model − baseline with its 95% interval, e.g. after RL vs the warm start).
 * Progress on stderr.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { loadModelBackend } from '../api/models/index.ts';
import { Sandbox } from '../api/sandbox/index.ts';
import { createQuickJSNodeExecutor } from '../api/sandbox/quickjs/node.ts';
import type { ServedModel } from '../api/models/served.ts';
import { parseScriptArgs } from '../scripts/args.ts';
import { Progress } from '../trainer/run/progress.ts';
import { evaluate, pairedDifference, type EvalReport, type PairedDifference } from './evaluate.ts';
import { generateProblems, SPLITS } from './tasks/generate.ts';

const USAGE =
  'usage: npx tsx model/eval.ts --model DIR [--split heldout] [--count 120] [--seed 0] [--budget 2] [--sweep 1,3,4] [--n 1] [--temperature 0] [--max-tokens 768] [--threads 1] [--baseline DIR] [--out FILE]';

const args = parseScriptArgs(USAGE, {
  options: {
    model: { type: 'string' },
    split: { type: 'string', default: 'heldout' },
    count: { type: 'string', default: '120' },
    seed: { type: 'string', default: '0' },
    budget: { type: 'string', default: '2' },
    sweep: { type: 'string', default: '' },
    n: { type: 'string', default: '1' },
    temperature: { type: 'string', default: '0' },
    'max-tokens': { type: 'string', default: '768' },
    threads: { type: 'string', default: '1' },
    baseline: { type: 'string' },
    out: { type: 'string' },
  },
});
const { values } = args;
const ints = {
  count: args.int('count', 1),
  seed: args.int('seed', 0),
  budget: args.int('budget', 0),
  n: args.int('n', 1),
  'max-tokens': args.int('max-tokens', 1),
  threads: args.int('threads', 1),
};
const temperature = args.number('temperature', 0);
const split = args.oneOf('split', SPLITS);
const sweep = values.sweep === '' ? [] : values.sweep!.split(',').map(Number);
if (sweep.some((b) => !Number.isSafeInteger(b) || b < 0)) args.fail(`--sweep must list budgets like 1,3,4; got ${values.sweep}`);
const modelDir = (name: 'model' | 'baseline'): string => {
  const dir = resolve(args.required(name));
  if (!existsSync(join(dir, 'model.onnx'))) args.fail(`--${name} ${dir} has no model.onnx`);
  return dir;
};
const dir = modelDir('model');
const baselineDir = values.baseline === undefined ? undefined : modelDir('baseline');

const backend = await loadModelBackend({ kind: 'onnx', dir, threads: ints.threads });
const sandbox = new Sandbox({
  executors: [createQuickJSNodeExecutor({ threads: 1 })],
  limits: {
    maxCodeBytes: 64 * 1024,
    timeoutMs: { default: 5000, max: 5000 },
    memoryMb: { default: 256, max: 256 },
    outputBytes: { default: 64 * 1024, max: 64 * 1024 },
  },
  queueLimit: 64,
});
try {
  const progress = new Progress(process.stderr);
  const problems = generateProblems({ split, count: ints.count, seed: ints.seed });
  const served = { backend, checkpoint: { version: 'eval' } };
  const run = (budget: number, label: string, model: ServedModel = served) =>
    evaluate(model, sandbox, problems, {
      budget,
      n: ints.n,
      temperature,
      maxTokens: ints['max-tokens'],
      seed: ints.seed,
      onProblem: (done, total) => progress.update(label, done, total),
    }).finally(() => progress.clear());
  const withTools = await run(ints.budget, `with tools (budget ${ints.budget})`);
  const withoutTools = await run(0, 'without tools (budget 0)');
  const lift = Math.round((withTools.accuracy - withoutTools.accuracy) * 1000) / 10;
  const byBudget: Record<string, { accuracy: number; toolCallsPerSample: number; toolCallRate: number }> = {};
  for (const budget of sweep) {
    const r = await run(budget, `budget ${budget}`);
    byBudget[budget] = { accuracy: r.accuracy, toolCallsPerSample: r.toolCallsPerSample, toolCallRate: r.toolCallRate };
  }
  let baseline: Record<string, unknown> | undefined;
  if (baselineDir !== undefined) {
    const baselineBackend = await loadModelBackend({ kind: 'onnx', dir: baselineDir, threads: ints.threads });
    try {
      const report = await run(ints.budget, `baseline with tools (budget ${ints.budget})`, { backend: baselineBackend, checkpoint: { version: 'baseline' } });
      baseline = { model: baselineDir, with_tools: report, difference: pairedDifference(report.perProblem, withTools.perProblem) };
    } finally {
      await baselineBackend.dispose();
    }
  }
  const report = {
    model: dir,
    split,
    count: problems.length,
    with_tools: withTools,
    without_tools: withoutTools,
    lift,
    ...(sweep.length > 0 && { by_budget: byBudget }),
    ...(baseline && { baseline }),
  };
  const headline = summary(withTools, withoutTools, byBudget, baseline?.with_tools as EvalReport | undefined, baseline?.difference as PairedDifference | undefined);
  if (values.out) {
    // Per-problem records make thousands of lines: a file, with the headline figures on the terminal.
    const out = resolve(values.out);
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`${headline}every figure: ${out}\n`);
  } else {
    console.log(JSON.stringify(report, null, 2));
    process.stderr.write(headline);
  }
} finally {
  await backend.dispose();
  await sandbox.dispose();
}

/** The headline figures, for a person reading the terminal (the JSON on stdout has everything). */
function summary(
  withTools: EvalReport,
  withoutTools: EvalReport,
  byBudget: Record<string, { accuracy: number }>,
  baseline: EvalReport | undefined,
  difference: PairedDifference | undefined,
): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const sets = (r: EvalReport) => Object.entries(r.byPhrasingSet).map(([k, b]) => `${k} ${pct(b.accuracy)}`).join(', ');
  const lines = [
    `with tools (budget ${withTools.budget}): ${pct(withTools.accuracy)} (${sets(withTools)}); ${withTools.toolCallsPerSample.toFixed(2)} tool calls per sample`,
    `without tools: ${pct(withoutTools.accuracy)}; lift ${((withTools.accuracy - withoutTools.accuracy) * 100).toFixed(1)} points`,
    ...Object.entries(byBudget).map(([budget, r]) => `budget ${budget}: ${pct(r.accuracy)}`),
  ];
  if (baseline && difference) {
    lines.push(
      `baseline with tools: ${pct(baseline.accuracy)} (${sets(baseline)})`,
      `model - baseline, paired over ${difference.problems} problems: ${difference.points} points, 95% interval [${difference.ci95.join(', ')}]; ` +
        `${difference.better} ${difference.better === 1 ? 'problem' : 'problems'} better, ${difference.worse} worse`,
    );
  }
  return `${lines.join('\n')}\n`;
}
