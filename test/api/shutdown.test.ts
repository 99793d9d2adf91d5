import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fullRequest, RawConnection } from '../faults/raw-http.ts';

/**
 * SIGTERM of `cir serve` while clients hold keep-alive connections: a request in flight is answered
 * whole (told `Connection: close`), an idle connection is closed at once, a client that keeps
 * sending on its connection is closed and does not hold the server, and the process exits
 * within CIR_SHUTDOWN_MS.
 */
const BIN = join(import.meta.dirname, '../../bin/cir.mjs');
const SHUTDOWN_MS = 3000;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'cir-shutdown-'));
});
afterAll(() => rm(dataDir, { recursive: true, force: true }));

async function startServer() {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0'], {
    env: { ...process.env, CIR_DATA_DIR: dataDir, CIR_MODEL_DIR: 'none', CIR_PYTHON_EXECUTOR: 'off', CIR_SHUTDOWN_MS: String(SHUTDOWN_MS), CIR_HTTP_IDLE_TIMEOUT_MS: '600000' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      stderr += d;
      const match = /listening on http:\/\/[^:]+:(\d+)/.exec(stderr);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`cir serve exited (${code}): ${stderr}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, port, exited, stderr: () => stderr };
}

/** Waits until the server reports a JavaScript run in progress (`/v1/info`, on a connection of its own that it closes). */
async function runningJavaScript(port: number): Promise<void> {
  for (;;) {
    const response = await fetch(`http://127.0.0.1:${port}/v1/info`, { headers: { connection: 'close' } });
    const info = (await response.json()) as { executors: { javascript: { running?: number } } };
    if (info.executors.javascript.running) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

const execute = (code: string) => fullRequest('POST', '/v1/execute', JSON.stringify({ language: 'javascript', code, timeout_ms: 10_000 }));

describe('cir serve on SIGTERM', () => {
  it('answers what is in flight, closes idle and chatty keep-alive connections, and exits within CIR_SHUTDOWN_MS', async () => {
    const server = await startServer();
    const idle = new RawConnection(server.port);
    const busy = new RawConnection(server.port);
    const chatty = new RawConnection(server.port);
    try {
      // The idle connection has served a request and stays open (keep-alive).
      idle.write(fullRequest('GET', '/healthz', ''));
      expect((await idle.responses(1))[0]!.status).toBe(200);
      // The busy one has a request running (about a second of work) when SIGTERM comes.
      busy.write(execute('const t = Date.now(); while (Date.now() - t < 1000); console.log("done")'));
      chatty.write(fullRequest('GET', '/healthz', ''));
      await chatty.responses(1);
      await runningJavaScript(server.port); // the busy request is in flight, not merely sent
      const stopping = performance.now();
      server.child.kill('SIGTERM');
      // The chatty client goes on sending on its keep-alive connection.
      const keepSending = (async () => {
        for (let i = 0; i < 50 && !chatty.socket.destroyed; i++) {
          chatty.write(fullRequest('GET', '/healthz', ''));
          await new Promise((r) => setTimeout(r, 20));
        }
      })();

      const [answer] = await busy.responses(1);
      expect(answer!.status).toBe(200);
      expect(JSON.parse(answer!.body)).toMatchObject({ status: 'ok', stdout: 'done\n' });
      expect(answer!.head).toMatch(/^connection: close$/im);
      expect(await idle.ended).toBe('end');
      // The server closes the chatty connection: with a FIN after a `Connection: close` answer, or with a
      // reset when the client's next request crosses that close (TCP's answer to data for a closed socket).
      expect(['end', 'reset']).toContain(await chatty.ended);
      await keepSending;
      expect(await server.exited).toBe(0);
      expect(performance.now() - stopping).toBeLessThan(SHUTDOWN_MS + 5_000);
      expect(server.stderr()).toContain('received SIGTERM, shutting down');
    } finally {
      for (const c of [idle, busy, chatty]) c.destroy();
      server.child.kill('SIGKILL');
    }
  }, 60_000);
});
