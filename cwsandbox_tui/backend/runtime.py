"""Sandboxes as real local processes: boot, pause, resume, stop, lifetime, exec, output."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import pty
import shutil
import signal
import socket
import struct
import termios
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import images, joining, procs, quotas, rootfs, states
from .isolation import LAUNCH_ENV, OWNER_ENV, SANDBOX_ENV, Isolation, Launch, Layout
from .logbook import LogBook
from .quotas import Applied, DiskWalk, Quotas
from .store import SandboxRow, Store

log = logging.getLogger("cwsandbox_tui.backend")
START_WAIT_SECONDS = 20
PIPE_DRAIN_SECONDS = 2.0
_ENTER_WORKDIR = 'mkdir -p -- "$0" && cd -- "$0" && exec "$@"'


@dataclass
class LiveSandbox:
    """A sandbox this backend process is running, beside its durable row."""

    row: SandboxRow
    layout: Layout
    logbook: LogBook
    process: asyncio.subprocess.Process | None = None
    execs: set[asyncio.subprocess.Process] = field(default_factory=set)
    archives: set[asyncio.Task[None]] = field(default_factory=set)  # snapshots being made
    pumps: list[asyncio.Task[None]] = field(default_factory=list)  # stdout, stderr → log
    booted: asyncio.Event = field(default_factory=asyncio.Event)
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    stop_reason: str = ""
    failure: str = ""  # why the backend ended it as FAILED (it stops with this reason)
    lost: bool = False  # killed because the backend itself is going away
    stop_task: asyncio.Task[None] | None = None
    lifetime: asyncio.TimerHandle | None = None
    applied: Applied = field(default_factory=Applied)  # the limits it runs under
    disk: DiskWalk = field(default_factory=DiskWalk)


class Runtime:
    """Runs sandbox processes and keeps their rows in the store up to date."""

    def __init__(self, store: Store, isolation: Isolation, root: Path, hidden: tuple[Path, ...],
                 on_running: Callable[[LiveSandbox], None] | None = None,
                 owner_token: str = "", quotas: Quotas | None = None) -> None:
        self.store = store
        self.quotas = quotas or Quotas()
        self._guard: asyncio.Task[None] | None = None
        self.isolation = isolation
        self.root = root
        self.hidden = hidden
        self.owner_token = owner_token  # marks the processes this data directory's backend starts
        self._launches = 0
        self._launch_marks: dict[int, str] = {}  # launcher pid -> its LAUNCH_ENV value
        self.live: dict[str, LiveSandbox] = {}
        # Called at once on every change of a live sandbox's status, before any reply about
        # it leaves (lifetime.watch keeps the state file that `backend status` reads current).
        self.status_listeners: list[Callable[[], None]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        # How long exec output may wait for a client that does not read before the stream
        # ends with STREAM_BACKPRESSURE (the SDK's SandboxStreamBackpressureError).
        self.backpressure_seconds = BACKPRESSURE_SECONDS
        self._on_running = on_running

    def sandbox_dir(self, sandbox_id: str) -> Path:
        return self.root / sandbox_id

    def layout_for(self, row: SandboxRow) -> Layout:
        base = self.sandbox_dir(row.id)
        provided = images.provide(row.spec.container_image)
        has_bin = bool(provided.links or provided.scripts)
        return Layout(
            tmp_dir=base / "tmp",
            mount_dir=base / "mount" if row.spec.mount_path else None,
            mount_path=row.spec.mount_path,
            hidden=self.hidden,
            hostname=row.id,
            owner=self.isolation.owner,
            bin_dir=base / "bin" if has_bin else None,
            bin_path=images.SANDBOX_BIN,
            etc_dir=base / rootfs.ETC_DIR_NAME,
        )

    def logbook_for(self, sandbox_id: str) -> LogBook:
        live = self.live.get(sandbox_id)
        if live is not None:
            return live.logbook
        book = LogBook(self.sandbox_dir(sandbox_id) / "output.log", keep_bytes=0)
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
        layout.tmp_dir.parent.chmod(0o755)  # a root backend's launcher stages it for uid 65534
        self.isolation.hand_over(layout.tmp_dir)
        if layout.etc_dir is not None:
            rootfs.write_etc(layout.etc_dir, row.id)
        if layout.bin_dir is not None:
            images.install(images.provide(row.spec.container_image), layout.bin_dir)
        if layout.mount_dir is not None:
            layout.mount_dir.mkdir(parents=True, exist_ok=True)
            self.isolation.hand_over(layout.mount_dir)
        applied = Applied.from_list(row.spec.enforced)
        live = LiveSandbox(row=row, layout=layout, applied=applied,
                           logbook=LogBook(self.sandbox_dir(row.id) / "output.log",
                                           keep_bytes=applied.log_bytes))
        self.live[row.id] = live
        return live

    def set_status(self, live: LiveSandbox, status: states.SandboxState, reason: str = "",
                   **extra: object) -> None:
        live.row.status = status
        live.row.status_reason = reason
        for key, value in extra.items():
            setattr(live.row, key, value)
        self.store.update_sandbox(live.row.id, status=status, status_reason=reason, **extra)
        for listener in self.status_listeners:
            listener()

    def marker(self, sandbox_id: str) -> dict[str, str]:
        return {OWNER_ENV: self.owner_token, SANDBOX_ENV: f"{self.owner_token}:{sandbox_id}"}

    def _launch(self, live: LiveSandbox, argv: list[str], env: dict[str, str],
                init: int | None = None, window: tuple[int, int] | None = None) -> Launch:
        """Under bubblewrap: a new sandbox, or, given its `init`, an exec joining it."""
        self._launches += 1
        marker = {**self.marker(live.row.id),
                  LAUNCH_ENV: f"{self.owner_token}:{live.row.id}:{self._launches}"}
        workdir = live.row.spec.working_dir
        if workdir and self.isolation.isolated:
            # made by the sandbox itself, with its own rights, as a container makes its WORKDIR
            argv = ["/bin/sh", "-c", _ENTER_WORKDIR, workdir, *argv]
            workdir = ""
        limited = [*quotas.rlimit_prefix(live.applied, self.isolation.isolated), *argv]
        if init is not None:
            return joining.join_launch(init, SANDBOX_ENV, limited,
                                       self.isolation.environment(live.layout, env),
                                       live.layout.workdir, marker, window)
        return self.isolation.launch(limited, live.layout, env, cwd=workdir, marker=marker)

    async def _exec_launch(self, live: LiveSandbox, argv: list[str],
                           env: dict[str, str]) -> Launch:
        """An exec runs in the sandbox's own namespaces (joining.py), as on the service."""
        if not self.isolation.isolated:
            return self._launch(live, argv, env)
        init = await self.namespace_pid(live)
        if init is None:
            raise OSError(errno.ESRCH, "the sandbox's process has ended")
        return self._launch(live, argv, env, init=init)

    async def _start(self, launch: Launch, *, stdin: bool) -> asyncio.subprocess.Process:
        process = await self._spawn(launch, stdin=stdin)
        self._launch_marks[process.pid] = launch.env[LAUNCH_ENV]
        return process

    async def _spawn(self, launch: Launch, *, stdin: bool) -> asyncio.subprocess.Process:
        # Forked from the event loop's thread, which lives as long as the backend: the
        # parent-death signal bubblewrap and setpriv set fires when that thread ends.
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
        launch = self._launch(live, [spec.command, *spec.args], spec.env)
        try:
            live.process = await self._start(launch, stdin=False)
        except OSError as exc:
            self.set_status(live, states.FAILED,
                            f"could not start {spec.command!r}: {exc.strerror}",
                            ended_at=time.time())
            live.booted.set()
            live.exited.set()
            return
        self.set_status(live, states.RUNNING, "", started_at=time.time())
        live.booted.set()
        live.pumps = [self.spawn_task(self._pump(live, live.process.stdout, "stdout")),
                      self.spawn_task(self._pump(live, live.process.stderr, "stderr"))]
        self.spawn_task(self._watch(live))
        if self._guard is None or self._guard.done():
            self._guard = self.spawn_task(self._guard_loop())
        if spec.max_lifetime_seconds > 0:
            live.lifetime = asyncio.get_running_loop().call_later(
                spec.max_lifetime_seconds, self._lifetime_reached, live)
        if self._on_running is not None:
            self._on_running(live)

    async def _wait_started(self, process: asyncio.subprocess.Process) -> None:
        """Until the workload of `process` exists (or it ended, or it took too long)."""
        isolated = self.isolation.isolated
        deadline = time.monotonic() + START_WAIT_SECONDS
        while process.returncode is None and time.monotonic() < deadline:
            if procs.has_workload(process.pid, isolated):
                return
            await asyncio.sleep(0.005)

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
        self._launch_marks.pop(live.process.pid, None)
        if live.lifetime is not None:
            live.lifetime.cancel()
        await self._kill_execs(live)
        # What it printed last may still be in the pipes or the readers' buffers: the status
        # changes only once that is in the log (bounded: a process it left behind outside
        # the sandbox's namespaces could hold a pipe open).
        if live.pumps:
            await asyncio.wait(live.pumps, timeout=PIPE_DRAIN_SECONDS)
        live.logbook.close()
        exit_code = code if code >= 0 else 128 - code
        if live.lost:
            status, reason = states.FAILED, "its process was killed when the backend stopped"
        elif live.failure:
            status, reason = states.FAILED, live.failure
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

    def fail(self, live: LiveSandbox, reason: str) -> None:
        """End a running sandbox at once; it ends FAILED with `reason`."""
        live.failure = reason
        self.begin_stop(live, grace=0, reason=reason)

    async def namespace_pid(self, live: LiveSandbox) -> int | None:
        """A process in the sandbox's namespaces (bubblewrap's init), once it exists."""
        assert live.process is not None
        await self._wait_started(live.process)
        if live.process.returncode is not None:
            return None
        kids = procs.child_pids(live.process.pid)
        return kids[0] if kids else None

    async def _guard_loop(self) -> None:
        """End every sandbox that goes over one of its limits, until none runs."""
        while True:
            running = [live for live in self.live.values()
                       if live.process is not None and not live.exited.is_set()
                       and not live.failure]
            if not running:
                return
            over = await asyncio.to_thread(self._over_limits, running)
            for live, reason in over:
                if live.exited.is_set() or live.failure:
                    continue
                live.failure = reason
                log.warning("sandbox %s: %s; ending it", live.row.id, reason)
                self._kill(live.row.id, *[p for p in (live.process, *live.execs)
                                           if p is not None])
            await asyncio.sleep(quotas.GUARD_INTERVAL)

    def _over_limits(self, running: list[LiveSandbox]) -> list[tuple[LiveSandbox, str]]:
        """(sandbox, why) for each of `running` over a limit now (in a thread)."""
        isolated = self.isolation.isolated
        now = time.monotonic()
        over: list[tuple[LiveSandbox, str]] = []
        for live in running:
            pids: list[int] = []
            for launcher in self._launchers(live):
                # under bubblewrap the launcher stays outside the sandbox's namespaces
                pids += ([] if isolated else [launcher]) + procs.subtree(
                    launcher, at_most=live.applied.processes)
            reason = quotas.over_limit(live.applied, pids)
            if not reason and live.applied.mount_bytes and live.disk.due(now):
                walked = time.monotonic()
                areas = [(live.layout.tmp_dir, "/tmp")]
                if live.layout.mount_dir is not None:
                    areas.insert(0, (live.layout.mount_dir, f"mount {live.layout.mount_path}"))
                for root, where in areas:
                    used = live.disk.walk(root, live.applied.mount_bytes)
                    reason = reason or quotas.disk_reason(live.applied, used, where)
                live.disk.done(walked)
            if reason:
                over.append((live, reason))
        return over

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
        # bubblewrap does not forward signals and dies of SIGTERM itself, which would lose
        # the workload's exit status: the workload's processes get the signal directly.
        signalled = self._signal_workload(process.pid, signal.SIGTERM)
        self._signal_workload(process.pid, signal.SIGCONT)  # a paused one must wake to see it
        while not signalled and not live.exited.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)  # the workload has not started yet
            signalled = self._signal_workload(process.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(live.exited.wait(),
                                   timeout=max(deadline - time.monotonic(), 0.001))
        except TimeoutError:
            self._kill(live.row.id, process)
            await live.exited.wait()

    def _signal_workload(self, launcher: int, sig: signal.Signals) -> int:
        return procs.send(procs.workload(procs.table(), launcher, self.isolation.isolated), sig)

    def _kill(self, sandbox_id: str, *processes: asyncio.subprocess.Process) -> None:
        """SIGKILL these launchers, everything below them, and whatever else carries the
        marker of their launch.

        The marker catches bubblewrap's init when it was made just before its launcher died
        (it sets its own parent-death signal only once set up, so it would live on), and,
        unisolated, a child that left the process tree.
        """
        table = procs.table()
        pids = [p.pid for p in processes if p.returncode is None]
        for pid in list(pids):
            pids += procs.descendants(table, pid)
        procs.send(pids, signal.SIGKILL)
        for process in processes:
            mark = self._launch_marks.pop(process.pid, None)
            if mark is not None:
                procs.kill_marked(LAUNCH_ENV, mark, timeout=0.5)

    def _launchers(self, live: LiveSandbox) -> list[int]:
        running = [live.process, *live.execs]
        return [p.pid for p in running if p is not None and p.returncode is None]

    async def pause(self, live: LiveSandbox) -> bool:
        """Stop the workload's processes (never bubblewrap's, which must stay able to see the
        backend die); PAUSED once none is left running. False (and still RUNNING) when they
        did not all stop in time."""
        assert live.process is not None
        for process in (live.process, *live.execs):
            await self._wait_started(process)  # one still being set up has nothing to stop yet
        launchers = self._launchers(live)
        if not await asyncio.to_thread(procs.freeze, launchers, self.isolation.isolated):
            await asyncio.to_thread(procs.thaw, launchers, self.isolation.isolated)
            log.warning("pausing %s: its processes did not all stop in time", live.row.id)
            return False
        self.set_status(live, states.PAUSED)
        return True

    async def resume(self, live: LiveSandbox) -> None:
        assert live.process is not None
        await asyncio.to_thread(procs.thaw, self._launchers(live), self.isolation.isolated)
        self.set_status(live, states.RUNNING)

    async def start_exec(self, live: LiveSandbox, argv: list[str], env: dict[str, str]
                         ) -> asyncio.subprocess.Process:
        launch = await self._exec_launch(live, argv, {**live.row.spec.env, **env})
        proc = await self._start(launch, stdin=True)
        live.execs.add(proc)
        if live.row.status == states.PAUSED:  # paused while this exec was being started
            await self._wait_started(proc)
            await asyncio.to_thread(procs.freeze, [proc.pid], self.isolation.isolated)
        return proc

    async def start_tty_exec(self, live: LiveSandbox, argv: list[str], env: dict[str, str],
                             width: int, height: int) -> tuple[asyncio.subprocess.Process, int]:
        """A process on a new pseudo-terminal inside the sandbox; returns it and the master.

        The slave end is the process's stdin, stdout and stderr and, through `setsid
        --ctty`, its controlling terminal, so job control and ctrl+c work as in a shell.
        Isolated, the terminal is one of the sandbox's own (joining.py).
        """
        env = {"TERM": "xterm-256color", **env}
        setsid = [TTY_SETSID, "--ctty", "--wait"] if TTY_SETSID else []
        if self.isolation.isolated:
            proc, master = await self._start_joined_tty(live, [*setsid, *argv],
                                                        {**live.row.spec.env, **env},
                                                        width or 80, height or 24)
        else:
            proc, master = await self._start_host_tty(live, [*setsid, *argv],
                                                      {**live.row.spec.env, **env},
                                                      width or 80, height or 24)
        live.execs.add(proc)
        if live.row.status == states.PAUSED:  # paused while this exec was being started
            await self._wait_started(proc)
            await asyncio.to_thread(procs.freeze, [proc.pid], self.isolation.isolated)
        return proc, master

    async def _start_host_tty(self, live: LiveSandbox, argv: list[str], env: dict[str, str],
                              width: int, height: int) -> tuple[asyncio.subprocess.Process, int]:
        master, slave = pty.openpty()
        try:
            set_window(master, width, height)
            launch = self._launch(live, argv, env)
            # Forked from the event loop's thread, as in _spawn (the parent-death signal).
            proc = await asyncio.create_subprocess_exec(
                *launch.argv, cwd=launch.cwd, env=launch.env, stdin=slave, stdout=slave,
                stderr=slave, start_new_session=True)
            self._launch_marks[proc.pid] = launch.env[LAUNCH_ENV]
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        return proc, master

    async def _start_joined_tty(self, live: LiveSandbox, argv: list[str], env: dict[str, str],
                                width: int, height: int
                                ) -> tuple[asyncio.subprocess.Process, int]:
        init = await self.namespace_pid(live)
        if init is None:
            raise OSError(errno.ESRCH, "the sandbox's process has ended")
        launch = self._launch(live, argv, env, init=init, window=(width, height))
        control, theirs = socket.socketpair()
        try:
            # Forked from the event loop's thread, as in _spawn (the parent-death signal).
            proc = await asyncio.create_subprocess_exec(
                *launch.argv, cwd=launch.cwd, env=launch.env, stdin=theirs.fileno(),
                stdout=theirs.fileno(), stderr=theirs.fileno(), start_new_session=True)
            self._launch_marks[proc.pid] = launch.env[LAUNCH_ENV]
            theirs.close()
            try:
                master = await asyncio.to_thread(joining.receive_terminal, control,
                                                 START_WAIT_SECONDS)
            except BaseException:
                self._kill(live.row.id, proc)
                with contextlib.suppress(ProcessLookupError):
                    await proc.wait()
                raise
        finally:
            theirs.close()
            control.close()
        return proc, master

    def end_exec(self, live: LiveSandbox, proc: asyncio.subprocess.Process) -> None:
        live.execs.discard(proc)
        if proc.returncode is None:
            self._kill(live.row.id, proc)
        self._launch_marks.pop(proc.pid, None)

    async def _kill_execs(self, live: LiveSandbox) -> None:
        self._kill(live.row.id, *live.execs)
        for proc in list(live.execs):
            with contextlib.suppress(ProcessLookupError):
                await proc.wait()

    async def shutdown(self) -> None:
        """Kill every sandbox process (the backend is going away)."""
        starting = [live.booted.wait() for live in self.live.values()
                    if not live.booted.is_set()]
        if starting:  # finish starting (bounded), so that no process being spawned is missed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*starting), timeout=5)
        for live in list(self.live.values()):
            if live.process is not None and live.process.returncode is None:
                live.lost = True
            running = [p for p in (live.process, *live.execs) if p is not None]
            self._kill(live.row.id, *running)
        waits = [live.exited.wait() for live in self.live.values() if live.process is not None]
        if waits:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*waits), timeout=5)
        if self._tasks:  # output readers end at their pipes' end: let them store the last
            await asyncio.wait(set(self._tasks), timeout=PIPE_DRAIN_SECONDS)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


BACKPRESSURE_SECONDS = 60.0
TTY_SETSID = shutil.which("setsid", path="/usr/bin:/bin")
PIPE_DRAIN_SECONDS = 2.0


async def drain_pipes(proc: asyncio.subprocess.Process) -> None:
    """Read an ended process's pipes to their end, so that they close now.

    A pipe left open is closed later by the garbage collector, on whatever loop is left
    (or none). Bounded: a process that escaped its kill could hold a pipe forever.
    """
    async def drain(stream: asyncio.StreamReader | None) -> None:
        while stream is not None and await stream.read(65536):
            pass

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(drain(proc.stdout), drain(proc.stderr)),
                               PIPE_DRAIN_SECONDS)


def set_window(master: int, width: int, height: int) -> None:
    """Tell the terminal (and so the process on it, by SIGWINCH) its size."""
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))

