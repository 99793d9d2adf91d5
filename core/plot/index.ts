/**
 * Small, dependency-free SVG charts for reports (evaluation results, training metrics).
 * Pure functions from data to a standalone SVG document string; runs anywhere (no DOM, no fonts
 * needed: label widths are estimated). Write the string to a `.svg` file or embed it in Markdown.
 *
 *   import { lineChart, barChart } from '../core/plot/index.ts';
 *
 *   // Several series over a numeric x axis; null y leaves a gap; a point's label is printed by its dot.
 *   lineChart({
 *     title: 'Training reward', xLabel: 'step', yLabel: 'mean reward',
 *     series: [
 *       { name: 'reward', points: steps.map((s) => ({ x: s.step, y: s.reward })) },
 *       { name: 'accuracy (eval)', points: evals, dashed: true },
 *     ],
 *     yDomain: [0, 1],                       // fix either end, or leave to the data
 *   });
 *
 *   // Grouped bars: one group per category, one bar per series.
 *   barChart({
 *     title: 'Accuracy per benchmark', yLabel: 'accuracy',
 *     categories: ['math500', 'aime24'],
 *     series: [{ name: 'run A', values: [0.52, 0.1] }, { name: 'run B', values: [0.61, null] }],
 *     yDomain: [0, 1], yFormat: (v) => `${Math.round(v * 100)}%`,
 *   });
 *
 * Common options (ChartOptions): title, subtitle, xLabel, yLabel, width/height (default 720 × 420;
 * bar charts widen with their categories), yDomain, yFormat, yTicks, legend ('right' | 'top' |
 * 'none'; default right for two or more series). Colours come from PALETTE unless a series sets one.
 * Invalid input (no series, value count ≠ category count, non-finite fixed domain) throws a RangeError.
 */
export { barChart, type BarChartSpec, type BarSeries } from './bar.ts';
export { PALETTE, type ChartOptions } from './frame.ts';
export { lineChart, type LineChartSpec, type LinePoint, type LineSeries } from './line.ts';
export { formatTick, niceTicks, type Ticks } from './scale.ts';
