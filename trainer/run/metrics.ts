import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { lineChart } from '../../core/plot/index.ts';
import { writeFileAtomic } from '../../core/storage/atomic-file.ts';
import type { BatchStats } from '../batch/types.ts';
import type { RlStepMetrics } from '../engines/types.ts';
import { isNotFound } from './files.ts';
import type { StepMetrics } from './state.ts';

/**
 * Per-step metrics: one JSON line per committed step in `<run>/metrics.jsonl`, and SVG plots of them
 * in `<run>/plots/`. The names follow verl where it has one (`actor/pg_clipfrac` → clip_fraction).
 */

/** The metrics line of one step: the batch (what the rollouts did) and the update (what the engine did). */
export function stepMetrics(step: number, version: string, toolBudget: number, stats: BatchStats, updates: readonly RlStepMetrics[]): StepMetrics {
  const mean = (pick: (m: RlStepMetrics) => number) => (updates.length === 0 ? null : updates.reduce((s, m) => s + pick(m), 0) / updates.length);
  const seconds = updates.reduce((s, m) => s + m.seconds, 0);
  const tokens = updates.reduce((s, m) => s + m.tokens, 0);
  return {
    step,
    version,
    time: new Date().toISOString(),
    tool_budget: toolBudget,
    records: stats.records,
    groups: stats.groups,
    kept_groups: stats.keptGroups,
    samples: stats.samples,
    reward: stats.meanReward,
    accuracy: stats.accuracy,
    tool_call_rate: stats.toolCallRate,
    tool_calls_per_sample: stats.toolCallsPerSample,
    response_length: stats.meanResponseLength,
    loss_tokens: stats.lossTokens,
    void_turns_filtered: stats.voidTurnsFiltered,
    updates: updates.length,
    entropy: mean((m) => m.entropy),
    clip_fraction: mean((m) => m.pg_clipfrac),
    clip_fraction_lower: mean((m) => m.pg_clipfrac_lower),
    loss: mean((m) => m.loss),
    pg_loss: mean((m) => m.pg_loss),
    ppo_kl: mean((m) => m.ppo_kl),
    kl: mean((m) => m.kl),
    grad_norm: mean((m) => m.grad_norm),
    lr: updates.at(-1)?.lr ?? null,
    seconds,
    tokens_per_s: seconds > 0 ? tokens / seconds : null,
  };
}

/** The numeric metrics, for the manifest (which only holds numbers). */
export function numericMetrics(metrics: StepMetrics): Record<string, number> {
  return Object.fromEntries(Object.entries(metrics).filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1])));
}

export async function readMetrics(path: string): Promise<StepMetrics[]> {
  return parseMetricLines(await readText(path));
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (isNotFound(error)) return '';
    throw error;
  }
}

/** A line cut short by a crash mid-append is not a step (it is rewritten from the state). */
function parseMetricLines(text: string): StepMetrics[] {
  return text.split('\n').flatMap((line) => {
    try {
      return line ? [JSON.parse(line) as StepMetrics] : [];
    } catch {
      return [];
    }
  });
}

/**
 * Makes metrics.jsonl end with `last` (the committed step's metrics, kept in the state): appends it
 * normally, and rewrites the file when a crash left a torn line or a line for `last` already there.
 */
export async function appendMetrics(path: string, last: StepMetrics): Promise<StepMetrics[]> {
  const text = await readText(path);
  const lines = parseMetricLines(text);
  const earlier = lines.filter((m) => Number(m.step) < Number(last.step));
  const all = [...earlier, last];
  const intact = earlier.length === lines.length && lines.length === text.split('\n').filter(Boolean).length;
  if (intact && (text === '' || text.endsWith('\n'))) await appendFile(path, `${JSON.stringify(last)}\n`);
  else await writeFileAtomic(path, new TextEncoder().encode(all.map((m) => `${JSON.stringify(m)}\n`).join('')), join(path, '..', '.tmp'));
  return all;
}

/** What gets a plot: file name, title, and the series drawn from the metric lines. */
const PLOTS: { file: string; title: string; yLabel: string; series: { name: string; key: string }[]; unit?: boolean }[] = [
  { file: 'reward.svg', title: 'Reward and accuracy', yLabel: 'per record', series: [{ name: 'mean reward', key: 'reward' }, { name: 'accuracy', key: 'accuracy' }] },
  { file: 'tool-calls.svg', title: 'Tool use', yLabel: 'per record', series: [{ name: 'tool-call rate', key: 'tool_call_rate' }, { name: 'tool calls per sample', key: 'tool_calls_per_sample' }, { name: 'tool budget', key: 'tool_budget' }] },
  { file: 'response-length.svg', title: 'Response length', yLabel: 'tokens', series: [{ name: 'mean response length', key: 'response_length' }] },
  { file: 'entropy.svg', title: 'Policy entropy', yLabel: 'nats per token', series: [{ name: 'entropy', key: 'entropy' }] },
  { file: 'clip-fraction.svg', title: 'PPO clip fraction', yLabel: 'fraction of loss tokens', series: [{ name: 'clipped', key: 'clip_fraction' }, { name: 'dual-clipped', key: 'clip_fraction_lower' }] },
  { file: 'loss.svg', title: 'Loss', yLabel: 'loss', series: [{ name: 'loss', key: 'loss' }, { name: 'policy loss', key: 'pg_loss' }] },
];

/** Redraws every plot from the metric lines. Returns the files written. */
export async function writePlots(dir: string, metrics: readonly StepMetrics[], subtitle: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const plot of PLOTS) {
    const svg = lineChart({
      title: plot.title,
      subtitle,
      xLabel: 'step',
      yLabel: plot.yLabel,
      series: plot.series.map((s) => ({
        name: s.name,
        points: metrics.map((m) => ({ x: Number(m.step), y: typeof m[s.key] === 'number' ? (m[s.key] as number) : null })),
      })),
    });
    const path = join(dir, plot.file);
    await writeFileAtomic(path, new TextEncoder().encode(svg), join(dir, '.tmp'));
    written.push(path);
  }
  return written;
}
