"""Rows are frozen out of the collector's walks each time they double, and only then; the
dashboard's own objects once it has listed, given back when it closes; a big table's remade
lists of ids as they are made, after the young garbage is collected."""

from __future__ import annotations

import gc
import weakref

from cwsandbox_tui.client.models import Snapshot, SnapshotStatus
from cwsandbox_tui.ui.filter_expr import compile_filter
from cwsandbox_tui.ui.gcpolicy import FIRST_FREEZE, FreezeOnGrowth, made_to_last
from cwsandbox_tui.ui.screens.columns import SNAPSHOT_FIELDS
from cwsandbox_tui.ui.widgets.rowtable import RowTable

from .conftest import AppFactory, settle
from .flows_support import wait_for
from .test_rowtable_streaming import TableApp


def test_freezes_when_the_rows_double_and_not_in_between() -> None:
    policy = FreezeOnGrowth(first=100)
    before = gc.get_freeze_count()  # not 0 on every Python: 3.12.1 starts with some frozen
    try:
        kept = [[index] for index in range(1000)]  # tracked objects, like rows
        policy.rows(99)
        assert policy.freezes == 0 and gc.get_freeze_count() == before
        policy.rows(100)
        assert policy.freezes == 1 and gc.get_freeze_count() >= before + len(kept)
        policy.rows(150)  # refreshes of about the same rows freeze nothing more
        policy.rows(199)
        assert policy.freezes == 1
        policy.rows(200)
        policy.rows(10_000)
        assert policy.freezes == 3
        policy.rows(19_999)
        assert policy.freezes == 3
    finally:
        gc.unfreeze()


def test_the_settled_dashboard_is_frozen_once_and_released_when_it_closes() -> None:
    policy = FreezeOnGrowth(first=100)
    try:
        kept = [[index] for index in range(1000)]
        before = gc.get_freeze_count()
        policy.settled()
        assert policy.freezes == 1 and gc.get_freeze_count() >= before + len(kept)
        policy.settled()  # a later listing freezes nothing more
        assert policy.freezes == 1
        policy.release()
        assert policy.freezes == 0 and gc.get_freeze_count() == 0
        policy.release()  # nothing frozen: nothing to do
        assert gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()


async def test_the_dashboard_freezes_what_it_holds_once_listed_and_releases_it_on_exit(
        app_factory: AppFactory) -> None:
    gc.unfreeze()
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.store.loaded, "the first listing")
        await settle(pilot)
        frozen = gc.get_freeze_count()
        # the app, its screens and widgets, and its rows: far more than a bare interpreter
        assert frozen > 10_000
        await app.workers.wait_for_complete()
    assert gc.get_freeze_count() == 0


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def _young(target: object) -> bool:
    """Whether the collector's young generations (0 and 1) hold this very object."""
    return any(o is target for generation in (0, 1) for o in gc.get_objects(generation))


def test_lists_made_to_last_are_frozen_after_the_young_garbage_is_collected() -> None:
    gc.unfreeze()
    enabled = gc.isenabled()
    try:
        gc.enable()
        garbage = weakref.ref(_Cycle())  # unreachable, freed only by a collection
        assert garbage() is not None
        with made_to_last(FIRST_FREEZE):
            assert garbage() is None  # collected before anything is frozen
            assert not gc.isenabled()  # no young walk while the lists are being made
            made = [str(n) for n in range(FIRST_FREEZE)]
            assert _young(made)
        assert gc.isenabled()
        assert not _young(made) and gc.get_freeze_count() > 0
        assert not any(o is made for o in gc.get_objects(2))  # frozen, not promoted
        gc.disable()  # a collector the caller turned off stays off
        with made_to_last(FIRST_FREEZE):
            pass
        assert not gc.isenabled()
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


def test_short_lists_are_left_to_the_collector() -> None:
    gc.unfreeze()
    garbage = weakref.ref(_Cycle())
    with made_to_last(FIRST_FREEZE - 1):
        assert gc.isenabled()
        made = [str(n) for n in range(10)]
    assert garbage() is not None and gc.get_freeze_count() == 0 and _young(made)
    gc.collect()
    assert garbage() is None


async def test_a_big_tables_merged_order_and_view_leave_the_young_generations() -> None:
    """The lists a merge remakes are what young collections walked at a million rows."""
    gc.unfreeze()
    rows = 3 * FIRST_FREEZE // 2
    snaps = [Snapshot(id=f"fss-{n:06d}", status=SnapshotStatus.READY,
                      created_at=float(n % 977)) for n in range(rows)]
    app = TableApp()
    try:
        async with app.run_test() as pilot:
            table = app.query_one(RowTable)
            for start in range(0, rows, 1000):
                table.append(snaps[start:start + 1000])
            assert table.model.pending
            table._resort_now()  # the batch merge the table's timer runs
            assert len(table.view) == rows and not table.model.pending
            merged = table.model._merged
            assert merged is not None
            for made in (table.view, merged.ids):
                assert not _young(made) and not any(o is made for o in gc.get_objects(2))
            table.set_filter(compile_filter("fss-0001", SNAPSHOT_FIELDS, 0.0))
            assert 0 < len(table.view) < rows and not _young(table.view)
            await pilot.pause()
    finally:
        gc.unfreeze()
