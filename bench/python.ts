/**
 * Python snippets that import the scientific stack, against the floor and the ceiling, in one run:
 *  - `python3 -c` per snippet (no isolation: what a naive executor pays, imports included),
 *  - a warm unsandboxed worker (one long-lived interpreter with sympy and numpy imported, exec()
 *    per snippet: no isolation and no fresh process; the physical floor),
 *  - our sandbox as the server builds it (sympy/numpy snippets forked from the preloaded sandboxes),
 *  - our sandbox with CIR_PYTHON_PRELOAD=none (every snippet forked from a plain interpreter: before).
 * Each round runs every snippet on every runner (order rotated per round), RUNS times each,
 * sequentially; the table gives the median over rounds of each round's median latency, the spread
 * of those round medians, and the medians of the per-round ratios.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { execLimits, loadConfig } from '../api/config.ts';
import { createNodeSandbox } from '../api/node-deps.ts';
import { median, table } from './stats.ts';

const PYTHON = '/usr/bin/python3';
const ROUNDS = 7;
const RUNS = 8;
const WARMUP = 3;

const SNIPPETS: Record<string, string> = {
  trivial: 'print(1)',
  'sympy factorint': 'import sympy\nprint(sympy.factorint(2**32 + 1))',
  'numpy solve': 'import numpy as np\nprint(np.linalg.solve(np.array([[3.0, 1.0], [1.0, 2.0]]), np.array([9.0, 8.0])))',
};

type Runner = { name: string; run(code: string): Promise<boolean>; dispose(): Promise<void> };

/** `python3 -c CODE` per snippet. */
function subprocessRunner(): Runner {
  return {
    name: 'python3 -c',
    run: (code) =>
      new Promise((resolve) => {
        const child = spawn(PYTHON, ['-c', code], { stdio: ['ignore', 'pipe', 'pipe'] });
        child.stdout.resume();
        child.stderr.resume();
        child.on('close', (status) => resolve(status === 0));
        child.on('error', () => resolve(false));
      }),
    dispose: async () => {},
  };
}

const WORKER_SOURCE = `
import contextlib, io, json, sys
import numpy, sympy
for line in sys.stdin:
    out = io.StringIO()
    ok = True
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(json.loads(line), "<string>", "exec"), {"__name__": "__main__"})
    except BaseException:
        ok = False
    sys.stdout.write(json.dumps(ok) + "\\n")
    sys.stdout.flush()
`;

/** One long-lived interpreter with sympy and numpy loaded, exec() per snippet. */
function warmWorkerRunner(): Runner {
  const child = spawn(PYTHON, ['-c', WORKER_SOURCE], { stdio: ['pipe', 'pipe', 'inherit'] });
  const pending: ((ok: boolean) => void)[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => pending.shift()?.(JSON.parse(line) === true));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return {
    name: 'warm unsandboxed worker',
    run: (code) =>
      new Promise((resolve) => {
        pending.push(resolve);
        child.stdin.write(`${JSON.stringify(code)}\n`);
      }),
    dispose: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

async function sandboxRunner(name: string, env: Record<string, string>): Promise<Runner> {
  const config = loadConfig({ ...process.env, ...env });
  const sandbox = await createNodeSandbox(config);
  if (!sandbox.describe().python.executor) throw new Error(`no python sandbox on this host: ${JSON.stringify(sandbox.describe().python)}`);
  const timeoutMs = execLimits(config).timeoutMs.default;
  return {
    name,
    run: async (code) => (await sandbox.execute({ language: 'python', code, timeoutMs })).status === 'ok',
    dispose: () => sandbox.dispose(),
  };
}

async function timeRuns(runner: Runner, code: string, runs: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    if (!(await runner.run(code))) throw new Error(`${runner.name} failed on ${JSON.stringify(code)}`);
    ms.push(performance.now() - started);
  }
  return ms;
}

export async function benchPython(): Promise<void> {
  const runners = [
    subprocessRunner(),
    warmWorkerRunner(),
    await sandboxRunner('python sandbox, no preload (before)', { CIR_PYTHON_PRELOAD: 'none' }),
    await sandboxRunner('python sandbox (sympy, numpy preloaded)', {}),
  ];
  try {
    // Also waits for the preloaded sandboxes to be warm.
    for (const runner of runners) for (const code of Object.values(SNIPPETS)) await timeRuns(runner, code, WARMUP);
    const medians = new Map<string, number[]>(); // `${snippet}\t${runner}` → one median per round
    for (let round = 0; round < ROUNDS; round++) {
      const order = runners.map((_, i) => runners[(i + round) % runners.length]!);
      for (const [snippet, code] of Object.entries(SNIPPETS)) {
        for (const runner of order) {
          const key = `${snippet}\t${runner.name}`;
          medians.set(key, [...(medians.get(key) ?? []), median(await timeRuns(runner, code, RUNS))]);
        }
      }
    }
    const rows: (string | number)[][] = [];
    for (const snippet of Object.keys(SNIPPETS)) {
      const of = (runner: Runner) => medians.get(`${snippet}\t${runner.name}`)!;
      const [subprocess, worker] = [of(runners[0]!), of(runners[1]!)];
      for (const runner of runners) {
        const rounds = of(runner);
        rows.push([
          snippet,
          runner.name,
          median(rounds),
          `${Math.min(...rounds).toFixed(2)}–${Math.max(...rounds).toFixed(2)}`,
          `${median(rounds.map((r, i) => subprocess[i]! / r)).toFixed(1)}x`,
          `${median(rounds.map((r, i) => r / worker[i]!)).toFixed(1)}x`,
        ]);
      }
    }
    console.log(`${ROUNDS} rounds x ${RUNS} sequential runs per snippet and runner; ms are the median of the round medians, spread their min–max`);
    console.log(table(['snippet', 'runner', 'p50 ms', 'spread ms', 'faster than python3 -c', 'x warm worker'], rows));
  } finally {
    await Promise.all(runners.map((runner) => runner.dispose()));
  }
}
