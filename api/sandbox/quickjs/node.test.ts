import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecRequest, ExecResult, Executor } from '../types.ts';
import { createQuickJSNodeExecutor } from './node.ts';

/**
 * The Node executor end to end: worker threads started through thread-entry.mjs (so this also
 * proves the .ts thread entry loads under vitest), each bad input answered with a clear status,
 * and the pool still serving normal snippets after every one of them.
 */

let executor: Executor;

beforeAll(async () => {
  executor = createQuickJSNodeExecutor({ threads: 2, graceMs: 300 });
  // Warm both threads so that no test's timing includes a thread start.
  await Promise.all([run('1'), run('2')]);
});

afterAll(async () => {
  await executor.dispose();
});

function request(code: string, overrides: Partial<ExecRequest> = {}): ExecRequest {
  return { language: 'javascript', code, timeoutMs: 2000, memoryMb: 64, stdin: '', maxOutputBytes: 65536, ...overrides };
}

function run(code: string, overrides: Partial<ExecRequest> = {}): Promise<ExecResult> {
  return executor.execute(request(code, overrides));
}

async function expectStillServing(): Promise<void> {
  const results = await Promise.all([run('console.log(6 * 7)'), run('console.log(6 * 7)')]);
  for (const r of results) expect(r).toMatchObject({ status: 'ok', stdout: '42\n', error: null });
}

describe('QuickJS on Node', () => {
  it('describes itself', () => {
    expect(executor).toMatchObject({ name: 'quickjs', languages: ['javascript'], concurrency: 2 });
  });

  it('runs a snippet with stdin', async () => {
    const r = await run('const [a, b] = readline().split(" ").map(Number); console.log(a + b)', { stdin: '2 40\n' });
    expect(r).toMatchObject({ status: 'ok', stdout: '42\n', stderr: '', error: null, executor: 'quickjs' });
    expect(r.duration_ms).toBeGreaterThan(0);
  });

  it.each<[string, string, Partial<ExecRequest>, ExecResult['status'], RegExp]>([
    ['an infinite loop', 'while (true) {}', { timeoutMs: 300 }, 'timeout', /^timed out after 300 ms$/],
    ['an infinite loop in finally', 'try { while (true) {} } finally { while (true) {} }', { timeoutMs: 300 }, 'timeout', /^timed out/],
    ['a memory bomb of arrays', 'const a = []; while (true) a.push(new Array(1e6).fill(1))', { memoryMb: 64, timeoutMs: 10_000 }, 'memory', /64 MiB/],
    ['a memory bomb of strings', 'const k = []; for (let i = 0; ; i++) k.push("x".repeat(1e6) + i)', { memoryMb: 32, timeoutMs: 10_000 }, 'memory', /32 MiB/],
    ['string doubling', 'let s = "x"; while (true) s += s', {}, 'error', /^InternalError: string too long$/],
    ['deep recursion', 'function f(n) { return f(n + 1) + 1; } f(0)', {}, 'error', /^InternalError: stack overflow$/],
    ['deeply nested source', 'eval("[".repeat(1e6))', {}, 'error', /stack overflow/],
    ['an output flood', "while (true) console.log('x'.repeat(1000))", { maxOutputBytes: 4096, timeoutMs: 10_000 }, 'output_limit', /^output limit exceeded/],
    ['a syntax error', 'let = = 1;', {}, 'error', /^SyntaxError: /],
    ['a thrown string', "throw 'nope'", {}, 'error', /^Uncaught 'nope'$/],
    ['reaching for require', "require('fs')", {}, 'error', /^ReferenceError: .*require.* is not defined$/],
    ['reaching for process via the Function constructor', "constructor.constructor('return process')().exit(1)", {}, 'error', /^ReferenceError: .*process.* is not defined$/],
  ])('answers %s with a clear status and keeps serving', async (_name, code, overrides, status, error) => {
    const started = performance.now();
    const r = await run(code, overrides);
    expect(r.status).toBe(status);
    expect(r.error).toMatch(error);
    expect(performance.now() - started).toBeLessThan((overrides.timeoutMs ?? 2000) + 2000);
    await expectStillServing();
  });

  it('reaches nothing of the host', async () => {
    const r = await run(String.raw`
      console.log([typeof globalThis.process, typeof require, typeof fetch, typeof setTimeout, typeof WebAssembly].join());
      console.log(new Function('return this')() === globalThis);
      import('fs').catch((e) => console.log(String(e)));
    `);
    expect(r.stdout).toBe("undefined,undefined,undefined,undefined,undefined\ntrue\nReferenceError: could not load module 'fs'\n");
    await expectStillServing();
  });

  it('does not carry prototype pollution from one run to the next on the same thread', async () => {
    // Two threads: pollute both, then check both.
    await Promise.all([run('Object.prototype.x = 1; String.prototype.trim = () => "hacked"'), run('Object.prototype.x = 1')]);
    const results = await Promise.all([run('console.log(({}).x, " a ".trim())'), run('console.log(({}).x, " a ".trim())')]);
    for (const r of results) expect(r.stdout).toBe('undefined a\n');
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    await expectStillServing();
  });

  it('terminates and replaces a thread stuck in a native operation past its deadline', async () => {
    const strict = createQuickJSNodeExecutor({ threads: 1, graceMs: 50 });
    try {
      // JSON.parse of 24 MB runs for hundreds of milliseconds inside QuickJS without an interrupt
      // check. Output is lost only when the thread is terminated: a soft stop would keep it.
      const code = 'console.log("started"); const s = "[" + "1234567,".repeat(3e6) + "1]"; for (;;) JSON.parse(s)';
      const r = await strict.execute(request(code, { timeoutMs: 100, memoryMb: 256 }));
      expect(r).toMatchObject({ status: 'timeout', error: 'timed out after 100 ms', stdout: '' });
      expect((await strict.execute(request('console.log("replaced")'))).stdout).toBe('replaced\n');
    } finally {
      await strict.dispose();
    }
  });

  it('stops a run whose caller gave up, and frees its thread long before the deadline', async () => {
    const single = createQuickJSNodeExecutor({ threads: 1 });
    try {
      // Start the thread first, so the abort below lands on a running loop however slow start-up is.
      expect((await single.execute(request('console.log("warm")'))).stdout).toBe('warm\n');
      const controller = new AbortController();
      const spinning = single.execute(request('console.log("started"); for (;;) {}', { timeoutMs: 30_000 }), controller.signal);
      setTimeout(() => controller.abort(new Error('client went away')), 200);
      await expect(spinning).rejects.toThrow('client went away');
      // The only thread is free again: without the cancel it would spin until its 30 s deadline
      // and this test would time out (its limit is well below that deadline, with room for a loaded machine).
      const next = await single.execute(request('console.log("next")', { timeoutMs: 1000 }));
      expect(next).toMatchObject({ status: 'ok', stdout: 'next\n' });
    } finally {
      await single.dispose();
    }
  }, 20_000);

  it('sees an abort that arrives while the run waits for a thread, and never runs it', async () => {
    const single = createQuickJSNodeExecutor({ threads: 1 });
    try {
      expect((await single.execute(request('console.log("warm")'))).stdout).toBe('warm\n');
      const first = new AbortController();
      const second = new AbortController();
      const spinning = single.execute(request('for (;;) {}', { timeoutMs: 30_000 }), first.signal);
      // The only thread is taken: this run waits for it, and its caller gives up while it waits.
      const waiting = single.execute(request('for (;;) {}', { timeoutMs: 30_000 }), second.signal);
      second.abort(new Error('second caller went away'));
      first.abort(new Error('first caller went away'));
      await expect(waiting).rejects.toThrow('second caller went away');
      await expect(spinning).rejects.toThrow('first caller went away');
      // Had the waiting run been handed the thread with its abort unseen, it would spin until its 30 s
      // deadline, and this run would wait for it past the test's limit.
      const next = await single.execute(request('console.log("next")', { timeoutMs: 1000 }));
      expect(next).toMatchObject({ status: 'ok', stdout: 'next\n' });
    } finally {
      await single.dispose();
    }
  }, 20_000);

  it('gives back the memory of a run that grew its heap by replacing its thread', async () => {
    const single = createQuickJSNodeExecutor({ threads: 1 });
    try {
      expect((await single.execute(request('console.log("warm")'))).stdout).toBe('warm\n');
      const before = process.memoryUsage().rss;
      const big = await single.execute(request("const s = 'x'.repeat(2.5e8); console.log(s.length)", { memoryMb: 512, timeoutMs: 10_000 }));
      expect(big).toMatchObject({ status: 'ok', stdout: '250000000\n' });
      // Served by the replacement thread, once it has started.
      expect((await single.execute(request('console.log("after")'))).stdout).toBe('after\n');
      // A kept instance would hold its 250 MB of wasm memory for good.
      expect(process.memoryUsage().rss - before).toBeLessThan(100 * 1024 * 1024);
    } finally {
      await single.dispose();
    }
  }, 30_000);

  it('rejects at once when the signal has already aborted', async () => {
    await expect(executor.execute(request('console.log(1)'), AbortSignal.abort(new Error('gone')))).rejects.toThrow('gone');
  });

  it('runs snippets in parallel across threads', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => run(`console.log(${i} ** 2)`)));
    expect(results.map((r) => r.stdout)).toEqual(Array.from({ length: 20 }, (_, i) => `${i ** 2}\n`));
  });

  it('refuses work once disposed', async () => {
    const spare = createQuickJSNodeExecutor({ threads: 1 });
    expect((await spare.execute(request('console.log("up")'))).stdout).toBe('up\n');
    await spare.dispose();
    await expect(spare.execute(request('1'))).rejects.toThrow(/disposed/);
  });
});
