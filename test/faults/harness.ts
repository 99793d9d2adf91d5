import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, expect, it } from 'vitest';

/**
 * The fault-and-abuse suite's harness: the real server started the way `npm start` starts it
 * (`node bin/cir.mjs serve`, here with `--port 0`), a table of attack cases run against it one
 * after another, a probe that asks GET /healthz every 50 ms throughout, and a printed table of
 * attacks and results. A suite is one call:
 *
 *   runAttackSuite('sandbox', SANDBOX_ATTACKS, { CIR_EXEC_MEMORY_MB: '64' });
 *
 * in a test file under test/faults/. An attack throws (an `expect`) when it was not contained
 * and returns a short line for the table when it was; the harness adds the probe's verdict.
 */

export interface AttackTarget {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** The server's environment beyond the inherited one, as the suite gave it. */
  env: Record<string, string>;
}

export interface AttackCase {
  /** One line in the table: what is attempted. */
  name: string;
  /** Runs the attack to its end (leaving nothing running) and says what happened; throws when it was not contained. */
  run(target: AttackTarget): Promise<string>;
  /** Test time limit for this case, when more than the default 30 s is needed. */
  timeoutMs?: number;
}

/**
 * The slowest /healthz answer tolerated during any attack. Loose on purpose: it must hold on a loaded
 * 2-core machine; what it catches is a stalled event loop (seconds), as one bad request caused before.
 */
export const HEALTH_BOUND_MS = 2000;
const PROBE_INTERVAL_MS = 50;
const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** Registers the suite's tests: start the server, one test per attack (each with the health probe), print the table. */
export function runAttackSuite(suite: string, cases: AttackCase[], env: Record<string, string> = {}): void {
  let server: RunningServer;
  const rows: Row[] = [];

  beforeAll(async () => {
    server = await startServer(env);
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    console.log(formatTable(suite, rows));
  });

  for (const attack of cases) {
    it(attack.name, async () => {
      const probe = new HealthProbe(server.target.port);
      let result: string;
      try {
        result = await attack.run(server.target);
      } catch (error) {
        rows.push({ attack: attack.name, result: `NOT CONTAINED: ${(error as Error).message.split('\n')[0]}`, health: await probe.stop() });
        throw error;
      }
      const health = await probe.stop();
      rows.push({ attack: attack.name, result, health });
      expect(server.exited(), 'the server process exited').toBe(false);
      expect(health.failures, `/healthz failed during the attack: ${health.lastFailure}`).toBe(0);
      expect(health.maxMs, '/healthz answered too slowly during the attack').toBeLessThan(HEALTH_BOUND_MS);
    }, attack.timeoutMs ?? 30_000);
  }
}

interface RunningServer {
  target: AttackTarget;
  exited(): boolean;
  stop(): Promise<void>;
}

async function startServer(env: Record<string, string>): Promise<RunningServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'cir-faults-'));
  const child: ChildProcess = spawn(process.execPath, ['bin/cir.mjs', 'serve', '--port', '0'], {
    cwd: REPO,
    env: { ...process.env, CIR_DATA_DIR: dataDir, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve(); }));
  // The last lines of the server's stderr (access log, errors), for a failure's message.
  const tail: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    let buffered = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        tail.push(line);
        if (tail.length > 50) tail.shift();
        const listening = /cir listening on (http:\/\/\S+)/.exec(line);
        if (listening) resolve(listening[1]!);
      }
    });
    void exit.then(() => reject(new Error(`the server exited before listening:\n${tail.join('\n')}`)));
  });
  return {
    target: { url, port: Number(new URL(url).port), env },
    exited: () => exited,
    async stop() {
      if (!exited) child.kill('SIGTERM');
      await exit;
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

interface Health {
  probes: number;
  maxMs: number;
  failures: number;
  lastFailure?: string;
}

/**
 * Asks GET /healthz on a fresh connection every 50 ms (from 127.0.0.1) until stopped, in a worker
 * thread of its own: an attack's own work in the test's thread (building 2 MB bodies) must not
 * count as the server's slowness.
 */
const PROBE_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const health = { probes: 0, maxMs: 0, failures: 0 };
let running = true;
parentPort.on('message', () => { running = false; });
const once = () => new Promise((resolve) => {
  const req = http.request({ host: '127.0.0.1', port: workerData.port, path: '/healthz', agent: false, timeout: 10000 }, (res) => {
    res.resume();
    res.on('end', () => resolve(res.statusCode === 200 ? 'ok' : 'status ' + res.statusCode));
  });
  req.on('timeout', () => req.destroy(new Error('no answer in 10 s')));
  req.on('error', (error) => resolve(error.message));
  req.end();
});
(async () => {
  while (running) {
    const started = performance.now();
    const outcome = await once();
    health.probes++;
    health.maxMs = Math.max(health.maxMs, performance.now() - started);
    if (outcome !== 'ok') { health.failures++; health.lastFailure = outcome; }
    await new Promise((resolve) => setTimeout(resolve, workerData.intervalMs));
  }
  parentPort.postMessage(health);
})();
`;

class HealthProbe {
  private readonly worker: Worker;
  private readonly result: Promise<Health>;

  constructor(port: number) {
    this.worker = new Worker(PROBE_SOURCE, { eval: true, workerData: { port, intervalMs: PROBE_INTERVAL_MS } });
    this.result = new Promise((resolve, reject) => {
      this.worker.once('message', resolve);
      this.worker.once('error', reject);
    });
  }

  async stop(): Promise<Health> {
    this.worker.postMessage('stop');
    const health = await this.result;
    await this.worker.terminate();
    return health;
  }
}

interface Row {
  attack: string;
  result: string;
  health: Health;
}

function formatTable(suite: string, rows: Row[]): string {
  const header = ['attack', 'result', 'healthz max', 'healthz ok'];
  const body = rows.map((r) => [r.attack, r.result, `${Math.round(r.health.maxMs)} ms`, `${r.health.probes - r.health.failures}/${r.health.probes}`]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [`\nfault suite "${suite}" (healthz bound ${HEALTH_BOUND_MS} ms)`, line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
