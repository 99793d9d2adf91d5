import { FONT_SIZE, MUTED, PALETTE, TEXT_COLOR, escapeXml, frame, num, svgDocument, text, textWidth, truncate, type ChartOptions } from './frame.ts';
import { formatTick } from './scale.ts';

export interface BarSeries {
  name: string;
  /** One value per category; null (or non-finite) draws no bar and a "–" label. */
  values: readonly (number | null)[];
  color?: string;
}

export interface BarChartSpec extends ChartOptions {
  categories: readonly string[];
  series: readonly BarSeries[];
  /** Print each bar's value above it; default when there are at most 48 bars. */
  valueLabels?: boolean;
  /** Text of a value label; default: the y axis format with one more decimal. */
  valueFormat?: (value: number) => string;
}

const MIN_BAND = 22;
const ROTATED_DEG = 35;

/**
 * A grouped bar chart: one group per category, one bar per series within it, bars standing on
 * zero (negative values hang below it). The canvas grows with the number of categories unless a
 * width is given; long category labels are turned and shortened. Returns a standalone SVG document.
 */
export function barChart(spec: BarChartSpec): string {
  const { categories, series } = spec;
  if (series.length === 0) throw new RangeError('barChart needs at least one series');
  if (categories.length === 0) throw new RangeError('barChart needs at least one category');
  for (const s of series) {
    if (s.values.length !== categories.length) {
      throw new RangeError(`bar series "${s.name}" has ${s.values.length} values for ${categories.length} categories`);
    }
  }
  const drawn = series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length]! }));
  const value = (v: number | null): v is number => v !== null && Number.isFinite(v);
  const values = drawn.flatMap((s) => s.values.filter(value));

  // Band width decides whether labels fit flat; the chart is widened first, labels turned second.
  const perBar = series.length === 1 ? 46 : 20;
  const defaultWidth = Math.max(720, Math.min(1600, 200 + categories.length * (series.length * perBar + 18)));
  const width = spec.width ?? defaultWidth;
  const roughBand = (width - 220) / categories.length;
  const labelWidths = categories.map((c) => textWidth(c));
  const rotate = Math.max(...labelWidths) > roughBand - 6;
  const maxLabel = rotate ? 190 : roughBand - 6;
  const shown = categories.map((c) => truncate(c, maxLabel));
  const longest = Math.max(...shown.map((c) => textWidth(c)));
  const xAxisHeight = rotate ? Math.sin((ROTATED_DEG * Math.PI) / 180) * longest + FONT_SIZE + 8 : FONT_SIZE + 10;

  const f = frame({
    ...spec,
    width,
    yValues: values,
    includeZero: true,
    xAxisHeight,
    legendEntries: drawn.length > 1 ? drawn.map((s) => ({ name: s.name, color: s.color, swatch: 'box' as const })) : [],
  });
  const band = f.plot.width / categories.length;
  if (band < MIN_BAND && spec.width !== undefined) {
    throw new RangeError(`${categories.length} categories do not fit in ${spec.width} pixels; leave width unset to size the chart to its data`);
  }
  const groupWidth = band * (series.length === 1 ? 0.62 : 0.8);
  const barWidth = groupWidth / series.length;
  const zero = f.y(Math.min(Math.max(0, f.yTicks.min), f.yTicks.max));
  const showValues = spec.valueLabels ?? categories.length * series.length <= 48;
  const format = spec.valueFormat ?? spec.yFormat ?? ((v: number) => formatTick(v, f.yTicks.step / 10));
  const valueFont = barWidth < 26 ? 9 : 10.5;

  const marks: string[] = [];
  categories.forEach((category, ci) => {
    const cx = f.plot.x + band * (ci + 0.5);
    const groupX = cx - groupWidth / 2;
    drawn.forEach((s, si) => {
      const v = s.values[ci]!;
      const bx = groupX + si * barWidth;
      const inner = Math.max(1, barWidth - (series.length > 1 ? 2 : 0));
      if (value(v)) {
        const clamped = Math.min(Math.max(v, f.yTicks.min), f.yTicks.max);
        const by = f.y(clamped);
        const top = Math.min(by, zero);
        const h = Math.max(v === 0 ? 0 : 1, Math.abs(zero - by));
        marks.push(
          `<rect x="${num(bx)}" y="${num(top)}" width="${num(inner)}" height="${num(h)}" fill="${s.color}"><title>${escapeXml(`${s.name} · ${category}: ${format(v)}`)}</title></rect>`,
        );
        if (showValues) {
          const ly = v >= 0 ? top - 4 : top + h + valueFont + 2;
          marks.push(text(bx + inner / 2, ly, format(v), { 'text-anchor': 'middle', 'font-size': valueFont, fill: TEXT_COLOR }));
        }
      } else if (showValues) {
        marks.push(text(bx + inner / 2, zero - 4, '–', { 'text-anchor': 'middle', 'font-size': valueFont, fill: MUTED }));
      }
    });
    const ly = f.plot.y + f.plot.height + FONT_SIZE + 6;
    const label = shown[ci]!;
    marks.push(
      rotate
        ? text(cx + 4, ly - 4, label, { 'text-anchor': 'end', transform: `rotate(-${ROTATED_DEG} ${num(cx + 4)} ${num(ly - 4)})`, fill: MUTED })
        : text(cx, ly, label, { 'text-anchor': 'middle', fill: MUTED }),
    );
  });
  return svgDocument(f, spec.title, marks);
}
