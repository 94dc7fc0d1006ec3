"""The table's filter (texts and numbers laid out along the sorted order, tested a column at a
time) lets through exactly the rows the filter's own row-by-row test does, in display order:
while pages stream in, after rows change under it, after a re-sort, and for every kind of term."""

from __future__ import annotations

import random

from textual.app import App, ComposeResult

from cwsandbox_tui.client.models import Snapshot, SnapshotStatus
from cwsandbox_tui.ui.filter_expr import compile_filter, narrows
from cwsandbox_tui.ui.screens.columns import SNAPSHOT_COLUMNS, SNAPSHOT_FIELDS
from cwsandbox_tui.ui.widgets.rowtable import RowTable

from .flows_support import wait_for

NOW = 1_000_000.0
DAY = 86400.0
EXPRESSIONS = [
    "", "fss", "fss-0", "fss-00", "ready", "ready fss-01", "age>3d", "age<=2d", "age>=1d ready",
    "size>1MB", "size<=500K", "size=0", "!ready", "/fss-0[12]/", "status=failed", "boom",
    "fss age>1d size<2MB", "age>30d", "sbx-3", "-0",
]


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        table: RowTable[Snapshot] = RowTable(
            SNAPSHOT_COLUMNS, key=lambda s: s.id, now=NOW, text=SNAPSHOT_FIELDS.text,
            numbers={"created": SNAPSHOT_FIELDS.created, "size": lambda s: s.size_bytes})
        table.sort_column, table.sort_reverse = "created", True
        yield table


def make(rng: random.Random, n: int) -> Snapshot:
    status = rng.choice([SnapshotStatus.READY, SnapshotStatus.FAILED, SnapshotStatus.CREATING])
    created = None if rng.random() < 0.1 else NOW - rng.randrange(40) * DAY / 4
    return Snapshot(id=f"fss-{rng.randrange(1000):03d}{n:04d}", status=status,
                    status_reason="boom" if status is SnapshotStatus.FAILED else "",
                    size_bytes=rng.choice([0, 1000, 400_000, 1_500_000, 3 * 2**20]),
                    created_at=created, source_sandbox_id=f"sbx-{rng.randrange(5)}")


def expected(table: RowTable[Snapshot], expression: str) -> list[str]:
    row_filter = compile_filter(expression, SNAPSHOT_FIELDS, NOW)
    order = sorted(table.rows, key=lambda i: table.rows[i].created_at or 0.0, reverse=True)
    rows = table.rows
    return [i for i in order if row_filter is None or row_filter(rows[i])]


async def test_filtering_by_columns_matches_the_row_by_row_filter() -> None:
    rng = random.Random(3)
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(RowTable)
        snaps = [make(rng, n) for n in range(900)]
        for start in range(0, 600, 100):  # pages stream in under a filter
            table.set_filter(compile_filter("fss-0", SNAPSHOT_FIELDS, NOW))
            table.append(snaps[start:start + 100])
            await pilot.pause()
        table.replace_all(snaps[:600])  # the listing ends: every page is shown at once
        assert table.view == expected(table, "fss-0")
        previous = ""
        for expression in EXPRESSIONS:
            table.set_filter(compile_filter(expression, SNAPSHOT_FIELDS, NOW),
                             narrows(previous, expression))
            assert table.view == expected(table, expression), expression
            previous = expression
        # rows change in place (status, size), then some move (creation time) while new
        # ones stream in
        latest = {s.id: s for s in snaps[:600]}
        for round_, pages in ((0, []), (1, snaps[600:700])):
            for snap in rng.sample(list(latest.values()), 6):
                latest[snap.id] = snap._replace(
                    status=SnapshotStatus.READY, status_reason="", size_bytes=7,
                    created_at=NOW - rng.randrange(40) * DAY / 4 if round_ else snap.created_at)
            table.append(pages)
            latest.update((s.id, s) for s in pages)
            table.replace_all(latest.values())
            for expression in EXPRESSIONS:
                table.set_filter(compile_filter(expression, SNAPSHOT_FIELDS, NOW))
                await wait_for(pilot, lambda e=expression: table.view == expected(table, e),
                               f"the rows of {expression!r}")
        table.set_sort("size")
        for expression in EXPRESSIONS:
            table.set_filter(compile_filter(expression, SNAPSHOT_FIELDS, NOW))
            row_filter = compile_filter(expression, SNAPSHOT_FIELDS, NOW)
            order = sorted(table.rows, key=lambda i: table.rows[i].size_bytes)
            assert table.view == [i for i in order
                                  if row_filter is None or row_filter(table.rows[i])]


async def test_a_text_holding_the_separator_is_still_found() -> None:
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(RowTable)
        rng = random.Random(5)
        snaps = [make(rng, n) for n in range(50)]
        odd = snaps[7]._replace(status_reason="a\x00b")  # the packing's separator
        snaps[7] = odd
        table.replace_all(snaps)
        await pilot.pause()
        table.model.pack_texts()
        table.set_filter(compile_filter("a\x00b", SNAPSHOT_FIELDS, NOW))
        assert table.view == [odd.id]
        for expression in ["fss", "boom", "age>2d"]:
            table.set_filter(compile_filter(expression, SNAPSHOT_FIELDS, NOW))
            assert table.view == expected(table, expression), expression


async def test_scroll_range_and_scrollbar_follow_the_rows_shown() -> None:
    """The table sets its own scroll range as rows come and go (no layout of the screen):
    the scrollbar shows, hides and spans what a layout would give it."""
    app = TableApp()
    async with app.run_test(size=(100, 20)) as pilot:
        table = app.query_one(RowTable)
        rng = random.Random(9)
        snaps = [make(rng, n) for n in range(300)]
        table.append(snaps[:5])
        await pilot.pause()
        assert not table.show_vertical_scrollbar
        table.append(snaps[5:])
        await wait_for(pilot, lambda: len(table.view) == 300, "every row shown")
        await pilot.pause()
        assert table.show_vertical_scrollbar
        assert table.vertical_scrollbar.window_virtual_size == 301
        table.action_jump(-1)
        await pilot.pause()
        assert table.max_scroll_y == 301 - table.scrollable_content_region.height
        assert table.scroll_offset.y == 300 - (table.size.height - 1)  # the last row in view
        table.set_filter(compile_filter("fss-00", SNAPSHOT_FIELDS, NOW))
        await pilot.pause()
        shown = len(table.view)
        assert 0 < shown < table.size.height - 1
        assert not table.show_vertical_scrollbar
        assert table.scroll_offset.y == 0
        assert table.cursor_id in table.view
        table.set_filter(None)
        await pilot.pause()
        assert table.show_vertical_scrollbar
        assert table.vertical_scrollbar.window_virtual_size == 301
