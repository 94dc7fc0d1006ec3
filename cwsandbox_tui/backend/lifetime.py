"""How long a backend started for a client lives: while a client holds a lease, while any of
its sandboxes lives or any operation runs (workloads outlive the dashboard that started them,
as on the service), and then a short linger. Its state file says what keeps it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from . import states
from .engine import Engine
from .leases import live_leases

log = logging.getLogger("cwsandbox_tui.backend")

STATE_FILE = "backend.json"
LEASES_DIR = "clients"
# A client asking a running backend to seed the demo (`--demo` against one that lingers).
DEMO_REQUEST = "demo.request"
TICK = 0.5


@dataclass(frozen=True)
class Keeping:
    """What keeps the backend: live sandboxes by state, operations, attached clients."""

    running: int = 0
    paused: int = 0
    changing: int = 0  # CREATING or TERMINATING
    operations: int = 0  # snapshot archives, deletes, stops under way
    clients: int = 0

    @property
    def workloads(self) -> int:
        return self.running + self.paused + self.changing + self.operations

    @property
    def idle(self) -> bool:
        return self.workloads == 0 and self.clients == 0

    def describe(self) -> str:
        parts = [f"{n} {what}" for n, what in (
            (self.running, "running"), (self.paused, "paused"),
            (self.changing, "starting or stopping"), (self.operations, "operations"),
            (self.clients, "clients")) if n]
        return ", ".join(parts) or "nothing"


def keeping(engine: Engine, clients: int) -> Keeping:
    counts: dict[states.SandboxState, int] = {states.RUNNING: 0, states.PAUSED: 0}
    changing = 0
    operations = 0
    for live in engine.runtime.live.values():
        status = live.row.status
        if status in counts:
            counts[status] += 1
        elif status in states.LIVE:
            changing += 1
        if live.stop_task is not None and not live.stop_task.done():
            operations += 1
    operations += engine.operations_running()
    return Keeping(running=counts[states.RUNNING], paused=counts[states.PAUSED],
                   changing=changing, operations=operations, clients=clients)


def write_state(data_dir: Path, state: dict[str, object]) -> None:
    """Replace the state file whole (a reader never sees half of it)."""
    path = data_dir / STATE_FILE
    partial = path.with_name(f".{STATE_FILE}.{os.getpid()}")
    partial.write_text(json.dumps(state))
    partial.replace(path)


async def watch(engine: Engine, data_dir: Path, state: dict[str, object], *,
                linger: float | None, seed_demo: Callable[[], Awaitable[None]],
                clock: Callable[[], float], tick: float = TICK) -> None:
    """Keep the state file's `keeping` current, seed the demo when a client asks, and return
    once nothing has kept the backend for `linger` seconds (never, when `linger` is None)."""
    idle_since: float | None = None
    unattended_since: float | None = None  # no client since; workloads may go on
    said_staying = False
    shown: Keeping | None = None

    def current() -> Keeping:
        nonlocal shown
        now = keeping(engine, live_leases(data_dir / LEASES_DIR))
        if now != shown:
            shown = now
            write_state(data_dir, {**state, "keeping": asdict(now)})
        return now

    # A sandbox's status change is written at once, not at the next tick: a client that has
    # just been told "running" and asks `backend status` must see it running.
    def on_status() -> None:
        with contextlib.suppress(OSError):
            current()

    engine.runtime.status_listeners.append(on_status)
    try:
        while True:
            request = data_dir / DEMO_REQUEST
            if request.exists():
                with contextlib.suppress(OSError):
                    request.unlink()
                log.info("a client asked for the demo")
                await seed_demo()
            now = current()
            if now.clients:
                unattended_since, said_staying = None, False
            else:
                unattended_since = unattended_since if unattended_since is not None else clock()
            if linger is not None and unattended_since is not None and not said_staying \
                    and now.workloads and clock() - unattended_since >= linger:
                said_staying = True
                log.info("no client for %gs; staying while %s", linger, now.describe())
            if linger is not None:
                if not now.idle:
                    idle_since = None
                else:
                    idle_since = idle_since if idle_since is not None else clock()
                    if clock() - idle_since >= linger:
                        log.info("no client, sandbox or operation is left; stopping")
                        return
            await asyncio.sleep(tick)
    finally:
        engine.runtime.status_listeners.remove(on_status)
