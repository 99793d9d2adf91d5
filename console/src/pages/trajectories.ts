import { ApiProblem, getJson, query } from '../api.ts';
import { clear, fmt, h, present, renderProse } from '../dom.ts';
import type { Page, Shell } from '../shell.ts';

/**
 * Trajectories: the logged rollouts, newest first, filtered by time, checkpoint, reward, finish
 * reason, tool calls or text (GET /v1/trajectories); one opened (#/trajectories/<id>) shows its
 * token stream with the loss mask: which tokens train (the model's) and which do not (tool output).
 */

interface Summary {
  id: string;
  created_at: string;
  checkpoint_version: string;
  problem: string;
  final_answer: string | null;
  gold: string | null;
  reward: number | null;
  finish_reason: string;
  tool_calls: number;
  response_tokens: number;
}

interface Token {
  id: number;
  text: string;
  mask: 0 | 1;
  logprob: number | null;
  turn: string;
}

interface Detail {
  trajectory: Summary & {
    model: string;
    group_id: string;
    sample_index: number;
    problem: string;
    response_ids: number[];
    loss_mask: (0 | 1)[];
    turns: { kind: string; start: number; end: number }[];
    tool_calls: { language: string; status: string; duration_ms: number; truncated: boolean }[];
    budget: { limit: number; used: number };
    timings: { total_ms: number; generation_ms: number; tool_ms: number };
    prompt_ids: number[];
  };
  tokens: Token[] | null;
  tokenizer: string | null;
}

const FINISH_REASONS = ['stop', 'length', 'tool_budget', 'cancelled', 'error'];

export function trajectoriesPage(shell: Shell, params: string[]): Page {
  return params[0] ? detailPage(shell, params[0]) : listPage(shell);
}

function field(label: string, input: HTMLElement): HTMLElement {
  return h('label', {}, label, input);
}

/** datetime-local (the user's time) → ISO in UTC. */
const isoOf = (local: FormDataEntryValue | null) => (local ? new Date(String(local)).toISOString() : undefined);

function listPage(shell: Shell): Page {
  const form = h(
    'form',
    { class: 'panel', role: 'search', 'aria-label': 'Filter trajectories' },
    h(
      'div',
      { class: 'fields' },
      field('Search', h('input', { name: 'q', type: 'search', placeholder: 'problem or answer' })),
      field('From', h('input', { name: 'since', type: 'datetime-local' })),
      field('Until', h('input', { name: 'until', type: 'datetime-local' })),
      field('Checkpoint', h('input', { name: 'checkpoint', placeholder: 'version' })),
      field('Finish', h('select', { name: 'finish_reason' }, h('option', { value: '' }, 'any'), ...FINISH_REASONS.map((r) => h('option', { value: r }, r)))),
      field('Reward ≥', h('input', { name: 'min_reward', type: 'number', step: 'any' })),
      field('Reward ≤', h('input', { name: 'max_reward', type: 'number', step: 'any' })),
      field('Tool calls ≥', h('input', { name: 'min_tool_calls', type: 'number', min: 0 })),
      field('Tool calls ≤', h('input', { name: 'max_tool_calls', type: 'number', min: 0 })),
    ),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Search'), h('button', { type: 'reset' }, 'Clear')),
  );
  const body = h('tbody');
  const table = h(
    'table',
    { class: 'list' },
    h('caption', { class: 'sr-only' }, 'Logged trajectories, newest first'),
    h('thead', {}, h('tr', {}, ...['Time', 'Checkpoint', 'Problem', 'Answer', 'Reward', 'Finish', 'Tool calls', 'Tokens'].map((t) => h('th', { scope: 'col' }, t)))),
    body,
  );
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  const note = h('p', { class: 'muted', 'aria-live': 'polite' });
  let cursor: string | null = null;
  let filters: Record<string, string | undefined> = {};

  const load = async (append: boolean) => {
    try {
      const page = await getJson<{ data: Summary[]; next_cursor: string | null; unreadable: number }>(`/v1/trajectories${query({ ...filters, limit: 50, before: append ? (cursor ?? undefined) : undefined })}`);
      if (!append) clear(body);
      for (const t of page.data) body.appendChild(row(t));
      cursor = page.next_cursor;
      more.hidden = cursor === null;
      const shown = body.children.length;
      note.textContent =
        shown === 0
          ? Object.values(filters).some(Boolean)
            ? 'No trajectory matches these filters.'
            : 'No trajectories logged yet: solve a problem in the Playground (records reach the store within a few seconds).'
          : `${shown} shown${cursor ? ', more below' : ''}${page.unreadable ? ` · ${page.unreadable} unreadable lines skipped` : ''}`;
    } catch (error) {
      note.textContent = error instanceof ApiProblem && error.kind === 'unsupported' ? error.message : '';
      shell.showError(error);
    }
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const d = new FormData(form);
    const text = (name: string) => String(d.get(name) ?? '').trim() || undefined;
    filters = {
      q: text('q'),
      since: isoOf(d.get('since')),
      until: isoOf(d.get('until')),
      checkpoint: text('checkpoint'),
      finish_reason: text('finish_reason'),
      min_reward: text('min_reward'),
      max_reward: text('max_reward'),
      min_tool_calls: text('min_tool_calls'),
      max_tool_calls: text('max_tool_calls'),
    };
    void load(false);
  });
  form.addEventListener('reset', () => {
    filters = {};
    setTimeout(() => void load(false));
  });
  more.addEventListener('click', () => void load(true));
  void load(false);
  return { element: h('section', { 'aria-labelledby': 'traj-title' }, h('h2', { id: 'traj-title' }, 'Trajectories'), form, note, h('div', { class: 'scroll' }, table), more) };
}

function row(t: Summary): HTMLElement {
  return h(
    'tr',
    { 'data-id': t.id },
    h('td', {}, h('a', { href: `#/trajectories/${t.id}` }, fmt.time(t.created_at))),
    h('td', {}, t.checkpoint_version),
    h('td', { class: 'problem' }, t.problem),
    h('td', {}, t.final_answer ?? '—'),
    h('td', { class: t.reward === null ? '' : t.reward > 0 ? 'good' : 'bad' }, fmt.num(t.reward)),
    h('td', {}, t.finish_reason),
    h('td', {}, String(t.tool_calls)),
    h('td', {}, fmt.int(t.response_tokens)),
  );
}

function detailPage(shell: Shell, id: string): Page {
  const element = h('section', { 'aria-labelledby': 'traj-title' }, h('p', {}, h('a', { href: '#/trajectories' }, '← all trajectories')), h('h2', { id: 'traj-title' }, 'Trajectory'), h('p', { class: 'muted' }, 'loading…'));
  void getJson<Detail>(`/v1/trajectories/${encodeURIComponent(id)}`).then(
    (d) => element.replaceChildren(...detail(d)),
    (error) => {
      element.lastElementChild!.textContent = '';
      shell.showError(error);
    },
  );
  return { element };
}

function detail(d: Detail): HTMLElement[] {
  const t = d.trajectory;
  const trained = t.loss_mask.filter((m) => m === 1).length;
  const facts: [string, string | Node][] = [
    ['id', t.id],
    ['time', fmt.time(t.created_at)],
    ['model · checkpoint', `${t.model} · ${t.checkpoint_version}`],
    ['group · sample', `${t.group_id} · ${t.sample_index}`],
    ['answer', t.final_answer === null ? '—' : renderProse(`$${t.final_answer}$`)],
    ['gold · reward', `${t.gold ?? '—'} · ${fmt.num(t.reward)}`],
    ['finish', t.finish_reason],
    ['tool calls', `${t.budget.used}/${t.budget.limit} (${t.tool_calls.map((c) => `${c.language} ${c.status}`).join(', ') || 'none'})`],
    ['tokens', `${t.prompt_ids.length} prompt · ${t.response_ids.length} response: ${trained} trained, ${t.response_ids.length - trained} masked (tool output)`],
    ['time spent', `${fmt.ms(t.timings.total_ms)} (generation ${fmt.ms(t.timings.generation_ms)}, tools ${fmt.ms(t.timings.tool_ms)})`],
  ];
  const legend = h(
    'p',
    { class: 'legend' },
    h('span', { class: 'tok m1' }, 'model token'),
    ' trains (loss mask 1) · ',
    h('span', { class: 'tok m0' }, 'tool output'),
    ' does not (mask 0) · code tokens are underlined · hover or focus a token for its id and logprob',
  );
  const stream = h('div', { class: 'tokens', 'data-role': 'token-stream', 'aria-label': 'Response tokens with their loss mask' });
  if (d.tokens) {
    for (const tok of d.tokens) {
      stream.appendChild(h('span', { class: `tok m${tok.mask} turn-${tok.turn}`, 'data-mask': tok.mask, tabindex: 0, title: `id ${tok.id} · mask ${tok.mask} · ${tok.turn}${tok.logprob === null ? '' : ` · logprob ${tok.logprob.toFixed(3)}`}` }, tok.text));
    }
  } else {
    t.response_ids.forEach((id, i) => stream.appendChild(h('span', { class: `tok m${t.loss_mask[i]}`, 'data-mask': t.loss_mask[i]!, title: `id ${id} · mask ${t.loss_mask[i]}` }, `${id} `)));
  }
  return present<HTMLElement>([
    h('p', {}, h('a', { href: '#/trajectories' }, '← all trajectories')),
    h('h2', { id: 'traj-title' }, 'Trajectory'),
    h('div', { class: 'panel' }, h('h3', {}, 'Problem'), h('div', { class: 'prose' }, renderProse(t.problem))),
    h('dl', { class: 'facts' }, ...facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    h('h3', {}, 'Token stream'),
    d.tokens ? legend : h('p', { class: 'muted' }, 'No model is served, so token texts cannot be decoded: token ids are shown with their mask.'),
    d.tokenizer ? h('p', { class: 'muted' }, `decoded with the served model's tokenizer (${d.tokenizer})`) : null,
    stream,
  ]);
}
