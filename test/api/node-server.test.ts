import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNodeServer, type RunningServer } from '../../api/node.ts';

/**
 * The Node entry as a user runs it: real executors behind real HTTP, a second server that sends
 * its Python to the first over the SandboxFusion wire format, and `cir exec` as a child process.
 */

let dataDir: string;
let local: RunningServer;
let remote: RunningServer;

async function post(server: RunningServer, path: string, body: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'cir-node-'));
  const env = { PORT: '0', HOST: '127.0.0.1', CIR_DATA_DIR: dataDir, CIR_EXEC_CONCURRENCY: '2' };
  local = await startNodeServer({ ...env, CIR_PYTHON_EXECUTOR: 'bwrap' });
  remote = await startNodeServer({ ...env, CIR_PYTHON_EXECUTOR: 'remote', CIR_SANDBOX_URL: local.url });
}, 60_000);

afterAll(async () => {
  await Promise.all([local?.close(), remote?.close()]);
  await rm(dataDir, { recursive: true, force: true });
});

describe('node server', () => {
  it('reports its executors in /v1/info', async () => {
    const info = await (await fetch(`${local.url}/v1/info`)).json();
    expect(info.runtime).toBe('node');
    expect(info.executors.javascript.executor).toBe('quickjs');
    expect(info.executors.python.executor).toBeTruthy();
    const remoteInfo = await (await fetch(`${remote.url}/v1/info`)).json();
    expect(remoteInfo.executors.python.executor).toBe('sandboxfusion');
  });

  it('runs JavaScript with BigInt and reports the last error line', async () => {
    const ok = await post(local, '/v1/execute', { language: 'javascript', code: 'console.log((2n ** 100n).toString())' });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ status: 'ok', stdout: '1267650600228229401496703205376\n' });
    const bad = await post(local, '/v1/execute', { language: 'javascript', code: 'null.x' });
    expect(bad.json.status).toBe('error');
    expect(bad.json.error).toMatch(/TypeError/);
  });

  it('runs Python with sympy, isolated from the network', async () => {
    const sym = await post(local, '/v1/execute', { language: 'python', code: 'import sympy\nprint(sympy.factorint(360))' });
    expect(sym.json).toMatchObject({ status: 'ok', stdout: '{2: 3, 3: 2, 5: 1}\n' });
    const net = await post(local, '/v1/execute', {
      language: 'python',
      code: 'import socket\nsocket.create_connection(("1.1.1.1", 80), timeout=2)',
    });
    expect(net.json.status).toBe('error');
    expect(net.json.error).toMatch(/OSError|unreachable|Errno/i);
  });

  it('sends Python to a remote SandboxFusion-compatible executor and maps the result back', async () => {
    const ok = await post(remote, '/v1/execute', { language: 'python', code: 'print(sum(range(101)))' });
    expect(ok.json).toMatchObject({ status: 'ok', stdout: '5050\n', executor: 'sandboxfusion' });
    const err = await post(remote, '/v1/execute', { language: 'python', code: 'raise ValueError("boom")' });
    expect(err.json.status).toBe('error');
    expect(err.json.error).toMatch(/ValueError: boom/);
    const slow = await post(remote, '/v1/execute', { language: 'python', code: 'while True: pass', timeout_ms: 500 });
    expect(slow.json.status).toBe('timeout');
  });

  it('runs `cir exec` from stdin and exits 0 on ok, 1 on error', async () => {
    const run = (code: string) =>
      new Promise<{ rc: number | null; stdout: string }>((resolve) => {
        const child = spawn(process.execPath, ['bin/cir.mjs', 'exec', '--language', 'javascript', '-'], {
          env: { ...process.env, CIR_DATA_DIR: dataDir, CIR_PYTHON_EXECUTOR: 'off' },
        });
        let stdout = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.on('close', (rc) => resolve({ rc, stdout }));
        child.stdin.end(code);
      });
    const ok = await run('print(6 * 7)');
    expect(ok.rc).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ status: 'ok', stdout: '42\n' });
    const bad = await run('throw new Error("nope")');
    expect(bad.rc).toBe(1);
    expect(JSON.parse(bad.stdout).error).toMatch(/nope/);
  }, 30_000);
});
