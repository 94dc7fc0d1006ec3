"""Dashboard flows on each API generation, against a backend serving only that one."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.faults import FaultPlan
from cwsandbox_tui.backend.server import BackendServer, ServerConfig
from cwsandbox_tui.backend.volumes import VolumeRecord, VolumeRegistry
from cwsandbox_tui.client.client import Client, EndpointInfo
from cwsandbox_tui.client.generations import choose
from cwsandbox_tui.client.models import SandboxSpec, SandboxStatus, SnapshotStatus
from cwsandbox_tui.client.wire import open_channel
from cwsandbox_tui.ui.app import DashboardApp
from cwsandbox_tui.ui.screens.dialogs import FormDialog
from cwsandbox_tui.ui.screens.volumes import NOT_OFFERED, VolumesScreen
from cwsandbox_tui.ui.widgets.header import HeaderBar

from .flows_support import note_titled, notes, server_snapshots, settle, table_lines, wait_for


@pytest.fixture(params=["v1beta2", "v1"])
def api(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def served(tmp_path: Path, api: str) -> AsyncIterator[BackendServer]:
    server = BackendServer(ServerConfig(data_dir=tmp_path / "backend", port=0, api=api,
                                        faults=FaultPlan(seed=1)))
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace=0)


@pytest.fixture
async def app(served: BackendServer) -> AsyncIterator[DashboardApp]:
    channel = open_channel(f"127.0.0.1:{served.port}", tls=False, root_certificates=None)
    info = EndpointInfo(url=served.url, source="test", auth_mode="no authentication",
                        read_only=False)
    client = Client(choose("auto", channel, []), info, rng=random.Random(0))
    yield DashboardApp(client, refresh_interval=0)
    await client.close()


async def test_stop_with_snapshot_and_the_header(app: DashboardApp, served: BackendServer,
                                                 api: str) -> None:
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        header = str(app.screen.query_one(HeaderBar).render())
        assert ("API v1" in header) == (api == "v1"), header
        sandbox = await app.client.start_sandbox(SandboxSpec(mount_path="/workspace"))
        await app.client.add_file(sandbox.id, "/workspace/notes.txt", b"keep me\n")
        await pilot.press("ctrl+r")
        await settle(pilot)
        await pilot.press("S")
        await pilot.pause()
        assert isinstance(app.screen, FormDialog)
        await pilot.press("1")
        await pilot.press("ctrl+s")
        await settle(pilot)
        stopped = app.store.sandboxes[sandbox.id]
        assert stopped.status is SandboxStatus.COMPLETED
        snap_id = stopped.stop_snapshot_id  # v1 records none: the client remembers its own
        assert snap_id.startswith("fss-")
        line = next(line for line in table_lines(app) if sandbox.id in line)
        assert "COMPLETED" in line and snap_id in line
        row = server_snapshots(served)[snap_id]
        assert row.status == states.FSS_READY and row.trigger == states.TRIGGER_STOP
        assert app.store.snapshots[snap_id].status is SnapshotStatus.READY


async def test_pause_is_refused_without_a_call_on_v1(app: DashboardApp, served: BackendServer,
                                                     api: str) -> None:
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        sandbox = await app.client.start_sandbox(SandboxSpec())
        await pilot.press("ctrl+r")
        await settle(pilot)
        served.faults.set_latency("*", 0.0)  # count every call from here on
        await pilot.press("p")
        await settle(pilot)
        if api == "v1":
            note = next(n for n in reversed(list(app._notifications)) if "Pause" in n.message)
            assert "not offered by the API v1" in note.message
            assert app.store.sandboxes[sandbox.id].status is SandboxStatus.RUNNING
            assert served.faults.calls("DeleteSandbox") == 0
        else:
            await wait_for(pilot, lambda: note_titled(app, "Pause sandbox"), "pause to finish")
            assert (await app.client.get_sandbox(sandbox.id)).status is SandboxStatus.PAUSED


async def test_volumes_view(app: DashboardApp, served: BackendServer, api: str) -> None:
    volumes = VolumeRegistry(served.config.data_dir / "volumes", "local-runner")
    volumes.create(VolumeRecord(volume_id="datasets", runner_id="local-runner", namespace="ns",
                                claim_name="data", description="shared data"))
    volumes.validate("datasets")
    async with app.run_test(size=(140, 40)) as pilot:
        await settle(pilot)
        await pilot.press("colon")
        await pilot.pause()
        await pilot.press(*"volumes", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, VolumesScreen)
        status = str(screen.query_one("#volumes-status", Static).render())
        table = screen.query_one("#volumes-table", DataTable)
        if api == "v1beta2":
            assert status == NOT_OFFERED and not table.display
            return
        assert status == "1 volume" and table.row_count == 1
        # Opening the view lists once, quietly: no "failed" for a listing it cancelled itself
        assert [n.title for n in notes(app) if "volume" in (n.title or "").lower()] == []
        assert [str(c) for c in table.get_row_at(0)][:4] == ["datasets", "ready", "local-runner",
                                                              "ns/data"]
        await pilot.press("ctrl+d")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert table.row_count == 0
        assert not (served.config.data_dir / "volumes" / "datasets").exists()
