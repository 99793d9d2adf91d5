import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BenchmarkError, DEFAULT_BENCHMARKS_DIR, loadBenchmark, parseBenchList, parseBenchmark, SYNTHETIC_COUNT } from './benchmarks.ts';

describe('benchmark files', () => {
  it('reads the shape of shared/data/benchmarks, with subject and level as strings', () => {
    const problems = parseBenchmark(
      '{"id":"a","problem":"1+1?","answer":"2","subject":"Algebra","level":3,"unique_id":"x"}\n\n{"id":7,"problem":"p","answer":"\\\\frac{1}{2}","unit":null}\n',
      'f.jsonl',
    );
    expect(problems).toEqual([
      { id: 'a', problem: '1+1?', answer: '2', subject: 'Algebra', level: '3' },
      { id: '7', problem: 'p', answer: '\\frac{1}{2}' },
    ]);
  });

  it('names every malformed line as file:line', () => {
    const text = ['{"id":"a","problem":"x","answer":"1"}', '{"id":"b","problem":"","answer":"1"}', '[1,2', '{"id":"a","problem":"y","answer":"2"}', '{"problem":"z","answer":3}'].join('\n');
    expect(() => parseBenchmark(text, 'set.jsonl')).toThrow(BenchmarkError);
    let message = '';
    try {
      parseBenchmark(text, 'set.jsonl');
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^set\.jsonl: 4 malformed lines:/);
    expect(message).toContain('set.jsonl:2: problem: problem is empty');
    expect(message).toMatch(/set\.jsonl:3: not valid JSON/);
    expect(message).toContain('set.jsonl:4: duplicate id "a" (first on line 1)');
    expect(message).toMatch(/set\.jsonl:5: id: .*; answer: /);
    expect(() => parseBenchmark('\n\n', 'empty.jsonl')).toThrow('empty.jsonl: no problems in the file');
  });

  it('loads by name from a directory or by path, and says what a directory has', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cir-bench-'));
    writeFileSync(join(dir, 'tiny.jsonl'), '{"id":"1","problem":"p","answer":"1"}\n');
    expect(loadBenchmark('tiny', dir)).toMatchObject({ name: 'tiny', total: 1 });
    expect(loadBenchmark(join(dir, 'tiny.jsonl'), '/nonexistent')).toMatchObject({ name: 'tiny', total: 1 });
    expect(() => loadBenchmark('math', dir)).toThrow(`benchmark "math": no file ${join(dir, 'math.jsonl')} (${dir} has: tiny)`);
    expect(() => loadBenchmark('math', join(dir, 'none'))).toThrow(/has no \.jsonl files; set --data or CIR_BENCHMARKS_DIR/);
  });

  it('looks beside the repository by default and reads the shared sets (a copy of AIME24 in eval/fixtures)', () => {
    // The checkout's ../shared/data/benchmarks is not there on every machine, so the file comes from a copy.
    expect(DEFAULT_BENCHMARKS_DIR).toBe(resolve(fileURLToPath(import.meta.url), '../../../shared/data/benchmarks'));
    const aime = loadBenchmark('aime24', fileURLToPath(new URL('./fixtures', import.meta.url)));
    expect(aime.problems).toHaveLength(30);
    expect(aime.problems[0]).toMatchObject({ id: 'aime24-0', answer: '204' });
  });

  it('generates the embedded model\'s synthetic splits, the same problems every time', () => {
    const heldout = loadBenchmark('synthetic-heldout', '/nonexistent');
    expect(heldout.problems).toHaveLength(SYNTHETIC_COUNT);
    expect(heldout.problems[0]).toMatchObject({ id: 'heldout-0-0' });
    expect(heldout.problems[0]!.answer).toMatch(/^\d+$/);
    expect(heldout.problems[0]!.level).toMatch(/^[123]$/);
    expect(loadBenchmark('synthetic-heldout', '/x').problems).toEqual(heldout.problems);
    expect(() => loadBenchmark('synthetic-nope', '/x')).toThrow(/no synthetic split "nope" \(there are: synthetic-warmstart, synthetic-rl, synthetic-heldout, synthetic-seen, synthetic-novel\)/);
  });

  it('parses --bench lists', () => {
    expect(parseBenchList('math500, aime24,,gsm8k')).toEqual(['math500', 'aime24', 'gsm8k']);
    expect(() => parseBenchList(' , ')).toThrow('no benchmark given');
    expect(() => parseBenchList('a,dir/a.jsonl')).toThrow('benchmark "a" is listed twice');
  });
});
