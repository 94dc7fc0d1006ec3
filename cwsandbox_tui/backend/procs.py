"""The host's process table as the backend needs it: trees, freezing, markers.

A sandbox's processes are found by ancestry, never by name: under bubblewrap the process the
backend started is bubblewrap's launcher, its one child is bubblewrap's init (pid 1 of the
sandbox's pid namespace, which inherits every orphan of the sandbox), and everything below
that is the workload. Pausing stops the workload only, so bubblewrap stays able to act on
the backend's death (its parent-death signal) and to reap.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    state: str  # the one-letter state of /proc/<pid>/stat: R, S, D, T, t, Z, ...
    start: int = 0  # its start time, in clock ticks since boot: a pid reused is another one


def table() -> dict[int, Proc]:
    """Every process visible in /proc now."""
    procs: dict[int, Proc] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        procs[pid] = Proc(pid, int(fields[1]), fields[0].decode(), int(fields[19]))
    return procs


def children(procs: dict[int, Proc]) -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for proc in procs.values():
        kids.setdefault(proc.ppid, []).append(proc.pid)
    return kids


def descendants(procs: dict[int, Proc], root: int) -> list[int]:
    """Every process below `root` (not `root` itself)."""
    kids = children(procs)
    found: list[int] = []
    pending = list(kids.get(root, ()))
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(kids.get(pid, ()))
    return found


def workload(procs: dict[int, Proc], launcher: int, isolated: bool) -> list[int]:
    """The processes of a sandbox (or exec) whose first process is `launcher`.

    Under bubblewrap: everything below bubblewrap's init, the launcher's one child.
    Unisolated: the launcher itself (it became the workload) and everything below it.
    """
    if launcher not in procs:
        return []
    if not isolated:
        return [launcher, *descendants(procs, launcher)]
    kids = children(procs)
    found: list[int] = []
    for init in kids.get(launcher, ()):
        found.extend(descendants(procs, init))
    return found


def child_pids(pid: int) -> list[int]:
    """The children of one process, read from its own /proc entry (no full scan)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.scandir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"{task.path}/children", "rb") as kids:
                found.extend(int(k) for k in kids.read().split())
    return found


def subtree(root: int, at_most: int = 0) -> list[int]:
    """The processes below `root` (not `root` itself), read from each one's list of children:
    it costs the size of the tree, not of the host's process table. With `at_most`, the
    walk stops once it found that many."""
    found: list[int] = []
    pending = child_pids(root)
    while pending and not (at_most and len(found) >= at_most):
        pid = pending.pop()
        found.append(pid)
        pending.extend(child_pids(pid))
    return found


def _executable(pid: int) -> tuple[int, int, bytes] | None:
    """What a process runs: its program and its command line (a workload may run the same
    program as the process it was forked from: the interpreter of an exec's joiner)."""
    try:
        found = os.stat(f"/proc/{pid}/exe")
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return (found.st_dev, found.st_ino, cmdline.read())
    except OSError:
        return None


def has_workload(launcher: int, isolated: bool) -> bool:
    """Whether the workload of `launcher` has started its own program (cheap to poll).

    Under bubblewrap, a child of bubblewrap's init that still runs bubblewrap's program is
    not the workload yet: a signal meant for the workload would find it without handlers.
    """
    if not isolated:
        return os.path.exists(f"/proc/{launcher}")
    for init in child_pids(launcher):
        keeper = _executable(init)
        for pid in child_pids(init):
            program = _executable(pid)
            if program is None or program != keeper:  # unreadable: it cannot be told apart
                return True
    return False


def _alive(proc: Proc | None) -> bool:
    return proc is not None and proc.state not in ("Z", "X")


def send(pids: list[int], sig: signal.Signals) -> int:
    """Signal each pid; how many were signalled."""
    sent = 0
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
            sent += 1
    return sent


_STOP_BIT = 1 << (signal.SIGSTOP - 1)


def stop_pending(pid: int) -> bool:
    """Whether a SIGSTOP waits to be acted on by `pid`, which then runs no more code of its
    own: a process waits in the kernel (state D) for its vfork child, stopped before its
    exec, until that child goes on, so it cannot act on the signal before the thaw."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            lines = status.read().splitlines()
    except OSError:
        return False
    for line in lines:
        if line.startswith((b"ShdPnd:", b"SigPnd:")) and int(line.split()[1], 16) & _STOP_BIT:
            return True
    return False


def freeze(launchers: list[int], isolated: bool, timeout: float = 2.0) -> bool:
    """SIGSTOP every workload process of `launchers` until none is left running.

    A process not yet stopped may fork; its child is found on the next pass. True once a
    pass finds every workload process stopped, or bound to stop before it runs again.
    """
    deadline = time.monotonic() + timeout
    while True:
        procs = table()
        pids = [pid for launcher in launchers for pid in workload(procs, launcher, isolated)]
        running = [pid for pid in pids if _alive(procs.get(pid))
                   and procs[pid].state not in ("T", "t") and not stop_pending(pid)]
        if not running:
            return True
        if time.monotonic() > deadline:
            return False
        send(running, signal.SIGSTOP)
        time.sleep(0.002)


def thaw(launchers: list[int], isolated: bool) -> None:
    procs = table()
    send([pid for launcher in launchers for pid in workload(procs, launcher, isolated)],
         signal.SIGCONT)


def marked(name: str, value: str) -> list[int]:
    """Processes whose initial environment holds `name=value` (those this user may read)."""
    return [pid for pid, found in marked_values(name, value).items() if found == value]


def marked_values(name: str, prefix: str) -> dict[int, str]:
    """Processes whose initial environment sets `name` to a value starting with `prefix`."""
    wanted = f"{name}={prefix}".encode()
    found: dict[int, str] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as env:
                variables = env.read().split(b"\0")
        except OSError:
            continue
        for variable in variables:
            if variable.startswith(wanted):
                found[int(entry.name)] = variable.split(b"=", 1)[1].decode(errors="replace")
    return found


def kill_marked(name: str, value: str, timeout: float = 5.0) -> int:
    """SIGKILL every process marked `name=value` and wait (bounded) until they are gone."""
    me = os.getpid()
    deadline = time.monotonic() + timeout
    killed: set[int] = set()
    while True:
        procs = table()
        pids = [pid for pid in marked(name, value) if pid != me and _alive(procs.get(pid))]
        if not pids or time.monotonic() > deadline:
            return len(killed)
        send(pids, signal.SIGKILL)
        killed.update(pids)
        time.sleep(0.01)
