import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../io.ts';
import { gradeCommand } from './grade.ts';

function collect() {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c.toString()));
  return { stream, text: () => chunks.join('') };
}

async function run(argv: string[], stdin = '') {
  const out = collect();
  const err = collect();
  const code = await gradeCommand(argv, { stdin: Readable.from([stdin]), stdout: out.stream, stderr: err.stream });
  return { code, stdout: out.text(), stderr: err.text() };
}

const lines = (text: string) => text.trim().split('\n').map((l) => JSON.parse(l));

describe('cir grade', () => {
  it('grades JSON lines from stdin, one output line per input line', async () => {
    const input = [
      JSON.stringify({ id: 'a', gold: '\\frac{1}{2}', pred: '0.5' }),
      JSON.stringify({ gold: '3', pred: 'We compute.\n```python\nprint(2)\n```\n```output\n2\n```\nSo the answer is \\boxed{3}.' }),
      '',
      JSON.stringify({ id: 7, gold: '[1,2)', pred: '[1,2]' }),
    ].join('\n');
    const { code, stdout, stderr } = await run(['--jsonl', '-'], input);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    expect(lines(stdout)).toEqual([
      { id: 'a', equal: true, extracted: '0.5', reason: 'equal_numeric' },
      { id: 2, equal: true, extracted: '3', reason: 'equal_numeric' },
      { id: 7, equal: false, extracted: '[1,2]', reason: 'not_equal' },
    ]);
  });

  it('reads a file', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'cir-grade-')), 'in.jsonl');
    writeFileSync(file, `${JSON.stringify({ id: 1, gold: '42', pred: '42' })}\n`);
    const { code, stdout } = await run(['--jsonl', file]);
    expect(code).toBe(0);
    expect(lines(stdout)).toEqual([{ id: 1, equal: true, extracted: '42', reason: 'equal_numeric' }]);
  });

  it('reports malformed lines and goes on', async () => {
    const input = ['{not json', JSON.stringify({ id: 'x', gold: 1, pred: '1' }), JSON.stringify([1]), JSON.stringify({ gold: '1', pred: '1' })].join('\n');
    const { code, stdout, stderr } = await run(['--jsonl', '-'], input);
    expect(code).toBe(1);
    expect(lines(stdout)).toEqual([
      { id: 1, equal: false, extracted: null, reason: 'invalid_input' },
      { id: 'x', equal: false, extracted: null, reason: 'invalid_input' },
      { id: 3, equal: false, extracted: null, reason: 'invalid_input' },
      { id: 4, equal: true, extracted: '1', reason: 'equal_numeric' },
    ]);
    expect(stderr).toMatch(/line 1: not valid JSON/);
    expect(stderr).toMatch(/line 2: gold must be a string/);
    expect(stderr).toMatch(/line 3: expected a JSON object/);
  });

  it('grades a single pair with --gold/--pred', async () => {
    const equal = await run(['--gold', '\\frac{1}{2}', '--pred', '\\boxed{0.5}']);
    expect(equal.code).toBe(0);
    expect(JSON.parse(equal.stdout)).toMatchObject({ equal: true, extracted: '0.5', gold_parsed: '1/2' });
    const different = await run(['--gold', '1/2', '--pred', '1/3']);
    expect(different.code).toBe(1);
  });

  it('passes options through', async () => {
    expect((await run(['--gold', '3.14159', '--pred', '3.1416', '--rel-tol', '1e-4'])).code).toBe(0);
    const response = 'Counting.\nThere are 12 of them in all.';
    expect((await run(['--gold', '12', '--pred', response, '--no-last-number'])).code).toBe(1);
  });

  it('--mode picks the grading mode', async () => {
    const response = 'A first attempt gives \\boxed{4}.\nCounting again,\nthere are 12 of them';
    expect((await run(['--gold', '12', '--pred', response])).code).toBe(1);
    expect((await run(['--gold', '12', '--pred', response, '--mode', 'math-verify'])).code).toBe(1);
    const paper = await run(['--gold', '12', '--pred', response, '--mode', 'cir-paper']);
    expect(paper.code).toBe(0);
    expect(JSON.parse(paper.stdout)).toMatchObject({ equal: true, extracted: '12' });
    const lines = await run(['--jsonl', '-', '--mode', 'cir-paper'], JSON.stringify({ id: 1, gold: '12', pred: response }));
    expect(JSON.parse(lines.stdout)).toEqual({ id: 1, equal: true, extracted: '12', reason: 'equal_numeric' });
    await expect(run(['--gold', '1', '--pred', '1', '--mode', 'lenient'])).rejects.toThrow(/--mode must be one of math-verify, cir-paper, got "lenient"/);
  });

  it('rejects bad usage', async () => {
    await expect(run([])).rejects.toThrow(UsageError);
    await expect(run(['--gold', '1'])).rejects.toThrow(UsageError);
    await expect(run(['--jsonl', '-', '--gold', '1', '--pred', '1'])).rejects.toThrow(UsageError);
    await expect(run(['--gold', '1', '--pred', '1', '--rel-tol', 'abc'])).rejects.toThrow(UsageError);
  });
});
