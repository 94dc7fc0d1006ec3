"""Sandboxes as real local processes: boot, pause, resume, stop, lifetime, exec, output."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import states
from .isolation import Isolation, Launch, Layout
from .logbook import LogBook
from .store import SandboxRow, Store

log = logging.getLogger("cwsandbox_tui.backend")

@dataclass
class LiveSandbox:
    """A sandbox this backend process is running, beside its durable row."""

    row: SandboxRow
    layout: Layout
    logbook: LogBook
    process: asyncio.subprocess.Process | None = None
    execs: set[asyncio.subprocess.Process] = field(default_factory=set)
    archives: set[asyncio.Task[None]] = field(default_factory=set)  # snapshots being made
    booted: asyncio.Event = field(default_factory=asyncio.Event)
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    stop_reason: str = ""
    lost: bool = False  # killed because the backend itself is going away
    stop_task: asyncio.Task[None] | None = None
    lifetime: asyncio.TimerHandle | None = None


class Runtime:
    """Runs sandbox processes and keeps their rows in the store up to date."""

    def __init__(self, store: Store, isolation: Isolation, root: Path, hidden: tuple[Path, ...],
                 on_running: Callable[[LiveSandbox], None] | None = None) -> None:
        self.store = store
        self.isolation = isolation
        self.root = root
        self.hidden = hidden
        self.live: dict[str, LiveSandbox] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._on_running = on_running

    def sandbox_dir(self, sandbox_id: str) -> Path:
        return self.root / sandbox_id

    def layout_for(self, row: SandboxRow) -> Layout:
        base = self.sandbox_dir(row.id)
        return Layout(
            tmp_dir=base / "tmp",
            mount_dir=base / "mount" if row.spec.mount_path else None,
            mount_path=row.spec.mount_path,
            hidden=self.hidden,
            hostname=row.id,
        )

    def logbook_for(self, sandbox_id: str) -> LogBook:
        live = self.live.get(sandbox_id)
        if live is not None:
            return live.logbook
        book = LogBook(self.sandbox_dir(sandbox_id) / "output.log")
        book.close()
        return book

    def spawn_task(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def adopt(self, row: SandboxRow) -> LiveSandbox:
        layout = self.layout_for(row)
        layout.tmp_dir.mkdir(parents=True, exist_ok=True)
        if layout.mount_dir is not None:
            layout.mount_dir.mkdir(parents=True, exist_ok=True)
        live = LiveSandbox(row=row, layout=layout,
                           logbook=LogBook(self.sandbox_dir(row.id) / "output.log"))
        self.live[row.id] = live
        return live

    def set_status(self, live: LiveSandbox, status: int, reason: str = "", **extra: object) -> None:
        live.row.status = status
        live.row.status_reason = reason
        for key, value in extra.items():
            setattr(live.row, key, value)
        self.store.update_sandbox(live.row.id, status=status, status_reason=reason, **extra)

    async def _spawn(self, launch: Launch, *, stdin: bool) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *launch.argv,
            cwd=launch.cwd,
            env=launch.env,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )

    async def boot(self, live: LiveSandbox) -> None:
        """Start the sandbox's main process; CREATING becomes RUNNING or FAILED."""
        spec = live.row.spec
        launch = self.isolation.launch([spec.command, *spec.args], live.layout, spec.env)
        try:
            live.process = await self._spawn(launch, stdin=False)
        except OSError as exc:
            self.set_status(live, states.FAILED,
                            f"could not start {spec.command!r}: {exc.strerror}",
                            ended_at=time.time())
            live.booted.set()
            live.exited.set()
            return
        self.set_status(live, states.RUNNING, "", started_at=time.time())
        live.booted.set()
        self.spawn_task(self._pump(live, live.process.stdout, "stdout"))
        self.spawn_task(self._pump(live, live.process.stderr, "stderr"))
        self.spawn_task(self._watch(live))
        if spec.max_lifetime_seconds > 0:
            live.lifetime = asyncio.get_running_loop().call_later(
                spec.max_lifetime_seconds, self._lifetime_reached, live)
        if self._on_running is not None:
            self._on_running(live)

    async def _pump(self, live: LiveSandbox, stream: asyncio.StreamReader | None,
                    name: str) -> None:
        if stream is None:
            return
        while chunk := await stream.read(65536):
            await live.logbook.feed(name, chunk)
        await live.logbook.flush(name)

    async def _watch(self, live: LiveSandbox) -> None:
        assert live.process is not None
        code = await live.process.wait()
        if live.lifetime is not None:
            live.lifetime.cancel()
        await self._kill_execs(live)
        live.logbook.close()
        exit_code = code if code >= 0 else 128 - code
        if live.lost:
            status, reason = states.FAILED, "its process was killed when the backend stopped"
        elif live.stop_reason:
            status, reason = states.COMPLETED, live.stop_reason
        elif code == 0:
            status, reason = states.COMPLETED, "exited with code 0"
        elif code < 0:
            status, reason = states.FAILED, f"killed by signal {signal.Signals(-code).name}"
        else:
            status, reason = states.FAILED, f"exited with code {code}"
        self.set_status(live, status, reason, ended_at=time.time(), exit_code=exit_code)
        live.exited.set()

    def _lifetime_reached(self, live: LiveSandbox) -> None:
        limit = live.row.spec.max_lifetime_seconds
        self.begin_stop(live, grace=10, reason=f"stopped: max_lifetime_seconds ({limit} s) reached")

    def begin_stop(self, live: LiveSandbox, grace: float, reason: str) -> asyncio.Task[None]:
        """Move to TERMINATING and terminate in the background (joins a stop in flight)."""
        if live.stop_task is not None:
            return live.stop_task
        live.stop_reason = reason
        if live.row.status not in states.TERMINAL:
            self.set_status(live, states.TERMINATING, reason)
        live.stop_task = self.spawn_task(self.terminate(live, grace))
        return live.stop_task

    async def terminate(self, live: LiveSandbox, grace: float) -> None:
        await live.booted.wait()
        process = live.process
        if process is None or process.returncode is not None:
            if live.row.status not in states.TERMINAL:
                self.set_status(live, states.COMPLETED, live.stop_reason, ended_at=time.time())
            live.exited.set()
            return
        deadline = time.monotonic() + grace
        signalled = _terminate_group(process.pid)
        _signal_group(process.pid, signal.SIGCONT)  # a paused sandbox must wake to see SIGTERM
        while not signalled and not live.exited.is_set() and time.monotonic() < deadline:
            # bubblewrap has not started the workload yet: SIGTERM it once it has
            await asyncio.sleep(0.01)
            signalled = _terminate_group(process.pid)
        try:
            await asyncio.wait_for(live.exited.wait(),
                                   timeout=max(deadline - time.monotonic(), 0.001))
        except TimeoutError:
            _signal_group(process.pid, signal.SIGKILL)
            await live.exited.wait()

    def pause(self, live: LiveSandbox) -> None:
        assert live.process is not None
        _signal_group(live.process.pid, signal.SIGSTOP)
        for proc in live.execs:
            _signal_group(proc.pid, signal.SIGSTOP)
        self.set_status(live, states.PAUSED)

    def resume(self, live: LiveSandbox) -> None:
        assert live.process is not None
        for proc in live.execs:
            _signal_group(proc.pid, signal.SIGCONT)
        _signal_group(live.process.pid, signal.SIGCONT)
        self.set_status(live, states.RUNNING)

    async def start_exec(self, live: LiveSandbox, argv: list[str], env: dict[str, str]
                         ) -> asyncio.subprocess.Process:
        launch = self.isolation.launch(argv, live.layout, {**live.row.spec.env, **env})
        proc = await self._spawn(launch, stdin=True)
        live.execs.add(proc)
        return proc

    def end_exec(self, live: LiveSandbox, proc: asyncio.subprocess.Process) -> None:
        live.execs.discard(proc)
        if proc.returncode is None:
            _signal_group(proc.pid, signal.SIGKILL)

    async def _kill_execs(self, live: LiveSandbox) -> None:
        for proc in list(live.execs):
            _signal_group(proc.pid, signal.SIGKILL)
        for proc in list(live.execs):
            with contextlib.suppress(ProcessLookupError):
                await proc.wait()

    async def shutdown(self) -> None:
        """Kill every sandbox process (the backend is going away)."""
        for live in list(self.live.values()):
            if live.process is not None and live.process.returncode is None:
                live.lost = True
                _signal_group(live.process.pid, signal.SIGKILL)
            for proc in list(live.execs):
                _signal_group(proc.pid, signal.SIGKILL)
        waits = [live.exited.wait() for live in self.live.values() if live.process is not None]
        if waits:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits), timeout=5)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _terminate_group(pgid: int) -> bool:
    """SIGTERM every process of the group but bubblewrap's own; False if there was none.

    bwrap does not forward signals and dies of SIGTERM itself, which would lose the
    workload's exit status; the workload's processes get the signal directly instead.
    """
    signalled = False
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{entry.name}/comm", "rb") as comm:
                name = comm.read().strip()
        except OSError:
            continue
        if int(fields[2]) == pgid and name != b"bwrap":
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGTERM)
                signalled = True
    return signalled
