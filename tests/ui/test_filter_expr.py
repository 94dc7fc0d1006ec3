"""The filter bar's language: terms, errors that name the term, and when typing narrows."""

from __future__ import annotations

import pytest

from cwsandbox_tui.client.models import Snapshot, SnapshotStatus, SnapshotTrigger
from cwsandbox_tui.ui.filter_expr import FilterError, compile_filter, narrows
from cwsandbox_tui.ui.screens.columns import SANDBOX_FIELDS, SNAPSHOT_FIELDS

NOW = 1_800_000_000.0
DAY = 86400.0
ROWS = [
    Snapshot("fss-0a1", SnapshotStatus.READY, "", 2 * 2**30, NOW - 10 * DAY, None, None,
             "sb-train", SnapshotTrigger.STOP, "", "bucket-a"),
    Snapshot("fss-0b2", SnapshotStatus.FAILED, "too big", 0, NOW - 2 * DAY, None, None,
             "sb-eval", SnapshotTrigger.MANUAL, "", "bucket-a"),
    Snapshot("fss-1c3", SnapshotStatus.READY, "", 500 * 2**20, NOW - 40 * DAY, None, None,
             "sb-train", SnapshotTrigger.MANUAL, "", "bucket-b"),
]


def shown(expression: str) -> list[str]:
    row_filter = compile_filter(expression, SNAPSHOT_FIELDS, NOW)
    return [r.id for r in ROWS if row_filter is None or row_filter(r)]


@pytest.mark.parametrize(("expression", "ids"), [
    ("", ["fss-0a1", "fss-0b2", "fss-1c3"]),
    ("fss-0", ["fss-0a1", "fss-0b2"]),
    ("FSS-0 train", ["fss-0a1"]),
    ("/fss-[01][ac]/", ["fss-0a1", "fss-1c3"]),
    ("status=ready", ["fss-0a1", "fss-1c3"]),
    ("!status=ready", ["fss-0b2"]),
    ("trigger=stop", ["fss-0a1"]),
    ("source=sb-train bucket=bucket-b", ["fss-1c3"]),
    ("age>7d", ["fss-0a1", "fss-1c3"]),
    ("age<1w", ["fss-0b2"]),
    ("size>1GiB", ["fss-0a1"]),
    ("size<=500MiB", ["fss-0b2", "fss-1c3"]),
    ("!train", ["fss-0b2"]),
    ('"too big"', ["fss-0b2"]),
])
def test_terms(expression: str, ids: list[str]) -> None:
    assert shown(expression) == ids


def test_plain_terms_become_needles_for_the_table() -> None:
    row_filter = compile_filter("Train fss status=ready", SNAPSHOT_FIELDS, NOW)
    assert row_filter is not None
    assert row_filter.needles == ("train", "fss")
    assert row_filter.predicate is not None


@pytest.mark.parametrize(("expression", "mention"), [
    ("age>7x", "age>7x: age wants a value like 7d"),
    ("size>lots", "size>lots: size wants a value"),
    ("/[unclosed/", "not a valid regular expression"),
    ("colour=red", "unknown field 'colour'"),
    ("status=", "status= needs a value"),
    ("!", "'!' must be followed by a term"),
    ('"open', "cannot read the filter"),
])
def test_bad_expressions_name_the_term(expression: str, mention: str) -> None:
    with pytest.raises(FilterError, match=mention.replace("(", r"\(").replace("[", r"\[")):
        compile_filter(expression, SNAPSHOT_FIELDS, NOW)


@pytest.mark.parametrize(("old", "new", "narrower"), [
    ("fss-0", "fss-0a", True),
    ("fss", "fss train", True),
    ("fss", "fss status=ready", True),
    ("fss train", "fss trains", True),
    ("", "fss", False),  # nothing shown is narrower than everything: filter all rows
    ("fss-0a", "fss-0", False),  # a deletion widens
    ("fss", "fsx", False),
    ("status=ready", "status=ready fss", False),  # only text terms are known to narrow
    ("!fss", "!fss-0", False),
    ("fss train", "fss", False),
    ('"open', '"open x', False),
])
def test_narrows(old: str, new: str, narrower: bool) -> None:
    assert narrows(old, new) is narrower
    if narrower:  # and it really does: whatever new shows, old shows too
        assert set(shown(new)) <= set(shown(old))


@pytest.mark.parametrize(("expression", "says"), [
    ("status=redy", "status=redy: status is one of creating, ready, failed, deleting"),
    ("!trigger=stp", "trigger=stp: trigger is one of stop, manual"),
])
def test_an_unknown_status_or_trigger_is_refused_naming_the_allowed(expression: str,
                                                                    says: str) -> None:
    """`status=redy` was accepted and showed no row."""
    with pytest.raises(FilterError) as refused:
        compile_filter(expression, SNAPSHOT_FIELDS, NOW)
    assert str(refused.value) == says
    assert shown("status=READY trigger=stop") == ["fss-0a1"]


def test_an_unknown_sandbox_status_is_refused() -> None:
    with pytest.raises(FilterError, match="status is one of creating, pending, running"):
        compile_filter("status=runing", SANDBOX_FIELDS, NOW)
