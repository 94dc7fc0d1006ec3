"""Rows streaming in page by page end up in exactly the order a whole sort gives, with rows
updated mid-stream (a changed sort key) and ties kept in arrival order."""

from __future__ import annotations

import random
from operator import attrgetter
from typing import Any

from textual.app import App, ComposeResult

from cwsandbox_tui.client.models import Snapshot, SnapshotStatus
from cwsandbox_tui.ui.filter_expr import compile_filter
from cwsandbox_tui.ui.screens.columns import SNAPSHOT_COLUMNS, SNAPSHOT_FIELDS
from cwsandbox_tui.ui.widgets.rowtable import RowTable

from .flows_support import wait_for


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        table: RowTable[Snapshot] = RowTable(SNAPSHOT_COLUMNS, key=lambda s: s.id, now=0.0,
                                             text=SNAPSHOT_FIELDS.text)
        table.sort_column, table.sort_reverse = "created", True
        yield table


def expected(rows: dict[str, Snapshot], arrival: list[str]) -> list[str]:
    return sorted(arrival, key=lambda i: rows[i].created_at or 0.0, reverse=True)


async def test_streamed_pages_are_merged_into_the_sorted_order() -> None:
    rng = random.Random(7)
    snaps = [Snapshot(id=f"fss-{n:04d}", status=SnapshotStatus.READY,
                      created_at=float(rng.randrange(300)))  # many ties
             for n in range(1200)]
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(RowTable)
        latest: dict[str, Snapshot] = {}
        arrival: list[str] = []
        for start in range(0, len(snaps), 100):
            page = snaps[start:start + 100]
            if start >= 300:  # an earlier row comes again with a new creation time
                moved = snaps[start - 250]._replace(created_at=float(rng.randrange(300)))
                page = [*page, moved]
            for snap in page:
                if snap.id not in latest:
                    arrival.append(snap.id)
                latest[snap.id] = snap
            table.append(page)
            await pilot.pause()  # let a batch re-sort fire now and then
        want = expected(latest, arrival)
        await wait_for(pilot, lambda: table.view == want, "the merged order")
        assert len(table.view) == len(snaps)
        table.set_sort("created", reverse=False)  # a whole sort agrees, the other way round
        assert table.view == sorted(arrival, key=lambda i: latest[i].created_at or 0.0)


class NumbersTableApp(App[None]):
    def compose(self) -> ComposeResult:
        table: RowTable[Snapshot] = RowTable(
            SNAPSHOT_COLUMNS, key=lambda s: s.id, now=0.0, text=SNAPSHOT_FIELDS.text,
            numbers={"created": SNAPSHOT_FIELDS.created, "size": attrgetter("size_bytes")})
        table.sort_column, table.sort_reverse = "created", True
        yield table


async def test_a_finished_listing_lays_out_its_filter_inputs_in_steps() -> None:
    snaps = [Snapshot(id=f"fss-{n:04d}", status=SnapshotStatus.READY, created_at=float(n % 300),
                      size_bytes=n) for n in range(1200)]
    app = NumbersTableApp()
    async with app.run_test() as pilot:
        table = app.query_one(RowTable)
        table.model.pack_step = 100
        packs = 0
        original = table._pack_in_steps

        def counted(steps: Any) -> None:
            nonlocal packs
            packs += 1
            original(steps)

        table._pack_in_steps = counted  # type: ignore[method-assign]
        for start in range(0, len(snaps), 100):
            table.append(snaps[start:start + 100])
        assert table.model.pending
        table.replace_all(snaps)  # the listing's whole set: its pages, nothing changed
        assert packs == 0  # queued, not done at once

        def laid_out() -> bool:
            aligned = table.model._aligned
            return aligned is not None and aligned.texts is not None and \
                set(aligned.numbers) == {"created", "size"}

        await wait_for(pilot, laid_out, "the filter inputs laid out")
        # one message per step (texts: copied, then taken; two numbers), and the last one
        assert packs == 4 * 12 + 1
        aligned = table.model._aligned
        assert aligned is not None and aligned.ids is table.view
        table.set_filter(compile_filter("age<=1h size>=600", SNAPSHOT_FIELDS, 300.0))
        assert table.model._aligned is aligned  # used as laid out, not made again
        assert table.view == [s.id for s in sorted(snaps, key=lambda s: -(s.created_at or 0.0))
                              if (s.created_at or 0.0) >= 300.0 - 3600 and s.size_bytes >= 600]
