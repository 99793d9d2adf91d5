import { describe, expect, it } from 'vitest';
import { barChart, formatTick, lineChart, niceTicks, PALETTE } from './index.ts';

/** Checks that every tag closes in order (the output must be well-formed XML for renderers and browsers). */
function expectWellFormed(svg: string): void {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z][\w:-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (selfClosing) continue;
    if (closing) expect(stack.pop(), `closing </${name}>`).toBe(name);
    else stack.push(name!);
  }
  expect(stack).toEqual([]);
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  // Text content has no raw markup characters (they must be escaped).
  for (const m of svg.matchAll(/>([^<]*)</g)) expect(m[1]).not.toMatch(/[<>]|&(?!amp;|lt;|gt;|quot;|apos;)/);
}

const textsOf = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

describe('niceTicks', () => {
  it('covers the range with steps of 1, 2, 2.5 or 5 × 10^k', () => {
    expect(niceTicks(0, 1)).toEqual({ min: 0, max: 1, step: 0.2, values: [0, 0.2, 0.4, 0.6, 0.8, 1] });
    expect(niceTicks(3, 97)).toEqual({ min: 0, max: 100, step: 20, values: [0, 20, 40, 60, 80, 100] });
    expect(niceTicks(-0.3, 0.7, 4).values).toEqual([-0.5, -0.25, 0, 0.25, 0.5, 0.75]);
    // Exact decimals, no 0.30000000000000004.
    expect(niceTicks(0.1, 0.3).values).toEqual([0.1, 0.15, 0.2, 0.25, 0.3]);
  });

  it('widens a flat range and rejects non-finite ends', () => {
    expect(niceTicks(5, 5).values).toContain(5);
    expect(niceTicks(0, 0).values).toEqual([-1, -0.5, 0, 0.5, 1]);
    expect(() => niceTicks(0, Infinity)).toThrow(RangeError);
  });

  it('labels ticks with the decimals of the step', () => {
    expect(formatTick(0.25, 0.25)).toBe('0.25');
    expect(formatTick(0.5, 0.25)).toBe('0.50');
    expect(formatTick(40, 20)).toBe('40');
    expect(formatTick(-0, 0.1)).toBe('0.0');
    expect(formatTick(25000, 5000)).toBe('25,000');
  });
});

describe('lineChart', () => {
  const spec = {
    title: 'Reward & <loss>',
    xLabel: 'step',
    yLabel: 'value',
    series: [
      { name: 'reward', points: [{ x: 0, y: 0.1 }, { x: 10, y: 0.4 }, { x: 20, y: null }, { x: 30, y: 0.5 }, { x: 40, y: 0.7 }] },
      { name: 'loss "train"', points: [{ x: 20, y: 1.2 }, { x: 0, y: 2 }, { x: 40, y: 0.9 }], dashed: true },
    ],
  };

  it('prints point labels by their dots, inside the plot area', () => {
    const svg = lineChart({
      series: [{ name: 'acc', points: [{ x: 0, y: 0.5, label: 'n=12' }, { x: 1, y: 1, label: 'n=3 <few>' }, { x: 2, y: 0.2 }] }],
      yDomain: [0, 1],
      markers: false,
    });
    expectWellFormed(svg);
    expect(textsOf(svg)).toEqual(expect.arrayContaining(['n=12', 'n=3 &lt;few&gt;']));
    // Labelled points get a dot even without markers; the unlabelled one does not.
    expect(svg.match(/<circle/g)).toHaveLength(2);
    const labelY = (label: string) => Number(new RegExp(`<text x="[\\d.]+" y="([\\d.]+)"[^>]*>${label}<`).exec(svg)![1]);
    const dotY = (i: number) => Number([...svg.matchAll(/<circle cx="[\d.]+" cy="([\d.]+)"/g)][i]![1]);
    expect(labelY('n=12')).toBeLessThan(dotY(0));
    // At the top of the plot the label goes below the dot.
    expect(labelY('n=3 &lt;few&gt;')).toBeGreaterThan(dotY(1));
  });

  it('keeps labels of series that meet at a point apart', () => {
    const svg = lineChart({
      series: [
        { name: 'a', points: [{ x: 0, y: 0, label: 'n=1' }, { x: 1, y: 0.5 }] },
        { name: 'b', points: [{ x: 0, y: 0, label: 'n=10' }, { x: 1, y: 0.6 }] },
      ],
      yDomain: [0, 1],
    });
    const ys = [...svg.matchAll(/<text x="[\d.]+" y="([\d.]+)"[^>]*>n=1\d?</g)].map((m) => Number(m[1]));
    expect(ys).toHaveLength(2);
    expect(Math.abs(ys[0]! - ys[1]!)).toBeGreaterThanOrEqual(10);
  });

  it('draws one polyline per unbroken run, a legend entry per series, and escapes text', () => {
    const svg = lineChart(spec);
    expectWellFormed(svg);
    // reward: runs [0,10] and [30,40] (null at 20 breaks it); loss: one run.
    expect(svg.match(/<polyline/g)).toHaveLength(3);
    expect(svg).toContain('stroke-dasharray="6 4"');
    expect(svg).toContain('<title>Reward &amp; &lt;loss&gt;</title>');
    const texts = textsOf(svg);
    expect(texts).toContain('reward');
    expect(texts).toContain('loss &quot;train&quot;');
    expect(texts).toContain('step');
    expect(svg).toContain(PALETTE[0]);
    expect(svg).toContain(PALETTE[1]);
  });

  it('sorts points by x so an unordered series is drawn left to right', () => {
    const svg = lineChart({ series: [{ name: 'a', points: [{ x: 2, y: 1 }, { x: 0, y: 0 }, { x: 1, y: 5 }] }] });
    const xs = svg.match(/<polyline points="([^"]+)"/)![1]!.split(' ').map((p) => Number(p.split(',')[0]));
    expect(xs).toEqual([...xs].sort((a, b) => a - b));
  });

  it('uses explicit x ticks and a fixed y domain', () => {
    const svg = lineChart({
      series: [{ name: 'acc', points: [0, 1, 2].map((x) => ({ x, y: 0.2 * x })) }],
      xTicks: [0, 1, 2, 3, 4, 5],
      yDomain: [0, 1],
      yFormat: (v) => `${Math.round(v * 100)}%`,
    });
    const texts = textsOf(svg);
    for (const label of ['0', '1', '2', '3', '4', '5', '0%', '100%']) expect(texts).toContain(label);
    expect(svg.match(/<circle/g)).toHaveLength(3);
    expectWellFormed(svg);
  });

  it('marks a lone point and survives a series with no finite values', () => {
    const svg = lineChart({ series: [{ name: 'one', points: [{ x: 1, y: 3 }] }, { name: 'none', points: [{ x: 1, y: null }] }], markers: false });
    expect(svg.match(/<circle/g)).toHaveLength(1);
    expectWellFormed(svg);
  });

  it('rejects charts without series or too small to draw', () => {
    expect(() => lineChart({ series: [] })).toThrow(/at least one series/);
    expect(() => lineChart({ series: [{ name: 'a', points: [] }], width: 50 })).toThrow(/at least 120/);
  });
});

describe('barChart', () => {
  it('draws a bar per finite value standing on zero, with value labels and a legend', () => {
    const svg = barChart({
      title: 'Accuracy',
      categories: ['math500', 'aime24', 'gsm8k'],
      series: [
        { name: 'A', values: [0.5, 0.1, 0.9] },
        { name: 'B', values: [0.6, null, 1] },
      ],
      yDomain: [0, 1],
      yFormat: (v) => `${Math.round(v * 100)}%`,
    });
    expectWellFormed(svg);
    const bars = [...svg.matchAll(/<rect x="[^"]+" y="([^"]+)" width="[^"]+" height="([^"]+)" fill="([^"]+)"><title>/g)];
    expect(bars).toHaveLength(5);
    // Every bar ends on the same baseline (y + height), and taller values give taller bars.
    const bottoms = new Set(bars.map((b) => Math.round(Number(b[1]) + Number(b[2]))));
    expect(bottoms.size).toBe(1);
    const heights = bars.map((b) => Number(b[2]));
    expect(heights[0]! / heights[2]!).toBeCloseTo(0.5 / 0.1, 1);
    const texts = textsOf(svg);
    for (const label of ['50%', '10%', '90%', '60%', '100%', '–', 'A', 'B', 'math500', 'gsm8k']) expect(texts).toContain(label);
  });

  it('hangs negative values below zero and includes zero in the axis', () => {
    const svg = barChart({ categories: ['x', 'y'], series: [{ name: 's', values: [3, -2] }] });
    const ticks = textsOf(svg);
    expect(ticks).toContain('0');
    expect(ticks.some((t) => t!.startsWith('-'))).toBe(true);
    expectWellFormed(svg);
  });

  it('turns and shortens long category labels, keeping the full name in the bar tooltip', () => {
    const long = 'Introduction to Astronomy (8.282J Spring 2006) and some more words';
    const svg = barChart({ categories: [long, 'b', 'c', 'd', 'e', 'f', 'g', 'h'], series: [{ name: 's', values: [1, 2, 3, 4, 5, 6, 7, 8] }] });
    expect(svg).toMatch(/transform="rotate\(-35 /);
    expect(textsOf(svg).find((t) => t!.startsWith('Introduction'))).toMatch(/…$/);
    expect(svg).toContain(`${long}: 1`);
    expectWellFormed(svg);
  });

  it('rejects mismatched or empty input with a message', () => {
    expect(() => barChart({ categories: ['a', 'b'], series: [{ name: 's', values: [1] }] })).toThrow('bar series "s" has 1 values for 2 categories');
    expect(() => barChart({ categories: [], series: [{ name: 's', values: [] }] })).toThrow(/at least one category/);
    expect(() => barChart({ categories: ['a'], series: [] })).toThrow(/at least one series/);
    const many = Array.from({ length: 60 }, (_, i) => `c${i}`);
    expect(() => barChart({ categories: many, series: [{ name: 's', values: many.map(() => 1) }], width: 300 })).toThrow(/do not fit/);
    // Left to size itself, the same chart draws.
    expectWellFormed(barChart({ categories: many, series: [{ name: 's', values: many.map(() => 1) }] }));
  });
});
