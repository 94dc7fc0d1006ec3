"""One reading of sizes and durations: the CLI, the filters, the forms and the backend agree."""

from __future__ import annotations

import pytest

from cwsandbox_tui import naming, units
from cwsandbox_tui.client.models import Snapshot, SnapshotStatus, SnapshotTrigger
from cwsandbox_tui.client.selection import parse_age
from cwsandbox_tui.ui.filter_expr import compile_filter
from cwsandbox_tui.ui.screens.columns import SNAPSHOT_FIELDS


@pytest.mark.parametrize(("text", "size"), [
    ("10", 10), ("10B", 10), ("10k", 10_000), ("10K", 10_000), ("10KB", 10_000),
    ("10M", 10_000_000), ("10MB", 10_000_000), ("10mb", 10_000_000),
    ("10Mi", 10 * 2**20), ("10MiB", 10 * 2**20), ("10mib", 10 * 2**20),
    ("1.5Gi", int(1.5 * 2**30)), ("1G", 10**9), ("1Ti", 2**40), ("2 GiB", 2 * 2**30),
])
def test_sizes(text: str, size: int) -> None:
    assert units.parse_size(text) == size
    assert naming.quantity_bytes(text) == size  # the forms' and the backend's check


@pytest.mark.parametrize("text", ["", "Gi", "10X", "10iB", "-1Mi", "ten"])
def test_not_sizes(text: str) -> None:
    assert units.parse_size(text) is None
    assert naming.size_problem(text) is not None


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("30m", 1800), ("12h", 43200), ("7d", 604800), ("2w", 1209600),
    ("250ms", 0.25), ("3", 3), ("1.5D", 129600),
])
def test_durations(text: str, seconds: float) -> None:
    assert units.parse_duration(text) == pytest.approx(seconds)


def test_filter_cli_and_form_read_10M_alike() -> None:
    """The fault that started this: 10M was 10,000,000 bytes in a form, 10,485,760 in the
    filter."""
    now = 1_800_000_000.0
    rows = [Snapshot(f"fss-{n}", SnapshotStatus.READY, "", size, now - 86400, None, None, "sb",
                     SnapshotTrigger.MANUAL, "", "b")
            for n, size in enumerate((10_000_000, 10_000_001, 10 * 2**20))]
    row_filter = compile_filter("size<=10M", SNAPSHOT_FIELDS, now)
    assert row_filter is not None
    assert [r.id for r in rows if row_filter(r)] == ["fss-0"]
    assert naming.quantity_bytes("10M") == 10_000_000
    assert parse_age("7d") == units.parse_duration("7d") == 604800
