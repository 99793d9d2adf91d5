import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../cli-run.ts';
import { main } from '../../cli/main.ts';
import { ensureModel } from '../../scripts/make-model.ts';
import { dataDir, tempDir } from './fixtures.ts';

/**
 * `cir eval` as users run it: the remote path against our own `/v1/completions` served by
 * `cir serve` in a separate process (killed mid-run to show the run stops resumable, then
 * restarted to finish it), Ctrl-C on an eval process, compare, and usage errors. Evaluations that
 * need no signal run through the CLI's main() in this process, to save process start-ups.
 */

const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'bin/cir.mjs');
let modelDir: string;
let data: string;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  modelDir = await ensureModel('tiny');
  data = dataDir({ 'bad.jsonl': '{"id":"1","problem":"p","answer":"1"}\n{"id":"1","problem":"q","answer":"2"}\n' });
}, 120_000);

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

const baseEnv = { ...process.env, CIR_PYTHON_EXECUTOR: 'off', CIR_EXEC_CONCURRENCY: '1', CIR_MODEL_THREADS: '1' };

interface Run {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exit: Promise<number>;
}

function cir(args: string[], env: Record<string, string | undefined> = {}): Run {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...baseEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const run: Run = { child, stdout: '', stderr: '', exit: Promise.resolve(0) };
  child.stdout!.on('data', (d) => (run.stdout += d));
  child.stderr!.on('data', (d) => (run.stderr += d));
  run.exit = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve(code ?? (signal ? 128 : 1));
    }),
  );
  return run;
}

async function until(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `cir serve` of the fixture model; resolves with its base URL once listening. */
async function serve(port = 0, dir = modelDir): Promise<{ url: string; run: Run }> {
  const run = cir(['serve'], { CIR_MODEL_DIR: dir, PORT: String(port), CIR_DATA_DIR: tempDir('serve') });
  await until(() => /listening on (\S+)/.test(run.stderr) || run.child.exitCode !== null, 'the server to listen');
  const url = /listening on (\S+)/.exec(run.stderr)?.[1];
  if (!url) throw new Error(`cir serve did not start: ${run.stderr}`);
  return { url, run };
}

const sampleLines = (dir: string) => (existsSync(join(dir, 'samples.jsonl')) ? readFileSync(join(dir, 'samples.jsonl'), 'utf8').split('\n').filter(Boolean).length : 0);

const inProcess = (args: string[]) => runCommand(main, ['eval', ...args]);

describe('cir eval', () => {
  it('evaluates over a remote /v1/completions server, and stops resumable when it dies mid-run', async () => {
    const server = await serve();
    const remote = ['--bench', 'mini', '--data', data, '--backend', `${server.url}/v1`, '--tokenizer', modelDir];
    // The server is killed once the first samples are in.
    const port = new URL(server.url).port;
    const long = tempDir('remote');
    const args = [...remote, '--k', '2', '--max-tokens', '60', '--concurrency', '1', '--retries', '2', '--retry-delay-ms', '100', '--out', long];
    process.env.CIR_MODEL_RETRIES = '0';
    const dying = inProcess(args).finally(() => delete process.env.CIR_MODEL_RETRIES);
    await until(() => sampleLines(long) >= 1, 'the first samples');
    server.run.child.kill('SIGKILL');
    const died = await dying;
    expect(died.code, died.stderr).toBe(1);
    expect(died.stderr).toMatch(/backend error, retry 1\/2/);
    expect(died.stderr).toMatch(/cir eval: stopped: mini\/t\d: the model backend failed 3 times in a row: .*\n {2}\d+ of 6 samples are saved in .*; re-run the same command to resume/);
    const saved = sampleLines(long);
    expect(saved).toBeGreaterThanOrEqual(1);
    expect(saved).toBeLessThan(6);
    expect(JSON.parse(readFileSync(join(long, 'summary.json'), 'utf8')).status).toBe('failed');

    const again = await serve(Number(port));
    const resumed = await inProcess(args);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`${saved} already done (resuming)`);
    expect(resumed.stderr).toMatch(/\[#+\] 6\/6 samples \(100\.0%\)/);
    expect(sampleLines(long)).toBe(6);
    const brief = JSON.parse(resumed.stdout);
    expect(brief).toMatchObject({ status: 'done', run_dir: long, metric: 'avg@2', progress: { done: 6, total: 6 } });
    expect(JSON.parse(readFileSync(join(long, 'run.json'), 'utf8'))).toMatchObject({ model: brief.model, backend: `${server.url}/v1` });
    for (const file of ['summary.json', 'report.md', 'plots/accuracy.svg', 'plots/accuracy-vs-executions.svg']) expect(existsSync(join(long, file)), file).toBe(true);
    again.run.child.kill('SIGTERM');
    await again.run.exit;
  }, 120_000);

  it('samples the same transcripts, tool turns included, over a remote server as in-process', async () => {
    // The embedded model writes code, reads its output and answers: solutions of several turns.
    const synth = join(ROOT, 'model/default');
    const bench = join(tempDir('synth'), 'synth.jsonl');
    writeFileSync(
      bench,
      ['{"id":"a","problem":"What is 407 times 94? Give the answer modulo 748.","answer":"110"}', '{"id":"b","problem":"What is 123 times 45? Give the answer modulo 97.","answer":"6"}', ''].join('\n'),
    );
    // Above temperature 1 the turn after the tool output varies with the random stream too.
    const args = ['--bench', bench, '--k', '4', '--temperature', '1.6', '--top-p', '1', '--max-tokens', '120', '--max-tool-calls', '2', '--seed', '3'];
    const local = tempDir('synth-local');
    expect((await inProcess([...args, '--backend', synth, '--out', local])).code).toBe(0);
    const server = await serve(0, synth);
    const remote = tempDir('synth-remote');
    const viaHttp = await inProcess([...args, '--backend', `${server.url}/v1`, '--tokenizer', synth, '--out', remote]);
    server.run.child.kill('SIGTERM');
    await server.run.exit;
    expect(viaHttp.code, viaHttp.stderr).toBe(0);
    const transcripts = (dir: string) =>
      Object.fromEntries(readFileSync(join(dir, 'samples.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).map((r) => [`${r.id}/${r.sample}`, r.transcript]));
    const expected = transcripts(local);
    expect(Object.values(expected).filter((t) => /```output\n[\s\S]*```\n\S/.test(t)).length).toBeGreaterThan(0);
    expect(transcripts(remote)).toEqual(expected);
  }, 120_000);

  it('stops on Ctrl-C with finished samples saved, resumes, and compares runs', async () => {
    const out = tempDir('sigint');
    const args = ['eval', '--bench', 'mini', '--data', data, '--backend', modelDir, '--k', '6', '--max-tokens', '100', '--concurrency', '1', '--out', out];
    const first = cir(args);
    await until(() => sampleLines(out) >= 1, 'the first sample');
    first.child.kill('SIGINT');
    expect(await first.exit, first.stderr).toBe(130);
    expect(first.stderr).toMatch(/SIGINT: stopping; finished samples are kept/);
    expect(first.stderr).toMatch(/interrupted after .* with \d+ of 18 samples; re-run the same command to resume/);
    const kept = sampleLines(out);
    expect(kept).toBeLessThan(18);
    expect(JSON.parse(first.stdout).status).toBe('interrupted');

    const second = await inProcess(args.slice(1));
    expect(second.code, second.stderr).toBe(0);
    expect(sampleLines(out)).toBe(18);

    const greedy = tempDir('greedy');
    expect((await inProcess(['--bench', 'mini', '--data', data, '--backend', modelDir, '--greedy', '--max-tokens', '8', '--out', greedy])).code).toBe(0);
    const compared = await inProcess(['compare', out, greedy]);
    expect(compared.code).toBe(0);
    const name = (dir: string) => dir.split('/').pop();
    expect(compared.stdout).toContain(`| benchmark | ${name(out)} avg@6 | ${name(out)} pass@6 | ${name(greedy)} accuracy |`);
    expect(compared.stdout).toMatch(/\| mini \| \d+\.\d% \| \d+\.\d% \| \d+\.\d% \|/);
    expect(compared.stdout).toMatch(/\| samples \| 18 of 18 \| 3 of 3 \|/);
    const json = JSON.parse((await inProcess(['compare', out, greedy, '--json'])).stdout);
    expect(json.benchmarks[0].runs.map((r: { samples: number }) => r.samples)).toEqual([18, 3]);
    const plot = join(tempDir('plot'), 'compare.svg');
    expect((await inProcess(['compare', out, greedy, '--plot', plot])).code).toBe(0);
    expect(readFileSync(plot, 'utf8')).toMatch(/^<svg [\s\S]*<\/svg>\n$/);

    // `report` rebuilds the derived files from samples.jsonl alone.
    rmSync(join(out, 'report.md'));
    rmSync(join(out, 'plots'), { recursive: true });
    const rebuilt = await inProcess(['report', out]);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect(JSON.parse(rebuilt.stdout)).toMatchObject({ status: 'done', progress: { done: 18, total: 18 } });
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toContain('| mini | 3 | 18 |');
    expect(existsSync(join(out, 'plots/accuracy.svg'))).toBe(true);
  }, 120_000);

  it('refuses bad input with exit code 2 and a message', async () => {
    const model = ['--backend', modelDir, '--data', data];
    const cases: [string[], RegExp][] = [
      [[...model], /give --bench LIST/],
      [['--bench', 'mini', ...model, '--greedy', '--k', '4'], /--greedy takes no --k/],
      [['--bench', 'mini', ...model, '--k', 'x'], /--k must be an integer/],
      [['--bench', 'mini', ...model, '--k', '0'], /k must be an integer in \[1, 1024\], got 0/],
      [['--bench', 'mini', ...model, '--limit=0'], /limit must be an integer in \[1, 10000000\], got 0/],
      [['--bench', 'mini,mini', ...model], /benchmark "mini" is listed twice/],
      [['--bench', 'nothere', ...model], /benchmark "nothere": no file .*nothere\.jsonl \(.* has: bad, mini\)/],
      [['--bench', 'bad', ...model], /bad\.jsonl:2: duplicate id "1" \(first on line 1\)/],
      [['--bench', 'mini', '--data', data, '--backend', 'http://127.0.0.1:9/v1'], /a URL backend needs --tokenizer DIR/],
      [['--bench', 'mini', '--data', data, '--backend', join(data, 'no-model')], /cannot load the model/],
      [['compare'], /give the run directories/],
      [['compare', data], /not an eval run \(no run\.json\)/],
    ];
    for (const [args, message] of cases) {
      const r = await inProcess(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
    }
  }, 60_000);
});
