import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The web console in a real browser (Debian's Chromium driven by playwright-core) against a real
 * `cir serve` with the embedded model, API keys on, checkpoints watched and a runs directory: the
 * key is entered in the page; a problem is solved with code and output cells streaming in; a snippet
 * runs; a trajectory opens with its loss mask; a real `cir train` run's plots grow step by step while
 * the checkpoint it publishes is swapped in; an evaluation is started and its report read.
 * Screenshots of each page go to data/screenshots/.
 */
const ROOT = join(import.meta.dirname, '../..');
const CHROMIUM = process.env.CIR_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = join(ROOT, 'data/screenshots');
const KEY = 'console-test-key';

let dataDir: string;
let server: ChildProcess;
let url: string;
let browser: Browser;
let page: Page;
let trainer: ChildProcess | undefined;

/** `cir serve --port 0` with `env`; resolves with the process and its URL once it listens. */
function startServer(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [join(ROOT, 'bin/cir.mjs'), 'serve', '--port', '0'], {
    env: { ...process.env, CIR_LOG_LEVEL: 'warn', CIR_MODEL_THREADS: '1', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      stderr += d;
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match) resolve({ child, url: match[1]! });
    });
    child.once('exit', (code) => reject(new Error(`cir serve exited (${code}): ${stderr}`)));
  });
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** `cir train --loop` on what the server logs: one step per solved group (2 samples), each published. */
function startTrainer(): void {
  trainer = spawn(
    process.execPath,
    [join(ROOT, 'bin/cir.mjs'), 'train', '--loop', '--run-dir', join(dataDir, 'runs', 'demo'), '--init', join(ROOT, 'model/default'), '--batch-records', '2', '--threads', '1', '--wait-s', '1'],
    { env: { ...process.env, CIR_DATA_DIR: dataDir, CIR_CHECKPOINTS: 'checkpoints' }, stdio: ['ignore', 'ignore', 'ignore'] },
  );
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the console's browser tests need Chromium at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (Debian; .ci/run does) or set CIR_CHROMIUM`);
  }
  dataDir = await mkdtemp(join(tmpdir(), 'cir-console-'));
  await mkdir(SHOTS, { recursive: true });
  ({ child: server, url } = await startServer({
    CIR_DATA_DIR: dataDir,
    CIR_RUNS_DIR: join(dataDir, 'runs'),
    CIR_CHECKPOINTS: 'checkpoints',
    CIR_CHECKPOINT_POLL_MS: '500',
    CIR_TRAJ_BATCH_MS: '50',
    CIR_API_KEYS: KEY,
  }));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
}, 60_000);

afterAll(async () => {
  trainer?.kill('SIGTERM');
  await browser?.close();
  if (server) await stopServer(server);
  if (trainer && trainer.exitCode === null) await new Promise((r) => trainer!.once('exit', r));
  await rm(dataDir, { recursive: true, force: true });
});

const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

/** Solves through the page: fills the form and waits for every sample's summary. */
async function solve(problem: string, gold: string): Promise<void> {
  await page.goto(`${url}/#/playground`);
  await page.fill('textarea[name=problem]', problem);
  await page.fill('input[name=gold]', gold);
  await page.fill('input[name=n]', '2');
  await page.getByRole('button', { name: 'Solve' }).click();
  await page.locator('[data-role=sample-summary]').nth(1).waitFor({ timeout: 60_000 });
}

describe('the web console in Chromium', () => {
  it('asks for the key, then solves a problem with code and output cells streaming in, and runs a snippet', async () => {
    await page.goto(url);
    // No key yet: /v1/info answers 401 and the page asks for one.
    const dialog = page.getByRole('dialog', { name: 'API key' });
    await dialog.waitFor();
    await dialog.getByLabel('Key', { exact: true }).fill(KEY);
    await dialog.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.textContent('[data-role=server-status]')).toMatch(/model cir/);
    expect(await page.evaluate(() => sessionStorage.getItem('cir.apiKey'))).toBe(KEY);

    await solve('Find gcd(868, 651).', '217');
    const sample = page.locator('[data-sample="0"]');
    expect(await sample.locator('.cell.code').count()).toBeGreaterThan(0);
    expect(await sample.locator('.cell.code').first().getAttribute('data-language')).toMatch(/javascript|python/);
    expect(await sample.locator('.cell.output').first().getAttribute('data-status')).toBeTruthy();
    expect(await sample.locator('[data-role=sample-summary]').textContent()).toMatch(/Answer:.*tokens.*tool calls/s);
    expect(await sample.locator('math').count()).toBeGreaterThan(0); // the boxed answer drawn as MathML

    await page.selectOption('select[name=language]', 'python');
    await page.fill('textarea[name=code]', 'import sympy\nprint(sympy.factorint(2**32+1))');
    await page.getByRole('button', { name: 'Run' }).click();
    const result = page.locator('[data-role=scratch-result] .cell.output');
    await result.waitFor();
    expect(await result.getAttribute('data-status')).toBe('ok');
    expect(await result.textContent()).toContain('{641: 1, 6700417: 1}');
    await shot('playground');
  }, 90_000);

  it('lists the logged trajectories and opens one with its loss mask', async () => {
    await page.goto(`${url}/#/trajectories`);
    await page.locator('table.list tbody tr').first().waitFor({ timeout: 10_000 });
    expect(await page.locator('table.list tbody tr').count()).toBe(2);
    await page.fill('input[name=q]', 'no such problem');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => page.textContent('section p.muted')).toMatch(/No trajectory matches/);
    await page.fill('input[name=q]', 'gcd');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.locator('table.list tbody tr').first().waitFor();
    await shot('trajectories');

    await page.locator('table.list tbody tr a').first().click();
    await page.locator('[data-role=token-stream] .tok').first().waitFor();
    const trained = await page.locator('[data-role=token-stream] .tok[data-mask="1"]').count();
    const masked = await page.locator('[data-role=token-stream] .tok[data-mask="0"]').count();
    expect(trained).toBeGreaterThan(0);
    expect(masked).toBeGreaterThan(0); // the tool output the model read
    expect(await page.locator('dl.facts').textContent()).toContain(`${trained} trained, ${masked} masked`);
    await shot('trajectory');
  }, 30_000);

  it('follows a real training run: plots grow step by step and each published checkpoint is swapped in', async () => {
    await page.goto(`${url}/#/training`);
    await expect.poll(() => page.textContent('main')).toMatch(/No training runs in/);
    startTrainer();
    // The first step trains the group solved above.
    await page.waitForFunction(() => document.querySelector('[data-role=checkpoints] [data-version="demo-step-000001"] [data-role=swapped-in]')?.textContent !== '—' && !!document.querySelector('[data-role=checkpoints] [data-version="demo-step-000001"]'), null, { timeout: 60_000 });
    await page.goto(`${url}/#/training/demo`);
    await page.locator('figure[data-metric=reward] circle').first().waitFor();
    expect(await page.locator('figure[data-metric=reward] circle').count()).toBe(1);

    // Another group (solved by another client), another step: the open page picks both up by itself.
    const solved = await fetch(`${url}/v1/solve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ problem: 'What is 407 times 94? Give the answer modulo 748.', gold: '110', n: 2 }),
    });
    expect(solved.status).toBe(200);
    await page.waitForFunction(() => document.querySelectorAll('figure[data-metric=reward] circle').length === 2, null, { timeout: 60_000 });
    await page.waitForFunction(() => /serving demo-step-000002/.test(document.querySelector('[data-role=checkpoints]')?.textContent ?? ''), null, { timeout: 30_000 });
    for (const metric of ['accuracy', 'tool-call rate', 'response length (tokens)', 'entropy', 'clip fraction', 'KL']) {
      expect(await page.locator(`figure[data-metric="${metric}"] svg`).count(), metric).toBe(1);
    }
    expect(await page.locator('[data-role=checkpoints] tbody tr').count()).toBe(2);

    // A damaged `latest` pointer is refused (the server keeps serving step 2), and the page says why.
    await writeFile(join(dataDir, 'objects', 'checkpoints', 'latest'), 'not a pointer');
    await page.locator('[data-role=refused]').waitFor({ timeout: 30_000 });
    expect(await page.textContent('[data-role=refused]')).toMatch(/\(latest pointer\).*not JSON/);
    expect(await page.textContent('[data-role=checkpoints]')).toMatch(/serving demo-step-000002/);
    await shot('training');
  }, 150_000);

  it('starts an evaluation, watches it finish and reads its report', async () => {
    await page.goto(`${url}/#/evals`);
    await page.fill('input[name=limit]', '3');
    await page.getByRole('button', { name: 'Start evaluation' }).click();
    const report = page.locator('[data-role=report]');
    await report.waitFor();
    await page.waitForFunction(() => document.querySelector('[data-role=report]')?.getAttribute('data-status') === 'done', null, { timeout: 60_000 });
    expect(await report.locator('[data-role=accuracy]').first().textContent()).toMatch(/%$/);
    expect(await report.locator('figure.chart svg').count()).toBeGreaterThan(0);

    // A second run, and the two side by side.
    await page.fill('input[name=limit]', '2');
    await page.getByRole('button', { name: 'Start evaluation' }).click();
    await page.waitForFunction(() => {
      const statuses = [...document.querySelectorAll('[data-role=eval-runs] [data-role=status]')].map((td) => td.textContent);
      return statuses.length === 2 && statuses.every((st) => st === 'done');
    }, null, { timeout: 60_000 });
    for (const box of await page.getByRole('checkbox', { name: /^compare / }).all()) await box.check();
    const comparison = page.locator('[data-role=comparison]');
    await comparison.waitFor();
    expect(await comparison.locator('thead th').count()).toBe(3); // the benchmark column and one per run
    expect(await comparison.textContent()).toMatch(/synthetic-heldout.*%.*%/s);
    await shot('evals');

    // Unknown benchmark: a clear error in the page.
    await page.fill('input[name=benchmarks]', 'no-such-set');
    await page.getByRole('button', { name: 'Start evaluation' }).click();
    await expect.poll(() => page.textContent('[role=alert]')).toMatch(/no-such-set/);
  }, 90_000);

  it('reads on a phone: the playground fits a narrow screen', async () => {
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
    try {
      await phone.goto(url);
      await phone.evaluate((key) => sessionStorage.setItem('cir.apiKey', key), KEY);
      await phone.reload();
      await phone.getByRole('button', { name: 'Solve' }).waitFor();
      // Nothing wider than the screen: no sideways scrolling of the page.
      expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      // Keyboard: the first Tab reaches the skip link, then the navigation.
      await phone.keyboard.press('Tab');
      expect(await phone.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
      await phone.screenshot({ path: join(SHOTS, 'phone.png'), fullPage: true });
    } finally {
      await phone.close();
    }
  }, 30_000);

  it('says what is missing: no model, nothing logged, no runs, no checkpoint store, then the server down', async () => {
    const bare = await startServer({ CIR_DATA_DIR: join(dataDir, 'bare'), CIR_RUNS_DIR: join(dataDir, 'bare', 'runs'), CIR_MODEL_DIR: 'none', CIR_PYTHON_EXECUTOR: 'off' });
    const other = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    try {
      await other.goto(bare.url);
      await expect.poll(() => other.textContent('[data-role=server-status]')).toMatch(/no model configured/);
      await other.fill('textarea[name=problem]', 'What is 2 + 2?');
      await other.getByRole('button', { name: 'Solve' }).click();
      await expect.poll(() => other.textContent('[role=alert]')).toMatch(/no model is configured on this server/);
      await other.goto(`${bare.url}/#/trajectories`);
      await expect.poll(() => other.textContent('main')).toMatch(/No trajectories logged yet/);
      await other.goto(`${bare.url}/#/evals`);
      await expect.poll(() => other.textContent('main')).toMatch(/No evaluations yet/);
      await other.goto(`${bare.url}/#/training`);
      await expect.poll(() => other.textContent('main')).toMatch(/No training runs in .*does not watch a checkpoint store/s);
      await other.screenshot({ path: join(SHOTS, 'empty-states.png'), fullPage: true });

      // The server goes away under the open page: the next thing the page asks says so.
      await stopServer(bare.child);
      await other.getByRole('link', { name: 'Playground' }).click();
      await expect.poll(() => other.textContent('[data-role=server-status]')).toBe('server down');
      expect(await other.textContent('[role=alert]')).toMatch(/does not answer\. Is `cir serve` \(npm start\) running\?/);
      await other.screenshot({ path: join(SHOTS, 'server-down.png') });
    } finally {
      await other.close();
      await stopServer(bare.child);
    }
  }, 60_000);
});
