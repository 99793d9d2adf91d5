import { fmt, h, renderProse } from './dom.ts';

/** A piece of a transcript as /v1/solve streams it (api/reasoning/types.ts Segment). */
export type Segment =
  | { type: 'text'; text: string }
  | { type: 'code'; text: string; language: string; code: string }
  | { type: 'output'; text: string; status: string; output: string; truncated: boolean; duration_ms: number };

/** What each output status means to a reader. */
const STATUS_LABELS: Record<string, string> = {
  ok: 'ok',
  error: 'error',
  timeout: 'timeout',
  memory: 'out of memory',
  output_limit: 'output limit',
  skipped: 'skipped: past the tool budget',
  no_code: 'cut: the model wrote an output block itself',
};

export function statusBadge(status: string, truncated = false): HTMLElement {
  return h('span', { class: `badge status-${status}` }, STATUS_LABELS[status] ?? status, truncated ? ' · truncated' : '');
}

/** One segment: prose with math, a code cell with its language, or an output cell with its status. */
export function renderSegment(segment: Segment): HTMLElement {
  if (segment.type === 'text') return h('div', { class: 'prose' }, renderProse(segment.text));
  if (segment.type === 'code') {
    return h('figure', { class: 'cell code', 'data-language': segment.language }, h('figcaption', {}, segment.language), h('pre', {}, h('code', {}, segment.code)));
  }
  return h(
    'figure',
    { class: `cell output status-${segment.status}`, 'data-status': segment.status },
    h('figcaption', {}, 'output ', statusBadge(segment.status, segment.truncated), h('span', { class: 'muted' }, ` ${fmt.ms(segment.duration_ms)}`)),
    h('pre', {}, segment.output === '' ? h('span', { class: 'muted' }, '(no output)') : segment.output),
  );
}
