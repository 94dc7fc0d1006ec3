"""Helpers of the client tests: recording events, building clients, seeding and polling."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.backend.store import SnapshotRow
from cwsandbox_tui.client import events as ev
from cwsandbox_tui.client.adapter_v1beta2 import V1beta2Adapter
from cwsandbox_tui.client.client import Client, ClientOptions, EndpointInfo
from cwsandbox_tui.client.clock import Clock, SystemClock
from cwsandbox_tui.client.errors import FileError, SandboxError
from cwsandbox_tui.client.models import SandboxSpec
from cwsandbox_tui.client.wire import open_channel

T = TypeVar("T")
E = TypeVar("E", bound=ev.Event)

MOUNT = "/workspace"
# One process that SIGTERM ends at once. (The SDK's keep-alive, `sleep infinity & wait` under
# a trap, can leave its `sleep` behind when SIGTERM races the fork, and the stop then lasts
# the whole grace period: fine for a product, slow for a test suite.)
SLEEPER = ("-c", "exec sleep infinity")
# Ignores SIGTERM once it has written TRAPPED (`start` waits for that): after a drain it
# stays TERMINATING for the whole grace period.
TRAPPED = "/tmp/trapped"
STUBBORN = ("-c", f'trap "" TERM; : > {TRAPPED}; while :; do sleep 0.05; done')
# Takes about half a second to finish after SIGTERM: a short, observable TERMINATING.
SLOW_EXIT = ("-c", f'trap "sleep 0.5; exit 0" TERM; : > {TRAPPED}; while :; do sleep 0.05; done')


class Recorder:
    """Collects every event the client emits."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []

    def __call__(self, event: ev.Event) -> None:
        self.events.append(event)

    def of(self, kind: type[E]) -> list[E]:
        return [e for e in self.events if isinstance(e, kind)]

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def clear(self) -> None:
        self.events.clear()


@dataclass
class Harness:
    """Builds clients against the test's backend; closes them at the end."""

    backend: BackendServer
    clients: list[Client] = field(default_factory=list)

    def make(self, *, clock: Clock | None = None, read_only: bool = False,
             options: ClientOptions | None = None, metadata: Sequence[tuple[str, str]] = (),
             seed: int = 0) -> tuple[Client, Recorder]:
        channel = open_channel(f"127.0.0.1:{self.backend.port}", tls=False,
                               root_certificates=None)
        info = EndpointInfo(url=self.backend.url, source="test", auth_mode="none",
                            read_only=read_only)
        client = Client(V1beta2Adapter(channel, list(metadata)), info,
                        clock=clock or SystemClock(), rng=random.Random(seed), options=options)
        recorder = Recorder()
        client.bus.subscribe(recorder)
        self.clients.append(client)
        return client, recorder


def engine(backend: BackendServer) -> Any:
    assert backend.engine is not None
    return backend.engine


def seed_snapshots(backend: BackendServer, count: int, *, prefix: str = "fss-seed",
                   created_at: float | None = None, source: str = "sb-seeded",
                   status: int = states.FSS_READY) -> list[str]:
    """Insert READY snapshot rows straight into the store (each with its own archive name)."""
    now = time.time() if created_at is None else created_at
    ids = [f"{prefix}-{n:04d}" for n in range(count)]
    engine(backend).store.insert_snapshots([
        SnapshotRow(id=i, status=status, created_at=now, updated_at=now,
                    source_sandbox_id=source, trigger=states.TRIGGER_MANUAL,
                    object_bucket="cwsandbox-managed", archive=f"cwsandbox-managed/{i}.tar",
                    size_bytes=1024, completed_at=now)
        for i in ids])
    return ids


def server_snapshot_ids(backend: BackendServer) -> set[str]:
    """Every snapshot row the backend still holds."""
    return {row.id for row in engine(backend).store.snapshots_page(0, 1_000_000)}


async def until(predicate: Callable[[], bool], timeout: float = 10.0,
                what: str = "condition") -> None:
    """Poll `predicate` (bounded) until it holds."""
    give_up = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def start(client: Client, *, mount: bool = True, args: Iterable[str] = SLEEPER) -> str:
    spec = SandboxSpec(command="/bin/sh", args=tuple(args), mount_path=MOUNT if mount else "")
    sandbox = await client.start_sandbox(spec)
    if tuple(args) in (STUBBORN, SLOW_EXIT):  # its TERM trap is set once it wrote TRAPPED
        give_up = time.monotonic() + 10
        while True:
            try:
                await client.retrieve_file(sandbox.id, TRAPPED)
                break
            except FileError:
                if time.monotonic() > give_up:
                    raise
                await asyncio.sleep(0.02)
            except SandboxError as error:  # a test that drains it at once cannot wait here
                if "not RUNNING" not in str(error):
                    raise
                break
    return sandbox.id


def count_calls(backend: BackendServer, *methods: str) -> None:
    """Make the fault plan count calls to these methods (a zero-latency rule per method)."""
    for method in methods:
        backend.faults.set_latency(method, 0.0)


async def gather_all(*awaitables: Awaitable[T]) -> list[T | BaseException]:
    return list(await asyncio.gather(*awaitables, return_exceptions=True))


class ExecutorHold:
    """Keeps the event loop's default executor (one worker) busy until `release()`, so that
    work the backend hands to a thread (writing an archive) waits in its queue."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        import threading
        from concurrent.futures import ThreadPoolExecutor

        self._gate = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="held")
        loop.set_default_executor(self._executor)
        self._executor.submit(self._gate.wait)

    def release(self) -> None:
        self._gate.set()


async def over_its_size(client: Client, sandbox_id: str) -> None:
    """2000 bytes by their sizes in a 1Ki mount, no block on disk: too big for a snapshot,
    while the backend's watch over the mount's usage (in blocks, every 0.25 s) leaves the
    sandbox running (bytes written would have it end the sandbox FAILED, if it looked
    before the test's next call)."""
    result = await client.exec(sandbox_id, ["truncate", "-s", "1000", f"{MOUNT}/a",
                                            f"{MOUNT}/b"])
    assert result.exit_code == 0, result
