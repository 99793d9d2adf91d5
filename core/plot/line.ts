import { FONT_SIZE, MUTED, PALETTE, escapeXml, frame, num, svgDocument, text, textWidth, type ChartOptions, type PlotArea } from './frame.ts';
import { formatTick, linear, niceTicks } from './scale.ts';

export interface LinePoint {
  x: number;
  /** null (or a non-finite number) leaves a gap: the line breaks there instead of bridging missing data. */
  y: number | null;
  /** Short text printed by the point (e.g. "n=12": how many observations it rests on); a labelled point always gets a dot. */
  label?: string;
}

export interface LineSeries {
  name: string;
  points: readonly LinePoint[];
  /** Default: the palette colour for the series' position. */
  color?: string;
  dashed?: boolean;
}

export interface LineChartSpec extends ChartOptions {
  series: readonly LineSeries[];
  /** Fixed ends of the x axis; an undefined end follows the data. */
  xDomain?: readonly [number | undefined, number | undefined];
  /** Exact x tick positions (e.g. the integers 0..5); default: nice ticks over the domain. */
  xTicks?: readonly number[];
  xFormat?: (value: number) => string;
  /** Dots on the data points; default: on series of at most 40 points. */
  markers?: boolean;
}

const LABEL_SIZE = 10;

/**
 * Baselines for point labels that stay inside the plot area and clear of the labels placed
 * before: above the dot, else below it, else further out on either side (series that meet at a
 * point, e.g. two benchmarks both at 0%, would otherwise print their labels over each other).
 */
function labelPlacer(plot: PlotArea): (px: number, py: number, label: string) => number {
  const placed: { x0: number; x1: number; y0: number; y1: number }[] = [];
  return (px, py, label) => {
    const half = textWidth(label, LABEL_SIZE) / 2 + 1;
    const candidates = Array.from({ length: 6 }, (_, step) => [py - 7 - step * (LABEL_SIZE + 2), py + 7 + LABEL_SIZE + step * (LABEL_SIZE + 2)]).flat();
    const fits = (base: number) => base - LABEL_SIZE >= plot.y && base <= plot.y + plot.height;
    const free = (base: number) => !placed.some((b) => px - half < b.x1 && px + half > b.x0 && base - LABEL_SIZE < b.y1 && base > b.y0);
    const base = candidates.find((b) => fits(b) && free(b)) ?? candidates.find(fits) ?? py - 7;
    placed.push({ x0: px - half, x1: px + half, y0: base - LABEL_SIZE, y1: base });
    return base;
  };
}

/**
 * A line chart with several series over a numeric x axis (training step, tool calls, ...).
 * Points are drawn in x order; missing values break the line; a point may carry a label (printed by
 * its dot). Returns a standalone SVG document.
 */
export function lineChart(spec: LineChartSpec): string {
  if (spec.series.length === 0) throw new RangeError('lineChart needs at least one series');
  const finite = (p: LinePoint): p is LinePoint & { y: number } => Number.isFinite(p.x) && p.y !== null && Number.isFinite(p.y);
  const drawn = spec.series.map((s, i) => ({
    ...s,
    color: s.color ?? PALETTE[i % PALETTE.length]!,
    points: [...s.points].filter((p) => Number.isFinite(p.x)).sort((a, b) => a.x - b.x),
  }));
  const xs = drawn.flatMap((s) => s.points.filter(finite).map((p) => p.x));
  const [fixedX0, fixedX1] = spec.xDomain ?? [];
  const explicitTicks = spec.xTicks?.filter(Number.isFinite);
  const dataX0 = Math.min(...xs, ...(explicitTicks ?? []));
  const dataX1 = Math.max(...xs, ...(explicitTicks ?? []));
  const x0 = fixedX0 ?? (Number.isFinite(dataX0) ? dataX0 : 0);
  const x1 = fixedX1 ?? (Number.isFinite(dataX1) ? dataX1 : 1);
  const auto = niceTicks(x0, x1, 6);
  // Explicit ticks or a data range that starts and ends on data keep their exact ends; nice ticks inside.
  const xMin = explicitTicks || fixedX0 !== undefined ? x0 : auto.min;
  const xMax = explicitTicks || fixedX1 !== undefined ? x1 : auto.max;
  const tickValues = explicitTicks ?? auto.values.filter((v) => v >= xMin - 1e-12 && v <= xMax + 1e-12);
  const xFormat = spec.xFormat ?? ((v: number) => formatTick(v, explicitTicks ? 1 : auto.step));

  const f = frame({
    ...spec,
    yValues: drawn.flatMap((s) => s.points.filter(finite).map((p) => p.y)),
    includeZero: false,
    xAxisHeight: FONT_SIZE + 10,
    legendEntries: drawn.map((s) => ({ name: s.name, color: s.color, swatch: s.dashed ? 'dashed' : 'line' })),
  });
  // A small inset keeps markers at the ends clear of the axis lines.
  const inset = 6;
  const x = linear(xMin === xMax ? xMin - 1 : xMin, xMin === xMax ? xMax + 1 : xMax, f.plot.x + inset, f.plot.x + f.plot.width - inset);

  const marks: string[] = [];
  const labelEvery = Math.max(1, Math.ceil(tickValues.length / Math.max(1, Math.floor(f.plot.width / (Math.max(...tickValues.map((v) => textWidth(xFormat(v)))) + 12)))));
  tickValues.forEach((v, i) => {
    const px = x(v);
    marks.push(`<line x1="${num(px)}" x2="${num(px)}" y1="${num(f.plot.y + f.plot.height)}" y2="${num(f.plot.y + f.plot.height + 4)}" stroke="#888"/>`);
    if (i % labelEvery === 0) marks.push(text(px, f.plot.y + f.plot.height + FONT_SIZE + 6, xFormat(v), { 'text-anchor': 'middle', fill: MUTED }));
  });

  const placeLabel = labelPlacer(f.plot);
  for (const s of drawn) {
    const showMarkers = spec.markers ?? s.points.length <= 40;
    // Split into runs of consecutive finite points: each run is one polyline.
    const runs: (LinePoint & { y: number })[][] = [[]];
    for (const p of s.points) {
      if (finite(p)) runs[runs.length - 1]!.push(p);
      else if (runs[runs.length - 1]!.length) runs.push([]);
    }
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    const parts: string[] = [];
    for (const run of runs) {
      if (run.length >= 2) {
        const pts = run.map((p) => `${num(x(p.x))},${num(f.y(p.y))}`).join(' ');
        parts.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2.2" stroke-linejoin="round" stroke-linecap="round"${dash}/>`);
      }
      // A lone point has no line through it, so it always gets a dot.
      for (const p of run) {
        const px = x(p.x);
        const py = f.y(p.y);
        if (showMarkers || run.length === 1 || p.label) parts.push(`<circle cx="${num(px)}" cy="${num(py)}" r="3.2" fill="${s.color}" stroke="#fff" stroke-width="1"/>`);
        if (p.label) parts.push(text(px, placeLabel(px, py, p.label), p.label, { 'text-anchor': 'middle', 'font-size': LABEL_SIZE, fill: s.color }));
      }
    }
    marks.push(`<g data-series="${escapeXml(s.name)}">${parts.join('')}</g>`);
  }
  return svgDocument(f, spec.title, marks);
}
