"""The table views' status line follows the table's own messages (RowTable.Changed): it is
right after keys typed in a burst or one by one (marks, a range, mark all, unmark, a
filter), after pages of a listing and a delete land, and after a change made on the table or
its row model alone, which no screen action told it about. While a listing streams in, the
count is paced, not repainted for every page. Against the real embedded backend."""

from __future__ import annotations

import ast
import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import Static

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.backend.store import SnapshotRow
from cwsandbox_tui.client.client import ClientOptions
from cwsandbox_tui.client.models import Snapshot, SnapshotStatus
from cwsandbox_tui.ui import screens
from cwsandbox_tui.ui.screens.columns import SNAPSHOT_COLUMNS
from cwsandbox_tui.ui.screens.sandboxes import SandboxesScreen
from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen
from cwsandbox_tui.ui.screens.table_screen import STATUS_INTERVAL, TableScreen
from cwsandbox_tui.ui.store import Change, What
from cwsandbox_tui.ui.widgets.row_model import Changed, RowModel

from .conftest import DAY, FIXED_NOW, AppFactory
from .flows_support import server_snapshots, settle, to_snapshots_view, wait_for

SEEDED = [f"fss-{n:012d}" for n in range(1, 31)]  # newest first, as the view sorts them
OLD = set(SEEDED[5:])  # older than 7 days


def status_of(screen: TableScreen[Any]) -> str:
    return str(screen.query_one("#status-line", Static).render())


async def shows(pilot: Pilot[None], screen: TableScreen[Any], expected: str) -> None:
    """Wait (bounded) until the status line shows `expected`; fail saying what it shows."""
    try:
        await wait_for(pilot, lambda: status_of(screen) == expected, repr(expected))
    except AssertionError as error:
        raise AssertionError(f"{error}; the status line says {status_of(screen)!r}") from None


async def press(pilot: Pilot[None], keys: list[str], burst: bool) -> None:
    """The keys as a terminal delivers them: all at once, or one by one."""
    if burst:
        await pilot.press(*keys)
    else:
        for key in keys:
            await pilot.press(key)


async def snapshots_view(pilot: Pilot[None]) -> SnapshotsScreen:
    await settle(pilot)
    await pilot.press("2")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, SnapshotsScreen)
    await shows(pilot, screen, "30 of 30 snapshots")
    return screen


@pytest.mark.parametrize("burst", [True, False], ids=["burst", "one-by-one"])
async def test_marks_and_filters_typed_are_counted(app_factory: AppFactory,
                                                   burst: bool) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await snapshots_view(pilot)
        await press(pilot, ["space", "space", "V"], burst)  # the first two, then to the third
        await shows(pilot, screen, "30 of 30 snapshots  3 marked")
        assert screen.table.marks == set(SEEDED[:3])
        await press(pilot, ["u", "asterisk"], burst)
        await shows(pilot, screen, "30 of 30 snapshots  30 marked")
        await press(pilot, ["u"], burst)
        await shows(pilot, screen, "30 of 30 snapshots")
        assert not screen.table.marks

        await press(pilot, ["slash", *"age>7d", "enter", "asterisk"], burst)
        await shows(pilot, screen, "25 of 30 snapshots  25 marked  filter: age>7d")
        assert screen.table.marks == OLD
        await press(pilot, ["slash", *"age<7d", "enter"], burst)  # the old text is replaced
        await shows(pilot, screen, "5 of 30 snapshots  25 marked (25 hidden by the filter)  "
                                   "filter: age<7d")
        await press(pilot, ["space", "escape"], burst)  # one more marked; the filter cleared
        await shows(pilot, screen, "30 of 30 snapshots  26 marked")
        await press(pilot, ["u"], burst)
        await shows(pilot, screen, "30 of 30 snapshots")


@pytest.mark.parametrize("burst", [True, False], ids=["burst", "one-by-one"])
async def test_a_filter_longer_than_the_line_is_shown_cut_not_dropped(
        app_factory: AppFactory, burst: bool) -> None:
    """At 80 columns a 75-character filter does not fit: the line shows its start, cut with
    an ellipsis (it showed "filter:" and nothing, the rest wrapped to a hidden line)."""
    long_filter = "fss-" + "0123456789abcdefghij" * 3 + "x" * 11
    assert len(long_filter) == 75
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await snapshots_view(pilot)
        await press(pilot, ["slash", *long_filter, "enter"], burst)
        await shows(pilot, screen, f"0 of 30 snapshots  filter: {long_filter}")
        line = screen.query_one("#status-line", Static)
        painted = line.render_lines(Region(0, 0, line.outer_size.width, 1))[0].text
        assert len(painted) == 80
        shown = painted.strip()
        assert shown.startswith("0 of 30 snapshots  filter: fss-0123456789abcdefghij0123")
        assert shown.endswith("…") and long_filter.startswith(
            shown.removeprefix("0 of 30 snapshots  filter: ").removesuffix("…"))


@pytest.mark.parametrize("burst", [True, False], ids=["burst", "one-by-one"])
async def test_marks_on_the_sandboxes_view_are_counted(app_factory: AppFactory,
                                                       burst: bool) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SandboxesScreen)
        await shows(pilot, screen, "4 of 4 sandboxes")
        await press(pilot, ["space", "space", "V", "down", "space"], burst)
        await shows(pilot, screen, "4 of 4 sandboxes  4 marked")
        await press(pilot, ["slash", *"status=running", "enter"], burst)
        await shows(pilot, screen, "1 of 4 sandboxes  4 marked (3 hidden by the filter)  "
                                   "filter: status=running")


async def test_a_delete_landing_is_counted(app_factory: AppFactory,
                                           backend: BackendServer) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await snapshots_view(pilot)
        await pilot.press("space", "space", "V", "ctrl+d")
        await wait_for(pilot, lambda: app.screen is not screen, "the confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: set(server_snapshots(backend)) == set(SEEDED[3:]),
                       "the three deleted on the server")
        await shows(pilot, screen, "27 of 27 snapshots")
        assert set(screen.table.rows) == set(SEEDED[3:]) and not screen.table.marks


def listed(app: Any, count: int) -> Callable[[], bool]:
    return lambda: len(app.store.snapshots) == count


async def test_each_page_of_a_listing_is_counted_as_it_lands(app_factory: AppFactory) -> None:
    page = 10
    app = app_factory(options=ClientOptions(page_size=page))
    gates: asyncio.Queue[None] = asyncio.Queue()  # one for each page the listing may fetch
    fetch = app.client.adapter.list_snapshots_page

    async def held(token: str, timeout: float, page_size: int = 0) -> Any:
        await gates.get()
        return await fetch(token, timeout, page_size)

    app.client.adapter.list_snapshots_page = held  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await to_snapshots_view(pilot)
        await shows(pilot, screen, "loading snapshots...")
        for landed in (page, 2 * page, 3 * page):
            gates.put_nowait(None)
            await wait_for(pilot, listed(app, landed), f"{landed} rows listed")
            await shows(pilot, screen, f"{landed} of {landed} snapshots")
        for _ in range(3):  # whatever the listing asks after its last page
            gates.put_nowait(None)
        await wait_for(pilot, lambda: app.store.loaded, "the end of the listing")
        await shows(pilot, screen, "30 of 30 snapshots")


async def test_a_long_listing_is_counted_a_few_times_a_second_not_for_every_page(
        app_factory: AppFactory, backend: BackendServer) -> None:
    page, extra = 5, 970
    app = app_factory(options=ClientOptions(page_size=page))
    assert backend.engine is not None
    backend.engine.store.insert_snapshots([SnapshotRow(
        id=f"fss-x{n:011d}", status=states.FSS_READY, created_at=FIXED_NOW - 40 * DAY - n,
        updated_at=FIXED_NOW - 40 * DAY, completed_at=FIXED_NOW - 40 * DAY,
        idempotency_key=f"extra-{n}", object_bucket="cwsandbox-managed",
        archive=f"cwsandbox-managed/extra-{n}.tar", size_bytes=1000) for n in range(extra)])
    total = len(SEEDED) + extra
    listing = asyncio.Event()  # held until the snapshots view is in front
    fetch = app.client.adapter.list_snapshots_page

    async def held(token: str, timeout: float, page_size: int = 0) -> Any:
        await listing.wait()
        return await fetch(token, timeout, page_size)

    app.client.adapter.list_snapshots_page = held  # type: ignore[method-assign]
    pages: list[int] = []
    shown: list[str] = []

    def paged(change: Change) -> None:
        if change.what is What.PAGE:
            pages.append(len(change.page))

    async with app.run_test(size=(120, 40)) as pilot:
        screen = await to_snapshots_view(pilot)
        def counted(text: str) -> None:
            shown.append(text)

        screen.watch(screen, "status", counted, init=False)
        app.store.subscribe(paged)
        started = time.monotonic()
        listing.set()
        await shows(pilot, screen, f"{total} of {total} snapshots")
        took = time.monotonic() - started
        assert app.store.loaded and sum(pages) == total
        # At most one paced count per STATUS_INTERVAL, and one per batch merge (which comes
        # at most as often): a few, against a count for each of the 200 pages.
        allowed = 5 + 2 * took / STATUS_INTERVAL
        assert len(shown) <= allowed, (len(shown), allowed, len(pages), shown)
        assert len(pages) > allowed, "the listing was too slow to tell pacing from none"


async def test_marks_made_on_the_table_alone_are_counted(app_factory: AppFactory) -> None:
    """No screen action tells the line: the table's message does. (With the calls by hand,
    each of these left the line as it was.)"""
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await snapshots_view(pilot)
        screen.table.mark_visible()
        await shows(pilot, screen, "30 of 30 snapshots  30 marked")
        screen.table.clear_marks()
        await shows(pilot, screen, "30 of 30 snapshots")


async def test_a_mark_made_on_the_row_model_alone_is_counted(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await snapshots_view(pilot)
        model = screen.table.model  # under the drawing widget
        model.move_cursor(4)
        await pilot.pause()
        model.toggle_mark()
        await shows(pilot, screen, "30 of 30 snapshots  1 marked")
        assert model.marks == {SEEDED[4]}


async def test_a_row_the_filter_hides_going_away_is_counted(app_factory: AppFactory) -> None:
    """The rows shown stay the same (no cursor message), the count of all rows does not."""
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await snapshots_view(pilot)
        await pilot.press("slash", *"age<7d", "enter")
        await shows(pilot, screen, "5 of 30 snapshots  filter: age<7d")
        shown = list(screen.table.view)
        screen.table.replace_all([row for row in app.store.snapshots.values()
                                  if row.id != SEEDED[-1]])
        await shows(pilot, screen, "5 of 29 snapshots  filter: age<7d")
        assert screen.table.view == shown


def test_the_model_announces_rows_held_for_a_merge_and_marks_set_or_dropped() -> None:
    """What the line counts changes only with an announcement: rows that wait unseen for a
    sorted merge (a page of a listing), marks a prune sets and marks a delete drops."""
    changes: list[Changed] = []
    model: RowModel[Snapshot] = RowModel(
        lambda s: s.id, sort_keys={c.key: c.sort_key for c in SNAPSHOT_COLUMNS if c.sort_key},
        on_change=changes.append)
    model.sort_column, model.sort_reverse = "created", True
    snaps = [Snapshot(id=f"fss-{n:03d}", status=SnapshotStatus.READY, created_at=FIXED_NOW - n)
             for n in range(20)]
    model.append(snaps[:10])  # the first page shows at once
    assert len(model.view) == 10 and changes[-1].view
    changes.clear()
    model.append(snaps[10:])
    assert model.pending and len(model.view) == 10 and len(model.rows) == 20
    assert changes == [Changed(pending=True)]
    changes.clear()
    model.append(snaps[10:])  # the same rows again: nothing new is held
    assert changes == []
    model.settle()
    changes.clear()

    model.set_marks(["fss-001", "fss-002", "fss-003"])
    assert model.marks == {"fss-001", "fss-002", "fss-003"}
    model.unmark(["fss-002", "fss-009"])
    assert model.marks == {"fss-001", "fss-003"}
    assert changes == [Changed(every_row=True, marks=True)] * 2


def update_status_callers() -> set[tuple[str, str]]:
    """(class, method) of every call of update_status in the views' code."""
    found: set[tuple[str, str]] = set()
    for path in Path(screens.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            for method in node.body:
                if not isinstance(method, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for inner in ast.walk(method):
                    if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Attribute) \
                            and inner.func.attr == "update_status":
                        found.add((node.name, method.name))
    return found


def test_no_view_counts_by_hand_after_changing_its_table() -> None:
    assert update_status_callers() == {
        ("TableScreen", "on_row_table_changed"),  # the table's messages
        ("TableScreen", "_paced_status"),  # (while pages stream in)
        ("TableScreen", "_facts_changed"),  # the app's facts: loading, failed
        ("TableScreen", "watch_filter_text"),  # the filter the line names
        ("TableScreen", "watch_filter_rejected"),  # and why a typed one is not applied
        ("OpsScreen", "load"),  # the routine refreshes it counts are no rows of the table
    }
