"""Rows are frozen out of the collector's walks each time they double, and only then."""

from __future__ import annotations

import gc

from cwsandbox_tui.ui.gcpolicy import FreezeOnGrowth


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
