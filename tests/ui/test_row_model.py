"""The table's row model without an app: filter, sort, marks, rows added and removed page by
page, and a cursor that stays on its row; every change announced by one `Changed`. The last
test checks that the drawing widget posts each change (marks too) as a message."""

from __future__ import annotations

import random

from textual.app import App, ComposeResult

from cwsandbox_tui.client.models import Snapshot, SnapshotStatus
from cwsandbox_tui.ui.filter_expr import compile_filter, narrows
from cwsandbox_tui.ui.screens.columns import SNAPSHOT_COLUMNS, SNAPSHOT_FIELDS
from cwsandbox_tui.ui.widgets.row_model import Changed, RowModel
from cwsandbox_tui.ui.widgets.rowtable import RowTable

from .flows_support import wait_for

NOW = 1_000_000.0
DAY = 86400.0


def snap(rng: random.Random, n: int) -> Snapshot:
    status = rng.choice([SnapshotStatus.READY, SnapshotStatus.FAILED, SnapshotStatus.CREATING])
    return Snapshot(id=f"fss-{rng.randrange(100):02d}-{n:05d}", status=status,
                    status_reason="boom" if status is SnapshotStatus.FAILED else "",
                    size_bytes=rng.choice([0, 1000, 400_000, 3 * 2**20]),
                    created_at=None if rng.random() < 0.1 else NOW - rng.randrange(40) * DAY / 4,
                    source_sandbox_id=f"sbx-{rng.randrange(5)}")


class Recorder:
    def __init__(self) -> None:
        self.changes: list[Changed] = []

    def __call__(self, change: Changed) -> None:
        self.changes.append(change)

    def take(self) -> list[Changed]:
        taken, self.changes = self.changes, []
        return taken


def model(recorder: Recorder | None = None, sort: str | None = "created",
          reverse: bool = True) -> RowModel[Snapshot]:
    m: RowModel[Snapshot] = RowModel(
        lambda s: s.id, sort_keys={c.key: c.sort_key for c in SNAPSHOT_COLUMNS if c.sort_key},
        text=SNAPSHOT_FIELDS.text,
        numbers={"created": SNAPSHOT_FIELDS.created, "size": lambda s: s.size_bytes},
        on_change=recorder)
    m.sort_column, m.sort_reverse = sort, reverse
    return m


def newest_first(rows: dict[str, Snapshot], arrival: list[str]) -> list[str]:
    return sorted(arrival, key=lambda i: rows[i].created_at or 0.0, reverse=True)


def test_pages_show_at_once_unsorted_and_in_batches_sorted() -> None:
    rng = random.Random(1)
    snaps = [snap(rng, n) for n in range(500)]
    plain = model(sort=None)
    recorder = Recorder()
    plain.on_change = recorder
    plain.append(snaps[:100])
    plain.append(snaps[100:200])
    assert plain.view == [s.id for s in snaps[:200]]
    assert [c.appended for c in recorder.take()] == [0, 100]  # each page drawn from its end
    assert not plain.pending

    sorted_ = model()
    arrival: list[str] = []
    shown = 0
    for start in range(0, 500, 50):
        sorted_.append(snaps[start:start + 50])
        arrival += [s.id for s in snaps[start:start + 50]]
        if start == 0:  # the first page shows at once, sorted
            assert sorted_.view == newest_first(sorted_.rows, arrival)
            assert not sorted_.pending
            shown = 50
        else:  # later pages wait for a batch merge
            assert sorted_.pending
            assert len(sorted_.view) == shown
        if start % 150 == 0:
            sorted_.settle()
            assert sorted_.view == newest_first(sorted_.rows, arrival)
            shown = len(arrival)
    sorted_.settle()
    assert sorted_.view == newest_first(sorted_.rows, arrival)  # ties in arrival order
    assert not sorted_.pending
    sorted_.set_sort("size")
    assert sorted_.view == sorted(arrival, key=lambda i: sorted_.rows[i].size_bytes)


def test_a_finished_listing_shows_its_pending_rows() -> None:
    rng = random.Random(2)
    snaps = [snap(rng, n) for n in range(300)]
    m = model()
    m.append(snaps[:100])
    m.append(snaps[100:])
    assert m.pending
    assert m.replace_all(snaps) is False  # nothing changed: the same rows
    assert not m.pending
    assert m.view == newest_first(m.rows, [s.id for s in snaps])


def test_the_filter_passes_what_the_row_by_row_test_passes() -> None:
    rng = random.Random(3)
    snaps = [snap(rng, n) for n in range(600)]
    m = model()
    m.append(snaps)
    m.settle()
    order = newest_first(m.rows, [s.id for s in snaps])
    previous = ""
    for expression in ["fss", "fss-0", "fss-01", "ready", "age>3d", "size>1MB age<=2d",
                       "!ready", "/fss-0[12]/", "status=failed boom", "nothing-matches", "",
                       "sbx-3 size=0"]:
        row_filter = compile_filter(expression, SNAPSHOT_FIELDS, NOW)
        m.set_filter(row_filter, narrows(previous, expression))
        assert m.view == [i for i in order if row_filter is None or row_filter(m.rows[i])], \
            expression
        previous = expression


def _row_by_row(m: RowModel[Snapshot], expression: str) -> list[str]:
    row_filter = compile_filter(expression, SNAPSHOT_FIELDS, NOW)
    order = newest_first(m.rows, list(m.rows))
    return [i for i in order if row_filter is None or row_filter(m.rows[i])]


def test_the_filter_inputs_are_laid_out_in_steps_that_yield_and_give_way() -> None:
    """After a listing the texts and numbers are laid out in steps (the table runs its loop
    between them); a step never leaves half a layout in use, steps stop when the rows change
    meanwhile, and a keystroke that needs a part lays it out itself."""
    rng = random.Random(8)
    snaps = [snap(rng, n) for n in range(1000)]
    m = model()
    m.pack_step = 100
    m.append(snaps)
    m.settle()
    steps = m.pack_steps()
    taken = sum(1 for _ in steps)
    # texts copied side by side, then taken as the rows' texts; creation times; sizes
    assert taken == 2 * 10 + 10 + 10
    assert m._aligned is not None and m._aligned.texts is not None
    assert set(m._aligned.numbers) == {"created", "size"}
    for expression in ["fss-0", "age>3d", "size>1MB ready", "boom"]:
        m.set_filter(compile_filter(expression, SNAPSHOT_FIELDS, NOW))
        assert m.view == _row_by_row(m, expression), expression
    m.set_filter(None)

    # a keystroke half-way through the texts lays them out itself; the steps go on to numbers
    m2 = model()
    m2.pack_step = 100
    m2.append(snaps)
    m2.settle()
    steps = m2.pack_steps()
    for _ in range(4):
        next(steps)
    aligned = m2._aligned
    assert aligned is not None and aligned.texts is None  # not yet: only whole layouts count
    m2.set_filter(compile_filter("fss-01", SNAPSHOT_FIELDS, NOW))
    assert m2.view == _row_by_row(m2, "fss-01")
    m2.set_filter(None)  # the same order: the same layout is used again
    assert m2._aligned is aligned and aligned.texts is not None
    rest = sum(1 for _ in steps)
    assert rest == 2 * 10  # the texts' steps end; both numbers' go on
    assert set(aligned.numbers) == {"created", "size"}

    # rows arriving between steps end them: nothing half made is kept
    m3 = model()
    m3.pack_step = 100
    m3.append(snaps[:900])
    m3.settle()
    steps = m3.pack_steps()
    next(steps)
    m3.append(snaps[900:])
    assert sum(1 for _ in steps) == 0
    m3.settle()
    for expression in ["fss-0", "age<2d"]:
        m3.set_filter(compile_filter(expression, SNAPSHOT_FIELDS, NOW))
        assert m3.view == _row_by_row(m3, expression), expression


def test_rows_added_changed_and_removed_keep_sort_filter_and_marks() -> None:
    rng = random.Random(4)
    snaps = [snap(rng, n) for n in range(200)]
    recorder = Recorder()
    m = model(recorder)
    m.replace_all(snaps)
    m.set_filter(compile_filter("fss", SNAPSHOT_FIELDS, NOW))
    m.move_cursor(10)
    m.toggle_mark()
    marked = m.cursor_id
    assert marked is not None and m.marks == {marked}
    recorder.take()
    # a row changes in place (no sort key changed): only it is announced
    target = next(s for s in snaps if s.id != marked)
    changed = target._replace(status_reason="now different")
    rows = [changed if s.id == target.id else s for s in snaps]
    assert m.replace_all(rows) is True
    assert recorder.take() == [Changed(rows=frozenset({target.id}))]
    assert m.replace_all(rows) is False  # the same rows again: nothing to announce
    assert recorder.take() == []
    # the marked row goes, others come: the marks shrink, announced as a marks change
    rows = [s for s in rows if s.id != marked] + [snap(rng, n) for n in range(200, 230)]
    m.replace_all(rows)
    assert marked not in m.marks and not m.marks
    assert any(c.marks and c.view for c in recorder.take())
    by_id = {s.id: s for s in rows}
    want = newest_first(by_id, [s.id for s in rows])
    assert m.view == want  # every row passes "fss"
    assert set(m.rows) == set(by_id)
    # as many rows as held, one of them another row: it is no "same rows" case
    swapped = [*rows[1:], snap(rng, 300)]
    assert len(swapped) == len(m.rows)
    assert m.replace_all(swapped) is True
    assert set(m.rows) == {s.id for s in swapped} and rows[0].id not in m.view


def test_the_cursor_stays_on_its_row() -> None:
    rng = random.Random(5)
    snaps = [snap(rng, n) for n in range(300)]
    m = model()
    m.append(snaps[:100])
    m.move_cursor(40)
    held = m.cursor_id
    m.append(snaps[100:])  # newer and older rows come in around it
    m.settle()
    assert m.cursor_id == held
    m.set_sort("id")
    assert m.cursor_id == held and m.view.index(held) == m.cursor
    m.set_filter(compile_filter(held, SNAPSHOT_FIELDS, NOW))
    assert m.view == [held] and m.cursor == 0
    m.set_filter(None)
    assert m.cursor_id == held
    m.replace_all([s for s in snaps if s.id != held])  # its row goes: the cursor stays put
    assert m.cursor_id is not None and 0 <= m.cursor < len(m.view)
    m.move_cursor(10_000)  # kept inside the view
    assert m.cursor == len(m.view) - 1


def test_a_filter_that_drops_the_cursors_row_leaves_the_cursor_at_its_place() -> None:
    rng = random.Random(7)
    snaps = [snap(rng, n) for n in range(300)]
    m = model()
    m.append(snaps)
    m.settle()
    m.move_cursor(120)
    held = m.rows[m.cursor_id]  # type: ignore[index]
    status = held.status.name.lower()
    m.set_filter(compile_filter(f"status={status}", SNAPSHOT_FIELDS, NOW))
    assert m.cursor_id == held.id  # its row passes: the cursor is on it still
    at = m.cursor
    m.set_filter(compile_filter(f"!status={status}", SNAPSHOT_FIELDS, NOW))
    assert held.id not in m.view and 0 < len(m.view) < 300
    assert m.cursor == min(at, len(m.view) - 1)
    m.set_filter(compile_filter(held.id, SNAPSHOT_FIELDS, NOW))  # back in view: found again
    assert m.view == [held.id] and m.cursor_id == held.id


def test_every_marks_change_is_announced() -> None:
    rng = random.Random(6)
    snaps = [snap(rng, n) for n in range(50)]
    recorder = Recorder()
    m = model(recorder)
    m.replace_all(snaps)
    recorder.take()
    m.move_cursor(3)
    m.toggle_mark()
    first = m.view[3]
    assert recorder.take() == [Changed(cursor=True),
                               Changed(rows=frozenset({first}), marks=True)]
    m.move_cursor(7)
    recorder.take()
    assert m.mark_range() == 5
    assert m.marks == set(m.view[3:8])
    assert recorder.take() == [Changed(every_row=True, marks=True)]
    m.set_filter(compile_filter(m.view[20], SNAPSHOT_FIELDS, NOW))
    assert m.hidden_marks() == set(m.marks)  # every marked row is hidden by the filter
    assert m.mark_range() == -1  # no marked row shown to start from
    recorder.take()
    assert m.mark_visible() == 1
    assert recorder.take() == [Changed(every_row=True, marks=True)]
    m.clear_marks()
    assert not m.marks and recorder.take() == [Changed(every_row=True, marks=True)]


class TableApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[RowTable.Changed] = []

    def compose(self) -> ComposeResult:
        yield RowTable(SNAPSHOT_COLUMNS, key=lambda s: s.id, now=NOW, text=SNAPSHOT_FIELDS.text)

    def on_row_table_changed(self, message: RowTable.Changed) -> None:
        self.seen.append(message)


async def test_the_table_posts_marks_changes_as_messages() -> None:
    rng = random.Random(7)
    app = TableApp()
    async with app.run_test() as pilot:
        table = app.query_one(RowTable)
        table.replace_all([snap(rng, n) for n in range(20)])
        table.move_cursor(2)
        await pilot.pause()
        app.seen.clear()
        table.toggle_mark()
        await wait_for(pilot, lambda: any(m.change.marks for m in app.seen), "a marks message")
        message = next(m for m in app.seen if m.change.marks)
        assert message.table is table and message.change.rows == {table.cursor_id}
        app.seen.clear()
        table.clear_marks()
        await wait_for(pilot, lambda: any(m.change.marks for m in app.seen), "another one")
        assert not table.marks

