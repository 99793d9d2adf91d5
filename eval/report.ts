import { barChart, lineChart } from '../core/plot/index.ts';
import { computeMetrics, passKs, type BenchmarkMetrics, type EvalMetrics, type ToolUseStats } from './metrics.ts';
import type { SampleRecord } from './record.ts';
import { splitByPlan, type OutsidePlan, type RunConfig } from './store.ts';

/**
 * What a run writes besides its samples (pure: content only, the caller writes the files):
 * summary.json (settings, status, every metric), report.md (tables people read) and plots/*.svg
 * (accuracy per benchmark, pass@k by k when sampled, accuracy vs executions with the number of
 * solutions per point, accuracy per subject).
 */

export type RunStatus = 'running' | 'done' | 'interrupted' | 'failed';

export interface EvalSummary {
  v: 1;
  status: RunStatus;
  error?: string;
  model: string;
  checkpoint: string;
  backend: string;
  settings: Pick<RunConfig, 'greedy' | 'k' | 'temperature' | 'top_p' | 'max_tool_calls' | 'max_tokens' | 'seed' | 'limit'>;
  progress: { done: number; total: number };
  /** Samples the run directory keeps outside this plan (from invocations with another --limit or --bench); not in the metrics. */
  outside_plan: OutsidePlan;
  created_at: string;
  updated_at: string;
  metrics: EvalMetrics;
}

/** The summary of the run's latest plan (run.json); samples outside it are counted, not scored. */
export function buildSummary(config: RunConfig, records: readonly SampleRecord[], status: RunStatus, error?: string): EvalSummary {
  const { planned, outside } = splitByPlan(config, records);
  const metrics = computeMetrics(planned, { benchmarks: config.benchmarks, k: config.k, greedy: config.greedy });
  const k = config.greedy ? 1 : config.k;
  return {
    v: 1,
    status,
    ...(error !== undefined && { error }),
    model: config.model,
    checkpoint: config.checkpoint,
    backend: config.backend,
    settings: {
      greedy: config.greedy,
      k: config.k,
      temperature: config.temperature,
      top_p: config.top_p,
      max_tool_calls: config.max_tool_calls,
      max_tokens: config.max_tokens,
      seed: config.seed,
      limit: config.limit,
    },
    progress: { done: metrics.benchmarks.reduce((a, b) => a + Math.min(b.samples, b.problems * k), 0), total: config.benchmarks.reduce((a, b) => a + b.problems * k, 0) },
    outside_plan: outside,
    created_at: config.created_at,
    updated_at: new Date().toISOString(),
    metrics,
  };
}

export const plural = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
export const pct = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)}%`);
const fixed = (v: number | null | undefined, digits = 2): string => (v === null || v === undefined ? '–' : v.toFixed(digits));
const int = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : String(Math.round(v)));

/** A Markdown table; cells are escaped so a `|` in a subject name does not break the row. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], align?: readonly ('l' | 'r')[]): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const rule = header.map((_, i) => ((align?.[i] ?? (i === 0 ? 'l' : 'r')) === 'r' ? '---:' : ':---'));
  return [header, rule, ...rows].map((r) => `| ${r.map(cell).join(' | ')} |`).join('\n');
}

/** The settings in a few words, for plot subtitles: "avg@16, T 1, top-p 0.95, ≤ 5 executions". */
export function shortSettings(s: EvalSummary['settings']): string {
  return `${s.greedy ? 'greedy' : `avg@${s.k}, T ${s.temperature}, top-p ${s.top_p}`}, ≤ ${s.max_tool_calls} executions`;
}

export function settingsLine(s: EvalSummary['settings']): string {
  const decoding = s.greedy ? 'greedy decoding' : `avg@${s.k} (temperature ${s.temperature}, top-p ${s.top_p})`;
  return `${decoding}, at most ${s.max_tool_calls} code executions and ${s.max_tokens} generated tokens per solution${s.limit ? `, first ${s.limit} problems per benchmark` : ''}, seed ${s.seed}`;
}

const passKeys = (m: EvalMetrics) => Object.keys(m.benchmarks[0]?.pass_at_k ?? {});

function resultsTable(m: EvalMetrics): string {
  const keys = passKeys(m).filter((key) => key !== 'pass@1'); // pass@1 equals avg@k
  const header = ['benchmark', 'problems', 'samples', m.metric, ...keys];
  const rows = m.benchmarks.map((b) => [
    b.name,
    b.problems_evaluated === b.problems ? String(b.problems) : `${b.problems_evaluated} of ${b.problems}`,
    String(b.samples),
    pct(b.accuracy),
    ...keys.map((key) => pct(b.pass_at_k[key])),
  ]);
  if (m.benchmarks.length > 1) {
    rows.push(['**average**', '', '', `**${pct(m.average.accuracy)}**`, ...keys.map((key) => pct(m.average.pass_at_k[key]))]);
  }
  return table(header, rows);
}

function toolRow(name: string, t: ToolUseStats): string[] {
  return [
    name,
    fixed(t.calls_per_solution),
    pct(t.code_usage_rate),
    pct(t.exec_error_rate),
    pct(t.accuracy_with_code),
    pct(t.accuracy_without_code),
    t.samples_with_exec_error ? `${pct(t.accuracy_after_exec_error)} (${t.samples_with_exec_error})` : '–',
    int(t.response_tokens.mean),
    int(t.tool_tokens_mean),
  ];
}

function toolTable(m: EvalMetrics): string {
  const header = ['benchmark', 'executions / solution', 'used code', 'exec. error rate', 'acc. with code', 'acc. without code', 'acc. after exec. error (n)', 'response tokens', 'tool-output tokens'];
  const rows = m.benchmarks.filter((b) => b.samples > 0).map((b) => toolRow(b.name, b.tool_use));
  if (rows.length > 1) rows.push(toolRow('**all**', m.tool_use));
  return table(header, rows);
}

function callsTable(m: EvalMetrics): string {
  const calls = [...new Set(m.benchmarks.flatMap((b) => b.tool_use.by_calls.map((c) => c.calls)))].sort((a, b) => a - b);
  const header = ['benchmark', ...calls.map((c) => `${c} exec.`)];
  const rows = m.benchmarks.filter((b) => b.samples > 0).map((b) => [
    b.name,
    ...calls.map((c) => {
      const bucket = b.tool_use.by_calls.find((x) => x.calls === c);
      return bucket ? `${pct(bucket.accuracy)} (${bucket.samples})` : '–';
    }),
  ]);
  return table(header, rows);
}

function groupTable(b: BenchmarkMetrics, groups: BenchmarkMetrics['by_subject'], label: string): string {
  return table([label, 'problems', 'samples', 'accuracy'], groups.map((g) => [g.key, String(g.problems), String(g.samples), pct(g.accuracy)]));
}

export const PLOTS = {
  accuracy: 'plots/accuracy.svg',
  toolCalls: 'plots/accuracy-vs-executions.svg',
  passAtK: 'plots/pass-at-k.svg',
  subject: (bench: string) => `plots/subjects-${bench.replace(/[^\w.-]+/g, '_')}.svg`,
} as const;

const percentAxis = (v: number) => `${Math.round(v * 100)}%`;
const percentValue = (v: number) => `${(v * 100).toFixed(v >= 0.995 || v === 0 ? 0 : 1)}%`;

/** The run's SVG plots, by relative path. */
export function buildPlots(summary: EvalSummary): Record<string, string> {
  const m = summary.metrics;
  const subtitle = `${summary.model} · ${shortSettings(summary.settings)}`;
  const scored = m.benchmarks.filter((b) => b.accuracy !== null);
  const plots: Record<string, string> = {};
  if (scored.length === 0) return plots;

  const passKey = summary.settings.greedy ? undefined : `pass@${m.k}`;
  plots[PLOTS.accuracy] = barChart({
    title: 'Accuracy per benchmark',
    subtitle,
    yLabel: summary.settings.greedy ? 'accuracy' : 'share of problems',
    categories: scored.map((b) => b.name),
    series: [
      { name: m.metric, values: scored.map((b) => b.accuracy) },
      ...(passKey && m.k > 1 ? [{ name: passKey, values: scored.map((b) => b.pass_at_k[passKey] ?? null) }] : []),
    ],
    yDomain: [0, 1],
    yFormat: percentAxis,
    valueFormat: percentValue,
  });

  if (!summary.settings.greedy && m.k > 1) {
    // k doubles from tick to tick: a log2 axis spaces them evenly.
    const ks = passKs(m.k);
    const curve = (passAt: Record<string, number | null>) => ks.map((k) => ({ x: Math.log2(k), y: passAt[`pass@${k}`] ?? null }));
    plots[PLOTS.passAtK] = lineChart({
      title: 'pass@k by k',
      subtitle: `${subtitle} · unbiased estimate from ${m.k} samples per problem`,
      xLabel: 'k (samples drawn per problem)',
      yLabel: 'pass@k (share of problems)',
      series: [
        ...scored.map((b) => ({ name: b.name, points: curve(b.pass_at_k) })),
        ...(scored.length > 1 ? [{ name: 'average', points: curve(m.average.pass_at_k), dashed: true }] : []),
      ],
      xTicks: ks.map(Math.log2),
      xFormat: (v) => String(Math.round(2 ** v)),
      yDomain: [0, 1],
      yFormat: percentAxis,
      markers: true,
    });
  }

  const maxCalls = Math.max(0, ...scored.flatMap((b) => b.tool_use.by_calls.map((c) => c.calls)));
  plots[PLOTS.toolCalls] = lineChart({
    title: 'Accuracy by number of code executions',
    subtitle: `${subtitle} · n: solutions at that count`,
    xLabel: 'code executions in the solution',
    yLabel: 'accuracy of those solutions',
    series: scored.map((b) => ({ name: b.name, points: b.tool_use.by_calls.map((c) => ({ x: c.calls, y: c.accuracy, label: `n=${c.samples}` })) })),
    xTicks: Array.from({ length: maxCalls + 1 }, (_, i) => i),
    yDomain: [0, 1],
    yFormat: percentAxis,
    markers: true,
  });

  for (const b of scored) {
    if (b.by_subject.length < 2) continue;
    plots[PLOTS.subject(b.name)] = barChart({
      title: `Accuracy per subject: ${b.name}`,
      subtitle,
      yLabel: m.metric,
      categories: b.by_subject.map((g) => `${g.key} (${g.problems})`),
      series: [{ name: m.metric, values: b.by_subject.map((g) => g.accuracy) }],
      yDomain: [0, 1],
      yFormat: percentAxis,
      valueFormat: percentValue,
    });
  }
  return plots;
}

/** report.md: settings, results, tool use, accuracy by executions, per-subject and per-level tables, plots. */
export function buildReport(summary: EvalSummary, plots: Record<string, string>): string {
  const m = summary.metrics;
  const out: string[] = [];
  out.push(`# Evaluation: ${summary.model}`);
  out.push('');
  out.push(`Checkpoint \`${summary.checkpoint}\` via \`${summary.backend}\`; ${settingsLine(summary.settings)}.`);
  const statusText: Record<RunStatus, string> = {
    running: 'running',
    done: 'complete',
    interrupted: 'interrupted (re-run the same command to resume)',
    failed: `stopped: ${summary.error ?? 'error'} (re-run the same command to resume)`,
  };
  out.push('');
  out.push(`Status: **${statusText[summary.status]}**, ${summary.progress.done} of ${summary.progress.total} samples. Updated ${summary.updated_at}.`);
  const outside = summary.outside_plan;
  if (outside.samples > 0) {
    const limit = summary.settings.limit;
    const plan = limit ? `the first ${plural(limit, 'problem')} of each benchmark` : 'every problem of the benchmarks below';
    out.push(
      '',
      `This report covers ${plan} (the latest invocation); the run directory also holds ${plural(outside.samples, 'sample')} of ${plural(outside.problems, 'problem')} outside it ` +
        '(from invocations with another `--limit` or `--bench`), kept in samples.jsonl and not counted here; an invocation that plans them again reports them.',
    );
  }
  out.push('');
  out.push('## Results');
  out.push('');
  out.push(
    summary.settings.greedy
      ? 'Accuracy: share of problems whose greedy solution is correct.'
      : `avg@${m.k}: per problem the share of its ${m.k} samples that are correct, averaged over problems. pass@k: unbiased estimator 1 − C(n−c, k)/C(n, k) over problems with at least k samples.`,
  );
  out.push('');
  out.push(resultsTable(m));
  if (plots[PLOTS.accuracy]) out.push('', `![Accuracy per benchmark](${PLOTS.accuracy})`);
  if (plots[PLOTS.passAtK]) out.push('', `![pass@k by k](${PLOTS.passAtK})`);
  const errors = m.benchmarks.reduce((a, b) => a + b.errors, 0);
  if (errors > 0) {
    out.push('', `${errors} sample${errors === 1 ? '' : 's'} could not be generated (e.g. the prompt is longer than the model's context) and count as wrong; see \`error\` in samples.jsonl.`);
  }

  if (m.tool_use.samples > 0) {
    out.push('', '## Tool use', '');
    out.push('Per solution (sample). An execution error is a run that ended in error, timeout, memory or output limit; "acc. after exec. error" is the accuracy of solutions that hit at least one (error feedback).');
    out.push('', toolTable(m));
    out.push('', '### Accuracy by number of code executions', '', 'Accuracy of the solutions that ran code that many times (number of solutions in brackets).', '', callsTable(m));
    if (plots[PLOTS.toolCalls]) out.push('', `![Accuracy by number of code executions](${PLOTS.toolCalls})`);
    const finish = [...new Set(m.benchmarks.flatMap((b) => Object.keys(b.finish_reasons)))].sort();
    out.push('', '### How solutions ended', '');
    out.push('stop: the model finished; length: token limit; tool_budget: code past the execution budget; error: could not run.', '');
    out.push(table(['benchmark', ...finish, 'skipped code blocks'], m.benchmarks.filter((b) => b.samples > 0).map((b) => [b.name, ...finish.map((f) => String(b.finish_reasons[f] ?? 0)), String(b.tool_use.skipped_calls)])));
  }

  for (const b of m.benchmarks) {
    if (b.by_subject.length === 0 && b.by_level.length === 0) continue;
    out.push('', `## ${b.name} by subject and level`);
    if (b.by_subject.length) out.push('', groupTable(b, b.by_subject, 'subject'));
    if (plots[PLOTS.subject(b.name)]) out.push('', `![Accuracy per subject: ${b.name}](${PLOTS.subject(b.name)})`);
    if (b.by_level.length) out.push('', groupTable(b, b.by_level, 'level'));
  }
  out.push('', '---', '', 'Per-sample transcripts, answers and grades: `samples.jsonl`; every figure above: `summary.json`.', '');
  return out.join('\n');
}

/** Every derived file of a run, by path relative to the run directory. */
export function buildRunOutputs(config: RunConfig, records: readonly SampleRecord[], status: RunStatus, error?: string): { summary: EvalSummary; files: Record<string, string> } {
  const summary = buildSummary(config, records, status, error);
  const plots = buildPlots(summary);
  return {
    summary,
    files: { 'summary.json': `${JSON.stringify(summary, null, 2)}\n`, 'report.md': buildReport(summary, plots), ...plots },
  };
}
