"""Execs in a running sandbox: a process that joins the sandbox's namespaces, as an exec on
the service runs in the sandbox's own container (its processes, its loopback, its files).

bubblewrap makes a sandbox's mount, pid, network, uts, ipc (and cgroup) namespaces in a user
namespace of its own, then, to forbid more user namespaces, runs the sandbox in a user
namespace nested in that one. A joiner, run by the backend's interpreter, enters them the
only order that works: the owning user namespace first (an unprivileged backend's uid owns
it; root may enter any), which gives the capabilities to join the others; the sandbox's root
directory; then the nested user namespace, where it becomes uid and gid 0 (the sandbox's own
host uid: the backend's, or nobody under a root backend, whose supplementary groups it
dropped before anything else). A pid namespace is only entered by a child, so it forks:

    joiner (the launcher; on the host's pid namespace, waits and relays the exit code)
      keeper (in the sandbox's pid namespace, as bubblewrap's init is: leads the exec's own
              session, waits and relays)
        the exec's program: no capabilities at all, no_new_privs

The shape is that of a bubblewrap launch (launcher, its one child, the workload below it),
so pausing, stopping and killing (procs.py) find an exec's processes the same way. Every
process keeps no capability before it runs a byte the sandbox controls: the joiner and the
keeper drop theirs once forked, the program's are gone when it executes (empty bounding and
inheritable sets, so executing as uid 0 gives it none).
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from pathlib import Path

from .isolation import BASE_PATH, Launch

# Run by the backend's interpreter with -I -S, its text taken from the environment (the
# sandbox sees the command lines of the joiner's processes in its pid namespace): argv[1]
# the sandbox's init, argv[2] the name of the variable whose value the joiner's and the
# init's environments share (the sandbox's marker: never another process that got its pid),
# argv[3] the working directory, argv[4] empty or a terminal's WIDTHxHEIGHT, argv[5] how many
# environment entries follow, then those KEY=VALUE entries, then the program's argv.
# Nothing is imported once the mount namespace changed. With a terminal, its stdin is a
# socket: the terminal is made in the sandbox's own /dev/pts (as a container's is, so `tty`
# names it and the sandbox's uid owns it), its master end is sent back there.
_JOINER = r"""
import ctypes, fcntl, os, sys  # nothing more than it needs: each import delays every exec
libc = ctypes.CDLL(None, use_errno=True)
NS_GET_USERNS, CLONE_NEWUSER = 0xB701, 0x10000000
KINDS = (("ipc", 0x08000000), ("uts", 0x04000000), ("net", 0x40000000),
         ("cgroup", 0x02000000), ("pid", 0x20000000), ("mnt", 0x00020000))
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 24, 38, 47

def fail(what, err=None):
    err = ctypes.get_errno() if err is None else err
    os.write(2, ("cwsandbox-tui: %s: %s\n" % (what, os.strerror(err))).encode())
    os._exit(1)

def call(result, what):
    if result != 0:
        fail(what)

init, name, cwd, tty, count = (int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4],
                               int(sys.argv[5]))
mark = "%s=%s" % (name, os.environ[name])
env = dict(item.split("=", 1) for item in sys.argv[6:6 + count])
argv = sys.argv[6 + count:]
if tty:
    import socket, struct
SIGKILL = 9
parent = os.getppid()
with open("/proc/sys/kernel/cap_last_cap") as last:
    last_cap = int(last.read())

def ns(pid, kind):
    return os.open("/proc/%s/ns/%s" % (pid, kind), os.O_RDONLY | os.O_CLOEXEC)

def same(a, b):
    return (os.fstat(a).st_ino, os.fstat(a).st_dev) == (os.fstat(b).st_ino, os.fstat(b).st_dev)

def drop_everything():
    call(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    for cap in range(last_cap + 1):
        call(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "dropping the bounding set")
    call(libc.prctl(PR_CAP_AMBIENT, 4, 0, 0, 0), "clearing the ambient set")
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    call(libc.capset(header, (ctypes.c_uint32 * 6)()), "dropping capabilities")

def retitle(name):
    # what `ps` in the sandbox shows of the keeper: its command line was the backend
    # interpreter's path on the host (and the exec's environment); argv's memory is its own
    with open("/proc/self/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48, 49)
    title = name[:end - start - 1]
    ctypes.memmove(start, title + b"\0" * (end - start - len(title)), end - start)

def relay(child):
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except ChildProcessError:
            os._exit(1)
        except InterruptedError:
            continue
    os._exit(128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))

target_user = ns(init, "user")
ours = {kind: ns("self", kind) for kind in ("user", *(kind for kind, _ in KINDS))}
theirs = {kind: ns(init, kind) for kind, _ in KINDS}
owner = fcntl.ioctl(theirs["net"], NS_GET_USERNS)
root = os.open("/proc/%d/root" % init, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
with open("/proc/%d/environ" % init, "rb") as environ:  # read after opening what it joins
    if mark.encode() not in environ.read().split(b"\0"):
        fail("the sandbox's init is gone", 3)
for kind in ("user", "mnt", "pid", "net", "uts", "ipc"):  # a sandbox has each of its own
    if same(ours[kind], target_user if kind == "user" else theirs[kind]):
        fail("the sandbox has no %s namespace of its own" % kind, 22)
if os.geteuid() == 0:  # a root backend: none of its groups may come along
    os.setgroups([])
if not same(owner, ours["user"]):
    call(libc.setns(owner, CLONE_NEWUSER), "entering the sandbox's user namespace")
for kind, flag in KINDS:
    if not same(ours[kind], theirs[kind]):
        call(libc.setns(theirs[kind], flag), "entering the sandbox's %s namespace" % kind)
os.fchdir(root)
os.chroot(".")
if not same(owner, target_user):
    call(libc.setns(target_user, CLONE_NEWUSER), "entering the sandbox's user namespace")
os.setresgid(0, 0, 0)
os.setresuid(0, 0, 0)
for fd in (target_user, owner, root, *ours.values(), *theirs.values()):
    os.close(fd)  # none of the host's namespaces stays open in the sandbox
if tty:
    width, height = (int(size) for size in tty.split("x"))
    try:  # the devpts mount itself: the sandbox may replace what its /dev holds, not that
        master = os.open("/dev/pts/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC | os.O_NOFOLLOW)
        if os.major(os.fstat(master).st_rdev) != 5 or os.minor(os.fstat(master).st_rdev) != 2:
            fail("the sandbox's /dev/pts/ptmx is not a terminal multiplexer", 19)
        fcntl.ioctl(master, 0x40045431, struct.pack("i", 0))  # TIOCSPTLCK: unlock
        slave = fcntl.ioctl(master, 0x5441, os.O_RDWR | os.O_NOCTTY)  # TIOCGPTPEER
    except OSError as exc:
        fail("making a terminal in the sandbox", exc.errno)
    fcntl.ioctl(master, 0x5414, struct.pack("HHHH", height, width, 0, 0))  # TIOCSWINSZ
    control = socket.socket(fileno=0)
    socket.send_fds(control, [b"\0"], [master])
    control.detach()
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.close(slave)
    os.close(master)
# set after the last change of credentials, which clears it
call(libc.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "parent-death signal")
if os.getppid() != parent:
    os._exit(1)
keeper = os.fork()
if keeper:
    drop_everything()
    relay(keeper)
call(libc.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "parent-death signal")
if os.getppid() != 0:  # the joiner died already: it is not in this pid namespace
    os._exit(1)
keeper = os.getpid()
retitle(b"cwsandbox-exec")
os.setsid()  # the exec's own session, led by the keeper, as bubblewrap's init leads one
program = os.fork()
if program:
    drop_everything()
    relay(program)
call(libc.prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0), "parent-death signal")
if os.getppid() != keeper:
    os._exit(1)
drop_everything()
try:
    os.chdir(cwd)
except OSError as exc:
    fail("cannot enter the working directory %s" % cwd, exc.errno)
# as execvp searches the PATH (os.execvpe would import more)
direct = "/" in argv[0]
denied = None
for directory in [""] if direct else env.get("PATH", "/bin:/usr/bin").split(":"):
    try:
        os.execve(argv[0] if direct else os.path.join(directory or ".", argv[0]), argv, env)
    except OSError as exc:
        if direct or exc.errno not in (2, 13, 20):  # ENOENT, EACCES, ENOTDIR: search on
            fail("execvp %s" % argv[0], exc.errno)
        denied = exc.errno if exc.errno == 13 else denied
fail("execvp %s" % argv[0], denied or 2)
"""

_JOINER_ENV = "CWSANDBOX_TUI_JOINER"
_RUN_JOINER = f"import os; exec(os.environ.pop({_JOINER_ENV!r}))"


def join_launch(init: int, shared: str, argv: list[str], env: dict[str, str], cwd: str,
                marker: dict[str, str], window: tuple[int, int] | None = None) -> Launch:
    """The command line that runs `argv` in the namespaces of the sandbox whose init
    (bubblewrap's, pid 1 of the sandbox) is `init`, with exactly the environment `env`, in
    `cwd` inside it. `marker` is the launcher's own environment (procs.kill_marked); the
    init's must hold the same value of its variable `shared`. With a `window` (width,
    height) it runs on a new terminal of the sandbox: see `receive_terminal`."""
    entries = [f"{key}={value}" for key, value in env.items()]
    tty = f"{window[0]}x{window[1]}" if window is not None else ""
    return Launch(argv=[sys.executable, "-I", "-S", "-c", _RUN_JOINER, str(init), shared,
                        cwd, tty, str(len(entries)), *entries, *argv],
                  cwd=Path("/"), env={"PATH": BASE_PATH, **marker, _JOINER_ENV: _JOINER})


def receive_terminal(control: socket.socket, timeout: float) -> int:
    """The master end of the terminal a joiner made (its stdin, stdout and stderr were the
    other end of `control`), or OSError with what the joiner said instead."""
    control.settimeout(timeout)
    said = b""
    try:
        while True:
            data, fds, _, _ = socket.recv_fds(control, 4096, 1)
            if fds:
                os.set_inheritable(fds[0], False)
                return fds[0]
            if not data:
                break
            said += data
    except TimeoutError:
        said += b"no terminal within %d s" % timeout
    message = said.decode(errors="replace").strip().removeprefix("cwsandbox-tui: ")
    raise OSError(errno.EIO, message or "the terminal could not be made")
