import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { averageCell, meanCi, PROTOCOLS } from '../../eval/protocol.ts';
import { ensureModel } from '../../scripts/make-model.ts';
import { runCommand } from '../cli-run.ts';
import { dataDir, MINI_PROBLEMS, tempDir } from './fixtures.ts';

/**
 * `cir eval --protocol cir-paper`: Table 1 of the paper in one command (the fixture model and a
 * one-problem copy of each benchmark, so it runs in seconds), its table, and compare with paired
 * differences.
 */
let modelDir: string;
let data: string;

beforeAll(async () => {
  modelDir = await ensureModel('tiny');
  const lines = `${MINI_PROBLEMS.map((p) => JSON.stringify(p)).join('\n')}\n`;
  data = dataDir(Object.fromEntries(PROTOCOLS['cir-paper']!.benchmarks.map((b) => [`${b.name}.jsonl`, lines])));
}, 120_000);

const cir = (args: string[]) => runCommand(main, ['eval', ...args], { CIR_PYTHON_EXECUTOR: 'off', CIR_MODEL_THREADS: '1' });
const runJson = (dir: string) => JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'));

describe('cir eval --protocol cir-paper', () => {
  it('runs every benchmark with its own decoding into one directory, writes the Table 1 row, and compares runs', async () => {
    const base = ['--protocol', 'cir-paper', '--data', data, '--backend', modelDir, '--limit', '1', '--concurrency', '2'];
    const out = tempDir('protocol');
    const run = await cir([...base, '--prompt', 'default', '--out', out]);
    expect(run.code, run.stderr).toBe(0);

    expect(runJson(join(out, 'math500'))).toMatchObject({ greedy: true, k: 1, temperature: 0, max_tool_calls: 5, max_tokens_per_turn: 16384, prompt: 'default', grading_mode: 'cir-paper' });
    for (const name of ['aime24', 'aime25', 'amc23', 'olymmath_en_easy']) {
      expect(runJson(join(out, name))).toMatchObject({ greedy: false, k: 16, temperature: 1, top_p: 0.95, max_tool_calls: 5, max_tokens_per_turn: 16384 });
    }
    const table = readFileSync(join(out, 'table.md'), 'utf8');
    expect(table).toContain('| model | MATH500 (greedy) | AIME24 (avg@16) | AIME25 (avg@16) | AMC23 (avg@16) | OlymMATH (avg@16) | Avg |');
    expect(table).toMatch(/\| tiny\S* \| \d+\.\d% \| \d+\.\d% ± \d+\.\d|\| tiny\S* \| \d+\.\d%/);
    const json = JSON.parse(readFileSync(join(out, 'table.json'), 'utf8'));
    expect(Object.keys(json.benchmarks)).toEqual(['MATH500', 'AIME24', 'AIME25', 'AMC23', 'OlymMATH']);
    expect(json.benchmarks.AIME24).toMatchObject({ metric: 'avg@16', problems: 1 });
    expect(run.stderr).toContain('cir-paper table:');

    // Again with the paper's Qwen2.5-Math prompt (plain text, no chat template): another run to compare with.
    const other = tempDir('protocol-raw');
    expect((await cir([...base, '--out', other])).code).toBe(0);
    expect(runJson(join(other, 'aime24')).prompt).toBe('cir-qwen2.5-math');
    // Re-running the same command finds every sample done.
    const again = await cir([...base, '--out', other]);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/16 samples, 16 already done \(resuming\)/);

    // A larger --limit, then the first one again: the table follows the latest plan, the samples stay.
    const limit2 = base.map((a, i) => (base[i - 1] === '--limit' ? '2' : a));
    expect((await cir([...limit2, '--out', other])).code).toBe(0);
    expect(JSON.parse(readFileSync(join(other, 'table.json'), 'utf8')).benchmarks.AIME24.problems).toBe(2);
    const back = await cir([...base, '--out', other]);
    expect(back.code).toBe(0);
    expect(back.stderr).toContain('16 samples of 1 problem in');
    expect(JSON.parse(readFileSync(join(other, 'table.json'), 'utf8')).benchmarks.AIME24.problems).toBe(1);
    expect(JSON.parse(readFileSync(join(other, 'aime24', 'summary.json'), 'utf8'))).toMatchObject({ progress: { done: 16, total: 16 }, outside_plan: { problems: 1, samples: 16 } });

    const compared = await cir(['compare', out, other]);
    expect(compared.code, compared.stderr).toBe(0);
    expect(compared.stdout).toContain('| run | MATH500 | AIME24 | AIME25 | AMC23 | OlymMATH | Avg |');
    expect(compared.stdout).toMatch(/Paired differences[\s\S]*\| \S+ − \S+ \| [+-]\d+\.\d%/);
    const comparison = JSON.parse((await cir(['compare', out, other, '--json'])).stdout);
    expect(comparison.differences[0].benchmarks.MATH500.problems).toBe(1);
  }, 300_000);

  it('refuses settings the protocol fixes, unknown protocols and unusable prompts', async () => {
    const badPrompt = join(tempDir('prompt'), 'p.json');
    writeFileSync(badPrompt, JSON.stringify({ user: 'no placeholder' }));
    const cases: [string[], RegExp][] = [
      [['--protocol', 'table1'], /unknown --protocol "table1" \(known: cir-paper\)/],
      [['--protocol', 'cir-paper', '--k', '4'], /--protocol cir-paper sets --k itself/],
      [['--protocol', 'cir-paper', '--prompt', 'nope'], /prompt "nope" is neither a known prompt \(cir-qwen2.5-math, cir-qwen3, default\) nor a readable file/],
      [['--protocol', 'cir-paper', '--prompt', badPrompt], /user: must contain \{problem\}/],
    ];
    for (const [args, message] of cases) {
      const result = await cir([...args, '--data', data, '--backend', modelDir]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toMatch(message);
    }
  });
});

describe('protocol figures', () => {
  it('a mean with its normal 95% interval, and the Avg column combining independent benchmarks', () => {
    const { mean, ci95 } = meanCi([1, 0, 1, 1]);
    expect(mean).toBe(0.75);
    expect(ci95).toBeCloseTo(1.96 * Math.sqrt(0.25 / 4), 12);
    const cell = (value: number, ci95: number) => ({ label: 'x', metric: 'm', value, ci95, problems: 1, byProblem: new Map() });
    const avg = averageCell([cell(0.5, 0.1), cell(0.3, 0.2)]);
    expect(avg.value).toBeCloseTo(0.4, 12);
    expect(avg.ci95).toBeCloseTo(Math.sqrt(0.01 + 0.04) / 2, 12);
    expect(averageCell([cell(0.5, 0.1), { ...cell(0, 0), value: null as unknown as number }]).value).toBeNull();
  });
});
