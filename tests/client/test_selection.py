"""The prune selection (`client/selection.py`) that `snapshots prune` and the dashboard share."""

from __future__ import annotations

import pytest

from cwsandbox_tui.client.errors import ConfigError
from cwsandbox_tui.client.models import Snapshot, SnapshotStatus
from cwsandbox_tui.client.selection import PruneRule, select

NOW = 1_800_000_000.0
DAY = 86400.0


def snap(snapshot_id: str, days: float, status: SnapshotStatus = SnapshotStatus.READY,
         source: str = "sb-1") -> Snapshot:
    return Snapshot(snapshot_id, status, created_at=NOW - days * DAY, source_sandbox_id=source)


def test_older_than_is_an_age_of_at_least_it_and_an_unknown_age_is_not_old() -> None:
    rows = [snap("exactly", 7), snap("older", 7.001), snap("younger", 6.999),
            Snapshot("undated", SnapshotStatus.READY)]
    assert [s.id for s in select(rows, PruneRule.parse("7d", "", ""), NOW)] == ["exactly", "older"]


def test_a_snapshot_being_deleted_is_never_selected() -> None:
    rows = [snap("going", 30, SnapshotStatus.DELETING), snap("old", 30)]
    assert [s.id for s in select(rows, PruneRule.parse("1d", "", ""), NOW)] == ["old"]
    assert select(rows, PruneRule.parse("", "deleting", ""), NOW) == []


def test_statuses_and_source_narrow_together() -> None:
    failed, ready, creating = SnapshotStatus.FAILED, SnapshotStatus.READY, SnapshotStatus.CREATING
    rows = [snap("a", 1, failed, "sb-1"), snap("b", 1, failed, "sb-2"), snap("c", 1, ready, "sb-1"),
            snap("d", 1, creating)]
    rule = PruneRule.parse(None, "failed, creating", "sb-1")
    assert [s.id for s in select(rows, rule, NOW)] == ["a", "d"]


def test_errors_name_the_field_they_were_typed_in() -> None:
    with pytest.raises(ConfigError, match="^Older than: '7x' is not an age"):
        PruneRule.parse("7x", "", "", age_field="Older than")
    with pytest.raises(ConfigError, match="^--status: 'readyy' is not a snapshot status"):
        PruneRule.parse("", "readyy", "")
    with pytest.raises(ConfigError, match="prune needs at least one"):
        select([snap("a", 30)], PruneRule.parse("", "", ""), NOW)
