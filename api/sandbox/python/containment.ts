import { readFileSync } from 'node:fs';
import { openCgroups, type Cgroups } from './cgroup.ts';
import type { ResolvedOptions } from './options.ts';
import { denyFilter, SANDBOX_DENIED, seccompArchitecture, SNIPPET_DENIED } from './seccomp/policy.ts';
import type { Architecture } from './seccomp/syscalls.ts';

/** What contains a run on this host, as /v1/info shows it (README.md here explains each part). */
export type ContainmentReport = {
  /** Per-sandbox memory and pids cgroup, by cgroup version; null when the host offers none. */
  cgroup: 'v1' | 'v2' | null;
  /** Architecture of the seccomp filters; null when none is installed. */
  seccomp: Architecture | null;
  tmpfs: { size_mb: number; inodes: number };
  max_processes: number;
  /** What this host leaves uncontained, and why; empty when nothing is. */
  not_contained: string[];
};

export interface Containment {
  cgroups: Cgroups | null;
  /** Installed by bwrap on everything in the sandbox. */
  sandboxFilter: Buffer | null;
  /** Stacked on it by each snippet's process once it has isolated itself. */
  snippetFilter: Buffer | null;
  report: ContainmentReport;
}

/** Works out what this host offers; never throws. Dispose `cgroups` when done. */
export function setUpContainment(options: ResolvedOptions): Containment {
  const notContained: string[] = [];
  const cgroupSetup = options.cgroups ? openCgroups() : { available: false as const, reason: 'turned off (cgroups: false)' };
  if (!cgroupSetup.available) {
    notContained.push(
      `no cgroup (${cgroupSetup.reason}): memory is limited per process (RLIMIT_AS), so the processes of one run together can take up to max_processes × memory_mb, and the kernel memory of their page tables, pipes and open files is not counted`,
    );
  }
  const seccomp = seccompSupport();
  if ('reason' in seccomp) {
    notContained.push(
      `no seccomp filter (${seccomp.reason}): snippets can use io_uring, keyctl, ptrace, bpf, perf_event_open, userfaultfd, sockets, SysV shared memory and memfd_create${cgroupSetup.available ? '' : ', and shared memory is bounded by nothing'}`,
    );
  }
  const arch = 'arch' in seccomp ? seccomp.arch : null;
  const cgroups = cgroupSetup.available ? cgroupSetup.cgroups : null;
  return {
    cgroups,
    sandboxFilter: arch && denyFilter(arch, SANDBOX_DENIED),
    snippetFilter: arch && denyFilter(arch, SNIPPET_DENIED),
    report: {
      cgroup: cgroups ? `v${cgroups.version}` : null,
      seccomp: arch,
      tmpfs: { size_mb: options.tmpfsMb, inodes: options.tmpfsInodes },
      max_processes: options.maxProcesses,
      not_contained: notContained,
    },
  };
}

/** The filter architecture, or why there is none. */
function seccompSupport(): { arch: Architecture } | { reason: string } {
  const arch = seccompArchitecture();
  if (!arch) return { reason: `no system call table for ${process.arch}` };
  // The field exists when the kernel is built with CONFIG_SECCOMP.
  if (!/^Seccomp:/m.test(readFileSync('/proc/self/status', 'utf8'))) return { reason: 'this kernel has no seccomp support' };
  return { arch };
}
