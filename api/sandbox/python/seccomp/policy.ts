import { assemble, jeq, jge, label, load, ret, SECCOMP_DATA, SECCOMP_RET, type Instruction } from './bpf.ts';
import { syscallNumbers, type Architecture, type SyscallName } from './syscalls.ts';

/**
 * The seccomp policy of the Python sandbox: system calls a math snippet never needs fail with
 * EPERM (a plain PermissionError in Python); every other ABI (32-bit x86, x32) kills the
 * process, so a denied call cannot be reached under another number. Two filters, because the
 * zygote's children need a few calls to isolate themselves that a snippet must not have.
 */

/** Denied to everything in the sandbox from its first instruction: bwrap installs this filter. */
export const SANDBOX_DENIED: readonly SyscallName[] = [
  // kernel interfaces with a record of exploitable bugs, or global quotas (aio-max-nr)
  'io_uring_setup', 'io_uring_enter', 'io_uring_register', 'io_setup', 'bpf', 'perf_event_open', 'userfaultfd',
  // quotas per host user, shared by every sandbox and by the host's own `nobody` processes
  'keyctl', 'add_key', 'request_key', 'inotify_init', 'inotify_init1', 'fanotify_init', 'mq_open',
  // memory no tmpfs size bounds (SysV shared memory, secret memory), and socket buffers and
  // timers: kernel memory that no memory cgroup counts
  'memfd_secret', 'shmget', 'shmat', 'shmctl', 'msgget', 'semget', 'socket', 'socketpair', 'timer_create',
  // reaching into other processes
  'ptrace', 'process_vm_readv', 'process_vm_writev', 'process_madvise', 'pidfd_getfd', 'kcmp',
  // mounts and namespaces beyond what the zygote's children set up (see SNIPPET_DENIED)
  'umount2', 'setns', 'pivot_root', 'chroot', 'open_tree', 'move_mount', 'fsopen', 'fsconfig', 'fsmount', 'fspick',
  'mount_setattr', 'open_by_handle_at', 'name_to_handle_at',
  // administration of the machine
  'kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'reboot', 'swapon', 'swapoff',
  'acct', 'quotactl', 'quotactl_fd', 'syslog', 'vhangup', 'settimeofday', 'clock_settime', 'clock_adjtime', 'adjtimex',
  'sethostname', 'setdomainname', 'lookup_dcookie', 'iopl', 'ioperm', 'modify_ldt', 'uselib',
];

/**
 * Denied once a snippet's process has isolated itself (zygote.py installs this filter on top):
 * it used these to make its own namespaces, tmpfs mounts and stdin memfd.
 */
export const SNIPPET_DENIED: readonly SyscallName[] = ['mount', 'unshare', 'memfd_create'];

/** `AUDIT_ARCH_*` (linux/audit.h): what `seccomp_data.arch` holds for each ABI. */
const AUDIT_ARCH: Record<Architecture, number> = { x86_64: 0xc000_003e, aarch64: 0xc000_00b7 };
/** x32 system calls come in as AUDIT_ARCH_X86_64 with this bit set in the number. */
const X32_SYSCALL_BIT = 0x4000_0000;
const EPERM = 1;

/** The filter architecture for Node's `process.arch`, or null where the policy has no syscall table. */
export function seccompArchitecture(nodeArch: string = process.arch): Architecture | null {
  if (nodeArch === 'x64') return 'x86_64';
  if (nodeArch === 'arm64') return 'aarch64';
  return null;
}

/** A filter that kills other ABIs, fails `denied` with EPERM, and allows everything else. */
export function denyFilter(arch: Architecture, denied: readonly SyscallName[]): Buffer {
  const program: Instruction[] = [load(SECCOMP_DATA.arch), jeq(AUDIT_ARCH[arch], null, 'kill'), load(SECCOMP_DATA.nr)];
  if (arch === 'x86_64') program.push(jge(X32_SYSCALL_BIT, 'kill'));
  for (const nr of new Set(syscallNumbers(denied, arch))) program.push(jeq(nr, 'deny'));
  program.push(
    ret(SECCOMP_RET.ALLOW),
    label('deny'),
    ret(SECCOMP_RET.ERRNO | EPERM),
    label('kill'),
    ret(SECCOMP_RET.KILL_PROCESS),
  );
  return assemble(program);
}
