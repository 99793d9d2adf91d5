import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecRequest, ExecResult, Executor } from '../types.ts';
import { createPythonExecutor, probePython, PythonUnavailableError, type PythonExecutorReport } from './index.ts';

// Set before the sandboxes start, so a leak of Node's environment would show.
const SECRET = `cir-secret-${process.pid}-${Date.now()}`;
process.env.CIR_TEST_SECRET = SECRET;

const POOL_SIZE = 2;
let executor: Executor & { containment: PythonExecutorReport };

beforeAll(async () => {
  // No skipping: a host without bwrap (or without user namespaces) fails the suite, saying why.
  const probe = await probePython();
  if (!probe.available) throw new Error(`python sandbox unavailable: ${probe.reason}`);
  expect(probe).toMatchObject({ hasSympy: true, hasNumpy: true });
  executor = createPythonExecutor({ poolSize: POOL_SIZE });
});

afterAll(async () => {
  const started = sandboxProcesses(process.pid);
  await executor?.dispose();
  expect(started.filter((pid) => alive(pid))).toEqual([]);
});

/**
 * The two kinds of sandbox a snippet can land in: plain, or forked from an interpreter with sympy
 * and numpy loaded (chosen by the snippet naming one of them; here a trailing comment does). The
 * limits and isolation suites below run on both.
 */
const PATHS = [
  ['plain', ''],
  ['preloaded', '\n# runs where sympy is preloaded'],
] as const;
let route = '';

function run(code: string, overrides: Partial<ExecRequest> = {}): Promise<ExecResult> {
  return executor.execute({
    language: 'python',
    code: code + route,
    timeoutMs: 5000,
    memoryMb: 128,
    stdin: '',
    maxOutputBytes: 64 * 1024,
    ...overrides,
  });
}

async function expectHealthy(): Promise<void> {
  // Twice, so that every zygote in the pool gets a turn after the bad snippet.
  for (let i = 0; i < POOL_SIZE; i++) {
    const result = await run('print("still fine")');
    expect(result).toMatchObject({ status: 'ok', stdout: 'still fine\n', error: null });
  }
}

/** Host pids of the sandbox processes (bwrap and the interpreters in it) below `root`. */
function sandboxProcesses(root: number): number[] {
  return descendants(root).filter((pid) => {
    try {
      return ['bwrap', 'python3'].includes(readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
    } catch {
      return false;
    }
  });
}

/** Host pids of every live process below `root`. */
function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // Exited while listing.
    }
  }
  return [...parent.keys()].filter((pid) => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === root) return true;
    return false;
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('python-bwrap: availability', () => {
  it('says why when bubblewrap is missing, and is then not offered', async () => {
    const probe = await probePython({ bwrapBin: '/nonexistent/bwrap' });
    expect(probe).toMatchObject({ available: false, hasSympy: false, hasNumpy: false });
    expect(probe.reason).toMatch(/bubblewrap/);
    expect(() => createPythonExecutor({ bwrapBin: '/nonexistent/bwrap' })).toThrow(PythonUnavailableError);
  });

  it('reports what contains its runs: on these machines, everything', () => {
    expect(executor.containment).toEqual({
      cgroup: 'v1',
      seccomp: 'x86_64',
      tmpfs: { size_mb: 64, inodes: 4096 },
      max_processes: 16,
      not_contained: [],
      preload: { status: expect.stringMatching(/^(warming|ready)$/), modules: expect.any(Array), sandboxes: POOL_SIZE },
    });
  });

  it('says what a host without cgroups leaves uncontained', async () => {
    const probe = await probePython({ cgroups: false });
    expect(probe).toMatchObject({ available: true, containment: { cgroup: null, seccomp: 'x86_64' } });
    expect(probe.containment!.not_contained).toEqual([expect.stringMatching(/^no cgroup \(turned off.*max_processes × memory_mb/)]);
  });

  it('says why when the interpreter is missing', async () => {
    const probe = await probePython({ pythonBin: '/nonexistent/python3' });
    expect(probe).toMatchObject({ available: false });
    expect(probe.reason).toMatch(/\/nonexistent\/python3/);
  });
});

describe('python-bwrap: running snippets', () => {
  it('prints, with error null and the executor named', async () => {
    const result = await run('print("hello", 6 * 7)');
    expect(result).toMatchObject({ status: 'ok', stdout: 'hello 42\n', stderr: '', error: null, executor: 'python-bwrap' });
    expect(result.truncated).toEqual({ stdout: false, stderr: false });
  });

  it('refuses stdin that has no UTF-8 encoding, saying why', async () => {
    const result = await run('print(input())', { stdin: 'ab\udc80' });
    expect(result).toMatchObject({ status: 'error', stdout: '', executor: 'python-bwrap' });
    expect(result.error).toBe('invalid stdin: a lone UTF-16 surrogate (U+DC80) at index 2 has no UTF-8 encoding; send stdin as valid Unicode text');
  });

  it('feeds stdin to the snippet, UTF-8 included', async () => {
    const result = await run('import sys\nfirst = input()\nprint(first.upper(), sys.stdin.read().strip())', { stdin: 'héllo\nwörld\n' });
    expect(result).toMatchObject({ status: 'ok', stdout: 'HÉLLO wörld\n' });
  });

  it('has sympy and numpy', async () => {
    const result = await run(
      'import sympy as sp, numpy as np\nx = sp.symbols("x")\nprint(sp.integrate(x**2, x), np.linalg.det(np.eye(3)))',
    );
    expect(result).toMatchObject({ status: 'ok', stdout: 'x**3/3 1.0\n' });
  });

  it('reports a syntax error', async () => {
    const result = await run('x = (1,\nprint(x)');
    expect(result.status).toBe('error');
    expect(result.error).toMatch(/^SyntaxError: /);
    expect(result.stderr).toContain('File "<string>", line 1');
  });

  it('reports an exception as the last traceback line, keeping the traceback in stderr', async () => {
    const result = await run('def f():\n    return 1 / 0\nf()');
    expect(result).toMatchObject({ status: 'error', error: 'ZeroDivisionError: division by zero' });
    expect(result.stderr).toMatch(/^Traceback \(most recent call last\):/);
    expect(result.stderr).toContain('line 2, in f');
    expect(result.stderr).not.toContain('cir-zygote'); // the runner's own frames are hidden
  });

  it('treats sys.exit like python does', async () => {
    expect(await run('import sys; print("bye"); sys.exit(0)')).toMatchObject({ status: 'ok', stdout: 'bye\n' });
    const failed = await run('import sys; sys.exit("no luck")');
    expect(failed).toMatchObject({ status: 'error', error: 'SystemExit: no luck', stderr: 'no luck\n' });
  });

  it('runs 8 snippets at once', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => run(`import time\ntime.sleep(0.05)\nprint(${i} ** 2)`)));
    expect(results.map((r) => [r.status, r.stdout])).toEqual(Array.from({ length: 8 }, (_, i) => ['ok', `${i ** 2}\n`]));
  });
});

describe('python-bwrap: preloaded sandboxes', () => {
  const loaded = 'import sys\nprint(sorted(m for m in ("sympy", "numpy", "mpmath") if m in sys.modules))';

  it('forks snippets that name sympy or numpy from an interpreter that has them loaded, and others from a plain one', async () => {
    expect(await run(loaded)).toMatchObject({ status: 'ok', stdout: "['mpmath', 'numpy', 'sympy']\n" });
    const plain = 'import sys\nprint(sorted(m for m in sys.modules if m.startswith(("sym" + "py", "num" + "py", "mp" + "math"))))';
    expect(await run(plain)).toMatchObject({ status: 'ok', stdout: '[]\n' });
    expect(executor.containment.preload).toEqual({ status: 'ready', modules: ['mpmath', 'numpy', 'sympy'], sandboxes: POOL_SIZE });
  });

  it("keeps a snippet's changes to sympy's and numpy's state, caches included, from later snippets", async () => {
    const tamper = [
      'import sympy, numpy as np',
      'sympy.factorint = lambda n: "tampered"',
      'sympy.Integer.__add__ = lambda a, b: "tampered"',
      'sympy.pi = 3',
      'sympy.core.cache.clear_cache()',
      'np.set_printoptions(precision=1)',
      'print(sympy.factorint(12), sympy.Integer(2) + 3, np.array([1 / 3]))',
    ].join('\n');
    const check = 'import sympy, numpy as np\nprint(sympy.factorint(12), sympy.Integer(2) + 3, sympy.pi, np.array([1 / 3]))';
    // Every preloaded sandbox gets tampered with, then every one is checked.
    for (let i = 0; i < POOL_SIZE; i++) expect(await run(tamper)).toMatchObject({ status: 'ok', stdout: 'tampered tampered [0.3]\n' });
    for (let i = 0; i < 2 * POOL_SIZE; i++) expect(await run(check)).toMatchObject({ status: 'ok', stdout: '{2: 2, 3: 1} 5 pi [0.33333333]\n' });
  });

  it("reseeds sympy's, numpy's and random's generators for every snippet", async () => {
    const draw = 'import random, numpy as np\nfrom sympy.core.random import rng\nprint(rng.random(), np.random.random(), random.random())';
    const draws = new Set<string>();
    for (let i = 0; i < 2 * POOL_SIZE; i++) draws.add((await run(draw)).stdout);
    expect(draws.size).toBe(2 * POOL_SIZE);
  });

  it("holds memory_mb: copying all of the preloaded heap fits, a memory bomb does not", async () => {
    // Writes one byte on every page of every private writable mapping: the whole preloaded heap
    // is copied on write into this run's charge, which its memory ceiling counts once, beside memory_mb.
    const copyAll = [
      'import ctypes, re, sympy, numpy',
      'for line in open("/proc/self/maps").read().splitlines():',
      '    span, mode = line.split()[:2]',
      '    if mode == "rw-p":',
      '        start, end = (int(x, 16) for x in span.split("-"))',
      '        for page in range(start, end, 4096):',
      '            ctypes.memmove(page, page, 1)',
      'copied = int(re.search(r"Private_Dirty:\\s+(\\d+)", open("/proc/self/smaps_rollup").read())[1]) >> 10',
      'print(copied > 40, sympy.factorint(2**32 + 1))',
    ].join('\n');
    for (const memoryMb of [64, 32]) {
      expect(await run(copyAll, { memoryMb })).toMatchObject({ status: 'ok', stdout: 'True {641: 1, 6700417: 1}\n' });
    }
    const bomb = 'import sympy\nchunks = []\nwhile True:\n    chunks.append(bytearray(1 << 20))';
    expect(await run(bomb, { memoryMb: 64 })).toMatchObject({ status: 'memory', error: expect.stringMatching(/MemoryError/) });
    // Past what one process may allocate: 4 processes of 40 MiB each are caught by the cgroup.
    const spread = 'import os, sympy, time\nfor _ in range(4):\n    if os.fork() == 0:\n        x = bytearray(40 << 20)\n        time.sleep(1)\n        os._exit(0)\nfor _ in range(4):\n    os.wait()\nprint("took 160 MiB")';
    expect(await run(spread, { memoryMb: 64 })).toMatchObject({ status: 'memory', error: expect.stringMatching(/^memory limit exceeded/) });
    expect(await run(loaded, { memoryMb: 64 })).toMatchObject({ status: 'ok' });
  });

  it('runs at most poolSize snippets at once over both kinds of sandbox', async () => {
    const span = 'import time\nstart = time.time()\ntime.sleep(0.3)\nprint(start, time.time())';
    await Promise.all([run(loaded), run(loaded)]); // both preloaded sandboxes warm
    const results = await Promise.all([span, span, `${span}  # sympy`, `${span}  # numpy`].map((code) => run(code)));
    const spans = results.map((r) => r.stdout.split(' ').map(Number) as [number, number]);
    const overlapAt = (t: number) => spans.filter(([start, end]) => start <= t && t < end).length;
    expect(Math.max(...spans.map(([start]) => overlapAt(start)))).toBeLessThanOrEqual(POOL_SIZE);
  });

  it('waits for the first preloaded sandbox when a snippet arrives while it warms', async () => {
    const fresh = createPythonExecutor({ poolSize: 1 });
    try {
      expect(fresh.containment.preload.status).toBe('warming');
      const result = await fresh.execute({ language: 'python', code: loaded, timeoutMs: 20_000, memoryMb: 128, stdin: '', maxOutputBytes: 4096 });
      expect(result).toMatchObject({ status: 'ok', stdout: "['mpmath', 'numpy', 'sympy']\n" });
      expect(fresh.containment.preload.status).toBe('ready');
    } finally {
      await fresh.dispose();
    }
  });

  it('runs everything plain, and says so, when none of the modules can be imported', async () => {
    const fresh = createPythonExecutor({ poolSize: 1, preloadModules: ['cir_no_such_module'] });
    try {
      const result = await fresh.execute({ language: 'python', code: 'print(1)  # cir_no_such_module', timeoutMs: 20_000, memoryMb: 128, stdin: '', maxOutputBytes: 4096 });
      expect(result).toMatchObject({ status: 'ok', stdout: '1\n' });
      expect(fresh.containment.preload).toEqual({
        status: 'off',
        modules: [],
        sandboxes: 0,
        reason: "none of cir_no_such_module can be imported by the sandbox's interpreter; snippets import what they use themselves",
      });
    } finally {
      await fresh.dispose();
    }
  });

  it('refuses a preload entry that is not a module name', () => {
    expect(() => createPythonExecutor({ preloadModules: ['sympy,os'] })).toThrow(/preloadModules: "sympy,os" is not a module name/);
  });
});

describe.each(PATHS)('python-bwrap: limits (%s)', (_path, suffix) => {
  beforeAll(() => {
    route = suffix;
  });
  afterAll(() => {
    route = '';
  });

  it('times out an infinite loop', async () => {
    const result = await run('print("started")\nwhile True:\n    pass', { timeoutMs: 1000 });
    expect(result).toMatchObject({ status: 'timeout', error: 'timed out after 1000 ms' });
    expect(result.stdout).toBe('started\n'); // line-buffered: what was printed survives the kill
    expect(result.duration_ms).toBeLessThan(3500);
    await expectHealthy();
  });

  it('times out a loop in a finally block', async () => {
    const result = await run('try:\n    while True: pass\nfinally:\n    while True: pass', { timeoutMs: 1000 });
    expect(result.status).toBe('timeout');
    await expectHealthy();
  });

  it.each([
    ['one huge allocation', "x = ' ' * 10**10"],
    ['a growing list', "a = []\nwhile True:\n    a.append(' ' * 10**6)"],
    ['a huge numpy array', 'import numpy as np\nx = np.ones((10**5, 10**5))'],
  ])('stops %s with status memory', async (_name, code) => {
    const result = await run(code, { memoryMb: 64 });
    expect(result.status).toBe('memory');
    expect(result.error).toMatch(/MemoryError/);
    await expectHealthy();
  });

  it('contains a fork bomb, leaving no process behind', async () => {
    const result = await run('import os\nwhile True:\n    os.fork()');
    expect(result.status).toBe('error');
    expect(result.error).toMatch(/^BlockingIOError: .*Resource temporarily unavailable/);
    // Inside: only the sandbox's init, the zygote and this snippet exist.
    const census = await run('import os\nprint(sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))');
    expect(census.stdout).toMatch(/^\[1, 2, \d+\]\n$/);
    // Outside: per sandbox (plain and preloaded), bwrap, the sandbox's init, the zygote and its spare at most.
    expect(sandboxProcesses(process.pid).length).toBeLessThanOrEqual(2 * 4 * POOL_SIZE);
    await expectHealthy();
  });

  it('kills what a snippet leaves running', async () => {
    const result = await run('import subprocess\nsubprocess.Popen(["sleep", "100"])\nprint("spawned")');
    expect(result).toMatchObject({ status: 'ok', stdout: 'spawned\n' });
    for (let i = 0; i < POOL_SIZE; i++) {
      const census = await run('import os\nprint(sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))');
      expect(census.stdout).toMatch(/^\[1, 2, \d+\]\n$/);
    }
  });

  it('contains a thread bomb', async () => {
    const result = await run(
      'import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()',
    );
    expect(result).toMatchObject({ status: 'error', error: "RuntimeError: can't start new thread" });
    await expectHealthy();
  });

  it('keeps head and tail of output past the cap', async () => {
    // 8890 bytes: past the cap, below the kill threshold (4x), so it runs to the end.
    const result = await run('for i in range(2000):\n    print(i)', { maxOutputBytes: 4096 });
    expect(result.status).toBe('output_limit');
    expect(result.truncated.stdout).toBe(true);
    expect(result.stdout.startsWith('0\n1\n2\n')).toBe(true);
    expect(result.stdout.endsWith('1998\n1999\n')).toBe(true);
    expect(result.stdout).toMatch(/\[output truncated: \d+ bytes omitted\]/);
  });

  it('kills an endless output flood', async () => {
    const result = await run('while True:\n    print("y" * 1000)', { maxOutputBytes: 4096, timeoutMs: 10_000 });
    expect(result).toMatchObject({ status: 'output_limit', truncated: { stdout: true, stderr: false } });
    expect(result.duration_ms).toBeLessThan(5000);
    expect(Buffer.byteLength(result.stdout)).toBeLessThan(4096 + 200);
    await expectHealthy();
  });

  it("keeps a snippet's changes to its zygote's limits and scheduling from reaching later snippets", async () => {
    const result = await run(
      'import os, resource\nresource.prlimit(2, resource.RLIMIT_NOFILE, (20, 20))\nos.setpriority(os.PRIO_PROCESS, 2, 19)\nos.sched_setaffinity(2, {0})\nprint("changed")',
    );
    expect(result).toMatchObject({ status: 'error', stdout: 'changed\n', error: expect.stringMatching(/change its limits/) });
    const check = 'import os, resource\nprint(resource.getrlimit(resource.RLIMIT_NOFILE), os.getpriority(os.PRIO_PROCESS, 0), len(os.sched_getaffinity(0)) == os.cpu_count())';
    for (let i = 0; i < 2 * POOL_SIZE; i++) expect(await run(check)).toMatchObject({ status: 'ok', stdout: '(256, 256) 0 True\n' });
  });

  it('gives each snippet its own session, so its autogroup niceness goes with it', async () => {
    const niced = await run('open("/proc/self/autogroup", "w").write("19")\nimport os\nprint(os.getsid(0) == os.getpid())');
    expect(niced).toMatchObject({ status: 'ok', stdout: 'True\n' });
    for (let i = 0; i < 2 * POOL_SIZE; i++) {
      expect(await run('print(open("/proc/self/autogroup").read().split()[-1])')).toMatchObject({ status: 'ok', stdout: '0\n' });
    }
  });

  it('survives a snippet killing its own supervisor', async () => {
    const result = await run('import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nimport time; time.sleep(5)');
    expect(result.status).toBe('error');
    await expectHealthy();
  });
});

describe.each(PATHS)('python-bwrap: isolation (%s)', (_path, suffix) => {
  beforeAll(() => {
    route = suffix;
  });
  afterAll(() => {
    route = '';
  });

  let server: Server;
  let port = 0;
  let connections = 0;

  beforeAll(async () => {
    server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it.each(['/etc/shadow', '/etc/passwd', '/root/.bashrc', '/work/main/package.json', '/home'])('cannot read %s', async (path) => {
    const result = await run(`import os\nprint(os.listdir(${JSON.stringify(path)}) if os.path.isdir(${JSON.stringify(path)}) else open(${JSON.stringify(path)}).read())`);
    expect(result.status).toBe('error');
    expect(result.error).toMatch(/^FileNotFoundError/);
  });

  it("does not see Node's environment", async () => {
    const result = await run(
      [
        'import os',
        'print(dict(os.environ))',
        'for path in ("/proc/self/environ", "/proc/1/environ", "/proc/2/environ"):',
        '    try:',
        '        print(open(path, "rb").read())',
        '    except OSError as e:',
        '        print(path, type(e).__name__)',
      ].join('\n'),
    );
    expect(result.status).toBe('ok');
    expect(result.stdout).toContain("'PATH': '/usr/local/bin:/usr/bin:/bin'");
    expect(result.stdout).not.toContain(SECRET);
    expect(result.stdout).not.toContain('CIR_TEST_SECRET');
  });

  it('has no network, not even to a port on the host loopback', async () => {
    const result = await run(
      [
        'import socket',
        'for address in (("127.0.0.1", PORT), ("1.1.1.1", 53)):',
        '    try:',
        '        socket.create_connection(address, timeout=2)',
        '        print("connected", address)',
        '    except OSError as e:',
        '        print(type(e).__name__)',
      ].join('\n').replace('PORT', String(port)),
    );
    // The seccomp filter refuses every socket; the empty network namespace is the second line.
    expect(result).toMatchObject({ status: 'ok', stdout: 'PermissionError\nPermissionError\n' });
    expect(connections).toBe(0);
  });

  it.each(['/evil', '/usr/evil', '/dev/evil', '/proc/evil'])('cannot write %s', async (path) => {
    const result = await run(`open(${JSON.stringify(path)}, "w").write("x")`);
    expect(result.status).toBe('error');
    expect(result.error).toMatch(/^(OSError|PermissionError|FileNotFoundError)/);
  });

  it('gives every snippet a fresh /tmp and /dev/shm', async () => {
    const wrote = await run('open("/tmp/left", "w").write("x")\nopen("/dev/shm/left", "w").write("x")\nimport os\nprint(os.getcwd())');
    expect(wrote).toMatchObject({ status: 'ok', stdout: '/tmp\n' });
    for (let i = 0; i < 2 * POOL_SIZE; i++) {
      const result = await run('import os\nprint(os.listdir("/tmp"), os.listdir("/dev/shm"))');
      expect(result).toMatchObject({ status: 'ok', stdout: '[] []\n' });
    }
  });

  it('runs every process of the sandbox inside its cgroup', async () => {
    const result = await run('import subprocess\nsubprocess.Popen(["sleep", "5"])\nimport time; time.sleep(0.5)', { timeoutMs: 3000 });
    expect(result.status).toBe('ok');
    const pids = sandboxProcesses(process.pid);
    expect(pids.length).toBeGreaterThanOrEqual(2 * POOL_SIZE); // bwrap, init, zygote, spare per sandbox
    for (const pid of pids) {
      const cgroups = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      expect(cgroups).toMatch(/:memory:.*\/cir-python-\d+-\d+\/sandbox-\d+$/m);
      expect(cgroups).toMatch(/:pids:.*\/cir-python-\d+-\d+\/sandbox-\d+$/m);
    }
  });

  it('has no terminals to open', async () => {
    const result = await run('import os\nprint(sorted(os.listdir("/dev")))\nos.openpty()');
    expect(result.stdout).toBe("['fd', 'full', 'null', 'random', 'shm', 'stderr', 'stdin', 'stdout', 'urandom', 'zero']\n");
    expect(result).toMatchObject({ status: 'error', error: 'FileNotFoundError: [Errno 2] No such file or directory' });
  });

  it('runs without capabilities and cannot create namespaces', async () => {
    const result = await run(
      [
        'import ctypes, re',
        'status = open("/proc/self/status").read()',
        'print(re.findall(r"Cap(?:Inh|Prm|Eff|Bnd|Amb):\\s+(\\w+)", status), re.search(r"NoNewPrivs:\\s+(\\d)", status)[1])',
        'libc = ctypes.CDLL(None, use_errno=True)',
        'for flag in (0x10000000, 0x00020000, 0x40000000):  # user, mount, net',
        '    print(libc.unshare(flag), ctypes.get_errno() != 0)',
      ].join('\n'),
    );
    expect(result.status).toBe('ok');
    expect(result.stdout).toBe(`${JSON.stringify(Array(5).fill('0000000000000000')).replaceAll('"', "'").replaceAll(',', ', ')} 1\n${'-1 True\n'.repeat(3)}`);
  });
});
