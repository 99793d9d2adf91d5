import { fmt, h, svg } from './dom.ts';

/**
 * SVG charts drawn in the page: a line chart per metric (training steps) and a bar chart (eval
 * accuracy by executions). Scaled by viewBox, so they fit a phone and a laptop alike.
 */

export interface Series {
  name: string;
  points: { x: number; y: number }[];
}

const W = 360;
const H = 200;
const PAD = { left: 50, right: 12, top: 10, bottom: 28 };
const COLORS = ['#2563eb', '#dc2626', '#059669', '#d97706'];

function ticks(min: number, max: number, count = 4): number[] {
  if (min === max) return [min];
  const step = (max - min) / count;
  return Array.from({ length: count + 1 }, (_, i) => min + i * step);
}

function extent(values: number[]): [number, number] {
  let min = Math.min(...values);
  let max = Math.max(...values);
  if (min === max) {
    min -= Math.abs(min) * 0.1 || 1;
    max += Math.abs(max) * 0.1 || 1;
  }
  return [min, max];
}

/** A figure with a title and a chart of the series (or a note when there is nothing to draw yet). */
export function lineChart(title: string, series: Series[], xLabel = 'step'): HTMLElement {
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.y));
  const figure = h('figure', { class: 'chart', 'data-metric': title });
  figure.appendChild(h('figcaption', {}, title));
  if (all.length === 0) {
    figure.appendChild(h('p', { class: 'empty' }, 'no values yet'));
    return figure;
  }
  const [x0, x1] = extent(all.map((p) => p.x));
  const [y0, y1] = extent(all.map((p) => p.y));
  const sx = (x: number) => PAD.left + ((x - x0) / (x1 - x0)) * (W - PAD.left - PAD.right);
  const sy = (y: number) => H - PAD.bottom - ((y - y0) / (y1 - y0)) * (H - PAD.top - PAD.bottom);
  const last = series[0]?.points.at(-1);
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}: ${all.length} points${last ? `, last ${fmt.num(last.y)} at ${xLabel} ${last.x}` : ''}` });
  for (const t of ticks(y0, y1)) {
    chart.appendChild(svg('line', { x1: PAD.left, x2: W - PAD.right, y1: sy(t), y2: sy(t), class: 'grid' }));
    chart.appendChild(svg('text', { x: PAD.left - 4, y: sy(t) + 3, 'text-anchor': 'end', class: 'tick' }, fmt.num(t, Math.abs(t) < 1e-3 && t !== 0 ? 2 : 3)));
  }
  for (const t of ticks(x0, x1, Math.min(4, Math.max(1, x1 - x0)))) {
    chart.appendChild(svg('text', { x: sx(t), y: H - PAD.bottom + 14, 'text-anchor': 'middle', class: 'tick' }, fmt.num(t, 3)));
  }
  chart.appendChild(svg('text', { x: W - PAD.right, y: H - 2, 'text-anchor': 'end', class: 'tick' }, xLabel));
  series.forEach((s, i) => {
    const points = s.points.filter((p) => Number.isFinite(p.y));
    const color = COLORS[i % COLORS.length]!;
    chart.appendChild(svg('polyline', { points: points.map((p) => `${sx(p.x)},${sy(p.y)}`).join(' '), fill: 'none', stroke: color, 'stroke-width': 2 }));
    for (const p of points) chart.appendChild(svg('circle', { cx: sx(p.x), cy: sy(p.y), r: 2.5, fill: color }, svg('title', {}, `${s.name} ${xLabel} ${p.x}: ${fmt.num(p.y, 4)}`)));
  });
  figure.appendChild(chart);
  if (series.length > 1) figure.appendChild(h('p', { class: 'legend' }, ...series.flatMap((s, i) => [h('span', { class: `series-${i % COLORS.length}` }, '■ '), `${s.name}  `])));
  return figure;
}

/** Bars with labels (e.g. accuracy by number of executions); values in [0, 1] shown as percentages. */
export function barChart(title: string, bars: { label: string; value: number; note?: string }[]): HTMLElement {
  const figure = h('figure', { class: 'chart', 'data-metric': title }, h('figcaption', {}, title));
  if (bars.length === 0) {
    figure.appendChild(h('p', { class: 'empty' }, 'no values yet'));
    return figure;
  }
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}: ${bars.map((b) => `${b.label} ${fmt.pct(b.value)}`).join(', ')}` });
  const width = (W - PAD.left - PAD.right) / bars.length;
  const sy = (y: number) => H - PAD.bottom - y * (H - PAD.top - PAD.bottom);
  for (const t of [0, 0.5, 1]) {
    chart.appendChild(svg('line', { x1: PAD.left, x2: W - PAD.right, y1: sy(t), y2: sy(t), class: 'grid' }));
    chart.appendChild(svg('text', { x: PAD.left - 4, y: sy(t) + 3, 'text-anchor': 'end', class: 'tick' }, fmt.pct(t)));
  }
  bars.forEach((b, i) => {
    const x = PAD.left + i * width + width * 0.15;
    chart.appendChild(svg('rect', { x, y: sy(b.value), width: width * 0.7, height: sy(0) - sy(b.value), fill: COLORS[0]! }, svg('title', {}, `${b.label}: ${fmt.pct(b.value)}${b.note ? ` (${b.note})` : ''}`)));
    chart.appendChild(svg('text', { x: x + width * 0.35, y: H - PAD.bottom + 14, 'text-anchor': 'middle', class: 'tick' }, b.label));
    if (b.note) chart.appendChild(svg('text', { x: x + width * 0.35, y: sy(b.value) - 3, 'text-anchor': 'middle', class: 'tick' }, b.note));
  });
  figure.appendChild(chart);
  return figure;
}
