import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GradingMode } from '../api/grading/index.ts';
import { pct } from './report.ts';
import { readRun, splitByPlan } from './store.ts';
import type { SampleRecord } from './record.ts';

/**
 * Evaluation protocols: a named set of benchmarks, each with its own decoding, run as one
 * `cir eval --protocol NAME` into one directory (a sub-run per benchmark, each resumable as any run),
 * summarised as one table row. `cir-paper` is Table 1 of "Towards Effective Code-Integrated
 * Reasoning" as its seed evaluates (RUCAIBox/CIR evaluation/): MATH500 greedy; AIME24, AIME25, AMC23
 * and OlymMATH (English, easy) avg@16 at temperature 1, top-p 0.95; at most 5 executions; 16,384
 * tokens per turn; the seed's lenient grading; and the unweighted average.
 */
export interface ProtocolBenchmark {
  /** Benchmark file name in the data directory. */
  name: string;
  /** Column heading in the table. */
  label: string;
  greedy: boolean;
  k: number;
  temperature: number;
  topP: number;
}

export interface EvalProtocol {
  name: string;
  benchmarks: ProtocolBenchmark[];
  maxToolCalls: number;
  maxTokensPerTurn: number;
  gradingMode: GradingMode;
  /** Prompt when none is given (see eval/prompts.ts). */
  defaultPrompt: string;
}

const sampled = (name: string, label: string): ProtocolBenchmark => ({ name, label, greedy: false, k: 16, temperature: 1, topP: 0.95 });

export const PROTOCOLS: Record<string, EvalProtocol> = {
  'cir-paper': {
    name: 'cir-paper',
    benchmarks: [
      { name: 'math500', label: 'MATH500', greedy: true, k: 1, temperature: 0, topP: 1 },
      sampled('aime24', 'AIME24'),
      sampled('aime25', 'AIME25'),
      sampled('amc23', 'AMC23'),
      sampled('olymmath_en_easy', 'OlymMATH'),
    ],
    maxToolCalls: 5,
    maxTokensPerTurn: 16_384,
    gradingMode: 'cir-paper',
    defaultPrompt: 'cir-qwen2.5-math',
  },
};

export const PROTOCOL_FILE = 'protocol.json';
export const TABLE_FILE = 'table.md';

/** What a protocol directory records about itself (the sub-runs hold the rest). */
export interface ProtocolRecord {
  protocol: string;
  prompt: string;
  model: string;
  benchmarks: ProtocolBenchmark[];
}

/** One benchmark's figure with its 95% interval, from per-problem accuracies. */
export interface Cell {
  label: string;
  metric: string;
  /** Mean over problems (greedy: accuracy; sampled: avg@k); null without results. */
  value: number | null;
  /** Half-width of the normal 95% interval of that mean (1.96 standard errors over problems). */
  ci95: number | null;
  problems: number;
  /** Per problem id: the share of its samples that are correct. */
  byProblem: Map<string, number>;
}

/** Per-problem accuracy (the share of its first `k` samples that are correct). */
function perProblem(records: readonly SampleRecord[], k: number): Map<string, number> {
  const counts = new Map<string, { correct: number; n: number }>();
  for (const r of records) {
    if (r.sample >= k) continue;
    const c = counts.get(r.id) ?? { correct: 0, n: 0 };
    c.n++;
    if (r.correct) c.correct++;
    counts.set(r.id, c);
  }
  return new Map([...counts].map(([id, c]) => [id, c.correct / c.n]));
}

/** Mean and 95% half-width of values (normal approximation, unbiased variance). */
export function meanCi(values: readonly number[]): { mean: number | null; ci95: number | null } {
  const n = values.length;
  if (n === 0) return { mean: null, ci95: null };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, ci95: null };
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1);
  return { mean, ci95: 1.96 * Math.sqrt(variance / n) };
}

/** A sub-run's samples of its latest plan (another --limit before leaves samples outside it). */
function plannedRecords(dir: string): SampleRecord[] {
  const { config, records } = readRun(dir);
  return splitByPlan(config, records).planned;
}

export function readProtocolRun(dir: string): { record: ProtocolRecord; cells: Cell[] } {
  const file = join(dir, PROTOCOL_FILE);
  if (!existsSync(file)) throw new Error(`${dir}: not a protocol run (no ${PROTOCOL_FILE})`);
  const record = JSON.parse(readFileSync(file, 'utf8')) as ProtocolRecord;
  const cells = record.benchmarks.map((b) => {
    const sub = join(dir, b.name);
    const byProblem = existsSync(sub) ? perProblem(plannedRecords(sub), b.greedy ? 1 : b.k) : new Map<string, number>();
    const { mean, ci95 } = meanCi([...byProblem.values()]);
    return { label: b.label, metric: b.greedy ? 'greedy' : `avg@${b.k}`, value: mean, ci95, problems: byProblem.size, byProblem };
  });
  return { record, cells };
}

/** The Avg column: the unweighted mean of the benchmarks' figures; benchmarks are independent, so variances add. */
export function averageCell(cells: readonly Cell[]): { value: number | null; ci95: number | null } {
  if (cells.length === 0 || cells.some((c) => c.value === null)) return { value: null, ci95: null };
  const value = cells.reduce((a, c) => a + c.value!, 0) / cells.length;
  const ci95 = cells.every((c) => c.ci95 !== null) ? Math.sqrt(cells.reduce((a, c) => a + c.ci95! ** 2, 0)) / cells.length : null;
  return { value, ci95 };
}

const fmt = (value: number | null, ci95: number | null) => (value === null ? 'n/a' : `${pct(value)}${ci95 === null ? '' : ` ± ${(ci95 * 100).toFixed(1)}`}`);

/** Table 1's row for one run, as markdown (the first table of the protocol's report). */
export function protocolTable(dir: string): { markdown: string; json: unknown } {
  const { record, cells } = readProtocolRun(dir);
  const avg = averageCell(cells);
  const header = `| model | ${cells.map((c) => `${c.label} (${c.metric})`).join(' | ')} | Avg |`;
  const rule = `|---|${cells.map(() => '---:').join('|')}|---:|`;
  const row = `| ${record.model} | ${cells.map((c) => fmt(c.value, c.ci95)).join(' | ')} | ${fmt(avg.value, avg.ci95)} |`;
  const markdown =
    `# ${record.protocol}: ${record.model}\n\n${header}\n${rule}\n${row}\n\n` +
    `Accuracy in %, ± the 95% interval over problems (normal approximation); Avg is the unweighted mean of the ` +
    `${cells.length} benchmarks. Prompt: ${record.prompt}. Problems: ${cells.map((c) => `${c.label} ${c.problems}`).join(', ')}. ` +
    `Each benchmark's full report: ${record.benchmarks.map((b) => `[${b.name}](${b.name}/report.md)`).join(', ')}.\n`;
  const json = {
    protocol: record.protocol,
    model: record.model,
    prompt: record.prompt,
    benchmarks: Object.fromEntries(cells.map((c) => [c.label, { metric: c.metric, value: c.value, ci95: c.ci95, problems: c.problems }])),
    average: avg,
  };
  return { markdown, json };
}

export function writeProtocolTable(dir: string): { markdown: string; json: unknown } {
  const table = protocolTable(dir);
  writeFileSync(join(dir, TABLE_FILE), table.markdown);
  writeFileSync(join(dir, 'table.json'), `${JSON.stringify(table.json, null, 2)}\n`);
  return table;
}

/**
 * Table 1 rows of several protocol runs side by side, and each run's paired difference from the
 * first: per benchmark the mean over shared problems of (this run's accuracy - the first's), with its
 * 95% interval over problems; the Avg difference combines the benchmarks' as the Avg column does.
 */
export function compareProtocolRuns(runs: readonly { label: string; dir: string }[]): { markdown: string; json: unknown } {
  const read = runs.map((r) => ({ ...r, ...readProtocolRun(r.dir) }));
  const labels = read[0]!.cells.map((c) => c.label);
  for (const r of read) {
    if (r.record.protocol !== read[0]!.record.protocol) throw new Error(`${r.dir} ran protocol ${r.record.protocol}, ${read[0]!.dir} ran ${read[0]!.record.protocol}: not comparable`);
  }
  const header = `| run | ${labels.join(' | ')} | Avg |`;
  const rule = `|---|${labels.map(() => '---:').join('|')}|---:|`;
  const rows = read.map((r) => {
    const avg = averageCell(r.cells);
    return `| ${r.label} | ${r.cells.map((c) => fmt(c.value, c.ci95)).join(' | ')} | ${fmt(avg.value, avg.ci95)} |`;
  });
  const base = read[0]!;
  const diffs = read.slice(1).map((r) => {
    const cells = r.cells.map((c, i) => {
      const shared = [...c.byProblem.keys()].filter((id) => base.cells[i]!.byProblem.has(id));
      const { mean, ci95 } = meanCi(shared.map((id) => c.byProblem.get(id)! - base.cells[i]!.byProblem.get(id)!));
      return { label: c.label, metric: c.metric, value: mean, ci95, problems: shared.length, byProblem: new Map<string, number>() };
    });
    return { label: r.label, cells, average: averageCell(cells) };
  });
  const signed = (value: number | null, ci95: number | null) => (value === null ? 'n/a' : `${value >= 0 ? '+' : ''}${fmt(value, ci95)}`);
  const diffRows = diffs.map((d) => `| ${d.label} − ${base.label} | ${d.cells.map((c) => signed(c.value, c.ci95)).join(' | ')} | ${signed(d.average.value, d.average.ci95)} |`);
  const markdown =
    `# ${base.record.protocol}\n\n${header}\n${rule}\n${rows.join('\n')}\n` +
    (diffs.length ? `\nPaired differences (points, ± 95% interval over the problems both runs solved):\n\n${header}\n${rule}\n${diffRows.join('\n')}\n` : '');
  const json = {
    protocol: base.record.protocol,
    runs: read.map((r) => ({ label: r.label, dir: r.dir, model: r.record.model, benchmarks: Object.fromEntries(r.cells.map((c) => [c.label, { value: c.value, ci95: c.ci95 }])), average: averageCell(r.cells) })),
    differences: diffs.map((d) => ({ label: d.label, base: base.label, benchmarks: Object.fromEntries(d.cells.map((c) => [c.label, { value: c.value, ci95: c.ci95, problems: c.problems }])), average: d.average })),
  };
  return { markdown, json };
}
