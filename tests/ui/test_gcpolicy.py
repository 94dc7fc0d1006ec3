"""Rows are frozen out of the collector's walks each time they double, and only then; the
dashboard's own objects once it has listed, given back when it closes."""

from __future__ import annotations

import gc

from cwsandbox_tui.ui.gcpolicy import FreezeOnGrowth

from .conftest import AppFactory, settle
from .flows_support import wait_for


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
