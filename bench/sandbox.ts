import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { execLimits, loadConfig } from '../api/config.ts';
import { createNodeSandbox } from '../api/node-deps.ts';
import type { Language } from '../api/sandbox/types.ts';
import { measure, table, type LoadResult } from './stats.ts';

/** The three snippets, in both languages. */
const SNIPPETS: Record<string, Record<Language, string>> = {
  'trivial print': { javascript: 'console.log(1)', python: 'print(1)' },
  '10k-iteration loop': {
    javascript: 'let s = 0; for (let i = 0; i < 10000; i++) s += i; console.log(s)',
    python: 's = 0\nfor i in range(10000): s += i\nprint(s)',
  },
  'BigInt factorial of 500': {
    javascript: 'let f = 1n; for (let i = 1n; i <= 500n; i++) f *= i; console.log(f.toString().length)',
    python: 'f = 1\nfor i in range(1, 501): f *= i\nprint(len(str(f)))',
  },
};

const PYTHON = '/usr/bin/python3';

/** The baseline: a plain `python3 -c` subprocess per snippet, no isolation at all. */
function spawnPython(code: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON, ['-c', code], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.resume();
    child.stderr.resume();
    child.on('close', (status) => resolve(status === 0));
    child.on('error', () => resolve(false));
  });
}

export async function benchSandbox(): Promise<void> {
  const concurrency = availableParallelism();
  const config = loadConfig({ ...process.env, CIR_EXEC_QUEUE_LIMIT: '10000' });
  const sandbox = await createNodeSandbox(config);
  const limits = execLimits(config);
  const run = (language: Language, code: string) => async () =>
    (await sandbox.execute({ language, code, timeoutMs: limits.timeoutMs.default })).status === 'ok';

  const rows: (string | number)[][] = [];
  const addRow = (snippet: string, runner: string, r: LoadResult, baseline: LoadResult) =>
    rows.push([snippet, runner, r.count, r.errors, r.perSecond, r.p50, r.p99, `${(r.perSecond / baseline.perSecond).toFixed(1)}x`]);

  for (const [name, code] of Object.entries(SNIPPETS)) {
    const baseline = await measure(() => spawnPython(code.python), { count: 200, concurrency, warmup: 5 });
    addRow(name, 'python3 -c subprocess (baseline)', baseline, baseline);
    addRow(name, 'javascript sandbox (quickjs)', await measure(run('javascript', code.javascript), { count: 5000, concurrency: concurrency * 2 }), baseline);
    if (sandbox.describe().python.executor) {
      addRow(name, `python sandbox (${sandbox.describe().python.executor})`, await measure(run('python', code.python), { count: 400, concurrency }), baseline);
    }
  }
  await sandbox.dispose();
  console.log(`concurrency ${concurrency} (cores); ratios are throughput against the baseline in the same run`);
  console.log(table(['snippet', 'runner', 'runs', 'errors', 'exec/s', 'p50 ms', 'p99 ms', 'vs baseline'], rows));
}
