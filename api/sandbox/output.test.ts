import { describe, expect, it } from 'vitest';
import { capOutput, OutputCollector } from './output.ts';

const bytes = (s: string) => new TextEncoder().encode(s).length;

describe('capOutput', () => {
  it('leaves short text alone', () => {
    expect(capOutput('hello', 100)).toEqual({ text: 'hello', truncated: false });
  });

  it('keeps head and tail with a marker naming the omitted bytes', () => {
    const text = `${'a'.repeat(500)}${'m'.repeat(1000)}${'z'.repeat(500)}`;
    const { text: out, truncated } = capOutput(text, 1000);
    expect(truncated).toBe(true);
    expect(out.startsWith('a'.repeat(500))).toBe(true);
    expect(out.endsWith('z'.repeat(500))).toBe(true);
    expect(out).toContain('[output truncated: 1000 bytes omitted]');
  });

  it('never splits a multi-byte character', () => {
    const text = '€'.repeat(1000) + '😀'.repeat(1000);
    const { text: out } = capOutput(text, 1001);
    expect(out).not.toContain('\uFFFD');
    const [head, tail] = out.split(/\n\.\.\. \[output truncated: \d+ bytes omitted\] \.\.\.\n/);
    expect(bytes(head!) + bytes(tail!)).toBeLessThanOrEqual(1001);
    expect(head).toMatch(/^€+$/);
    expect(tail).toMatch(/^(😀)+$/u);
  });
});

describe('OutputCollector', () => {
  it('matches capOutput on the concatenated stream', () => {
    const collector = new OutputCollector(100);
    const chunks = Array.from({ length: 50 }, (_, i) => `line ${i}\n`);
    for (const chunk of chunks) collector.push(chunk);
    expect(collector.result()).toEqual(capOutput(chunks.join(''), 100));
    expect(collector.bytesSeen).toBe(bytes(chunks.join('')));
  });

  it('keeps memory bounded under a flood and keeps the true tail', () => {
    const collector = new OutputCollector(64);
    for (let i = 0; i < 100_000; i++) collector.push(`x${i}\n`);
    const { text, truncated } = collector.result();
    expect(truncated).toBe(true);
    expect(text.startsWith('x0\nx1\n')).toBe(true);
    expect(text.endsWith('x99999\n')).toBe(true);
    expect(bytes(text)).toBeLessThan(64 + 80);
  });

  it('handles a single chunk larger than the cap, and byte chunks split inside a character', () => {
    const collector = new OutputCollector(10);
    collector.push('é'.repeat(100));
    expect(collector.result().text).not.toContain('\uFFFD');
    const split = new OutputCollector(1000);
    const euro = new TextEncoder().encode('€');
    split.push(euro.subarray(0, 1));
    split.push(euro.subarray(1));
    expect(split.result()).toEqual({ text: '€', truncated: false });
  });
});
