import { describe, expect, it } from 'vitest';
import type { ExecRequest } from '../types.ts';
import { compileQuickJSWasm } from './node.ts';
import { createQuickJSWorkerdExecutor } from './workerd.ts';

/**
 * The Workers executor's own logic, run on Node: the step budget with the clock stood still as
 * on Cloudflare, and the memory ceiling. test/worker/worker.test.ts runs it inside workerd.
 */

function request(code: string, overrides: Partial<ExecRequest> = {}): ExecRequest {
  return { language: 'javascript', code, timeoutMs: 2000, memoryMb: 64, stdin: '', maxOutputBytes: 65536, ...overrides };
}

describe('QuickJS for workerd', () => {
  const frozen = createQuickJSWorkerdExecutor({ wasmModule: compileQuickJSWasm(), now: () => 0 });

  it('runs snippets in-process', async () => {
    const r = await frozen.execute(request('let f=1n; for(let i=1n;i<=500n;i++) f*=i; console.log(f.toString().length)'));
    expect(r).toMatchObject({ status: 'ok', stdout: '1135\n', executor: 'quickjs' });
    expect(frozen).toMatchObject({ name: 'quickjs', languages: ['javascript'], concurrency: 1 });
  });

  it('stops an infinite loop by its check budget when the clock stands still', async () => {
    const started = performance.now();
    const r = await frozen.execute(request('while (true) {}', { timeoutMs: 100 }));
    expect(r).toMatchObject({ status: 'timeout', error: 'timed out after 100 ms' });
    expect(performance.now() - started).toBeLessThan(5000);
    expect((await frozen.execute(request('console.log("next")'))).stdout).toBe('next\n');
  });

  it('caps memory at its ceiling whatever the request asks', async () => {
    const r = await frozen.execute(request('const a = []; while (true) a.push(new Array(1e5).fill(1))', { memoryMb: 1024 }));
    expect(r).toMatchObject({ status: 'memory', error: 'out of memory: the snippet exceeded its 64 MiB memory limit' });
    expect((await frozen.execute(request('console.log("next")'))).stdout).toBe('next\n');
  });

  it('allows about a thousand plain recursive calls', async () => {
    const r = await frozen.execute(request('let d = 0; function f() { d++; f(); } try { f(); } catch {} console.log(d > 1000)'));
    expect(r.stdout).toBe('true\n');
  });
});
