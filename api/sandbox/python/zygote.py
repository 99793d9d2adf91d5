"""
In-sandbox zygote of the python-bwrap executor (see README.md beside this file).

Runs as the command of a bubblewrap sandbox and never runs snippet code itself. It keeps one
"spare": a forked child that has already isolated itself further (its own user, mount and
IPC namespaces, fresh /tmp and /dev/shm, no capabilities, a second seccomp filter) and waits
for a request. A request goes to the spare, which applies the request's rlimits and runs the
snippet as `python3 -c` would; the zygote relays its output, kills whatever it left behind,
reports, and forks the next spare. Every snippet thus starts from the same pristine
interpreter image, and the isolation work is done before its request arrives.

Wire protocol on the zygote's fd 0 and fd 1 as the host gives them:
  host -> zygote: u32be length + JSON {code, stdin, limits}   (forwarded to the spare as is)
  zygote -> host: u8 kind + u32be length + payload, where kind is
    R  ready, JSON {python, modules: {name: importable}, preloaded: the preloaded modules that
       imported and the top-level packages outside the standard library they brought in, image_bytes: the zygote's private writable
       memory, which is what a forked child can copy on write beyond its own allocations}
    O  a chunk of the snippet's stdout        E  a chunk of its stderr
    D  done: i32be exit code (-1 if killed), i32be signal (0 if none), u32be child pid, then
       what was written to the child's report pipe: JSON lines {pid, kind: ok|error|memory,
       error} (the line with the child's pid is its own report; a snippet can write others)
Anything the zygote itself prints goes to fd 2, which the host keeps as diagnostics.

Performance note: in a forked child every first write to a page is a copy-on-write fault,
which costs 15-50 us on the VMs this was measured on, so the per-request paths below are
kept short and the spare rehearses the request path before it is needed.
"""
import atexit
import builtins
import ctypes
import fcntl
import gc
import importlib.util
import json
import linecache
import os
import random
import resource
import select
import signal
import struct
import sys
import traceback
import types

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
MS_NOSUID = 0x2
MS_NODEV = 0x4
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522
MIB = 1024 * 1024
CHUNK = 64 * 1024
MAX_FD = os.sysconf("SC_OPEN_MAX")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
# Report bytes kept; more can only come from a snippet writing to the report pipe itself.
MAX_REPORT_BYTES = 64 * 1024
# Longer exception lines are cut in the report (the traceback in stderr keeps them whole).
MAX_ERROR_CHARS = 4000
SNIPPET_FILENAME = "<string>"  # what `python3 -c` calls the code, so tracebacks read the same
SPARE_READY = b"."
# Settings from the host (bwrap.ts): size and inodes of each snippet's /tmp and /dev/shm, modules
# to preload, and the seccomp filter a snippet runs under (sock_filter array, hex; empty for none).
TMPFS_MB = int(sys.argv[2])
TMPFS_INODES = int(sys.argv[3])
PRELOAD_MODULES = [name for name in sys.argv[4].split(",") if name]
SNIPPET_FILTER = bytes.fromhex(sys.argv[5])
STDIN_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
# The out-of-memory killer of the sandbox's cgroup takes snippet processes first, the zygote last.
OOM_SCORE_ADJ = "1000"

libc = ctypes.CDLL(None, use_errno=True)
with open("/proc/sys/kernel/cap_last_cap") as f:
    LAST_CAP = int(f.read())

# Handed back to the allocator when a snippet hits MemoryError, so the traceback can be formatted.
emergency_reserve = bytearray(MIB)


def check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_exact(fd, n):
    """n bytes from fd, or None on EOF before the first byte."""
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, n - got)
        if not chunk:
            if got == 0:
                return None
            raise EOFError("message cut short")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_message(fd):
    """One u32be-length-prefixed message (prefix included), or None on EOF."""
    header = read_exact(fd, 4)
    if header is None:
        return None
    return header + read_exact(fd, struct.unpack(">I", header)[0])


# ---------------------------------------------------------------- zygote side


class Channel:
    """The host connection, moved off fds 0 and 1; children close it first thing."""

    def __init__(self):
        self.requests = os.dup(0)
        self.frames = os.dup(1)
        devnull = os.open("/dev/null", os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(2, 1)  # stray prints from the zygote become host-side diagnostics

    def send(self, kind, payload):
        write_all(self.frames, struct.pack(">cI", kind, len(payload)) + payload)


class Spare:
    """A forked child's pipes, as seen from whichever side of the fork this process is on."""

    def __init__(self, keep_in_child):
        self.request_r, self.request_w = os.pipe()
        self.stdout_r, self.stdout_w = os.pipe()
        self.stderr_r, self.stderr_w = os.pipe()
        self.report_r, self.report_w = os.pipe()
        self.pid = os.fork()
        self.is_child = self.pid == 0
        child_ends = (self.request_r, self.stdout_w, self.stderr_w, self.report_w)
        zygote_ends = (self.request_w, self.stdout_r, self.stderr_r, self.report_r)
        for fd in zygote_ends if self.is_child else child_ends:
            os.close(fd)
        if self.is_child:
            close_fds_except(child_ends + keep_in_child)  # the host channel goes


def close_fds_except(keep):
    low = 3
    for fd in sorted(keep):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, MAX_FD)


def await_spare(spare):
    """Waits until the spare has isolated itself; exits the zygote if it could not."""
    if os.read(spare.report_r, 1) != SPARE_READY:
        os.waitpid(spare.pid, 0)
        sys.exit("python sandbox: a child failed to isolate itself (see above)")


def sweep_descendants():
    """Kills every process a snippet left behind and reaps them all.

    kill(-1) reaches every process of this PID namespace except init and the zygote itself,
    which are exactly the snippet's processes; as a child subreaper the zygote inherits the
    orphans, so once waitpid reports no children none of them is left."""
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def supervise(channel, poll, spare):
    """Relays the child's output until it has exited and every copy of its pipes is closed;
    returns the payload of its D frame."""
    pidfd = os.pidfd_open(spare.pid)
    streams = {spare.stdout_r: b"O", spare.stderr_r: b"E", spare.report_r: None}
    for fd in (*streams, pidfd):
        poll.register(fd, select.EPOLLIN)
    report = bytearray()
    status = None
    while streams or status is None:
        for fd, _ in poll.poll():
            if fd == pidfd:
                _, status = os.waitpid(spare.pid, 0)
                sweep_descendants()  # after this every pipe reaches EOF
                poll.unregister(pidfd)
                os.close(pidfd)
                continue
            data = os.read(fd, CHUNK)
            kind = streams[fd]
            if not data:
                poll.unregister(fd)
                os.close(fd)
                del streams[fd]
            elif kind is None:
                report += data[: MAX_REPORT_BYTES - len(report)]
            else:
                channel.send(kind, data)
    exit_code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    term_signal = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
    return struct.pack(">iiI", exit_code, term_signal, spare.pid) + report


RLIMITS = [getattr(resource, name) for name in dir(resource) if name.startswith("RLIMIT_")]


def inheritable_state():
    """What a snippet's processes can change in the zygote from outside, as the same host user
    (prlimit, setpriority, sched_setaffinity, sched_setscheduler): every later spare would
    inherit it."""
    return (
        [resource.getrlimit(limit) for limit in RLIMITS],
        os.getpriority(os.PRIO_PROCESS, 0),
        os.sched_getscheduler(0),
        os.sched_getparam(0),
        os.sched_getaffinity(0),
    )


def serve_forever(channel, ready_info):
    """Serves requests one at a time. Returns only in a forked child: the spare it must be."""
    poll = select.epoll()
    pristine = inheritable_state()
    while True:
        spare = Spare(keep_in_child=(poll.fileno(),))
        if spare.is_child:
            poll.close()  # closed by its object, which would otherwise close a reused number later
            return spare
        await_spare(spare)
        if ready_info is not None:
            channel.send(b"R", json.dumps(ready_info).encode())
            ready_info = None
        request = read_message(channel.requests)
        if request is None:
            sys.exit(0)  # the host closed the channel; the spare goes with the sandbox
        write_all(spare.request_w, request)
        os.close(spare.request_w)
        done = supervise(channel, poll, spare)
        if inheritable_state() != pristine:
            # Without a D frame the host counts the run as the sandbox dying, and replaces it.
            sys.exit("python sandbox: a snippet changed the zygote's limits or scheduling; retiring this sandbox")
        channel.send(b"D", done)


# ----------------------------------------------------------------- child side


def mount_tmpfs(path):
    options = f"size={TMPFS_MB}m,nr_inodes={TMPFS_INODES},mode=1777".encode()
    check(libc.mount(b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options), f"mount {path}")


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capabilities():
    for cap in range(LAST_CAP + 1):
        check(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "drop bounding capability")
    check(libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient capabilities")
    check(libc.capset(ctypes.byref(CapHeader(LINUX_CAPABILITY_VERSION_3, 0)), (CapData * 2)()), "capset")
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def write_file(path, text):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def install_snippet_filter():
    """Stacks the snippet's seccomp filter on the sandbox's (no_new_privs is already set)."""
    if not SNIPPET_FILTER:
        return
    program = ctypes.create_string_buffer(SNIPPET_FILTER, len(SNIPPET_FILTER))
    fprog = SockFprog(len(SNIPPET_FILTER) // 8, ctypes.cast(program, ctypes.c_void_p))
    check(libc.prctl(PR_SET_SECCOMP, ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(fprog), 0, 0), "seccomp")


def isolate():
    """Gives this child user, mount and IPC namespaces of its own, a fresh /tmp and /dev/shm,
    then takes away every capability, every way to make more namespaces or mounts, and
    memfd_create; returns the memfd that will hold its stdin."""
    uid, gid = os.getuid(), os.getgid()
    # A session and process group of its own: its own scheduler autogroup (whose niceness a
    # snippet may raise), and kill(0) or setpriority(PRIO_PGRP, 0) reach only its processes.
    os.setsid()
    # The new user namespace grants the capabilities the mounts below need (dropped after),
    # and comes with its own keyrings, so nothing a snippet keeps there outlives it.
    check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWIPC), "unshare")
    write_file("/proc/self/setgroups", "deny")
    write_file("/proc/self/uid_map", f"{uid} {uid} 1")
    write_file("/proc/self/gid_map", f"{gid} {gid} 1")
    mount_tmpfs("/tmp")
    mount_tmpfs("/dev/shm")
    # Without capabilities the only way to new namespaces is a new user namespace: forbid it.
    write_file("/proc/sys/user/max_user_namespaces", "0")
    write_file("/proc/self/oom_score_adj", OOM_SCORE_ADJ)
    stdin_fd = os.memfd_create("stdin", os.MFD_ALLOW_SEALING)
    drop_capabilities()
    install_snippet_filter()
    os.chdir("/tmp")
    return stdin_fd


def address_space_bytes():
    fd = os.open("/proc/self/statm", os.O_RDONLY)
    try:
        return int(os.read(fd, 256).split()[0]) * PAGE_SIZE
    finally:
        os.close(fd)


def apply_limits(limits, base_bytes):
    cpu_seconds = -(-limits["timeoutMs"] // 1000) + 1  # a backstop: the host enforces the wall clock
    for limit, value in (
        (resource.RLIMIT_AS, base_bytes + limits["memoryMb"] * MIB),  # the snippet's own budget
        (resource.RLIMIT_NPROC, limits["maxProcesses"]),  # threads count too
        (resource.RLIMIT_NOFILE, limits["maxOpenFiles"]),
        (resource.RLIMIT_FSIZE, TMPFS_MB * MIB),  # one file may fill /tmp, no more
        (resource.RLIMIT_CORE, 0),  # a core dump could reach a host-side core_pattern helper
    ):
        resource.setrlimit(limit, (value, value))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))


REHEARSAL = json.dumps({"code": "x = [i * i for i in range(3)]\nx.append(str(x))", "stdin": "", "limits": {}})


def rehearse():
    """Runs the request path once on a dummy request, taking its page faults while waiting."""
    request = json.loads(REHEARSAL)
    exec(compile(request["code"], SNIPPET_FILENAME, "exec"), {"__builtins__": builtins})
    report_line(0, "ok", None)


def fresh_main_module():
    """A new `__main__`, set up the way `python3 -c` leaves it."""
    main = types.ModuleType("__main__")
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    sys.argv = ["-c"]
    sys.path.insert(0, "")  # the working directory: a fresh /tmp
    # Line-buffered, so a snippet killed on timeout still shows what it printed.
    sys.stdout.reconfigure(line_buffering=True)
    # `random` reseeds itself after a fork; numpy's global generator and the module-level
    # generators of preloaded packages (sympy's) would otherwise repeat in every snippet.
    if "numpy.random" in sys.modules:
        sys.modules["numpy.random"].seed()
    for generator in PRELOADED_GENERATORS:
        generator.seed()
    return main


def receive_request(spare, stdin_fd):
    """Blocks until the zygote hands over a request; then puts stdin (sealed: it can neither
    change nor grow) and the pipes on fds 0-2."""
    message = read_message(spare.request_r)
    if message is None:
        os._exit(0)  # the zygote is gone
    os.close(spare.request_r)
    request = json.loads(message[4:])
    write_all(stdin_fd, request["stdin"].encode())
    fcntl.fcntl(stdin_fd, fcntl.F_ADD_SEALS, STDIN_SEALS)
    os.lseek(stdin_fd, 0, os.SEEK_SET)
    for fd, target in ((stdin_fd, 0), (spare.stdout_w, 1), (spare.stderr_w, 2)):
        os.dup2(fd, target)
        os.close(fd)
    return request


def report_line(pid, kind, error):
    return json.dumps({"pid": pid, "kind": kind, "error": error}).encode() + b"\n"


def final_line(exc):
    """The exception line a model should read: `Type: message` (SyntaxError's own last line)."""
    lines = traceback.format_exception_only(type(exc), exc)
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, (list, tuple)) and len(lines) > len(notes):
        lines = lines[: len(lines) - len(notes)]
    line = lines[-1].rstrip("\n")
    return line if len(line) <= MAX_ERROR_CHARS else f"{line[:MAX_ERROR_CHARS]}... [{len(line) - MAX_ERROR_CHARS} more characters]"


def exit_status(exc):
    """What the interpreter exits with on this SystemExit (after printing a non-int code)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    print(exc.code, file=sys.stderr)
    return 1


def shut_down(status):
    """Interpreter shutdown minus the module teardown, which in a forked child would only
    fault in a copy of most of the heap."""
    threading = sys.modules.get("threading")
    if threading is not None:
        threading._shutdown()  # joins non-daemon threads, as Py_Finalize does
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed or broken stream loses its tail, as in CPython
            pass
    os._exit(status)


def run_snippet(spare):
    """Prepares this spare, then runs its request like `python3 -c` and exits."""
    global emergency_reserve
    try:
        stdin_fd = isolate()
    except BaseException:
        traceback.print_exc()  # fd 2 is still the zygote's: host diagnostics
        os._exit(70)
    rehearse()
    main = fresh_main_module()
    base_bytes = address_space_bytes()
    write_all(spare.report_w, SPARE_READY)

    request = receive_request(spare, stdin_fd)
    apply_limits(request["limits"], base_bytes)
    code = request["code"]
    linecache.cache[SNIPPET_FILENAME] = (len(code), None, code.splitlines(True), SNIPPET_FILENAME)

    def finish(kind, error, status):
        write_all(spare.report_w, report_line(os.getpid(), kind, error))
        shut_down(status)

    try:
        exec(compile(code, SNIPPET_FILENAME, "exec"), main.__dict__)
    except SystemExit as exc:
        status = exit_status(exc)
        finish("ok" if status == 0 else "error", None if status == 0 else f"SystemExit: {exc.code}", status)
    except BaseException as exc:  # noqa: BLE001 - whatever the snippet raises is its result
        kind = "error"
        if isinstance(exc, MemoryError):
            kind = "memory"
            # Free what the snippet holds so that formatting the traceback has memory to use.
            emergency_reserve = None
            main.__dict__.clear()
            traceback.clear_frames(exc.__traceback__)
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)  # without this frame
        finish(kind, final_line(exc), 1)
    finish("ok", None, 0)


def private_memory_bytes():
    """The zygote's private writable memory (data, heap, stack)."""
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return sum(int(fields[name].split()[0]) * 1024 for name in ("VmData", "VmStk"))


# Module-level random.Random instances of preloaded packages, reseeded in each snippet's process.
PRELOADED_GENERATORS = []


def preload():
    """Imports PRELOAD_MODULES (missing ones are skipped) and returns those it imported with the
    top-level packages outside the standard library they brought in; empty if none imported."""
    before = set(sys.modules)
    imported = set()
    for name in PRELOAD_MODULES:
        try:
            __import__(name)
            imported.add(name)
        except ImportError:
            pass
    added = set(sys.modules) - before
    for name in added:
        for value in list(vars(sys.modules[name]).values()):
            if type(value) is random.Random and value is not random._inst:
                PRELOADED_GENERATORS.append(value)
    # Importable packages only: extension modules also register helpers such as `cython_runtime`.
    packages = {
        name for name in added - sys.stdlib_module_names
        if "." not in name and not name.startswith("_") and getattr(sys.modules[name], "__spec__", None) is not None
    }
    return sorted(imported | packages)


def main():
    channel = Channel()
    check(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "subreaper")
    ready_info = {
        "python": sys.version.split()[0],
        "preloaded": preload(),
        "modules": {name: importlib.util.find_spec(name) is not None for name in ("sympy", "numpy")},
        "image_bytes": private_memory_bytes(),
    }
    # What exists now is never collected, so a child's GC passes leave those pages alone
    # instead of faulting in a copy of the whole heap.
    gc.freeze()
    return serve_forever(channel, ready_info)


run_snippet(main())
