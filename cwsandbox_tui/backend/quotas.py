"""What one sandbox may use of the machine, and how each limit is held.

Four limits, each set per sandbox when it starts and kept in its record:

- processes: every process the sandbox starts runs with RLIMIT_NPROC at the limit. Under
  bubblewrap the kernel counts that limit per user namespace, and each launch (the sandbox's
  process, each exec) has its own, so a fork bomb is refused its forks whatever uid the
  sandboxes share on the host; the guard ends a sandbox whose processes reach the limit.
- memory: RLIMIT_DATA at the limit for each process (an allocation beyond it fails), and the
  guard ends a sandbox whose processes together hold more than the limit (each page shared
  among them counted once).
- disk: RLIMIT_FSIZE at the mount's size for each file, and the guard sums what the mount and
  the sandbox's /tmp hold (their allocated blocks) and ends a sandbox beyond the mount's size.
- log: the output log keeps the last `log_bytes` (logbook.py rotates it).

A sandbox the guard ends is FAILED with the reason. The guard reads /proc and walks the
sandbox's directories in a thread, never on the event loop; a walk costs at most a tenth of
the time between walks.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..formatting import human_size

MiB = 1 << 20
GiB = 1 << 30

DEFAULT_PROCESSES = 4096
DEFAULT_MEMORY = 8 * GiB
DEFAULT_LOG = 64 * MiB
GUARD_INTERVAL = 0.25  # seconds between looks at the sandboxes' processes
DISK_INTERVAL = GUARD_INTERVAL  # the least time between two walks of one sandbox's directories
DISK_WALK_SHARE = 10  # a walk is followed by at least this many times its own duration
PRLIMIT = shutil.which("prlimit", path="/usr/bin:/bin")


@dataclass(frozen=True)
class Quotas:
    """The backend's defaults (serve flags): what a sandbox gets unless it asks otherwise."""

    processes: int = DEFAULT_PROCESSES
    memory_bytes: int = DEFAULT_MEMORY
    log_bytes: int = DEFAULT_LOG

    def __post_init__(self) -> None:
        for name, least in (("processes", 8), ("memory_bytes", 16 * MiB),
                            ("log_bytes", 64 * 1024)):
            value = getattr(self, name)
            if value < least:
                shown = human_size if name.endswith("_bytes") else str
                raise ValueError(f"{name} must be at least {shown(least)}, not {shown(value)}")


@dataclass(frozen=True)
class Applied:
    """The limits one sandbox runs under (0: none for that kind)."""

    processes: int = 0
    memory_bytes: int = 0
    mount_bytes: int = 0
    log_bytes: int = 0

    def as_list(self) -> list[int]:
        return [self.processes, self.memory_bytes, self.mount_bytes, self.log_bytes]

    @classmethod
    def from_list(cls, values: list[int]) -> Applied:
        return cls(*values) if len(values) == 4 else cls()

    def __str__(self) -> str:
        parts = [f"{self.processes} processes" if self.processes else "",
                 f"memory {human_size(self.memory_bytes)}" if self.memory_bytes else "",
                 f"mount {human_size(self.mount_bytes)}" if self.mount_bytes else "",
                 f"log {human_size(self.log_bytes)}" if self.log_bytes else ""]
        return ", ".join(p for p in parts if p) or "none"


def apply_to(quotas: Quotas, memory_limit: int, memory_request: int, mount_bytes: int
             ) -> Applied:
    """What a sandbox that asked for these (0: not asked) runs under.

    A memory limit asked for is held as asked; without one the default holds, raised to the
    memory requested if that is more (a request is what the sandbox expects to use).
    """
    memory = memory_limit or max(quotas.memory_bytes, memory_request)
    return Applied(processes=quotas.processes, memory_bytes=memory, mount_bytes=mount_bytes,
                   log_bytes=quotas.log_bytes)


def rlimit_prefix(applied: Applied, isolated: bool) -> list[str]:
    """The command that starts a sandbox's program under the per-process limits.

    It runs inside the sandbox, after bubblewrap made its user namespace: that namespace's
    process count is what RLIMIT_NPROC then holds. Unisolated, RLIMIT_NPROC would count every
    process of the backend's user, so the guard alone holds processes there.
    """
    if PRLIMIT is None:
        return []
    args = [PRLIMIT]
    if applied.processes and isolated:
        args.append(f"--nproc={applied.processes}:{applied.processes}")
    if applied.memory_bytes:
        args.append(f"--data={applied.memory_bytes}:{applied.memory_bytes}")
    if applied.mount_bytes:
        args.append(f"--fsize={applied.mount_bytes}:{applied.mount_bytes}")
    return [*args, "--"] if len(args) > 1 else []


@dataclass(frozen=True)
class ResourceUse:
    tasks: int  # processes and their threads
    resident_bytes: int


_PAGE = os.sysconf("SC_PAGE_SIZE")


def usage_of(pids: Iterable[int]) -> ResourceUse:
    """Tasks and resident memory of these processes, from /proc/<pid>/stat."""
    tasks = resident = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as source:
                fields = source.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        # after the command: state is field 3, num_threads 20, rss (pages) 24
        tasks += int(fields[17])
        resident += int(fields[21]) * _PAGE
    return ResourceUse(tasks, resident)


@dataclass
class DiskWalk:
    """When one sandbox's directories were last walked, and what the walk cost."""

    next_due: float = 0.0

    def due(self, now: float) -> bool:
        return now >= self.next_due

    def walk(self, root: Path, limit: int) -> int:
        """Bytes allocated under `root` (links not followed); stops counting past `limit`."""
        total = 0
        pending = [str(root)]
        while pending and total <= limit:
            top = pending.pop()
            try:
                entries = os.scandir(top)
            except OSError:
                continue
            with entries:
                for entry in entries:
                    try:
                        found = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += found.st_blocks * 512
                    if stat.S_ISDIR(found.st_mode):
                        pending.append(entry.path)
        return total

    def done(self, began: float) -> None:
        took = time.monotonic() - began
        self.next_due = time.monotonic() + max(DISK_INTERVAL, took * DISK_WALK_SHARE)


def proportional_bytes(pids: Iterable[int]) -> int:
    """Memory these processes hold, each page shared between processes counted once among
    them (the proportional set size of /proc/<pid>/smaps_rollup; a forked child's pages
    shared with its parent count in full in both resident sizes)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as source:
                for line in source:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue  # it ended
    return total


def over_limit(applied: Applied, pids: list[int]) -> str:
    """Why a sandbox whose processes are `pids` must end ("" if it may go on); its disk is
    checked apart."""
    usage = usage_of(pids)
    if applied.processes and usage.tasks >= applied.processes:
        return f"processes reached the limit of {applied.processes}"
    # the resident sizes are cheap to read and never less than the proportional ones
    if applied.memory_bytes and usage.resident_bytes > applied.memory_bytes \
            and proportional_bytes(pids) > applied.memory_bytes:
        return f"memory exceeded {human_size(applied.memory_bytes)}"
    return ""


def disk_reason(applied: Applied, used: int, where: str) -> str:
    """Why a sandbox whose `where` (its mount, or /tmp) holds `used` bytes must end."""
    if applied.mount_bytes and used > applied.mount_bytes:
        return f"{where} exceeded {human_size(applied.mount_bytes)}"
    return ""
