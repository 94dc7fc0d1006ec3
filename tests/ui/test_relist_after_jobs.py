"""What a job's end lists again, counted at the real backend: nothing after a bulk delete the
row store could show from the client's events; sandboxes and snapshots after one it could not
(an item failed, or the run was cancelled), whose deleted rows are gone before that listing."""

from __future__ import annotations

from textual.pilot import Pilot

from cwsandbox_tui.backend.faults import Trigger
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client.client import ClientOptions
from cwsandbox_tui.client.retry import RetryPolicy
from cwsandbox_tui.ui.app import DashboardApp
from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen
from cwsandbox_tui.ui.store import Change, What

from .conftest import AppFactory
from .flows_support import server_snapshots, settle, wait_for

SEEDED = {f"fss-{n:012d}" for n in range(1, 31)}
OLD = {f"fss-{n:012d}" for n in range(6, 31)}  # older than 7 days (see test_flows_snapshots)
LISTINGS = ("List", "ListFileSystemSnapshots")  # v1beta2's sandbox and snapshot listings


def listings(backend: BackendServer) -> int:
    return sum(backend.faults.calls(method) for method in LISTINGS)


def count_listings(backend: BackendServer) -> None:
    for method in LISTINGS:
        backend.faults.set_latency(method, 0.0)  # a rule makes the fault plan count its calls


async def delete_old(pilot: Pilot[None]) -> None:
    """2, /age>7d, *, ctrl+d, y: the 25 old snapshots, marked and deleted."""
    await settle(pilot)
    await pilot.press("2")
    await settle(pilot)
    await pilot.press("slash", *"age>7d", "enter", "asterisk")
    await pilot.pause()
    screen = pilot.app.screen
    assert isinstance(screen, SnapshotsScreen) and screen.table.marks == OLD
    await pilot.press("ctrl+d")
    await pilot.pause()
    await pilot.press("y")


def rows_when_listed_again(app: DashboardApp) -> list[set[str]]:
    """The snapshot rows shown when a listing's sandboxes come (before its snapshots do)."""
    seen: list[set[str]] = []

    def changed(change: Change) -> None:
        if change.what is What.SANDBOXES:
            seen.append(set(app.store.snapshots))
    app.store.subscribe(changed)
    return seen


async def test_a_bulk_delete_that_deleted_everything_lists_nothing_after_it(
        app_factory: AppFactory, backend: BackendServer) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        count_listings(backend)
        await delete_old(pilot)
        await wait_for(pilot, lambda: not app.runner.jobs, "the bulk delete to end")
        await settle(pilot)
        assert set(server_snapshots(backend)) == SEEDED - OLD
        assert set(app.store.snapshots) == SEEDED - OLD  # from the client's events alone
        assert listings(backend) == 0, "the store had folded the delete: nothing to list"


async def test_a_bulk_delete_with_a_failed_item_lists_again(
        app_factory: AppFactory, backend: BackendServer) -> None:
    # The first delete is committed and then answered UNAVAILABLE, and nothing is retried:
    # the item fails although the server deleted it. Only a listing can say it is gone.
    backend.faults.set_fault("DeleteFileSystemSnapshot", "lost", Trigger(first=1))
    app = app_factory(options=ClientOptions(retry=RetryPolicy(budget=0.0), bulk_concurrency=1))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        count_listings(backend)
        seen = rows_when_listed_again(app)
        await delete_old(pilot)
        await wait_for(pilot, lambda: listings(backend) >= 2, "the listing after the failure")
        await settle(pilot)
        assert set(server_snapshots(backend)) == SEEDED - OLD
        assert seen, "a listing began after the job"
        failed = seen[0] & OLD
        assert len(failed) == 1, "the failed item's row stays until the listing says"
        assert set(app.store.snapshots) == SEEDED - OLD  # and the listing said it is gone


async def test_a_cancelled_bulk_delete_lists_again_and_its_deleted_rows_go_at_once(
        app_factory: AppFactory, backend: BackendServer) -> None:
    app = app_factory(options=ClientOptions(bulk_concurrency=2))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        count_listings(backend)
        backend.faults.set_latency("DeleteFileSystemSnapshot", 0.5)  # a window for ctrl+k
        seen = rows_when_listed_again(app)
        await delete_old(pilot)
        await wait_for(pilot, lambda: len(server_snapshots(backend)) <= 26,
                       "some deletes to be done")
        await pilot.press("ctrl+k")
        await wait_for(pilot, lambda: not app.runner.jobs, "the bulk delete to stop")
        await settle(pilot)
        left = set(server_snapshots(backend))
        gone = SEEDED - left
        assert gone and gone < OLD, "a cancel lets only the deletes under way finish"
        assert listings(backend) >= 2, "the cancelled run's rows were listed again"
        assert seen and not seen[0] & gone, "the deleted rows went before the listing"
        assert seen[0] == left
        assert set(app.store.snapshots) == left
