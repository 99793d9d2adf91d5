import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openCgroups, type Cgroups } from './cgroup.ts';

describe('cgroups on this host', () => {
  // These machines run Node as root with writable cgroup v1 memory and pids hierarchies (DESIGN.md).
  const setup = openCgroups();
  const cgroups = setup.available ? setup.cgroups : null;
  afterAll(() => cgroups?.dispose());

  it('are available', () => {
    expect(setup).toMatchObject({ available: true });
  });

  it('hold a process with a pids limit, count its memory, and stop it at the memory limit', async () => {
    const cgroup = cgroups!.create(7);
    const pidsDir = cgroup.dirs.at(-1)!;
    expect(readFileSync(join(pidsDir, 'pids.max'), 'utf8').trim()).toBe('7');

    // A process that waits for a line, then takes 200 MiB.
    const child = spawn('/usr/bin/python3', ['-c', 'import sys; sys.stdin.readline(); x = b"x" * (200 << 20); print("survived")'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    await once(child, 'spawn');
    cgroup.enter(child.pid!);
    const membership = readFileSync(`/proc/${child.pid}/cgroup`, 'utf8');
    for (const dir of cgroup.dirs) expect(membership).toContain(dir.split('/').slice(-2).join('/'));
    expect(cgroup.oomKills()).toBe(0);

    // v1 leaves earlier charges where they were made, so the usage starts near zero on v1.
    cgroup.setMemoryLimit(cgroup.memoryUsage() + 64 * 1024 * 1024);
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stdin.end('go\n');
    const [code, signal] = await once(child, 'close');
    expect({ code, signal, stdout }).toEqual({ code: null, signal: 'SIGKILL', stdout: '' });
    expect(cgroup.oomKills()).toBe(1);
    expect(cgroup.memoryUsage()).toBeLessThan(64 * 1024 * 1024); // freed with the process (page cache may stay charged)

    await cgroup.remove();
    for (const dir of cgroup.dirs) expect(existsSync(dir)).toBe(false);
  });

  it('say why when they cannot be used', () => {
    const none = openCgroups({ mountinfo: '', cgroup: '0::/\n' });
    expect(none).toEqual({ available: false, reason: expect.stringMatching(/no memory and pids cgroup controllers are mounted/) });
  });
});

describe('cgroup v2 file protocol (on a directory standing in for cgroupfs)', () => {
  // No v2 host is at hand: this checks which files are written, not the kernel's answers.
  const root = mkdtempSync(join(tmpdir(), 'cir-cgroup2-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('delegates memory and pids below Node own cgroup, then limits and reads each sandbox', async () => {
    const own = join(root, 'system.slice', 'cir.service');
    mkdirSync(own, { recursive: true });
    writeFileSync(join(own, 'cgroup.controllers'), 'cpu io memory pids\n');
    writeFileSync(join(own, 'cgroup.subtree_control'), '\n');
    const setup = openCgroups({
      mountinfo: `30 1 0:26 / ${root} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n`,
      cgroup: '0::/system.slice/cir.service\n',
    });
    expect(setup).toMatchObject({ available: true, cgroups: { version: 2 } });
    const cgroups = (setup as { cgroups: Cgroups }).cgroups;
    expect(readFileSync(join(own, 'cgroup.subtree_control'), 'utf8')).toBe('+memory +pids');

    const cgroup = cgroups.create(19);
    expect(cgroup.dirs).toHaveLength(1);
    const [dir] = cgroup.dirs as [string];
    expect(dir.startsWith(join(own, `cir-python-${process.pid}-`))).toBe(true);
    expect(readFileSync(join(dir, '..', 'cgroup.subtree_control'), 'utf8')).toBe('+memory +pids');
    expect(readFileSync(join(dir, 'pids.max'), 'utf8')).toBe('19');
    cgroup.enter(4242);
    expect(readFileSync(join(dir, 'cgroup.procs'), 'utf8')).toBe('4242');
    cgroup.setMemoryLimit(123456789);
    expect(readFileSync(join(dir, 'memory.max'), 'utf8')).toBe('123456789');
    writeFileSync(join(dir, 'memory.current'), '5000\n');
    writeFileSync(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');
    expect([cgroup.memoryUsage(), cgroup.oomKills()]).toEqual([5000, 1]);
  });
});
