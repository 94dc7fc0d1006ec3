"""The Runners view (`4`, `:runners`): capacity bars and profiles, with SVG snapshots.

The backend here reports a fixed catalogue (this machine's real figures differ from one
machine to the next) and runs two real sandboxes that took resources on `local-runner`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from cwsandbox_tui.backend.discovery import (
    Catalogue,
    CatalogueProfile,
    CatalogueRunner,
    PlacementAsk,
    ResourceAsk,
    Resources,
)
from cwsandbox_tui.backend.server import BackendServer, ServerConfig
from cwsandbox_tui.backend.store import StoredSpec
from cwsandbox_tui.ui.app import DashboardApp
from cwsandbox_tui.ui.screens.runners import RunnersScreen, bar

from .conftest import FIXED_NOW, make_client, seed_rows

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
GIB = 2**30


def fixed_catalogue() -> Catalogue:
    local = CatalogueRunner(
        runner_id="local-runner", group_id="local", capacity=Resources(8000, 32 * GIB),
        architectures=("amd64",), connected_at=FIXED_NOW - 3600, tags=("local",),
        profiles=(CatalogueProfile("default", "local-runner", ("amd64",)),))
    gpu = CatalogueRunner(
        runner_id="gpu-runner-a", group_id="gpu-pool",
        capacity=Resources(64000, 512 * GIB, 8), architectures=("amd64",),
        gpu_types=("H100",), connected_at=FIXED_NOW - 7200, shared=True,
        profiles=(CatalogueProfile("gpu", "gpu-runner-a", ("amd64",), ("H100",),
                                   ("public",), ("internet",)),))
    return Catalogue([local, gpu])


@pytest.fixture(scope="module")
def runners_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendServer]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="runners-backend", daemon=True)
    thread.start()
    server = BackendServer(ServerConfig(data_dir=tmp_path_factory.mktemp("runners"), port=0))
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=30)
    seed_rows(server)
    assert server.engine is not None
    engine = server.engine
    engine.catalogue = fixed_catalogue()

    async def start_two() -> None:
        for cpu, memory in (("1500m", "4Gi"), ("500m", "2Gi")):
            engine.start(StoredSpec(command="/bin/sh", args=["-c", "exec sleep infinity"]),
                         ask=PlacementAsk(runner_ids=("local-runner",),
                                          requests=ResourceAsk(cpu=cpu, memory=memory)))

    asyncio.run_coroutine_threadsafe(start_two(), loop).result(timeout=30)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(grace=0), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@pytest.fixture
def runners_app(runners_backend: BackendServer) -> Callable[[], DashboardApp]:
    return lambda: DashboardApp(lambda: make_client(runners_backend), refresh_interval=0)


async def loaded(pilot: Pilot[None]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def open_runners(key: str) -> Callable[[Pilot[None]], object]:
    async def run(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        if key == "4":
            await pilot.press("4")
        else:
            await pilot.press("colon", *"runners", "enter")
        await pilot.pause()
        await loaded(pilot)
    return run


def test_bar_fills_the_used_share() -> None:
    assert bar(2, 8, 8) == "██░░░░░░"
    assert bar(0, 8, 4) == "░░░░"
    assert bar(1, 1000, 4) == "█░░░"  # a little used is still shown
    assert bar(9, 8, 4) == "████"
    assert bar(0, 0, 3) == "░░░"


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("key", ["4", ":runners"])
async def test_runners_view_shows_capacity_and_profiles(
        runners_app: Callable[[], DashboardApp], size: tuple[int, int], key: str) -> None:
    app = runners_app()
    async with app.run_test(size=size) as pilot:
        await open_runners(key)(pilot)
        screen = app.screen
        assert isinstance(screen, RunnersScreen)
        text = screen.visible_text()
        lines = text.splitlines()
        assert lines[0].startswith("local-runner  group local  healthy  amd64")
        # two sandboxes hold 1500m + 500m of 8 cores and 4Gi + 2Gi of 32Gi
        cpu = next(line for line in lines if line.strip().startswith("CPU"))
        assert "2 of 8 cores taken, 6 free" in cpu
        assert "█" in cpu and "░" in cpu
        memory = next(line for line in lines if line.strip().startswith("Memory"))
        assert "6.0 GiB of 32.0 GiB taken" in memory, memory
        assert any("Sandboxes" in line and "2 running" in line for line in lines)
        assert any("GPUs" in line and "none on this runner" in line for line in lines)
        assert any(line.split()[:2] == ["default", "amd64"] and "egress none" in line
                   for line in lines)
        assert "gpu-runner-a  group gpu-pool  healthy  amd64  shared" in text
        assert any("GPUs" in line and "0 of 8 taken" in line for line in lines)
        assert any(line.split()[:3] == ["gpu", "amd64", "H100"] and "egress internet" in line
                   for line in lines)
        # the first runner's four bars are on screen, above the footer
        body = screen.query_one("#runners-list", Static)
        last_bar = next(i for i, line in enumerate(lines) if "running" in line)
        assert body.region.y + last_bar < size[1] - 1
        assert "runners" in str(screen.query_one("HeaderBar").render())


@pytest.mark.parametrize("size", SIZES)
def test_runners_snapshot(snap_compare, runners_app: Callable[[], DashboardApp],
                          size: tuple[int, int]) -> None:
    opened = open_runners("4")

    async def run(pilot: Pilot[None]) -> None:
        await opened(pilot)
        shown = "\n".join(str(w.render()) for w in pilot.app.screen.query(Static))
        # the local runner's profile offers the ingress it keeps: published ports
        assert "ingress none, public, private" in shown, shown
        assert "local-runner" in shown and "gpu-runner-a" in shown
    assert snap_compare(runners_app(), terminal_size=size, run_before=run)


@pytest.mark.parametrize("api", ["v1beta2", "v1"])
async def test_runners_view_on_v1_and_its_polls_counted_not_logged(
        app_factory: Callable[..., DashboardApp], api: str) -> None:
    """On v1 the view said "Profiles are not part of the coreweave.sandbox.v1 API" instead
    of the runners (the CLI lists them with PROFILES -); its every-2-s polls filled :ops."""
    from .flows_support import settle, wait_for
    from .test_typeahead import burst, keys_done

    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.client.api_version == api
        burst(app, "4")
        await keys_done(pilot)
        screen = app.screen
        assert isinstance(screen, RunnersScreen)
        await wait_for(pilot, lambda: screen.loaded, "the runners")
        burst(app, "rr")
        await keys_done(pilot)
        text = screen.visible_text()
        assert "local-runner" in text, text
        assert ("Profiles: -" in text) == (api == "v1"), text
        assert "Cannot list" not in text
        logged = [row.op for row in app.store.op_rows]
        assert "List runners" not in logged and "List profiles" not in logged, logged
        assert app.client.bus.routine["List runners"] >= 2
