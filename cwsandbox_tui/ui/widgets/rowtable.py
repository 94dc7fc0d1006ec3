"""A virtualised table: rows live in plain Python structures, only visible lines render.

Textual's DataTable keeps per-cell renderables and recomputes layout in O(rows); this table
keeps rows as they come (frozen dataclasses), filters and sorts a list of ids, and renders a
line only when it is visible and has changed. Refreshing with unchanged data repaints
nothing; a changed row repaints its own line.
"""

from __future__ import annotations

import math
import operator
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import compress, repeat
from typing import Any, ClassVar, Generic, Literal, TypeVar

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

from ...textsafe import inert
from ..filter_expr import RowFilter
from .sorted_merge import Column as MergedColumn
from .sorted_merge import SortedIds

R = TypeVar("R")

GUTTER = 2  # "* " for a marked row
RESORT_DELAY = 0.25
PACKED_GROWTH = 1.25  # texts are packed again once this many times as many rows are shown
_SEPARATOR = "\x00"
_TEXT = "text"  # the column of each row's filter text kept along the sorted order
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "=": operator.eq}


@dataclass
class _Aligned:
    """Filter inputs laid out in the order of one list of ids: each row's text and numbers at
    its id's index, so that a filter term is one C-level pass (`map`/`compress`) with no
    Python call and no dict look-up per row. Built once per order, not per keystroke."""

    ids: list[str]
    size: int  # len(ids) when built: a list extended since is another order
    texts: list[str] | None = None
    # None becomes NaN, for which every comparison is false (as `None` never matched)
    numbers: dict[str, array[float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Column(Generic[R]):
    key: str
    label: str
    cell: Callable[[R, float], str]  # (row, now) -> text
    width: int
    grow: int = 0  # share of spare width
    align: Literal["left", "right"] = "left"
    priority: int = 0  # columns with the lowest priority are hidden first on narrow screens
    sort_key: Callable[[R], Any] | None = None
    styled: bool = False  # the cell is a status word and takes its status style


class RowTable(ScrollView, Generic[R], can_focus=True):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "rowtable--header", "rowtable--cursor", "rowtable--cursor-blur", "rowtable--marked",
        "rowtable--good", "rowtable--bad", "rowtable--busy", "rowtable--idle", "rowtable--empty",
        "rowtable--stale",
    }
    DEFAULT_CSS = """
    RowTable { height: 1fr; background: $surface; }
    RowTable > .rowtable--header { text-style: bold; background: $panel; color: $text; }
    RowTable > .rowtable--cursor { background: $accent; color: $text; text-style: bold; }
    RowTable:nocolor > .rowtable--cursor { text-style: bold reverse; }
    RowTable > .rowtable--cursor-blur { background: $panel-lighten-1; }
    RowTable > .rowtable--marked { color: $warning; text-style: bold; }
    RowTable > .rowtable--good { color: $success; }
    RowTable > .rowtable--bad { color: $error; text-style: bold; }
    RowTable > .rowtable--busy { color: $warning; }
    RowTable > .rowtable--idle { color: $text-muted; }
    RowTable > .rowtable--empty { color: $text-muted; text-style: italic; }
    RowTable > .rowtable--stale { color: $text-muted; text-style: dim; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "Top", show=False),
        Binding("end,G", "jump(-1)", "Bottom", show=False),
    ]

    class CursorMoved(Message):
        def __init__(self, table: RowTable[Any], row_id: str | None) -> None:
            super().__init__()
            self.table = table
            self.row_id = row_id

    def __init__(self, columns: list[Column[R]], key: Callable[[R], str], *,
                 status_class: Callable[[R], str] | None = None, empty_text: str = "No rows.",
                 now: float = 0.0, text: Callable[[R], str] | None = None,
                 numbers: dict[str, Callable[[R], float | None]] | None = None,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns = columns
        self.key = key
        self.status_class = status_class
        self.empty_text = empty_text
        self.now = now
        self.rows: dict[str, R] = {}
        self._order: list[str] = []
        self.view: list[str] = []
        self._sorted: list[str] | None = None
        self._index: dict[str, int] | None = None
        self.marks: set[str] = set()
        self.last_marked: str | None = None  # where a range mark starts
        self.cursor = 0
        self._filter: RowFilter[R] | None = None
        self._text = text
        self._haystacks: dict[str, str] = {}  # each row's lower-case text, for text filters
        self._number_getters = dict(numbers or {})
        # each row's creation time and size, kept like the texts, for age and size filters
        self._number_cache: dict[str, dict[str, float | None]] = {
            name: {} for name in self._number_getters}
        self.sort_column: str | None = None
        self.sort_reverse = False
        self._cells: dict[str, tuple[R, tuple[str, ...]]] = {}
        self._layout: tuple[int, list[tuple[Column[R], int]]] = (-1, [])
        self._resort: Timer | None = None
        self._resort_delay = RESORT_DELAY
        # each row's key for the column `_keyed` sorts by, kept as rows come (a sort then
        # costs no Python call per row), and the ids appended since `_sorted` was made
        self._sort_keys: dict[str, Any] = {}
        self._keyed: str | None = None
        self._unsorted: list[str] = []
        self._merged: SortedIds | None = None  # `_sorted` in ascending order, with its keys
        self._aligned: _Aligned | None = None
        self._packed = 0  # rows whose texts were last packed (see `_pack`)
        self._parts: dict[str, Style] = {}
        self._base_style: Style | None = None
        self._width_for: tuple[Any, ...] = ()
        self._width = 0
        # finished lines of rows, by id, with what they were drawn from
        self._strips: dict[str, tuple[tuple[Any, ...], Strip]] = {}
        self._column_index = {column.key: n for n, column in enumerate(columns)}
        self.stale = False  # rows from a connection that is gone: shown dim, with "?"

    def set_stale(self, stale: bool) -> None:
        if stale != self.stale:
            self.stale = stale
            self.refresh()

    # data
    @property
    def cursor_id(self) -> str | None:
        return self.view[self.cursor] if 0 <= self.cursor < len(self.view) else None

    @property
    def cursor_row(self) -> R | None:
        row_id = self.cursor_id
        return self.rows.get(row_id) if row_id is not None else None

    def replace_all(self, rows: Iterable[R]) -> bool:
        """Make the table hold exactly `rows`; returns whether anything changed."""
        fresh = {self.key(r): r for r in rows}
        old = self.rows
        # the same object is the same row (a listing hands back the rows its pages showed)
        changed = [k for k, r in fresh.items() if k in old and (o := old[k]) is not r and o != r]
        added = [k for k in fresh if k not in old]
        removed = old.keys() - fresh.keys()
        structural = bool(added or removed)
        if not changed and not structural:
            if self._resort is not None:  # the listing is complete: show its last pages now
                self._resort.stop()
                self._resort = None
                self._rebuild()
                self.call_after_refresh(self.pack_texts)
            return False
        self.rows = fresh
        for row_id in changed:
            self._cells.pop(row_id, None)
        for row_id in removed:
            self._haystacks.pop(row_id, None)
            for values in self._number_cache.values():
                values.pop(row_id, None)
        self._note_texts([*changed, *added])
        self._patch_columns(changed)
        for row_id in removed:
            self._sort_keys.pop(row_id, None)
        if structural:
            self._order = list(fresh)
            self._sorted = None
            self.marks &= fresh.keys()
        elif self._sorted is not None and self._sort_key_changed(old, changed):
            self._sorted = None
        resort = self._sorted is None and self.sort_column is not None
        if not (structural or resort or self._filter is not None) or not self._rebuild():
            positions = self._positions()  # the same rows shown: repaint the changed ones
            for row_id in changed:
                if row_id in positions:
                    self._refresh_row(positions[row_id])
        return True

    def _sort_key_changed(self, old: dict[str, R], changed: list[str]) -> bool:
        column = self._column(self.sort_column)
        if column is None or column.sort_key is None:
            return False
        key = column.sort_key
        return any(key(old[i]) != key(self.rows[i]) for i in changed)

    def append(self, rows: Iterable[R]) -> None:
        """Add rows at the end (a page streaming in); existing ids are updated in place."""
        new: list[str] = []
        updated: list[str] = []
        held, key = self.rows, self.key
        for row in rows:
            row_id = key(row)
            old = held.get(row_id)
            if old is None:
                new.append(row_id)
            elif old is row:
                continue  # held already (the app's whole set was taken while pages were on the way)
            else:
                self._cells.pop(row_id, None)
                updated.append(row_id)
            held[row_id] = row
        self._order.extend(new)
        old_keys = [self._sort_keys.get(i) for i in updated] if self._keyed else []
        self._note_texts([*new, *updated])
        self._patch_columns(updated)
        if self.sort_column is not None:
            # Sorting the whole list for every page would cost O(pages * n log n) while a
            # large listing streams in: the new ids wait in `_unsorted` and are merged into
            # the sorted list in batches, at most a few times a second.
            if self._sorted is not None and any(
                    self._sort_keys.get(i) != k for i, k in zip(updated, old_keys, strict=True)):
                self._sorted = None
            self._unsorted.extend(new)
            if not self.view:
                self._rebuild()  # the first rows show at once; later pages re-sort in batches
            elif self._resort is None:
                self._resort = self.set_timer(self._resort_delay, self._resort_now)
            return
        start = len(self.view)
        self.view.extend(self._matching(new, keep=False))
        self._index = None
        self._resize()
        self.refresh_lines(start + 1, len(self.view) - start)

    def _resort_now(self) -> None:
        self._resort = None
        started = time.perf_counter()
        self._rebuild()
        # a batch costs O(rows): keep it under a third of the time while a listing streams
        self._resort_delay = max(RESORT_DELAY, 2 * (time.perf_counter() - started))

    def _note_texts(self, ids: list[str]) -> None:
        """Keep the texts and numbers of these (new or changed) rows current."""
        self._aligned = None
        rows = self.rows
        if self._text is not None:
            text, texts = self._text, self._haystacks
            for row_id in ids:
                texts[row_id] = text(rows[row_id])
        for name, getter in self._number_getters.items():
            values = self._number_cache[name]
            for row_id in ids:
                values[row_id] = getter(rows[row_id])
        column = self._column(self._keyed)
        if column is not None and column.sort_key is not None:
            sort_key, keys = column.sort_key, self._sort_keys
            for row_id in ids:
                keys[row_id] = sort_key(rows[row_id])

    def _column_names(self) -> tuple[str, ...]:
        return ((_TEXT,) if self._text is not None else ()) + tuple(self._number_getters)

    def _column_values(self, name: str, ids: list[str]) -> MergedColumn:
        """One filter column (texts, or creation times or sizes) for `ids`, in their order."""
        if name == _TEXT:
            texts = self._haystacks
            return [texts[i] for i in ids]
        values, nan = self._number_cache[name], math.nan
        # sizes as floats: exact below 2**53 bytes
        return array("d", [nan if (v := values[i]) is None else v for i in ids])

    def _patch_columns(self, ids: list[str]) -> None:
        """Rows already merged whose texts or numbers may have changed: their values in the
        columns kept along the sorted order (the ones not merged yet come with theirs)."""
        merged = self._merged
        if merged is None or not merged.columns or not ids:
            return
        if len(ids) > 64:  # each costs a scan: drop the columns (a look-up per row later)
            merged.columns.clear()
            return
        for row_id in ids:
            try:
                at = merged.find(row_id)
            except ValueError:
                continue
            for name, values in merged.columns.items():
                values[at] = self._column_values(name, [row_id])[0]

    def _matching(self, ids: list[str], keep: bool = True) -> list[str]:
        """The ids the filter lets through, in the order given (`ids` itself when every one
        does); `keep` keeps the aligned texts and numbers of `ids` for the next keystroke."""
        row_filter = self._filter
        if row_filter is None:
            return ids
        rows = self.rows
        if self._text is None:
            return [i for i in ids if row_filter(rows[i])]
        aligned = self._aligned_for(ids) if keep else _Aligned(ids, len(ids))
        masks: list[Iterator[bool]] = []
        if row_filter.needles:
            texts = self._aligned_texts(aligned)
            masks += [map(operator.contains, texts, repeat(needle))
                      for needle in row_filter.needles]
        for bound in row_filter.ranges:
            values = self._aligned_numbers(aligned, bound.field, row_filter)
            masks.append(map(_COMPARE[bound.op], values, repeat(bound.value)))
        passed = ids
        if masks:
            mask = masks[0]
            for more in masks[1:]:
                mask = map(operator.and_, mask, more)
            flags = list(mask)
            if not all(flags):
                passed = list(compress(ids, flags))
        predicate = row_filter.predicate
        if predicate is not None:
            passed = [i for i in passed if predicate(rows[i])]
        return passed

    def _aligned_for(self, ids: list[str]) -> _Aligned:
        aligned = self._aligned
        if aligned is None or aligned.ids is not ids or aligned.size != len(ids):
            aligned = self._aligned = _Aligned(ids, len(ids))
        return aligned

    def _aligned_texts(self, aligned: _Aligned) -> list[str]:
        if aligned.texts is None:
            merged = self._merged
            if merged is not None and aligned.ids is self._sorted and _TEXT in merged.columns:
                texts: list[str] = merged.display_column(_TEXT)  # type: ignore[assignment]
            else:
                haystacks = self._haystacks
                texts = [haystacks[i] for i in aligned.ids]
            if len(texts) > PACKED_GROWTH * self._packed:
                texts = self._pack(aligned, texts)
            aligned.texts = texts
        return aligned.texts

    def _pack(self, aligned: _Aligned, texts: list[str]) -> list[str]:
        """The texts as fresh copies side by side in memory, in display order: a scan then
        reads memory in order instead of jumping to wherever each row's text was made (three
        to five times faster). They replace the rows' texts (the old copies are freed) and
        stay in order through merges, which keep the relative order of the rows held."""
        joined = _SEPARATOR.join(texts)
        if joined.count(_SEPARATOR) != len(texts) - 1:
            return texts  # a text holds the separator: keep them where they are
        packed = joined.split(_SEPARATOR)
        if len(packed) == len(self._haystacks):  # every row: a new dict, no look-ups
            self._haystacks = dict(zip(aligned.ids, packed, strict=True))
        else:
            self._haystacks.update(zip(aligned.ids, packed, strict=True))
        merged = self._merged
        if merged is not None and aligned.ids is self._sorted and _TEXT in merged.columns:
            merged.columns[_TEXT] = packed[::-1] if merged.reverse else packed
        self._packed = len(packed)
        return packed

    def pack_texts(self) -> None:
        """Lay the filter texts out for the next keystroke now (after a listing ends) rather
        than on that keystroke."""
        if self._text is not None and self.rows:
            self._aligned_texts(self._aligned_for(self._display_order()))

    def _aligned_numbers(self, aligned: _Aligned, name: str,
                         row_filter: RowFilter[R]) -> array[float]:
        numbers = aligned.numbers.get(name)
        merged = self._merged
        if numbers is None and merged is not None and aligned.ids is self._sorted \
                and name in merged.columns:
            numbers = aligned.numbers[name] = merged.display_column(name)  # type: ignore
        if numbers is None:
            values, nan = self._numbers(name, row_filter), math.nan
            # sizes as floats: exact below 2**53 bytes
            numbers = aligned.numbers[name] = array(
                "d", [nan if (v := values[i]) is None else v for i in aligned.ids])
        return numbers

    def _numbers(self, name: str, row_filter: RowFilter[R]) -> dict[str, float | None]:
        """Every row's creation time or size (kept as rows come when the table was told how
        to read them, else read now)."""
        values = self._number_cache.get(name)
        if values is None:
            getter = row_filter.fields.created if name == "created" else row_filter.fields.size
            assert getter is not None
            values = {row_id: getter(row) for row_id, row in self.rows.items()}
        return values

    def set_filter(self, row_filter: RowFilter[R] | None, narrowing: bool = False) -> None:
        """Apply a filter; `narrowing` says it can only drop rows of the current view, so
        only those are tested (typing on at the end of a text filter)."""
        self._filter = row_filter
        # With texts kept per row, a pass over every row in order costs little more than one
        # over the view, and its aligned texts are kept from one keystroke to the next.
        narrow = narrowing and row_filter is not None and self._text is None
        self._rebuild(self.view if narrow else None)

    def set_sort(self, column_key: str | None, reverse: bool = False) -> None:
        self.sort_column = column_key
        self.sort_reverse = reverse
        self._sorted = None
        self._rebuild()

    def _display_order(self) -> list[str]:
        """Every id in display order; sorted once per change of rows or sort, so that
        filtering (a keystroke) never sorts: filtering a sorted list keeps it sorted."""
        column = self._column(self.sort_column)
        if column is None or column.sort_key is None:
            return self._order
        if self._keyed != column.key:
            sort_key, rows = column.sort_key, self.rows
            self._sort_keys = {i: sort_key(rows[i]) for i in self._order}
            self._keyed = column.key
            self._sorted = None
        key = self._sort_keys.__getitem__
        merged = self._merged
        if self._sorted is None or merged is None:
            merged = self._merged = SortedIds.sort(self._order, key, self.sort_reverse,
                                                   self._column_names(), self._column_values)
            self._sorted = merged.display()
        elif self._unsorted:
            # k new ids cost k binary searches and one copy, not a sort of every row
            merged.merge(self._unsorted, key, self._column_values)
            self._sorted = merged.display()
        self._unsorted = []
        return self._sorted

    def _positions(self) -> dict[str, int]:
        if self._index is None:
            self._index = {row_id: index for index, row_id in enumerate(self.view)}
        return self._index

    def _rebuild(self, among: list[str] | None = None) -> bool:
        """Recompute the view; False when it holds the same rows in the same order (a
        keystroke that hid nothing), in which case nothing is repainted."""
        keep = self.cursor_id
        source = among if among is not None else self._display_order()
        view = self._matching(source)
        if view == self.view:
            return False
        if view is source and source is self._order:
            view = list(view)  # `append` extends both in place: never share this one
        # (a sorted order is never changed in place: a merge makes new lists)
        self.view = view
        self._index = None
        try:
            self.cursor = self.view.index(keep) if keep is not None else 0
        except ValueError:
            self.cursor = min(self.cursor, max(0, len(self.view) - 1))
        self._resize()
        self.refresh()
        self.post_message(self.CursorMoved(self, self.cursor_id))
        return True

    def _column(self, key: str | None) -> Column[R] | None:
        return next((c for c in self.columns if c.key == key), None)

    @property
    def line_width(self) -> int:
        """The width rows are drawn at: the widget less its vertical scrollbar (looked up once
        per size and scrollbar state: it is read for every line drawn)."""
        key = (self._size, self.show_vertical_scrollbar, self.show_horizontal_scrollbar)
        if key != self._width_for:
            self._width_for = key
            self._width = self.scrollable_content_region.width
        return self._width

    def _resize(self) -> None:
        size = Size(self.line_width, len(self.view) + 1)
        if size == self.virtual_size:
            return
        if not self._size:
            self.virtual_size = size
            return
        # Only this table's scroll range changed: set its scrollbars as a layout would, but
        # without a layout of the whole screen, which repaints every widget on it (a new
        # batch of rows streaming in, a keystroke of a filter). Showing or hiding a
        # scrollbar still asks for a layout.
        self.set_reactive(RowTable.virtual_size, size)
        self._scroll_update(size)
        self.refresh()

    def on_resize(self) -> None:
        self._resize()

    # marks
    def toggle_mark(self) -> None:
        row_id = self.cursor_id
        if row_id is None:
            return
        self.marks ^= {row_id}
        self.last_marked = row_id if row_id in self.marks else None
        self._refresh_row(self.cursor)

    def mark_range(self) -> int:
        """Mark every shown row from the last marked one to the cursor (both included);
        the number marked, or -1 when no marked row is shown to start from."""
        anchor = self.last_marked
        if anchor is None or anchor not in self.rows or self.cursor_id is None:
            return -1
        try:
            start = self._positions()[anchor]
        except KeyError:
            return -1
        low, high = sorted((start, self.cursor))
        span = self.view[low:high + 1]
        self.marks.update(span)
        self.last_marked = self.cursor_id
        self.refresh()
        return len(span)

    def mark_visible(self) -> int:
        self.marks.update(self.view)
        self.refresh()
        return len(self.view)

    def clear_marks(self) -> None:
        self.marks.clear()
        self.last_marked = None
        self.refresh()

    def hidden_marks(self) -> set[str]:
        return self.marks - self._positions().keys()

    # time
    def tick(self, now: float) -> None:
        """Move the clock; repaint only visible lines whose text changed (ages)."""
        self.now = now
        top = int(self.scroll_offset.y)
        visible = self.view[top:top + max(0, self.size.height - 1)]
        kept = {i: self._cells[i] for i in visible if i in self._cells}
        self._cells = kept  # rows off screen are rendered afresh, at the new time
        for index, row_id in enumerate(visible, start=top):
            cached = kept.get(row_id)
            if cached is not None and self._texts(cached[0]) != cached[1]:
                self._cells.pop(row_id)
                self._refresh_row(index)

    # cursor
    def action_cursor(self, delta: int) -> None:
        self.move_cursor(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor + direction * max(1, self.size.height - 2))

    def action_jump(self, where: int) -> None:
        self.move_cursor(0 if where == 0 else len(self.view) - 1)

    def move_cursor(self, index: int) -> None:
        if not self.view:
            return
        index = max(0, min(index, len(self.view) - 1))
        if index == self.cursor:
            return
        old, self.cursor = self.cursor, index
        self._refresh_row(old)
        self._refresh_row(index)
        self._follow_cursor()
        self.post_message(self.CursorMoved(self, self.cursor_id))

    def _follow_cursor(self) -> None:
        body = max(1, self.size.height - 1)
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + body:
            self.scroll_to(y=self.cursor - body + 1, animate=False, immediate=True)

    def _refresh_row(self, index: int) -> None:
        line = index - int(self.scroll_offset.y) + 1
        if 1 <= line < self.size.height:
            self.refresh(Region(0, line, self.line_width, 1))

    def on_focus(self) -> None:
        self._refresh_row(self.cursor)

    def on_blur(self) -> None:
        self._refresh_row(self.cursor)

    # rendering
    def _texts(self, row: R) -> tuple[str, ...]:
        """A row's cells as drawn: what a server or a sandbox put in them is made inert here,
        the last step before the terminal (segments reach it as they are)."""
        now = self.now
        return tuple(inert(column.cell(row, now)) for column in self.columns)

    def _cells_for(self, row_id: str) -> tuple[str, ...]:
        row = self.rows[row_id]
        cached = self._cells.get(row_id)
        if cached is None or cached[0] is not row:
            cached = (row, self._texts(row))
            self._cells[row_id] = cached
        return cached[1]

    def visible_columns(self) -> list[tuple[Column[R], int]]:
        """Columns that fit the width, each with its width (lowest priority dropped first)."""
        width = self.line_width
        if self._layout[0] == width:
            return self._layout[1]
        chosen = list(self.columns)
        room = width - GUTTER

        def needed(cols: list[Column[R]]) -> int:
            return sum(c.width for c in cols) + max(0, len(cols) - 1)

        while len(chosen) > 1 and needed(chosen) > room:
            chosen.remove(min(chosen, key=lambda c: c.priority))
        spare = max(0, room - needed(chosen))
        grow_total = sum(c.grow for c in chosen)
        widths = []
        for column in chosen:
            extra = spare * column.grow // grow_total if grow_total else 0
            widths.append((column, column.width + extra))
        self._layout = (width, widths)
        return widths

    def _part(self, name: str) -> Style:
        """A component style to lay over a line; looked up once, not once per line."""
        style = self._parts.get(name)
        if style is None:
            style = self._parts[name] = self.get_component_rich_style(name, partial=True)
        return style

    def notify_style_update(self) -> None:
        self._parts.clear()  # the theme or the CSS changed
        self._strips.clear()
        self._base_style = None
        self._width_for = ()
        super().notify_style_update()

    def render_line(self, y: int) -> Strip:
        width = self.line_width
        base = self._base_style
        if base is None:
            base = self._base_style = self.rich_style
        if y == 0:
            return self._header(width, base)
        index = int(self.scroll_offset.y) + y - 1
        if index >= len(self.view):
            if index == 0:
                style = base + self.get_component_rich_style("rowtable--empty")
                said = (f"None of the {len(self.rows)} matches the filter (esc clears it)."
                        if self.rows else self.empty_text)
                return Strip([Segment(set_cell_size(f"  {said}", width), style)], width)
            return Strip.blank(width, base)
        return self._row_strip(index, width, base)

    def _header(self, width: int, base: Style) -> Strip:
        style = base + self.get_component_rich_style("rowtable--header")
        parts = [" " * GUTTER]
        for column, size in self.visible_columns():
            label = column.label
            if column.key == self.sort_column:
                label = _with_arrow(label, "v" if self.sort_reverse else "^", size)
            parts.append(_fit(label, size, column.align) + " ")
        return Strip([Segment(set_cell_size("".join(parts), width), style)], width)

    def _row_strip(self, index: int, width: int, base: Style) -> Strip:
        row_id = self.view[index]
        texts = self._cells_for(row_id)
        marked = row_id in self.marks
        cursor = index == self.cursor
        made_of = (texts, width, marked, cursor and self.has_focus, cursor, self.stale, base)
        cached = self._strips.get(row_id)
        if cached is not None and _same(cached[0], made_of):
            return cached[1]
        if len(self._strips) > 4096:
            self._strips.clear()  # lines scrolled past long ago
        strip = self._draw_row(row_id, texts, marked, cursor, width, base)
        self._strips[row_id] = (made_of, strip)
        return strip

    def _draw_row(self, row_id: str, texts: tuple[str, ...], marked: bool, cursor: bool,
                  width: int, base: Style) -> Strip:
        style = base
        if marked:
            style += self._part("rowtable--marked")
        if cursor:  # last, so a marked row under the cursor stays readable
            style += self._part("rowtable--cursor" if self.has_focus else "rowtable--cursor-blur")
        if self.stale:
            style += self._part("rowtable--stale")
        segments = [Segment("* " if marked else "? " if self.stale else "  ", style)]
        used = GUTTER
        status = None
        if self.status_class is not None and not cursor and not self.stale:
            status = self._part(f"rowtable--{self.status_class(self.rows[row_id])}")
        positions = self._column_index
        for column, size in self.visible_columns():
            text = _fit(texts[positions[column.key]], size, column.align) + " "
            cell_style = style + status if (column.styled and status is not None) else style
            segments.append(Segment(text, cell_style))
            used += size + 1
        if used < width:
            segments.append(Segment(" " * (width - used), style))
        return Strip(segments).crop(0, width)


def _same(old: tuple[Any, ...], new: tuple[Any, ...]) -> bool:
    """Whether a line drawn from `old` is the line `new` would draw (texts by identity: a
    row's texts are made afresh whenever they may have changed)."""
    return old[0] is new[0] and old[1:] == new[1:]


def _fit(text: str, width: int, align: str) -> str:
    if len(text) > width:
        return set_cell_size(text, width - 1) + "~" if width > 1 else text[:width]
    return set_cell_size(text, width) if align == "left" else text.rjust(width)


def _with_arrow(label: str, arrow: str, width: int) -> str:
    """The sort arrow always shows: after a space if there is room, else in place of the
    label's last letter (never cut off as `AGE~`)."""
    if len(label) + 2 <= width:
        return f"{label} {arrow}"
    if len(label) + 1 <= width:
        return label + arrow
    return label[:max(0, width - 1)] + arrow
