/**
 * Numbers of the system calls the seccomp policy names, per architecture, from Linux's uapi
 * headers (x86_64: asm/unistd_64.h; aarch64: the generic asm-generic/unistd.h). A call an
 * architecture does not have is absent from its column.
 */
export const ARCHITECTURES = ['x86_64', 'aarch64'] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

type Numbers = { x86_64?: number; aarch64?: number };

export const SYSCALLS = {
  // Asynchronous I/O and kernel programming interfaces
  io_uring_setup: { x86_64: 425, aarch64: 425 },
  io_uring_enter: { x86_64: 426, aarch64: 426 },
  io_uring_register: { x86_64: 427, aarch64: 427 },
  io_setup: { x86_64: 206, aarch64: 0 },
  bpf: { x86_64: 321, aarch64: 280 },
  perf_event_open: { x86_64: 298, aarch64: 241 },
  userfaultfd: { x86_64: 323, aarch64: 282 },
  // Keys and notifications: quotas per host user, shared by every sandbox
  keyctl: { x86_64: 250, aarch64: 219 },
  add_key: { x86_64: 248, aarch64: 217 },
  request_key: { x86_64: 249, aarch64: 218 },
  inotify_init: { x86_64: 253 },
  inotify_init1: { x86_64: 294, aarch64: 26 },
  fanotify_init: { x86_64: 300, aarch64: 262 },
  // Memory that no tmpfs size bounds, and kernel buffers that no cgroup counts
  memfd_create: { x86_64: 319, aarch64: 279 },
  memfd_secret: { x86_64: 447, aarch64: 447 },
  shmget: { x86_64: 29, aarch64: 194 },
  shmat: { x86_64: 30, aarch64: 196 },
  shmctl: { x86_64: 31, aarch64: 195 },
  msgget: { x86_64: 68, aarch64: 186 },
  semget: { x86_64: 64, aarch64: 190 },
  mq_open: { x86_64: 240, aarch64: 180 },
  socket: { x86_64: 41, aarch64: 198 },
  socketpair: { x86_64: 53, aarch64: 199 },
  timer_create: { x86_64: 222, aarch64: 107 },
  // Other processes
  ptrace: { x86_64: 101, aarch64: 117 },
  process_vm_readv: { x86_64: 310, aarch64: 270 },
  process_vm_writev: { x86_64: 311, aarch64: 271 },
  process_madvise: { x86_64: 440, aarch64: 440 },
  pidfd_getfd: { x86_64: 438, aarch64: 438 },
  kcmp: { x86_64: 312, aarch64: 272 },
  // Mounts and namespaces
  mount: { x86_64: 165, aarch64: 40 },
  umount2: { x86_64: 166, aarch64: 39 },
  unshare: { x86_64: 272, aarch64: 97 },
  setns: { x86_64: 308, aarch64: 268 },
  pivot_root: { x86_64: 155, aarch64: 41 },
  chroot: { x86_64: 161, aarch64: 51 },
  open_tree: { x86_64: 428, aarch64: 428 },
  move_mount: { x86_64: 429, aarch64: 429 },
  fsopen: { x86_64: 430, aarch64: 430 },
  fsconfig: { x86_64: 431, aarch64: 431 },
  fsmount: { x86_64: 432, aarch64: 432 },
  fspick: { x86_64: 433, aarch64: 433 },
  mount_setattr: { x86_64: 442, aarch64: 442 },
  open_by_handle_at: { x86_64: 304, aarch64: 265 },
  name_to_handle_at: { x86_64: 303, aarch64: 264 },
  // System administration (refused to an unprivileged user anyway; denied before the kernel looks)
  kexec_load: { x86_64: 246, aarch64: 104 },
  kexec_file_load: { x86_64: 320, aarch64: 294 },
  init_module: { x86_64: 175, aarch64: 105 },
  finit_module: { x86_64: 313, aarch64: 273 },
  delete_module: { x86_64: 176, aarch64: 106 },
  reboot: { x86_64: 169, aarch64: 142 },
  swapon: { x86_64: 167, aarch64: 224 },
  swapoff: { x86_64: 168, aarch64: 225 },
  acct: { x86_64: 163, aarch64: 89 },
  quotactl: { x86_64: 179, aarch64: 60 },
  quotactl_fd: { x86_64: 443, aarch64: 443 },
  syslog: { x86_64: 103, aarch64: 116 },
  vhangup: { x86_64: 153, aarch64: 58 },
  settimeofday: { x86_64: 164, aarch64: 170 },
  clock_settime: { x86_64: 227, aarch64: 112 },
  clock_adjtime: { x86_64: 305, aarch64: 266 },
  adjtimex: { x86_64: 159, aarch64: 171 },
  sethostname: { x86_64: 170, aarch64: 161 },
  setdomainname: { x86_64: 171, aarch64: 162 },
  lookup_dcookie: { x86_64: 212, aarch64: 18 },
  iopl: { x86_64: 172 },
  ioperm: { x86_64: 173 },
  modify_ldt: { x86_64: 154 },
  uselib: { x86_64: 134 },
} as const satisfies Record<string, Numbers>;

export type SyscallName = keyof typeof SYSCALLS;

/** The numbers of `names` on `arch`, leaving out calls it does not have. */
export function syscallNumbers(names: readonly SyscallName[], arch: Architecture): number[] {
  return names.flatMap((name) => {
    const nr = (SYSCALLS[name] as Numbers)[arch];
    return nr === undefined ? [] : [nr];
  });
}
