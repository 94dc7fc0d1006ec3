"""Fixtures for dashboard tests: a real backend, a client on it, a deterministic app."""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from textual.widgets import Input
from textual.worker import WorkerCancelled

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.server import BackendServer, ServerConfig
from cwsandbox_tui.backend.store import SandboxRow, SnapshotRow, StoredSpec
from cwsandbox_tui.client.adapter_v1beta2 import V1beta2Adapter
from cwsandbox_tui.client.client import Client, ClientOptions, EndpointInfo
from cwsandbox_tui.client.generations import choose
from cwsandbox_tui.client.wire import open_channel
from cwsandbox_tui.ui.app import DashboardApp
from tests.backend.serving import serving
from tests.fake_clock import FakeClock

# 2026-11-26 12:00:00 UTC: every age on screen is measured from here.
FIXED_NOW = 1_795_694_400.0
DAY = 86400.0


@pytest.fixture(autouse=True)
async def _tasks_started_as_the_app_starts_them() -> None:
    """Textual's `run` starts every task eagerly on Python 3.12+ (asyncio's eager task
    factory) and its `run_test` does not: the dashboard's tests run the way people run it."""
    if hasattr(asyncio, "eager_task_factory"):
        asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)


@pytest.fixture(autouse=True)
def _steady_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """No blinking cursor and no animations, so screenshots are the same every run."""
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")


def seed_rows(backend: BackendServer) -> None:
    """Fixed records written straight to the backend's store (ids, times and sizes fixed)."""
    assert backend.engine is not None
    store = backend.engine.store
    sandboxes = [
        ("sb-00000000aaaa", states.RUNNING, "ghcr.io/acme/trainer:2.4", ["team-ml", "llama"],
         "/workspace", 0.2, ""),
        ("sb-00000000bbbb", states.PAUSED, "jupyter/base-notebook", ["notebook"],
         "/home/jovyan/work", 1.5, ""),
        ("sb-00000000cccc", states.COMPLETED, "ghcr.io/acme/dataprep:1.9", ["etl"],
         "/workspace", 9.2, "fss-000000000003"),
        ("sb-00000000dddd", states.FAILED, "ghcr.io/acme/trainer:2.3", ["team-ml"], "", 1.5, ""),
    ]
    for sandbox_id, status, image, tags, mount, days, stop_snap in sandboxes:
        store.insert_sandbox(SandboxRow(
            id=sandbox_id, status=status, created_at=FIXED_NOW - days * DAY,
            started_at=FIXED_NOW - days * DAY + 2, stop_snapshot_id=stop_snap,
            status_reason="exited with code 3" if status == states.FAILED else "",
            spec=StoredSpec(command="/bin/sh", args=["-c", "sleep infinity"],
                             container_image=image, tags=tags, mount_path=mount,
                             mount_size="10Gi" if mount else "")))
    rng = random.Random(3)
    rows = []
    for n in range(1, 31):
        failed = n % 7 == 0
        created = FIXED_NOW - (n * 1.3) * DAY
        rows.append(SnapshotRow(
            id=f"fss-{n:012d}", status=states.FSS_FAILED if failed else states.FSS_READY,
            created_at=created, updated_at=created + 40,
            completed_at=None if failed else created + 40,
            source_sandbox_id="sb-00000000cccc" if n % 2 else "sb-00000000aaaa",
            trigger=states.TRIGGER_STOP if n % 3 == 0 else states.TRIGGER_MANUAL,
            idempotency_key=f"seed-{n}", object_bucket="cwsandbox-managed",
            archive=f"cwsandbox-managed/seed-{n}.tar",
            status_reason="the mount holds more than its size limit" if failed else "",
            size_bytes=0 if failed else rng.randrange(2**20, 3 * 2**30)))
    store.insert_snapshots(rows)


@pytest.fixture
def api() -> str:
    """The generation the test backend serves: both, unless a flow is parametrised with
    `@pytest.mark.parametrize("api", ["v1beta2", "v1"])` to run on each one alone."""
    return "both"


@pytest.fixture
async def backend(data_dir: Path, api: str) -> AsyncIterator[BackendServer]:
    """A running backend on a free loopback port, serving `api`."""
    async with serving(data_dir, api=api) as server:
        yield server


def make_client(backend: BackendServer, *, read_only: bool = False, fake_clock: bool = True,
                options: ClientOptions | None = None) -> Client:
    """A client of `backend`: the v1beta2 adapter when it serves both generations (as the
    dashboard's auto choice would be there), else one found by `auto`, as a user gets."""
    channel = open_channel(f"127.0.0.1:{backend.port}", tls=False, root_certificates=None)
    api = backend.config.api
    adapter = V1beta2Adapter(channel, []) if api == "both" else choose("auto", channel, [])
    info = EndpointInfo(url="http://127.0.0.1:50051", source="embedded",
                        auth_mode="no authentication", read_only=read_only, embedded=True,
                        isolation="bubblewrap")
    clock = FakeClock(start=FIXED_NOW) if fake_clock else None
    return Client(adapter, info, clock=clock, rng=random.Random(0), options=options)


AppFactory = Callable[..., DashboardApp]


@pytest.fixture
async def app_factory(backend: BackendServer) -> AsyncIterator[AppFactory]:
    """Build apps on a client of the test backend; clients are closed afterwards."""
    clients: list[Client] = []

    def build(*, read_only: bool = False, seed: bool = True,
              keymap: dict[str, str] | None = None, **client_kwargs: object) -> DashboardApp:
        if seed and not clients:
            seed_rows(backend)
        client = make_client(backend, read_only=read_only, **client_kwargs)  # type: ignore[arg-type]
        clients.append(client)
        return DashboardApp(client, refresh_interval=0, keymap=keymap)

    yield build
    for client in clients:
        await client.close()


async def settle(pilot: object) -> None:
    """Let workers finish and the screen catch up."""
    app = pilot.app  # type: ignore[attr-defined]
    with contextlib.suppress(WorkerCancelled):  # replaced by an exclusive one: done too
        await app.workers.wait_for_complete()
    await pilot.pause()  # type: ignore[attr-defined]


def data_dir_of(backend: BackendServer) -> Path:
    return backend.config.data_dir


@pytest.fixture(scope="module")
def threaded_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendServer]:
    """A backend on its own thread and loop, for tests whose app runs its own loop
    (pytest-textual-snapshot's `snap_compare` calls `App.run`)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="backend", daemon=True)
    thread.start()
    data_dir = tmp_path_factory.mktemp("threaded-backend")
    server = BackendServer(ServerConfig(data_dir=data_dir, port=0))
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=30)
    seed_rows(server)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(grace=0), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@pytest.fixture
def snapshot_app(threaded_backend: BackendServer) -> Callable[..., DashboardApp]:
    """An app for screenshots: fixed clock, fixed header, client made on the app's loop."""

    def build(*, read_only: bool = False) -> DashboardApp:
        return DashboardApp(lambda: make_client(threaded_backend, read_only=read_only),
                            refresh_interval=0)

    return build
