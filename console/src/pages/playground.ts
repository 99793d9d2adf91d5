import { postJson, postSse } from '../api.ts';
import { clear, fmt, h, renderProse } from '../dom.ts';
import { renderSegment, statusBadge, type Segment } from '../transcript.ts';
import type { Page, Shell } from '../shell.ts';

/**
 * Playground: one problem, n samples streamed live from POST /v1/solve (stream: true), each sample's
 * transcript as prose with math, code cells and output cells; a summary per sample when it ends.
 * Below it, a scratch cell that runs a snippet through POST /v1/execute.
 */

interface SampleJson {
  index: number;
  trajectory_id: string | null;
  final_answer: string | null;
  correct?: boolean;
  reward?: number;
  finish_reason: string;
  usage: { prompt_tokens: number; completion_tokens: number; tool_tokens: number };
  tool_calls: { used: number; limit: number; skipped: number };
  timings: { total_ms: number };
}

function numberField(label: string, name: string, attrs: Record<string, string | number>, hint: string): HTMLElement {
  return h('label', {}, label, h('input', { type: 'number', name, ...attrs }), h('small', {}, hint));
}

export function playgroundPage(shell: Shell): Page {
  const form = h(
    'form',
    { class: 'panel', 'aria-label': 'Solve a problem' },
    h('label', { class: 'wide' }, 'Problem', h('textarea', { name: 'problem', rows: 3, required: true, placeholder: 'e.g. What is 407 times 94? Give the answer modulo 748.' })),
    h(
      'div',
      { class: 'fields' },
      numberField('Samples (n)', 'n', { min: 1, max: 64, value: 2 }, '1–64'),
      numberField('Temperature', 'temperature', { min: 0, max: 10, step: 0.1, value: 0.7 }, '0 = greedy'),
      numberField('Top-p', 'top_p', { min: 0.01, max: 1, step: 0.01, value: 1 }, '(0, 1]'),
      numberField('Tool budget', 'max_tool_calls', { min: 0, max: 64, placeholder: 'server default' }, 'code runs per sample'),
      numberField('Max tokens', 'max_tokens', { min: 1, placeholder: 'server default' }, 'per sample'),
      h('label', {}, 'Gold answer', h('input', { name: 'gold', placeholder: 'optional' }), h('small', {}, 'grades each sample')),
    ),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Solve'), h('button', { type: 'button', name: 'stop', disabled: true }, 'Stop'), h('span', { class: 'muted', 'aria-live': 'polite', 'data-role': 'solve-status' })),
  );
  const samples = h('div', { class: 'samples', 'aria-live': 'polite' });
  const problemBox = form.querySelector('textarea')!;
  const stop = form.querySelector<HTMLButtonElement>('button[name=stop]')!;
  const statusLine = form.querySelector<HTMLElement>('[data-role=solve-status]')!;
  let running: AbortController | null = null;

  problemBox.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit();
  });
  stop.addEventListener('click', () => running?.abort());
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    running?.abort();
    const data = new FormData(form);
    const num = (name: string) => (data.get(name) === '' || data.get(name) === null ? undefined : Number(data.get(name)));
    const gold = String(data.get('gold') ?? '').trim();
    const body = {
      problem: String(data.get('problem')),
      n: num('n'),
      temperature: num('temperature'),
      top_p: num('top_p'),
      max_tool_calls: num('max_tool_calls'),
      max_tokens: num('max_tokens'),
      ...(gold && { gold }),
      stream: true,
    };
    clear(samples);
    const cards = new Map<number, HTMLElement>();
    const card = (i: number) => {
      let c = cards.get(i);
      if (!c) {
        c = h('article', { class: 'sample', 'data-sample': i, 'aria-label': `Sample ${i + 1}` }, h('h3', {}, `Sample ${i + 1}`), h('div', { class: 'transcript' }), h('footer', { class: 'summary' }, h('span', { class: 'muted' }, 'generating…')));
        // Keep samples in index order whatever order they start in.
        const after = [...cards.entries()].filter(([j]) => j > i).sort((a, b) => a[0] - b[0])[0]?.[1];
        samples.insertBefore(c, after ?? null);
        cards.set(i, c);
      }
      return c;
    };
    for (let i = 0; i < (body.n ?? 1); i++) card(i);
    const controller = new AbortController();
    running = controller;
    stop.disabled = false;
    statusLine.textContent = 'solving…';
    const started = performance.now();
    try {
      await postSse(
        '/v1/solve',
        body,
        (event, payload) => {
          if (event === 'segment') {
            const { sample, segment } = payload as { sample: number; segment: Segment };
            card(sample).querySelector('.transcript')!.appendChild(renderSegment(segment));
          } else if (event === 'sample') {
            const s = payload as SampleJson;
            card(s.index).querySelector('footer')!.replaceWith(sampleSummary(s));
            card(s.index).classList.add(s.correct === undefined ? 'done' : s.correct ? 'correct' : 'wrong');
          } else if (event === 'done') {
            const done = payload as { model: string; checkpoint_version: string; tool_budget: number };
            statusLine.textContent = `done in ${fmt.ms(performance.now() - started)} · ${done.model} (checkpoint ${done.checkpoint_version}, tool budget ${done.tool_budget})`;
          } else if (event === 'error') {
            throw new Error((payload as { error: { message: string } }).error.message);
          }
        },
        controller.signal,
      );
    } catch (error) {
      if ((error as Error).name === 'AbortError') statusLine.textContent = 'stopped';
      else {
        statusLine.textContent = '';
        shell.showError(error);
      }
    } finally {
      if (running === controller) running = null;
      stop.disabled = true;
    }
  });

  const element = h('section', { 'aria-labelledby': 'playground-title' }, h('h2', { id: 'playground-title' }, 'Playground'), form, samples, scratchCell(shell));
  return { element, dispose: () => running?.abort() };
}

function sampleSummary(s: SampleJson): HTMLElement {
  const verdict = s.correct === undefined ? null : h('span', { class: `badge ${s.correct ? 'ok' : 'bad'}` }, s.correct ? '✓ correct' : '✗ wrong');
  return h(
    'footer',
    { class: 'summary', 'data-role': 'sample-summary' },
    h('span', {}, 'Answer: ', s.final_answer === null ? h('em', {}, 'none') : h('strong', { 'data-role': 'final-answer' }, renderProse(`$${s.final_answer}$`))),
    verdict,
    h('span', {}, `${fmt.int(s.usage.completion_tokens)} tokens (+${fmt.int(s.usage.tool_tokens)} tool)`),
    h('span', {}, `${s.tool_calls.used}/${s.tool_calls.limit} tool calls${s.tool_calls.skipped ? `, ${s.tool_calls.skipped} skipped` : ''}`),
    h('span', {}, fmt.ms(s.timings.total_ms)),
    h('span', { class: 'muted' }, `finish: ${s.finish_reason}`),
  );
}

interface ExecuteResult {
  status: string;
  stdout: string;
  stderr: string;
  error: string | null;
  truncated: { stdout: boolean; stderr: boolean };
  duration_ms: number;
}

function scratchCell(shell: Shell): HTMLElement {
  const form = h(
    'form',
    { class: 'panel', 'aria-label': 'Run a snippet' },
    h('div', { class: 'fields' }, h('label', {}, 'Language', h('select', { name: 'language' }, h('option', { value: 'python' }, 'Python'), h('option', { value: 'javascript' }, 'JavaScript')))),
    h('label', { class: 'wide' }, 'Code', h('textarea', { name: 'code', rows: 5, class: 'mono', spellcheck: 'false', required: true, placeholder: 'print(sum(range(10)))' })),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Run'), h('small', { class: 'muted' }, 'Ctrl+Enter runs')),
  );
  const result = h('div', { 'aria-live': 'polite', 'data-role': 'scratch-result' });
  form.querySelector('textarea')!.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit();
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    clear(result);
    result.appendChild(h('p', { class: 'muted' }, 'running…'));
    try {
      const r = await postJson<ExecuteResult>('/v1/execute', { language: data.get('language'), code: data.get('code') });
      clear(result);
      const out = [r.stdout, r.stderr && `[stderr]\n${r.stderr}`, r.error && `[error] ${r.error}`].filter(Boolean).join('\n');
      result.appendChild(
        h(
          'figure',
          { class: `cell output status-${r.status}`, 'data-status': r.status },
          h('figcaption', {}, 'output ', statusBadge(r.status, r.truncated.stdout || r.truncated.stderr), h('span', { class: 'muted' }, ` ${fmt.ms(r.duration_ms)}`)),
          h('pre', {}, out === '' ? h('span', { class: 'muted' }, '(no output)') : out),
        ),
      );
    } catch (error) {
      clear(result);
      shell.showError(error);
    }
  });
  return h('section', { 'aria-labelledby': 'scratch-title' }, h('h2', { id: 'scratch-title' }, 'Scratch cell'), form, result);
}
