import { barChart } from '../core/plot/index.ts';
import { pct, settingsLine, table, type EvalSummary } from './report.ts';

/**
 * Side-by-side comparison of runs (pure): a Markdown table with one row per benchmark and one
 * column per run (its headline metric, and its pass@k when it sampled), tool-use rows below, and a
 * grouped bar chart. Runs may cover different benchmarks; missing cells show "–".
 */

export interface NamedSummary {
  /** How the run is called in the table (its directory name). */
  label: string;
  summary: EvalSummary;
}

function headline(s: EvalSummary): string {
  return s.metrics.metric;
}

export function compareRuns(runs: readonly NamedSummary[]): { markdown: string; svg: string; json: unknown } {
  if (runs.length === 0) throw new RangeError('compare needs at least one run');
  const benchmarks = [...new Set(runs.flatMap((r) => r.summary.metrics.benchmarks.filter((b) => b.samples > 0).map((b) => b.name)))];
  const byName = (r: NamedSummary, name: string) => r.summary.metrics.benchmarks.find((b) => b.name === name && b.samples > 0);
  const passKey = (r: NamedSummary) => (r.summary.settings.greedy || r.summary.metrics.k === 1 ? undefined : `pass@${r.summary.metrics.k}`);

  const header = ['benchmark', ...runs.flatMap((r) => [`${r.label} ${headline(r.summary)}`, ...(passKey(r) ? [`${r.label} ${passKey(r)}`] : [])])];
  const cells = (r: NamedSummary, name: string) => {
    const b = byName(r, name);
    const key = passKey(r);
    return [b ? pct(b.accuracy) : '–', ...(key ? [b ? pct(b.pass_at_k[key]) : '–'] : [])];
  };
  const rows = benchmarks.map((name) => [name, ...runs.flatMap((r) => cells(r, name))]);
  // The average is over the benchmarks every run has, so that columns are comparable.
  const shared = benchmarks.filter((name) => runs.every((r) => byName(r, name)));
  if (shared.length > 1) {
    rows.push([
      `**average** (${shared.length} shared)`,
      ...runs.flatMap((r) => {
        const mean = (f: (name: string) => number | null | undefined) => {
          const xs = shared.map(f).filter((v): v is number => typeof v === 'number');
          return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null;
        };
        const key = passKey(r);
        return [pct(mean((n) => byName(r, n)!.accuracy)), ...(key ? [pct(mean((n) => byName(r, n)!.pass_at_k[key]))] : [])];
      }),
    ]);
  }

  const toolRows = [
    ['executions / solution', (s: EvalSummary) => s.metrics.tool_use.calls_per_solution.toFixed(2)],
    ['used code', (s: EvalSummary) => pct(s.metrics.tool_use.code_usage_rate)],
    ['exec. error rate', (s: EvalSummary) => pct(s.metrics.tool_use.exec_error_rate)],
    ['acc. with code', (s: EvalSummary) => pct(s.metrics.tool_use.accuracy_with_code)],
    ['acc. without code', (s: EvalSummary) => pct(s.metrics.tool_use.accuracy_without_code)],
    ['acc. after exec. error', (s: EvalSummary) => pct(s.metrics.tool_use.accuracy_after_exec_error)],
    ['response tokens', (s: EvalSummary) => String(Math.round(s.metrics.tool_use.response_tokens.mean))],
    ['samples', (s: EvalSummary) => `${s.progress.done} of ${s.progress.total}`],
  ] as const;

  const markdown = [
    '## Accuracy',
    '',
    table(header, rows),
    '',
    '## Tool use (all benchmarks of each run)',
    '',
    table(['', ...runs.map((r) => r.label)], toolRows.map(([name, f]) => [name, ...runs.map((r) => f(r.summary))])),
    '',
    '## Runs',
    '',
    ...runs.map((r) => `- **${r.label}**: ${r.summary.model} (checkpoint \`${r.summary.checkpoint}\`), ${settingsLine(r.summary.settings)}; ${r.summary.status}.`),
    '',
  ].join('\n');

  const svg = barChart({
    title: 'Accuracy per benchmark',
    subtitle: runs.map((r) => `${r.label}: ${headline(r.summary)}`).join(' · '),
    yLabel: 'accuracy',
    categories: benchmarks.length ? benchmarks : ['(no results)'],
    series: runs.map((r) => ({ name: r.label, values: (benchmarks.length ? benchmarks : ['']).map((name) => byName(r, name)?.accuracy ?? null) })),
    yDomain: [0, 1],
    yFormat: (v) => `${Math.round(v * 100)}%`,
    valueFormat: (v) => `${(v * 100).toFixed(1)}%`,
  });

  const json = {
    runs: runs.map((r) => ({ label: r.label, model: r.summary.model, checkpoint: r.summary.checkpoint, metric: headline(r.summary), status: r.summary.status, settings: r.summary.settings })),
    benchmarks: benchmarks.map((name) => ({
      name,
      runs: runs.map((r) => {
        const b = byName(r, name);
        return b ? { accuracy: b.accuracy, pass_at_k: b.pass_at_k, samples: b.samples } : null;
      }),
    })),
  };
  return { markdown, svg, json };
}
