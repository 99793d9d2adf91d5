import { beforeAll, describe, expect, it } from 'vitest';
import type { ExecRequest, ExecResult } from '../types.ts';
import { QuickJSEngine } from './engine.ts';
import { compileQuickJSWasm } from './node.ts';

/**
 * What a snippet sees and what comes back, run in-process on one engine (no threads): the
 * console, stdin, errors, isolation from the host and between runs, the memory cap and the
 * output flood stop. The thread pool's own behaviour is in node.test.ts.
 */

let engine: QuickJSEngine;

beforeAll(async () => {
  // The main thread's native stack is small; a thread's is sized to a 2 MiB QuickJS stack.
  engine = await QuickJSEngine.load(compileQuickJSWasm(), { stackBytes: 256 * 1024, outputFloodFactor: 8 });
});

async function run(code: string, overrides: Partial<ExecRequest> = {}): Promise<ExecResult> {
  await engine.ready();
  return engine.run({ language: 'javascript', code, timeoutMs: 2000, memoryMb: 64, stdin: '', maxOutputBytes: 65536, ...overrides });
}

describe('console and print', () => {
  it('prints strings raw, numbers, BigInt with n like Node, and containers on one line', async () => {
    const r = await run(String.raw`
      console.log('text', 42, -0, 1.5e300, 10n, true, null, undefined);
      console.log([1, 'two', [3, [4, [5, [6]]]]], { a: 1, 'b-c': 'x', nested: { deep: { deeper: {} } } });
      console.log(new Map([[1, 'one']]), new Set([2n]), new Uint8Array([1, 2]), [ , 1], Symbol('s'));
      console.log(function named() {}, () => {}, class K {}, new (class Point { constructor() { this.x = 1; } })());
      const o = { name: 'o' }; o.self = o; console.log(o);
    `);
    expect(r.status).toBe('ok');
    expect(r.stdout.split('\n')).toEqual([
      'text 42 -0 1.5e+300 10n true null undefined',
      "[ 1, 'two', [ 3, [ 4, [Array] ] ] ] { a: 1, 'b-c': 'x', nested: { deep: { deeper: {} } } }",
      "Map(1) { 1 => 'one' } Set(1) { 2n } Uint8Array(2) [ 1, 2 ] [ <1 empty item>, 1 ] Symbol(s)",
      '[Function: named] [Function (anonymous)] [class K] Point { x: 1 }',
      "{ name: 'o', self: [Circular] }",
      '',
    ]);
  });

  it('applies printf-style directives like Node', async () => {
    const r = await run(`console.log('%s has %d items (%i%%)', 'cart', 3, 42.9, 'extra'); console.log('100%')`);
    expect(r.stdout).toBe('cart has 3 items (42%) extra\n100%\n');
  });

  it('sends console.error and console.warn to stderr, and print uses String()', async () => {
    const r = await run(`console.error('bad', 1); console.warn('careful'); print([1, 2], 3n, 'x'); console.info('info')`);
    expect(r.stderr).toBe('bad 1\ncareful\n');
    expect(r.stdout).toBe('1,2 3 x\ninfo\n');
  });

  it('keeps unicode intact', async () => {
    const r = await run(`console.log('héllo 世界 🎉', '\\u00e9'.normalize('NFD').length)`);
    expect(r.stdout).toBe('héllo 世界 🎉 2\n');
  });

  it('computes a 500! BigInt', async () => {
    const r = await run('let f=1n; for(let i=1n;i<=500n;i++) f*=i; console.log(f.toString().length)');
    expect(r).toMatchObject({ status: 'ok', stdout: '1135\n', error: null });
  });
});

describe('stdin', () => {
  it('is a global string and readable line by line until null', async () => {
    const r = await run(`console.log(JSON.stringify(stdin)); let l; while ((l = readline()) !== null) console.log('[' + l + ']')`, {
      stdin: '3 4\r\nlast',
    });
    expect(r.stdout).toBe('"3 4\\r\\nlast"\n[3 4]\n[last]\n');
  });
});

describe('errors a model reads', () => {
  it('reports a ReferenceError with its stack on stderr', async () => {
    const r = await run('const x = 1;\nfoo(x);');
    expect(r.status).toBe('error');
    expect(r.error).toMatch(/^ReferenceError: .*foo.* is not defined$/);
    expect(r.stderr).toContain('main.js:2');
  });

  it('reports a syntax error', async () => {
    const r = await run('let x = ;');
    expect(r.status).toBe('error');
    expect(r.error).toMatch(/^SyntaxError: /);
  });

  it('reports thrown non-Error values', async () => {
    expect((await run('throw 42')).error).toBe('Uncaught 42');
    expect((await run("throw 'oops'")).error).toBe("Uncaught 'oops'");
    expect((await run('throw { code: 7 }')).error).toBe('Uncaught { code: 7 }');
    expect((await run('throw null')).error).toBe('Uncaught null');
  });

  it('keeps the output printed before the error', async () => {
    const r = await run("console.log('before'); null.x");
    expect(r).toMatchObject({ status: 'error', stdout: 'before\n' });
    expect(r.error).toMatch(/^TypeError: /);
  });

  it('reports the rejection of an async main() that ends the snippet', async () => {
    const r = await run("async function main() { await null; throw new RangeError('late'); }\nmain()");
    expect(r).toMatchObject({ status: 'error', error: 'RangeError: late' });
  });

  it('runs promise jobs before returning', async () => {
    const r = await run('Promise.resolve(2).then((v) => console.log(v * 21))');
    expect(r).toMatchObject({ status: 'ok', stdout: '42\n' });
  });

  it('keeps the error line short for a huge message', async () => {
    const r = await run("throw new Error('x'.repeat(5000))");
    expect(r.error).toMatch(/^Error: x+…$/);
    expect(r.error!.length).toBeLessThanOrEqual(1001);
  });

  it('reports stack overflow as an error and shows ten frames', async () => {
    const r = await run('function f() { return f(); } f()');
    expect(r).toMatchObject({ status: 'error', error: 'InternalError: stack overflow' });
    expect(r.stderr.split('\n').filter((l) => l.includes('at f'))).toHaveLength(10);
  });

  it('reports a host stack overflow as an error and replaces the instance', async () => {
    // The parser recurses deeper on the host's native stack than QuickJS's limit sees.
    const r = await run('eval("[".repeat(1e6))');
    expect(r.status).toBe('error');
    expect(r.error).toMatch(/stack/);
    expect((await run('console.log(1)')).stdout).toBe('1\n');
  });
});

describe('isolation', () => {
  it('gives no way to the host', async () => {
    const r = await run(String.raw`
      console.log(typeof process, typeof require, typeof fetch, typeof setTimeout, typeof module, typeof Deno);
      console.log(new Function('return this')() === globalThis);
      try { console.log(typeof this.constructor.constructor('return process')()); } catch (e) { console.log(e.name); }
      import('fs').then(() => console.log('imported'), (e) => console.log('import failed', e.name));
    `);
    expect(r.stdout).toBe('undefined undefined undefined undefined undefined undefined\ntrue\nReferenceError\nimport failed ReferenceError\n');
  });

  it('does not leak prototype pollution to the next run or to the host', async () => {
    await run('Object.prototype.polluted = 1; Array.prototype.push = null; globalThis.leak = 2');
    const r = await run('console.log(({}).polluted, typeof globalThis.leak); const a = []; a.push(1); console.log(a.length)');
    expect(r.stdout).toBe('undefined undefined\n1\n');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('formats values even when the snippet replaced eval (the formatter is compiled on first use)', async () => {
    const r = await run('eval = null; console.log({ a: 1 }, [2])');
    expect(r.stdout).toBe('{ a: 1 } [ 2 ]\n');
  });
});

describe('limits', () => {
  it('stops an infinite loop at the deadline', async () => {
    const r = await run('while (true) {}', { timeoutMs: 200 });
    expect(r).toMatchObject({ status: 'timeout', error: 'timed out after 200 ms' });
  });

  it('keeps what was printed before a timeout', async () => {
    const r = await run("console.log('started'); console.error('warned'); while (true) {}", { timeoutMs: 200 });
    expect(r).toMatchObject({ status: 'timeout', stdout: 'started\n', stderr: 'warned\n' });
  });

  it('stops an infinite loop in finally (the interrupt cannot be caught)', async () => {
    const r = await run('try { while (true) {} } finally { while (true) {} }', { timeoutMs: 200 });
    expect(r.status).toBe('timeout');
  });

  it('counts interrupt checks when the clock stands still, as on Cloudflare', async () => {
    const frozen = await QuickJSEngine.load(compileQuickJSWasm(), { stackBytes: 256 * 1024, outputFloodFactor: 8, checksPerMs: 1, now: () => 0 });
    const r = frozen.run({ language: 'javascript', code: 'while (true) {}', timeoutMs: 50, memoryMb: 64, stdin: '', maxOutputBytes: 1024 });
    expect(r.status).toBe('timeout');
  });

  it.each([
    ['array of big arrays', 'const a = []; while (true) a.push(new Array(1e6).fill(1))'],
    ['strings kept alive', 'const keep = []; for (let i = 0; ; i++) keep.push("x".repeat(1e6) + i)'],
    ['many small objects', 'const a = []; for (let i = 0; ; i++) a.push({ i, s: "v" + i })'],
    ['typed arrays', 'const a = []; while (true) a.push(new Float64Array(1e5))'],
  ])('stops a memory bomb (%s) at the memory limit', async (_name, code) => {
    const started = performance.now();
    const r = await run(code, { memoryMb: 32, timeoutMs: 10_000 });
    expect(r.status).toBe('memory');
    expect(r.error).toBe('out of memory: the snippet exceeded its 32 MiB memory limit');
    expect(performance.now() - started).toBeLessThan(8000);
    expect((await run('console.log("after")')).stdout).toBe('after\n');
  });

  it.each([
    ['a huge array', 'new Array(1e9).fill(0)'],
    ['a huge string', '"x".repeat(1e9)'],
    ['a huge typed array', 'new Float64Array(1e8)'],
  ])('fails %s fast', async (_name, code) => {
    const started = performance.now();
    const r = await run(code, { memoryMb: 64, timeoutMs: 10_000 });
    expect(r.status).toBe('memory');
    expect(performance.now() - started).toBeLessThan(3000);
  });

  it('fails string doubling fast: QuickJS concatenates into ropes up to its length limit', async () => {
    const r = await run('let s = "x"; while (true) s += s', { memoryMb: 32 });
    expect(r).toMatchObject({ status: 'error', error: 'InternalError: string too long' });
  });

  it('lets a snippet catch running out of memory and go on', async () => {
    const r = await run('let a = []; try { while (true) a.push(new Array(1e5).fill(1)); } catch (e) { a = null; } console.log("survived")', {
      memoryMb: 16,
    });
    expect(r).toMatchObject({ status: 'ok', stdout: 'survived\n' });
  });

  it('caps output with head and tail and reports output_limit', async () => {
    const r = await run('for (let i = 0; i < 1000; i++) console.log("line " + i)', { maxOutputBytes: 2000 });
    expect(r.status).toBe('output_limit');
    expect(r.truncated.stdout).toBe(true);
    expect(r.stdout).toMatch(/^line 0\n/);
    expect(r.stdout).toMatch(/line 999\n$/);
    expect(r.stdout).toContain('[output truncated:');
  });

  it('stops an output flood early', async () => {
    const started = performance.now();
    const r = await run("while (true) console.log('x'.repeat(1000))", { maxOutputBytes: 1000, timeoutMs: 10_000 });
    expect(r.status).toBe('output_limit');
    expect(r.error).toMatch(/^output limit exceeded: stopped after \d+ bytes/);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it.each([
    // 30 MB: copying it out of the sandbox needed another 30 MB of its 64 MiB heap, failed, and the run was
    // reported ok with empty stdout.
    ['a string too large to copy out', 3e7],
    // 20 MB: it was copied out whole (20 MB of host memory, 400 MB for 'x'.repeat(4e8)) to keep 64 KiB of it.
    ['a large string', 2e7],
  ])('sends only a bounded head of one huge print (%s) to the host, and reports the truncation', async (_name, length) => {
    const r = await run(`print('x'.repeat(${length})); print('never')`, { memoryMb: 64, maxOutputBytes: 65536 });
    expect(r).toMatchObject({ status: 'output_limit', truncated: { stdout: true, stderr: false } });
    expect(r.stdout.startsWith('x'.repeat(30_000))).toBe(true);
    expect(r.stdout).toContain('[output truncated:');
    // The host saw no more than the flood limit (8 x max_output_bytes) and two units.
    const seen = Number(/stopped after (\d+) bytes/.exec(r.error ?? '')?.[1]);
    expect(seen).toBeGreaterThan(8 * 65536);
    expect(seen).toBeLessThanOrEqual(8 * 65536 + 2);
  });

  it('does not split a surrogate pair where it cuts a huge print', async () => {
    const r = await run(`print('a' + '😀'.repeat(1e6))`, { memoryMb: 64, maxOutputBytes: 1024 });
    expect(r.status).toBe('output_limit');
    expect(r.stdout).not.toContain('\ufffd');
  });
});
