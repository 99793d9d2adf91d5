import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main.ts';
import { ensureModel } from '../../scripts/make-model.ts';

/** `cir solve` in-process on the fixture model, its output read back as JSON. */

let dir: string;
const saved = { ...process.env };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cir-solve-cli-'));
  Object.assign(process.env, { CIR_MODEL_DIR: await ensureModel('tiny'), CIR_DATA_DIR: dir, CIR_PYTHON_EXECUTOR: 'off', CIR_EXEC_CONCURRENCY: '1' });
}, 60_000);

afterAll(async () => {
  process.env = saved;
  await rm(dir, { recursive: true, force: true });
});

async function run(argv: string[], stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = { stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough() };
  io.stdin.end(stdin);
  const out: string[] = [];
  const err: string[] = [];
  io.stdout.on('data', (d) => out.push(String(d)));
  io.stderr.on('data', (d) => err.push(String(d)));
  const code = await main(argv, io);
  return { code, stdout: out.join(''), stderr: err.join('') };
}

describe('cir solve', () => {
  it('solves a problem given as an argument and prints the /v1/solve JSON', async () => {
    const { code, stdout } = await run(['solve', 'What is 1 + 1?', '-n', '2', '--max-tokens', '12', '--seed', '1', '--gold', '2']);
    expect(code).toBe(0);
    const json = JSON.parse(stdout);
    expect(json.samples).toHaveLength(2);
    expect(json.samples[0]).toMatchObject({ trajectory_id: expect.any(String), correct: expect.any(Boolean) });
    expect(json.samples[0].usage.completion_tokens).toBeLessThanOrEqual(12);
  });

  it('reads the problem from a file or stdin and streams segments as JSON lines', async () => {
    const file = join(dir, 'problem.txt');
    await writeFile(file, 'What is 3 * 3?');
    expect((await run(['solve', '--file', file, '--max-tokens', '4', '--no-log'])).code).toBe(0);
    const { code, stdout } = await run(['solve', '--stream', '--max-tokens', '6', '--no-log'], 'What is 3 * 3?');
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l));
    const result = lines.at(-1);
    expect(result.object).toBe('solve');
    const segments = lines.slice(0, -1);
    expect(segments.length).toBeGreaterThan(0);
    expect(segments.map((l) => l.segment.text).join('')).toBe(result.samples[0].text);
  });

  it('exits 2 with the reason on bad input', async () => {
    const zero = await run(['solve', 'p', '-n', '0', '--no-log']);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/n must be an integer in \[1, \d+\]/);
    const empty = await run(['solve', '--no-log'], '   ');
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/problem must be a non-empty string/);
  });
});
