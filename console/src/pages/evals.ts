import { deleteJson, getJson, postJson } from '../api.ts';
import { clear, fmt, h } from '../dom.ts';
import { barChart } from '../plot.ts';
import { poller } from '../poll.ts';
import type { Page, Shell } from '../shell.ts';

/**
 * Evals: start an evaluation of the served model (POST /v1/evals), watch its progress and ETA, read
 * its report (per-benchmark table, tool use, accuracy by executions), and compare runs side by side.
 */

interface BenchmarkMetrics {
  name: string;
  problems: number;
  samples: number;
  accuracy: number | null;
  pass_at_k: Record<string, number | null>;
  errors: number;
  tool_use: { calls_per_solution: number; exec_error_rate: number | null; code_usage_rate: number; by_calls: { calls: number; samples: number; accuracy: number }[] };
}

interface EvalRun {
  id: string;
  status: string;
  model: string;
  checkpoint: string;
  benchmarks: { name: string; problems: number }[];
  settings: Record<string, unknown>;
  progress: { done: number; total: number; fraction: number; eta_s: number | null; retry?: { error: string } };
  created_at: string;
  error?: string;
  metrics?: { metric: string; benchmarks: BenchmarkMetrics[]; average: { accuracy: number | null }; tool_use: BenchmarkMetrics['tool_use'] };
}

const SUGGESTED = ['synthetic-heldout', 'math500', 'aime24', 'aime25', 'amc23', 'gsm8k', 'minerva_math', 'olymmath_en_easy'];
const POLL_MS = 1000;

export function evalsPage(shell: Shell, params: string[]): Page {
  const form = h(
    'form',
    { class: 'panel', 'aria-label': 'Start an evaluation' },
    h(
      'div',
      { class: 'fields' },
      h('label', { class: 'wide' }, 'Benchmarks', h('input', { name: 'benchmarks', list: 'bench-names', required: true, value: 'synthetic-heldout', placeholder: 'math500, aime24' }), h('small', {}, 'comma-separated names')),
      h('label', {}, 'Mode', h('span', { class: 'inline' }, h('input', { type: 'checkbox', name: 'greedy', checked: true, 'aria-describedby': 'greedy-help' }), ' greedy'), h('small', { id: 'greedy-help' }, 'one temperature-0 answer per problem')),
      h('label', {}, 'k', h('input', { type: 'number', name: 'k', min: 1, max: 1024, placeholder: '16' }), h('small', {}, 'samples per problem')),
      h('label', {}, 'Temperature', h('input', { type: 'number', name: 'temperature', min: 0.01, max: 10, step: 0.05, placeholder: '1' })),
      h('label', {}, 'Top-p', h('input', { type: 'number', name: 'top_p', min: 0.01, max: 1, step: 0.01, placeholder: '0.95' })),
      h('label', {}, 'Tool budget', h('input', { type: 'number', name: 'max_tool_calls', min: 0, max: 64, placeholder: '5' })),
      h('label', {}, 'Max tokens', h('input', { type: 'number', name: 'max_tokens', min: 1, placeholder: 'model default' })),
      h('label', {}, 'Problems', h('input', { type: 'number', name: 'limit', min: 1, value: 10 }), h('small', {}, 'first N of each set')),
    ),
    h('datalist', { id: 'bench-names' }, ...SUGGESTED.map((s) => h('option', { value: s }))),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Start evaluation')),
  );
  const list = h('div', { 'data-role': 'eval-runs' });
  const report = h('div', { 'data-role': 'eval-report' });
  let selected: string | null = params[0] ?? null;
  const compared = new Set<string>();
  let runs: EvalRun[] = [];
  let rendered = false;

  const greedy = form.querySelector<HTMLInputElement>('input[name=greedy]')!;
  const samplingInputs = ['k', 'temperature', 'top_p'].map((n) => form.querySelector<HTMLInputElement>(`input[name=${n}]`)!);
  const syncGreedy = () => samplingInputs.forEach((i) => (i.disabled = greedy.checked));
  greedy.addEventListener('change', syncGreedy);
  syncGreedy();

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const d = new FormData(form);
    const num = (n: string) => (d.get(n) ? Number(d.get(n)) : undefined);
    const body = {
      benchmarks: String(d.get('benchmarks')).split(',').map((s) => s.trim()).filter(Boolean),
      greedy: greedy.checked,
      ...(!greedy.checked && { k: num('k'), temperature: num('temperature'), top_p: num('top_p') }),
      max_tool_calls: num('max_tool_calls'),
      max_tokens: num('max_tokens'),
      limit: num('limit'),
    };
    try {
      const run = await postJson<EvalRun>('/v1/evals', body);
      shell.clearError();
      location.hash = `#/evals/${run.id}`;
    } catch (error) {
      shell.showError(error);
    }
  });

  const render = () => {
    clear(list);
    if (runs.length === 0) {
      list.appendChild(h('p', { class: 'empty' }, 'No evaluations yet: start one above (10 problems of synthetic-heldout take about a minute with the embedded model).'));
    } else {
      list.appendChild(
        h(
          'div',
          { class: 'scroll' },
          h(
            'table',
            { class: 'list' },
            h('thead', {}, h('tr', {}, ...['Compare', 'Run', 'Status', 'Progress', 'ETA', 'Benchmarks', 'Score', 'Started'].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', {}, ...runs.map((r) => runRow(r))),
          ),
        ),
      );
    }
    clear(report);
    const run = runs.find((r) => r.id === selected);
    if (run) report.appendChild(runReport(run, shell));
    const chosen = runs.filter((r) => compared.has(r.id));
    if (chosen.length >= 2) report.appendChild(comparison(chosen));
  };

  const runRow = (r: EvalRun) => {
    const box = h('input', { type: 'checkbox', 'aria-label': `compare ${r.id}`, checked: compared.has(r.id) });
    box.addEventListener('change', () => {
      if (box.checked) compared.add(r.id);
      else compared.delete(r.id);
      render();
    });
    return h(
      'tr',
      { 'data-id': r.id, class: r.id === selected ? 'selected' : '' },
      h('td', {}, box),
      h('td', {}, h('a', { href: `#/evals/${r.id}` }, r.id)),
      h('td', { 'data-role': 'status' }, r.status),
      h('td', {}, h('progress', { max: r.progress.total || 1, value: r.progress.done, 'aria-label': `${r.progress.done} of ${r.progress.total}` }), ` ${r.progress.done}/${r.progress.total}`),
      h('td', {}, r.status === 'running' ? fmt.eta(r.progress.eta_s) : '—'),
      h('td', {}, r.benchmarks.map((b) => b.name).join(', ')),
      h('td', {}, fmt.pct(r.metrics?.average.accuracy)),
      h('td', {}, fmt.time(r.created_at)),
    );
  };

  const polling = poller(async () => {
    try {
      const fresh = (await getJson<{ data: EvalRun[] }>('/v1/evals')).data.sort((a, b) => b.created_at.localeCompare(a.created_at));
      // Re-drawn only when something changed, so a keyboard user's focus is not taken away every poll.
      if (JSON.stringify(fresh) !== JSON.stringify(runs) || !rendered) {
        runs = fresh;
        rendered = true;
        render();
      }
    } catch (error) {
      shell.showError(error);
    }
    return runs.some((r) => r.status === 'running') ? POLL_MS : POLL_MS * 5;
  });
  polling.start();

  const element = h('section', { 'aria-labelledby': 'evals-title' }, h('h2', { id: 'evals-title' }, 'Evaluations'), form, list, report);
  return { element, dispose: polling.dispose };
}

function runReport(r: EvalRun, shell: Shell): HTMLElement {
  const m = r.metrics;
  const cancel = r.status === 'running' ? h('button', { type: 'button', onclick: () => void deleteJson(`/v1/evals/${r.id}`).catch((e) => shell.showError(e)) }, 'Stop') : null;
  const settings = Object.entries(r.settings).map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(' · ');
  return h(
    'article',
    { class: 'panel report', 'data-role': 'report', 'data-status': r.status, 'aria-label': `Report of ${r.id}` },
    h('h3', {}, `Report: ${r.id} `, h('span', { class: `badge status-${r.status}` }, r.status), ' ', cancel),
    h('p', { class: 'muted' }, `${r.model} · checkpoint ${r.checkpoint} · ${settings}`),
    r.error ? h('p', { class: 'bad' }, r.error) : null,
    r.progress.retry ? h('p', { class: 'warn' }, `retrying: ${r.progress.retry.error}`) : null,
    h('p', {}, h('progress', { max: r.progress.total || 1, value: r.progress.done }), ` ${r.progress.done}/${r.progress.total} samples · ${r.status === 'running' ? `ETA ${fmt.eta(r.progress.eta_s)}` : 'finished'}`),
    !m
      ? h('p', { class: 'empty' }, 'No samples finished yet.')
      : h(
          'div',
          {},
          h(
            'div',
            { class: 'scroll' },
            h(
              'table',
              { class: 'list' },
              h('caption', {}, `${m.metric} per benchmark`),
              h('thead', {}, h('tr', {}, ...['Benchmark', m.metric, 'pass@k', 'Problems', 'Samples', 'Tool calls / solution', 'Code used', 'Exec errors', 'Errors'].map((t) => h('th', { scope: 'col' }, t)))),
              h(
                'tbody',
                {},
                ...m.benchmarks.map((b) =>
                  h(
                    'tr',
                    {},
                    h('td', {}, b.name),
                    h('td', { 'data-role': 'accuracy' }, fmt.pct(b.accuracy)),
                    h('td', {}, Object.entries(b.pass_at_k).map(([k, v]) => `@${k} ${fmt.pct(v)}`).join(' ') || '—'),
                    h('td', {}, String(b.problems)),
                    h('td', {}, String(b.samples)),
                    h('td', {}, fmt.num(b.tool_use.calls_per_solution)),
                    h('td', {}, fmt.pct(b.tool_use.code_usage_rate)),
                    h('td', {}, fmt.pct(b.tool_use.exec_error_rate)),
                    h('td', {}, String(b.errors)),
                  ),
                ),
              ),
            ),
          ),
          h('div', { class: 'charts' }, barChart('accuracy by executions per solution', m.tool_use.by_calls.map((b) => ({ label: String(b.calls), value: b.accuracy, note: `n=${b.samples}` }))), barChart(`${m.metric} per benchmark`, m.benchmarks.filter((b) => b.accuracy !== null).map((b) => ({ label: b.name, value: b.accuracy! })))),
        ),
  );
}

/** Benchmarks as rows, runs as columns. */
function comparison(runs: EvalRun[]): HTMLElement {
  const names = [...new Set(runs.flatMap((r) => r.metrics?.benchmarks.map((b) => b.name) ?? []))];
  const cell = (r: EvalRun, name: string) => fmt.pct(r.metrics?.benchmarks.find((b) => b.name === name)?.accuracy);
  return h(
    'article',
    { class: 'panel', 'data-role': 'comparison', 'aria-label': 'Comparison' },
    h('h3', {}, 'Side by side'),
    h(
      'div',
      { class: 'scroll' },
      h(
        'table',
        { class: 'list' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Benchmark'), ...runs.map((r) => h('th', { scope: 'col' }, `${r.id} (${r.checkpoint})`)))),
        h(
          'tbody',
          {},
          ...names.map((n) => h('tr', {}, h('th', { scope: 'row' }, n), ...runs.map((r) => h('td', {}, cell(r, n))))),
          h('tr', {}, h('th', { scope: 'row' }, 'average'), ...runs.map((r) => h('td', {}, fmt.pct(r.metrics?.average.accuracy)))),
          h('tr', {}, h('th', { scope: 'row' }, 'tool calls / solution'), ...runs.map((r) => h('td', {}, fmt.num(r.metrics?.tool_use.calls_per_solution)))),
        ),
      ),
    ),
  );
}
