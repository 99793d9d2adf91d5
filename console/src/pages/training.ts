import { ApiProblem, getJson } from '../api.ts';
import { clear, fmt, h, present } from '../dom.ts';
import { lineChart } from '../plot.ts';
import { poller } from '../poll.ts';
import type { Page, Shell } from '../shell.ts';

/**
 * Training: a run directory's metrics per step (GET /v1/runs/:name, polled for new lines) drawn as
 * live plots, and the checkpoints published in the served store (GET /v1/checkpoints): versions,
 * budgets, when each was published and swapped in, and refusals with their reasons.
 */

type Metrics = Record<string, number | string | null>;

interface RunSummary {
  name: string;
  step: number;
  version: string | null;
  updated_at: string;
}

interface RunView extends RunSummary {
  settings: Record<string, unknown> | null;
  tool_budget_schedule: { step: number; limit: number }[] | null;
  metrics: Metrics[];
}

type Published =
  | { version: string; parent: string | null; step: number; created_at: string; tool_budget: { limit: number }; metrics: Record<string, number> }
  | { version: string; error: string };

interface Checkpoints {
  data: Published[];
  watch: { serving: string | null; loading: string | null; swapped_in: { version: string; at: string }[]; refused: { version: string; reason: string; at: string }[]; note: string | null };
}

/** The plots, in the order a person reads a run: is it learning, how does it use the tool, is the update sane. */
const PLOTS: [string, string[]][] = [
  ['reward', ['reward']],
  ['accuracy', ['accuracy']],
  ['tool-call rate', ['tool_call_rate']],
  ['response length (tokens)', ['response_length']],
  ['entropy', ['entropy']],
  ['clip fraction', ['clip_fraction']],
  ['KL', ['kl', 'ppo_kl']],
];

const POLL_MS = 1500;

export function trainingPage(shell: Shell, params: string[]): Page {
  const runSelect = h('select', { name: 'run', 'aria-label': 'Training run' });
  const runNote = h('p', { class: 'muted', 'aria-live': 'polite' });
  const plots = h('div', { class: 'charts', 'data-role': 'plots' });
  const runFacts = h('p', { class: 'muted', 'data-role': 'run-facts' });
  const checkpoints = h('div', { 'data-role': 'checkpoints' });
  let run: string | null = params[0] ?? null;
  let metrics: Metrics[] = [];
  let shownCheckpoints = '';

  const drawPlots = () => {
    clear(plots);
    for (const [title, keys] of PLOTS) {
      const series = keys
        .map((key) => ({ name: key, points: metrics.filter((m) => typeof m[key] === 'number').map((m) => ({ x: Number(m.step), y: m[key] as number })) }))
        .filter((s, i) => i === 0 || s.points.length > 0);
      plots.appendChild(lineChart(title, series));
    }
  };

  const pollRun = async () => {
    if (!run) return;
    try {
      const last = metrics.at(-1)?.step;
      const view = await getJson<RunView>(`/v1/runs/${encodeURIComponent(run)}?after_step=${typeof last === 'number' ? last : -1}`);
      if (view.metrics.length > 0 || metrics.length === 0) {
        metrics = [...metrics, ...view.metrics];
        drawPlots();
      }
      const budget = view.tool_budget_schedule?.map((s) => `${s.limit} from step ${s.step}`).join(', ');
      const option = [...runSelect.options].find((o) => o.value === view.name);
      if (option) option.textContent = `${view.name} (step ${view.step})`;
      runFacts.textContent = `step ${view.step} · serving weights ${view.version ?? 'unpublished'} · updated ${fmt.time(view.updated_at)}${budget ? ` · tool budget ${budget}` : ''}`;
    } catch (error) {
      shell.showError(error);
    }
  };

  const loadCheckpoints = async () => {
    try {
      const fresh = await getJson<Checkpoints>('/v1/checkpoints');
      // Status times change every poll; the table only when a checkpoint is published, swapped in or refused.
      const key = JSON.stringify([fresh.data, fresh.watch.serving, fresh.watch.loading, fresh.watch.swapped_in, fresh.watch.refused, fresh.watch.note]);
      if (key !== shownCheckpoints) {
        shownCheckpoints = key;
        renderCheckpoints(checkpoints, fresh);
        void shell.refreshStatus(); // the header names the served checkpoint
      }
    } catch (error) {
      clear(checkpoints);
      shownCheckpoints = '';
      if (error instanceof ApiProblem && error.kind === 'unsupported') checkpoints.appendChild(h('p', { class: 'empty' }, 'This server does not watch a checkpoint store. Start it with CIR_CHECKPOINTS=checkpoints to serve what training publishes and see swaps here.'));
      else shell.showError(error);
    }
  };

  const polling = poller(async () => {
    await Promise.all([pollRun(), loadCheckpoints()]);
    return POLL_MS;
  });

  runSelect.addEventListener('change', () => {
    location.hash = `#/training/${encodeURIComponent(runSelect.value)}`;
  });

  void getJson<{ runs_dir: string; data: RunSummary[] }>('/v1/runs').then(
    (runs) => {
      if (runs.data.length === 0) {
        runSelect.parentElement!.hidden = true;
        runNote.textContent = `No training runs in ${runs.runs_dir} yet. Start one with: npx cir train --run-dir ${runs.runs_dir}/<name> (or set CIR_RUNS_DIR).`;
      } else {
        run ??= runs.data[0]!.name;
        runSelect.append(...runs.data.map((r) => h('option', { value: r.name, selected: r.name === run }, `${r.name} (step ${r.step})`)));
        runNote.textContent = `${runs.data.length} run${runs.data.length > 1 ? 's' : ''} in ${runs.runs_dir}`;
      }
      polling.start();
    },
    (error) => {
      runNote.textContent = error instanceof ApiProblem && error.kind === 'unsupported' ? error.message : '';
      shell.showError(error);
      polling.start();
    },
  );

  const element = h(
    'section',
    { 'aria-labelledby': 'training-title' },
    h('h2', { id: 'training-title' }, 'Training'),
    h('div', { class: 'panel' }, h('label', {}, 'Run ', runSelect), runNote, runFacts),
    plots,
    h('h2', {}, 'Checkpoints'),
    checkpoints,
  );
  return { element, dispose: polling.dispose };
}

function renderCheckpoints(into: HTMLElement, c: Checkpoints): void {
  const swappedAt = new Map<string, string>();
  for (const s of c.watch.swapped_in) swappedAt.set(s.version, s.at);
  const rows = c.data.map((p) =>
    'error' in p
      ? h('tr', { 'data-version': p.version }, h('td', {}, p.version), h('td', { colspan: 6, class: 'bad' }, `unreadable manifest: ${p.error}`))
      : h(
          'tr',
          { 'data-version': p.version, class: p.version === c.watch.serving ? 'serving' : '' },
          h('td', {}, p.version, p.version === c.watch.serving ? h('span', { class: 'badge ok' }, ' serving') : null),
          h('td', {}, String(p.step)),
          h('td', {}, p.parent ?? '—'),
          h('td', {}, String(p.tool_budget.limit)),
          h('td', {}, fmt.time(p.created_at)),
          h('td', { 'data-role': 'swapped-in' }, swappedAt.has(p.version) ? fmt.time(swappedAt.get(p.version)) : '—'),
          h('td', {}, fmt.num(p.metrics.reward), ' / ', fmt.pct(p.metrics.accuracy)),
        ),
  );
  into.replaceChildren(...present<HTMLElement>([
    h('p', { class: 'muted' }, `serving ${c.watch.serving ?? 'nothing yet'}${c.watch.loading ? ` · loading ${c.watch.loading}` : ''}${c.watch.note ? ` · ${c.watch.note}` : ''}`),
    c.data.length === 0
      ? h('p', { class: 'empty' }, 'Nothing published yet: cir train publishes a checkpoint after each step.')
      : h(
          'div',
          { class: 'scroll' },
          h(
            'table',
            { class: 'list' },
            h('thead', {}, h('tr', {}, ...['Version', 'Step', 'Parent', 'Tool budget', 'Published', 'Swapped in', 'Reward / accuracy'].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', {}, ...rows),
          ),
        ),
    c.watch.refused.length === 0
      ? null
      : h('div', { class: 'panel refused', 'data-role': 'refused' }, h('h3', {}, 'Refused checkpoints'), h('ul', {}, ...c.watch.refused.map((r) => h('li', {}, h('strong', {}, r.version), ` (${fmt.time(r.at)}): ${r.reason}`)))),
  ]));
}
