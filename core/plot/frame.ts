/**
 * What every chart shares: the canvas, title, margins sized to their labels, the y axis with
 * grid lines, axis titles and the legend. Charts draw their marks inside `plot`.
 */
import { formatTick, linear, niceTicks, type Ticks } from './scale.ts';

/** Tableau 10: distinct hues that stay apart for common colour-vision deficiencies and in greyscale print. */
export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'] as const;

export const FONT = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif";
export const TEXT_COLOR = '#222';
const MUTED = '#666';
const GRID = '#e4e4e4';
const AXIS = '#888';
const FONT_SIZE = 12;
const TITLE_SIZE = 16;

export interface ChartOptions {
  title?: string;
  /** A second, smaller line under the title (e.g. the run and its settings). */
  subtitle?: string;
  xLabel?: string;
  yLabel?: string;
  /** Pixels. Default 720 × 420. */
  width?: number;
  height?: number;
  /** Fixed ends of the y axis (e.g. [0, 1] for accuracies); an undefined end follows the data. */
  yDomain?: readonly [number | undefined, number | undefined];
  /** Tick label text for a y value (e.g. `(v) => `${v * 100}%``). Default: as many decimals as the tick step. */
  yFormat?: (value: number) => string;
  /** About how many y ticks. Default 5. */
  yTicks?: number;
  /** Where the legend goes; default 'right' when there are two or more series, else 'none'. */
  legend?: 'right' | 'top' | 'none';
}

export interface LegendEntry {
  name: string;
  color: string;
  /** How the swatch looks: a short line (line series), a dashed line, or a filled square (bars). */
  swatch: 'line' | 'dashed' | 'box';
}

export interface PlotArea {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Rough width of text in a sans-serif face: enough to size margins without a font engine. */
export function textWidth(text: string, fontSize = FONT_SIZE): number {
  let units = 0;
  for (const ch of text) units += /[il.,:;'|!1 ]/.test(ch) ? 0.32 : /[mwMW@%]/.test(ch) ? 0.85 : /[A-Z]/.test(ch) ? 0.68 : 0.56;
  return units * fontSize;
}

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Shortens `text` to about `maxWidth` pixels with an ellipsis. */
export function truncate(text: string, maxWidth: number, fontSize = FONT_SIZE): string {
  if (textWidth(text, fontSize) <= maxWidth) return text;
  let cut = text;
  while (cut.length > 1 && textWidth(`${cut}…`, fontSize) > maxWidth) cut = cut.slice(0, -1);
  return `${cut.trimEnd()}…`;
}

export function num(v: number): string {
  return String(Math.round(v * 100) / 100);
}

export function text(x: number, y: number, content: string, attrs: Record<string, string | number> = {}): string {
  const extra = Object.entries(attrs).map(([k, v]) => ` ${k}="${typeof v === 'number' ? num(v) : escapeXml(v)}"`).join('');
  return `<text x="${num(x)}" y="${num(y)}"${extra}>${escapeXml(content)}</text>`;
}

export interface FrameInput extends ChartOptions {
  /** Every finite y value the chart will draw (sets the y domain unless yDomain fixes it). */
  yValues: readonly number[];
  /** Bars need zero on the axis; lines do not. */
  includeZero: boolean;
  legendEntries: readonly LegendEntry[];
  /** Space the x axis needs below the plot for its tick labels. */
  xAxisHeight: number;
  /** Default canvas width when the caller gave none (bar charts grow with their categories). */
  defaultWidth?: number;
}

export interface Frame {
  width: number;
  height: number;
  plot: PlotArea;
  y: (v: number) => number;
  yTicks: Ticks;
  /** Canvas, title, grid, y axis, axis titles and legend, in drawing order (marks go after `background`). */
  background: string[];
  foreground: string[];
}

const LEGEND_SWATCH = 18;
const LEGEND_ROW = 18;

function yDomainTicks(input: FrameInput): Ticks {
  const values = input.yValues.filter(Number.isFinite);
  let lo = values.length ? Math.min(...values) : 0;
  let hi = values.length ? Math.max(...values) : 1;
  if (input.includeZero) {
    lo = Math.min(lo, 0);
    hi = Math.max(hi, 0);
  }
  const [fixedLo, fixedHi] = input.yDomain ?? [];
  if (fixedLo !== undefined) lo = fixedLo;
  if (fixedHi !== undefined) hi = fixedHi;
  const ticks = niceTicks(lo, hi, input.yTicks ?? 5);
  // A fixed end stays exactly where the caller put it (e.g. 100 %), not at the next nice step.
  if (fixedLo !== undefined && fixedHi !== undefined && fixedLo < fixedHi) {
    return { ...ticks, min: fixedLo, max: fixedHi, values: ticks.values.filter((v) => v >= fixedLo - 1e-12 && v <= fixedHi + 1e-12) };
  }
  return ticks;
}

export function frame(input: FrameInput): Frame {
  const width = input.width ?? input.defaultWidth ?? 720;
  const height = input.height ?? 420;
  if (!(width >= 120 && height >= 100)) throw new RangeError(`chart size must be at least 120 × 100 pixels, got ${width} × ${height}`);
  const yTicks = yDomainTicks(input);
  const yFormat = input.yFormat ?? ((v: number) => formatTick(v, yTicks.step));
  const yLabels = yTicks.values.map((v) => ({ v, label: yFormat(v) }));
  const legendMode = input.legend ?? (input.legendEntries.length >= 2 ? 'right' : 'none');
  const legendWidth = Math.min(
    width * 0.3,
    Math.max(0, ...input.legendEntries.map((e) => textWidth(e.name))) + LEGEND_SWATCH + 14,
  );

  let top = 14;
  const background: string[] = [];
  const foreground: string[] = [];
  background.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  if (input.title) {
    top += TITLE_SIZE;
    background.push(text(16, top, truncate(input.title, width - 32, TITLE_SIZE), { 'font-size': TITLE_SIZE, 'font-weight': 600 }));
    top += 6;
  }
  if (input.subtitle) {
    top += FONT_SIZE + 2;
    background.push(text(16, top, truncate(input.subtitle, width - 32), { fill: MUTED }));
    top += 4;
  }
  top += 12;

  // Top legend: entries flow in rows across the canvas.
  const legendItems: { x: number; y: number; entry: LegendEntry }[] = [];
  if (legendMode === 'top' && input.legendEntries.length) {
    let x = 16;
    let y = top;
    for (const entry of input.legendEntries) {
      const w = textWidth(entry.name) + LEGEND_SWATCH + 22;
      if (x + w > width - 16 && x > 16) {
        x = 16;
        y += LEGEND_ROW;
      }
      legendItems.push({ x, y, entry });
      x += w;
    }
    top = y + LEGEND_ROW + 4;
  }

  const yLabelWidth = Math.max(...yLabels.map((l) => textWidth(l.label)));
  const left = 16 + (input.yLabel ? FONT_SIZE + 10 : 0) + yLabelWidth + 8;
  const right = 20 + (legendMode === 'right' && input.legendEntries.length ? legendWidth + 12 : 0);
  const bottom = 10 + input.xAxisHeight + (input.xLabel ? FONT_SIZE + 10 : 0);
  const plot: PlotArea = { x: left, y: top, width: Math.max(20, width - left - right), height: Math.max(20, height - top - bottom) };
  const y = linear(yTicks.min, yTicks.max, plot.y + plot.height, plot.y);

  for (const { v, label } of yLabels) {
    const py = y(v);
    background.push(`<line x1="${num(plot.x)}" x2="${num(plot.x + plot.width)}" y1="${num(py)}" y2="${num(py)}" stroke="${GRID}"/>`);
    background.push(text(plot.x - 8, py + 4, label, { 'text-anchor': 'end', fill: MUTED }));
  }
  // The baseline (zero when on the axis) is drawn darker so bars visibly stand on it.
  const baseline = yTicks.min <= 0 && yTicks.max >= 0 ? y(0) : plot.y + plot.height;
  foreground.push(`<line x1="${num(plot.x)}" x2="${num(plot.x + plot.width)}" y1="${num(baseline)}" y2="${num(baseline)}" stroke="${AXIS}"/>`);
  foreground.push(`<line x1="${num(plot.x)}" x2="${num(plot.x)}" y1="${num(plot.y)}" y2="${num(plot.y + plot.height)}" stroke="${AXIS}"/>`);
  if (input.yLabel) {
    const cx = 16 + FONT_SIZE / 2 + 2;
    const cy = plot.y + plot.height / 2;
    foreground.push(text(cx, cy, truncate(input.yLabel, plot.height), { 'text-anchor': 'middle', transform: `rotate(-90 ${num(cx)} ${num(cy)})`, fill: TEXT_COLOR }));
  }
  if (input.xLabel) {
    foreground.push(text(plot.x + plot.width / 2, height - 12, truncate(input.xLabel, plot.width), { 'text-anchor': 'middle', fill: TEXT_COLOR }));
  }

  if (legendMode === 'right') {
    input.legendEntries.forEach((entry, i) => legendItems.push({ x: plot.x + plot.width + 16, y: plot.y + 6 + i * LEGEND_ROW, entry }));
  }
  for (const { x, y: ly, entry } of legendItems) {
    const swatch =
      entry.swatch === 'box'
        ? `<rect x="${num(x)}" y="${num(ly - 9)}" width="12" height="12" rx="2" fill="${entry.color}"/>`
        : `<line x1="${num(x)}" x2="${num(x + LEGEND_SWATCH)}" y1="${num(ly - 3)}" y2="${num(ly - 3)}" stroke="${entry.color}" stroke-width="2.5"${entry.swatch === 'dashed' ? ' stroke-dasharray="5 3"' : ''}/>`;
    const labelX = x + (entry.swatch === 'box' ? 18 : LEGEND_SWATCH + 6);
    const maxLabel = legendMode === 'right' ? legendWidth - LEGEND_SWATCH - 6 : width;
    foreground.push(`<g>${swatch}${text(labelX, ly + 1, truncate(entry.name, maxLabel), { fill: TEXT_COLOR })}</g>`);
  }
  return { width, height, plot, y, yTicks, background, foreground };
}

/** Wraps drawn parts in the SVG root, with the title as the accessible name. */
export function svgDocument(f: Frame, title: string | undefined, marks: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" viewBox="0 0 ${f.width} ${f.height}" role="img" font-family="${escapeXml(FONT)}" font-size="${FONT_SIZE}">`,
    title ? `<title>${escapeXml(title)}</title>` : '',
    ...f.background,
    ...marks,
    ...f.foreground,
    '</svg>',
  ]
    .filter((s) => s !== '')
    .join('\n')
    .concat('\n');
}

export { FONT_SIZE, MUTED };
