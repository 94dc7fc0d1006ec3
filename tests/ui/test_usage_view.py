"""The usage view (5, :usage): the seeded snapshots grouped, and from a group to a cleanup.

Keys one by one and in bursts (one terminal read); against the real backend; goldens at
80x24 and 120x40, each with what must be on it.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Mapping

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Static

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.backend.store import SnapshotRow
from cwsandbox_tui.client.client import ClientOptions
from cwsandbox_tui.client.models import Sandbox
from cwsandbox_tui.client.usage import Group, Grouping, Usage
from cwsandbox_tui.formatting import human_size
from cwsandbox_tui.ui.app import DashboardApp
from cwsandbox_tui.ui.screens.dialogs import ConfirmDialog
from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen
from cwsandbox_tui.ui.screens.usage import Tally, UsageScreen
from tests.cli.helpers import cli

from .conftest import DAY, FIXED_NOW, AppFactory
from .flows_support import note_titled, server_snapshots, settle, wait_for
from .test_snapshots import SIZES, keys
from .test_typeahead import burst, keys_done


def expected(backend: BackendServer, part: Callable[[object], str]) -> dict[str, tuple[int, int]]:
    """(count, bytes) per group, straight from the server's records."""
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in server_snapshots(backend).values():
        acc = sums[part(row)]
        acc[0] += 1
        acc[1] += row.size_bytes
    return {k: (c, s) for k, (c, s) in sums.items()}


def shown(app: DashboardApp) -> list[Group]:
    screen = app.screen
    assert isinstance(screen, UsageScreen)
    return [screen.table.rows[i] for i in screen.table.view]


def status_word(row: object) -> str:
    return {states.FSS_READY: "ready", states.FSS_FAILED: "failed",
            states.FSS_CREATING: "creating"}[row.status]  # type: ignore[attr-defined]


async def grouped_by(pilot: Pilot[None], by: Grouping) -> list[Group]:
    app = pilot.app
    assert isinstance(app, DashboardApp)

    def ready() -> bool:
        screen = app.screen
        return isinstance(screen, UsageScreen) and screen.tally is not None \
            and screen.tally.by is by and screen.tally.count == len(app.store.snapshots) > 0
    await wait_for(pilot, ready, f"the usage view grouped by {by.value}")
    await settle(pilot)
    return shown(app)  # type: ignore[arg-type]


async def test_five_groups_the_snapshots_by_source_with_sizes_and_tags(
        app_factory: AppFactory, backend: BackendServer) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("5")
        groups = await grouped_by(pilot, Grouping.SOURCE)
        want = expected(backend, lambda r: r.source_sandbox_id)  # type: ignore[attr-defined]
        assert [(g.key, g.count, g.size_bytes) for g in groups] == sorted(
            ((k, c, s) for k, (c, s) in want.items()), key=lambda t: -t[2])
        assert {g.key: g.tags for g in groups} == {
            "sb-00000000aaaa": ("team-ml", "llama"), "sb-00000000cccc": ("etl",)}
        assert all(g.exists for g in groups)
        total = sum(s for _, s in want.values())
        title = str(app.screen.query_one("#usage-title", Static).render())
        assert f"Usage by source: 30 snapshots, {human_size(total)}" in title
        hints = str(app.screen.query_one("#usage-hints", Static).render())
        assert "FAILED 4 (0 B)" in hints and "sandbox gone 0" in hints
        old = [r for r in server_snapshots(backend).values()
               if FIXED_NOW - r.created_at >= 7 * DAY]
        assert f"older than 7d {len(old)} ({human_size(sum(r.size_bytes for r in old))})" \
            in hints


async def test_tab_switches_the_grouping_in_a_burst_and_one_by_one(
        app_factory: AppFactory, backend: BackendServer) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        burst(app, "5\t\t")  # usage, by age, by status: one read
        await keys_done(pilot)
        groups = await grouped_by(pilot, Grouping.STATUS)
        want = expected(backend, status_word)
        assert {g.key: (g.count, g.size_bytes) for g in groups} == want
        assert [g.key for g in groups][-1] == "failed"  # 0 bytes: the smallest
        assert [g.safe for g in groups if g.key == "failed"] == ["FAILED"]
        await pilot.press("tab")
        trigger = await grouped_by(pilot, Grouping.TRIGGER)
        assert {g.key for g in trigger} == {"stop", "manual"}
        await pilot.press("tab")
        assert {g.key for g in await grouped_by(pilot, Grouping.SOURCE)} == {
            "sb-00000000aaaa", "sb-00000000cccc"}
        await pilot.press("tab")
        ages = await grouped_by(pilot, Grouping.AGE)
        assert {g.key: g.count for g in ages} == {"a week": 5, "a month": 18,
                                                  "older": 7}
        assert {g.key: g.safe for g in ages}["a month"] == "older than 7d"


async def test_the_dashboard_and_the_cli_show_the_same_groups(
        app_factory: AppFactory, backend: BackendServer) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        burst(app, ":usage\r\t\t")
        await keys_done(pilot)
        groups = await grouped_by(pilot, Grouping.STATUS)
        run = await cli("snapshots", "usage", "--by", "status", "--json",
                        env={"CWSANDBOX_BASE_URL": backend.url})
        assert run.code == 0, run
        assert [(g["key"], g["count"], g["size_bytes"], g["filter"])
                for g in run.json()["groups"]] == [
            (g.key, g.count, g.size_bytes, g.filter) for g in groups]


async def test_ctrl_d_on_the_failed_group_deletes_exactly_those(
        app_factory: AppFactory, backend: BackendServer) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        before = server_snapshots(backend)
        failed = {i for i, r in before.items() if r.status == states.FSS_FAILED}
        assert len(failed) == 4
        # one read: usage, by age, by status, down to FAILED (the smaller), ctrl+d; each key
        # waits for the groups it acts on
        burst(app, "5\t\tj\x04")
        await keys_done(pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        assert dialog.lines[0] == "Delete 4 snapshots (0 B)?"
        assert {line.strip() for line in dialog.lines} >= failed
        await wait_for(pilot, lambda: isinstance(app.focused, Button)
                       and app.focused.id == "cancel", "Cancel focused")
        await pilot.press("y")
        await wait_for(pilot, lambda: set(server_snapshots(backend)) == set(before) - failed,
                       "the FAILED snapshots to be deleted, and only them")
        await settle(pilot)
        snapshots = app.screen
        assert isinstance(snapshots, SnapshotsScreen) and snapshots.filter_text == "status=failed"
        # back to the usage view: the deleted rows are gone from its groups
        await pilot.press("5")
        await wait_for(pilot, lambda: isinstance(app.screen, UsageScreen)
                       and app.screen.tally is not None and app.screen.tally.count == 26,
                       "the usage view without the deleted snapshots")
        assert "failed" not in {g.key for g in shown(app)}


async def test_enter_shows_exactly_the_group_in_the_snapshots_view(
        app_factory: AppFactory, backend: BackendServer) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("5", "tab")
        ages = await grouped_by(pilot, Grouping.AGE)
        screen = app.screen
        assert isinstance(screen, UsageScreen)
        screen.table.move_cursor([g.key for g in ages].index("a week"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, SnapshotsScreen)
                       and app.screen.filter_text == "age>=1d age<7d", "the filtered snapshots")
        snapshots = app.screen
        assert isinstance(snapshots, SnapshotsScreen)
        want = {i for i, r in server_snapshots(backend).items()
                if DAY <= FIXED_NOW - r.created_at < 7 * DAY}
        assert set(snapshots.table.view) == want and len(want) == 5
        assert not snapshots.table.marks  # showing is not choosing


async def test_snapshots_of_a_sandbox_gone_are_pointed_out_and_filtered_by_sandbox_gone(
        app_factory: AppFactory, backend: BackendServer) -> None:
    app = app_factory()
    assert backend.engine is not None
    backend.engine.store.insert_snapshots([SnapshotRow(
        id="fss-orphan", status=states.FSS_READY, created_at=FIXED_NOW - 3 * DAY,
        updated_at=FIXED_NOW, source_sandbox_id="sb-0000000gone0", trigger=states.TRIGGER_STOP,
        object_bucket="cwsandbox-managed", archive="", size_bytes=7 * 2**20)])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("5")
        groups = {g.key: g for g in await grouped_by(pilot, Grouping.SOURCE)}
        gone = groups["sb-0000000gone0"]
        assert (gone.count, gone.size_bytes, gone.exists) == (1, 7 * 2**20, False)
        assert gone.safe == "its sandbox is gone" and gone.filter == "source=sb-0000000gone0"
        hints = str(app.screen.query_one("#usage-hints", Static).render())
        assert "sandbox gone 1 (7.0 MiB)" in hints
        burst(app, "2/sandbox=gone\r*\x04")  # the hint's filter, mark shown, delete
        await keys_done(pilot)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        assert dialog.lines[0] == "Delete 1 snapshot (7.0 MiB)?"
        await pilot.press("y")
        await wait_for(pilot, lambda: "fss-orphan" not in server_snapshots(backend),
                       "the orphan to be deleted")
        assert len(server_snapshots(backend)) == 30


async def test_read_only_refuses_ctrl_d(app_factory: AppFactory, backend: BackendServer) -> None:
    app = app_factory(read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("5")
        await grouped_by(pilot, Grouping.SOURCE)
        await pilot.press("ctrl+d")
        await settle(pilot)
        assert isinstance(app.screen, UsageScreen)
        assert note_titled(app, "Read-only") is not None
        assert len(server_snapshots(backend)) == 30


async def test_pages_fold_in_as_they_arrive_on_the_grouping_thread(
        app_factory: AppFactory, backend: BackendServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The usage view in front from the start: the first listing's pages (of 7) are folded
    in as they come, each on the view's own thread, never on the UI thread."""
    threads: list[str] = []
    sizes: list[int] = []
    apply = UsageScreen._apply

    def recorded(self: UsageScreen, change: Callable[[Usage], None], by: Grouping,
                 sandboxes: Mapping[str, Sandbox], number: int) -> Tally | None:
        threads.append(threading.current_thread().name)
        tally = apply(self, change, by, sandboxes, number)
        assert self._usage is not None
        sizes.append(len(self._usage))  # rows held after this fold
        return tally

    monkeypatch.setattr(UsageScreen, "_apply", recorded)
    monkeypatch.setattr(DashboardApp, "DEFAULT_MODE", "usage")
    app = app_factory(options=ClientOptions(page_size=7))
    async with app.run_test(size=(120, 40)) as pilot:
        groups = await grouped_by(pilot, Grouping.SOURCE)
        assert sum(g.count for g in groups) == 30
        assert threads and all(name.startswith("usage") for name in threads), threads
        assert threading.current_thread().name not in threads
        # page by page: counts grew through the pages before the whole listing was in
        partial = sorted({n for n in sizes if 0 < n < 30})
        assert len(partial) >= 3, sizes


Build = Callable[..., DashboardApp]


@pytest.mark.parametrize("size", SIZES)
class TestUsageGoldens:
    def test_by_source(self, snap_compare, snapshot_app: Build, size: tuple[int, int]) -> None:
        run = keys("5", shows=("Usage by source: 30 snapshots", "sb-00000000cccc",
                               "sb-00000000aaaa", "Usually safe to drop: FAILED 4"))
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=run)

    def test_by_status(self, snap_compare, snapshot_app: Build, size: tuple[int, int]) -> None:
        run = keys("5", "tab", "tab", shows=("Usage by status", "READY", "FAILED", "safe: FAILED"))
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=run)
