import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { table } from './stats.ts';
import { DECODE_NODE_FLAGS } from '../api/models/onnx/heap.ts';

/** A free localhost port, picked by the kernel. */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  server.close();
  return port;
}

/** Starts `cir serve` as its own process (so the load below comes from a second process) and waits for /healthz. */
export async function startServerProcess(env: Record<string, string> = {}): Promise<{ url: string; child: ChildProcess; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, [...DECODE_NODE_FLAGS, 'bin/cir.mjs', 'serve'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`server exited: ${stderr}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    child,
    async stop() {
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

async function load(url: string, opts: Partial<autocannon.Options>): Promise<autocannon.Result> {
  return autocannon({ url, connections: 32, duration: 8, ...opts });
}

export async function benchHttp(): Promise<void> {
  const server = await startServerProcess({ CIR_EXEC_QUEUE_LIMIT: '1024' });
  try {
    const baseline = await load(`${server.url}/healthz`, {});
    const execute = await load(`${server.url}/v1/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ language: 'javascript', code: 'console.log(1)' }),
    });
    const row = (name: string, r: autocannon.Result) => [
      name,
      r.requests.total,
      r.errors + r.timeouts,
      r.non2xx,
      r.requests.average,
      r.latency.p50,
      r.latency.p99,
      `${(r.requests.average / baseline.requests.average).toFixed(2)}x`,
    ];
    console.log('load: autocannon, 32 connections, 8 s each, from this process; server: `cir serve` in its own process');
    console.log(
      table(['route', 'requests', 'errors', 'non-2xx', 'req/s', 'p50 ms', 'p99 ms', 'vs /healthz'], [
        row('GET /healthz (baseline)', baseline),
        row('POST /v1/execute trivial JS', execute),
      ]),
    );
  } finally {
    await server.stop();
  }
}
