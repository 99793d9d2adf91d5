import { mkdtemp, rm } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNodeServer, type RunningServer } from '../../api/node.ts';
import { SYSCALLS, type SyscallName } from '../../api/sandbox/python/seccomp/syscalls.ts';

/**
 * Attacks on the Python sandbox through the real server, as a caller of /v1/execute would make
 * them: each must end with a clear verdict, leave the next run working, keep /healthz answering,
 * and keep the host's memory: every attack below succeeds on a sandbox without the containment
 * it names (a cgroup, the seccomp filter, tmpfs inode caps, a /dev without terminals).
 */

const POOL = 2;
const MIB = 1024 * 1024;
/** /healthz must answer within this throughout (a stalled event loop takes seconds, a healthy one milliseconds). */
const HEALTHZ_BOUND_MS = 2000;
/** All sandboxes together, idle charge and page cache included; the attacks below try for 900 MiB and more. */
const HOST_MEMORY_BOUND = 512 * MIB;

const arch = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
/** A raw system call from the snippet, printing its return value and errno. */
const syscall = (name: SyscallName, args: string) =>
  `import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.syscall(${SYSCALLS[name][arch as 'x86_64']}, ${args}), ctypes.get_errno())`;

interface Attack {
  name: string;
  contained_by: string;
  code: string;
  memory_mb?: number;
  expect: { status: string; error?: RegExp; stdout?: string };
}

const ATTACKS: Attack[] = [
  {
    name: 'memfd growth past memory_mb (8 x 60 MiB)',
    contained_by: 'seccomp (memfd_create), cgroup',
    code: 'import os\nfds = []\nfor i in range(8):\n    fd = os.memfd_create("x")\n    os.write(fd, b"x" * (60 << 20))\n    fds.append(fd)\nprint("took 480 MiB")',
    memory_mb: 64,
    expect: { status: 'error', error: /^PermissionError: \[Errno 1\] Operation not permitted/ },
  },
  {
    name: 'shared memory (/dev/shm) and /tmp files past memory_mb (2 x 48 MiB)',
    contained_by: 'cgroup (tmpfs pages are charged to the run)',
    // Written 1 MiB at a time: the process itself stays small, the files grow.
    code: 'chunk = b"x" * (1 << 20)\nfor path in ("/dev/shm/a", "/tmp/b"):\n    with open(path, "wb") as f:\n        for _ in range(48):\n            f.write(chunk)\nprint("took 96 MiB")',
    memory_mb: 32,
    expect: { status: 'memory', error: /^memory limit exceeded: .*memory_mb \(32 MiB\)/ },
  },
  {
    name: 'SysV shared memory segment of 1 GiB',
    contained_by: 'seccomp (shmget)',
    code: syscall('shmget', '0, 1 << 30, 0o1600'),
    expect: { status: 'ok', stdout: '-1 1\n' },
  },
  {
    name: 'tmpfs inode flood (100k files)',
    contained_by: 'tmpfs nr_inodes',
    code: 'for i in range(100_000):\n    open(f"/tmp/{i}", "w").close()\nprint("made 100k files")',
    expect: { status: 'error', error: /^OSError: \[Errno 28\] No space left on device/ },
  },
  {
    name: 'fork bomb',
    contained_by: 'pids cgroup, RLIMIT_NPROC',
    code: 'import os\nwhile True:\n    os.fork()',
    expect: { status: 'error', error: /^BlockingIOError: .*Resource temporarily unavailable/ },
  },
  {
    name: 'processes x memory_mb (15 forks x 60 MiB)',
    contained_by: 'cgroup (counts every process of the run)',
    code: 'import os, time\nkids = []\nfor i in range(15):\n    pid = os.fork()\n    if pid == 0:\n        x = b"x" * (60 << 20)\n        time.sleep(1)\n        os._exit(0)\n    kids.append(pid)\nfor pid in kids:\n    os.waitpid(pid, 0)\nprint("took 900 MiB")',
    memory_mb: 64,
    expect: { status: 'memory', error: /^memory limit exceeded/ },
  },
  {
    name: 'opening a pty',
    contained_by: '/dev without pts or ptmx',
    code: 'import os\nos.openpty()',
    expect: { status: 'error', error: /^FileNotFoundError/ },
  },
  {
    name: 'io_uring_setup',
    contained_by: 'seccomp',
    code: syscall('io_uring_setup', '8, ctypes.create_string_buffer(120)'),
    expect: { status: 'ok', stdout: '-1 1\n' },
  },
  {
    name: 'keyctl: filling the user key quota (add_key)',
    contained_by: 'seccomp',
    code: syscall('add_key', 'b"user", b"k", b"v", 1, -3'),
    expect: { status: 'ok', stdout: '-1 1\n' },
  },
  {
    name: 'ptrace (PTRACE_TRACEME)',
    contained_by: 'seccomp',
    code: syscall('ptrace', '0, 0, 0, 0'),
    expect: { status: 'ok', stdout: '-1 1\n' },
  },
  {
    name: "lowering the zygote's limits and priority for later runs",
    contained_by: 'zygote retires itself when changed',
    code: 'import os, resource\nresource.prlimit(2, resource.RLIMIT_NOFILE, (20, 20))\nos.setpriority(os.PRIO_PROCESS, 2, 19)\nprint("changed")',
    expect: { status: 'error', error: /change its limits/ },
  },
  {
    name: 'socket buffers (kernel memory no cgroup counts)',
    contained_by: 'seccomp (socket, socketpair)',
    code: 'import socket\nsocket.socketpair()',
    expect: { status: 'error', error: /^PermissionError: \[Errno 1\]/ },
  },
];

let dataDir: string;
let server: RunningServer;
let heartbeat: { stop(): Promise<number> };
const rows: string[][] = [];

async function execute(code: string, memory_mb?: number): Promise<any> {
  const res = await fetch(`${server.url}/v1/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ language: 'python', code, timeout_ms: 15_000, ...(memory_mb ? { memory_mb } : {}) }),
  });
  expect(res.status).toBe(200);
  return res.json();
}

/** Polls /healthz back to back; stop() gives the slowest answer in ms. */
function startHeartbeat(url: string): { stop(): Promise<number> } {
  let running = true;
  let slowest = 0;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      const res = await fetch(`${url}/healthz`);
      expect(res.status).toBe(200);
      slowest = Math.max(slowest, performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return slowest;
    },
  };
}

/** Peak memory of all of the server's sandboxes together, from their parent cgroup. */
function sandboxesPeakBytes(): number {
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [, controllers, path] = line.split(':');
    const v1 = controllers?.split(',').includes('memory');
    if (!v1 && !(controllers === '' && line.startsWith('0:'))) continue;
    const own = join(v1 ? '/sys/fs/cgroup/memory' : '/sys/fs/cgroup', path!);
    const parent = readdirSync(own).filter((entry) => entry.startsWith(`cir-python-${process.pid}-`));
    expect(parent).toHaveLength(1);
    return Number(readFileSync(join(own, parent[0]!, v1 ? 'memory.max_usage_in_bytes' : 'memory.peak'), 'utf8'));
  }
  throw new Error('no memory cgroup found for this process');
}

/** Live sandbox processes (bwrap and interpreters) below this process. */
function sandboxProcessCount(): number {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited while listing
    }
  }
  return [...parents.keys()].filter((pid) => {
    let p = parents.get(pid);
    while (p !== undefined && p > 1 && p !== process.pid) p = parents.get(p);
    if (p !== process.pid) return false;
    try {
      return ['bwrap', 'python3'].includes(readFileSync(`/proc/${pid}/comm`, 'utf8').trim());
    } catch {
      return false;
    }
  }).length;
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'cir-faults-'));
  server = await startNodeServer({
    PORT: '0',
    HOST: '127.0.0.1',
    CIR_DATA_DIR: dataDir,
    CIR_EXEC_CONCURRENCY: String(POOL),
    CIR_PYTHON_EXECUTOR: 'bwrap',
  });
  heartbeat = startHeartbeat(server.url);
}, 60_000);

afterAll(async () => {
  await heartbeat?.stop();
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
  if (rows.length > 0) {
    const header = ['attack', 'contained by', 'status', 'error / stdout', 'ms'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ');
    console.log(['python sandbox attacks', line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n'));
  }
});

describe('python sandbox under attack, through the real server', () => {
  it('reports in /v1/info that every containment is in place', async () => {
    const info = await (await fetch(`${server.url}/v1/info`)).json();
    expect(info.executors.python).toMatchObject({ executor: 'python-bwrap', containment: { cgroup: expect.stringMatching(/^v[12]$/), seccomp: arch } });
    expect(info.executors.python.containment.not_contained).toEqual([]);
    expect(info.executors.python.containment.preload).toMatchObject({ status: expect.stringMatching(/^(warming|ready)$/), sandboxes: POOL });
  });

  // Each attack runs in a plain sandbox, then (naming sympy) in one forked from the preloaded interpreter.
  const cases = ATTACKS.flatMap((attack) => [
    [attack.name, attack, ''] as const,
    [`${attack.name} [preloaded]`, attack, '\n# sympy is preloaded for this run'] as const,
  ]);

  it.each(cases)('contains %s; the next run works', async (name, attack, route) => {
    const started = performance.now();
    const result = await execute(attack.code + route, attack.memory_mb);
    const ms = performance.now() - started;
    rows.push([name, attack.contained_by, result.status, (result.error ?? result.stdout).trim().slice(0, 70), ms.toFixed(0)]);
    expect(result.status).toBe(attack.expect.status);
    if (attack.expect.error) expect(result.error).toMatch(attack.expect.error);
    if (attack.expect.stdout !== undefined) expect(result.stdout).toBe(attack.expect.stdout);
    // Every sandbox of the pool gets a turn after the attack.
    for (let i = 0; i < POOL; i++) expect(await execute(`print("next")${route}`)).toMatchObject({ status: 'ok', stdout: 'next\n' });
  });

  it('kept the host whole: memory, processes, and a responsive server', async () => {
    expect(sandboxesPeakBytes()).toBeLessThan(HOST_MEMORY_BOUND);
    // Per sandbox (POOL plain, POOL preloaded): bwrap, its init, the zygote and its spare.
    expect(sandboxProcessCount()).toBeLessThanOrEqual(2 * 4 * POOL);
    expect(await heartbeat.stop()).toBeLessThan(HEALTHZ_BOUND_MS);
  });
});
