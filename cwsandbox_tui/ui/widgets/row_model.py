"""The rows of a table without their drawing: rows by id, their arrival order, the filter, the
sort, the marks and the cursor, and the list of ids shown (`view`). No Textual here: the
drawing widget (`rowtable.RowTable`) renders a model and repaints what each `Changed` names,
and the model's logic is tested without an app.

Every change is announced by one kind of notification, `Changed`, handed to the `on_change`
callback: which rows moved, which look different where they stand, whether rows arrived that
wait for a merge, whether the marks or the cursor changed.

Costs, for a million rows streaming in by pages of a thousand:
* a page costs its own rows (a sort key and a filter text each), never a pass over all rows;
* while sorted, new ids wait in `pending` and are merged in batches (`settle`) into the kept
  sorted order by binary search over its kept keys (`sorted_merge`);
* a filter keystroke is one C-level pass per term over texts and numbers laid out in display
  order (`_Aligned`), built once per order, not per keystroke.
"""

from __future__ import annotations

import contextlib
import math
import operator
from array import array
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass, field
from itertools import compress, repeat
from typing import Any, Generic, TypeVar

from ..filter_expr import RowFilter
from .sorted_merge import SortedIds

R = TypeVar("R")

PACKED_GROWTH = 1.25  # texts are packed again once this many times as many rows are shown
PACK_STEP = 50_000  # rows laid out for the filter per step of `pack_steps` (~0.1 s at 1M)
_SEPARATOR = "\x00"
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "=": operator.eq}


@dataclass(frozen=True)
class Changed:
    """What one change of a `RowModel` changed, so that a drawing of it redraws only that."""

    view: bool = False  # which rows are shown, or their order
    appended: int | None = None  # rows were added at the end of the view from this index
    pending: bool = False  # rows were added that the view shows after a merge (see `settle`)
    rows: frozenset[str] = frozenset()  # these rows look different where they stand
    every_row: bool = False  # every shown row may look different (marks set or cleared)
    marks: bool = False  # the set of marked rows changed
    cursor: bool = False  # the cursor stands at another index or on another row


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


class RowModel(Generic[R]):
    """Rows, their order, filter, sort, marks and cursor; see the module's doc."""

    def __init__(self, key: Callable[[R], str], *,
                 sort_keys: dict[str, Callable[[R], Any]] | None = None,
                 text: Callable[[R], str] | None = None,
                 numbers: dict[str, Callable[[R], float | None]] | None = None,
                 on_change: Callable[[Changed], None] | None = None) -> None:
        self.key = key
        self.on_change = on_change
        self.rows: dict[str, R] = {}
        self.view: list[str] = []
        self.marks: set[str] = set()
        self.last_marked: str | None = None  # where a range mark starts
        self.cursor = 0
        self.sort_column: str | None = None
        self.sort_reverse = False
        self._sort_key_of = dict(sort_keys or {})
        self._order: list[str] = []  # every id in arrival order
        self._sorted: list[str] | None = None  # every id in display order, when sorted
        self._unsorted: list[str] = []  # ids arrived since `_sorted` was made
        self._merged: SortedIds | None = None  # `_sorted` in ascending order, with its keys
        # each row's key for the column `_keyed` sorts by, kept as rows come (a sort or a
        # merge then costs no Python call per row)
        self._sort_keys: dict[str, Any] = {}
        self._keyed: str | None = None
        self._index: dict[str, int] | None = None
        self._filter: RowFilter[R] | None = None
        self._text = text
        self._haystacks: dict[str, str] = {}  # each row's lower-case text, for text filters
        self._number_getters = dict(numbers or {})
        self._aligned: _Aligned | None = None
        self._packed = 0  # rows whose texts were last packed (see `_texts_in_steps`)
        self.pack_step = PACK_STEP

    def _emit(self, change: Changed) -> None:
        if self.on_change is not None:
            self.on_change(change)

    # reading
    @property
    def cursor_id(self) -> str | None:
        return self.view[self.cursor] if 0 <= self.cursor < len(self.view) else None

    @property
    def cursor_row(self) -> R | None:
        row_id = self.cursor_id
        return self.rows.get(row_id) if row_id is not None else None

    @property
    def pending(self) -> bool:
        """Rows have arrived that the sorted view does not show yet (see `settle`)."""
        return bool(self._unsorted) or (self._sorted is None and self._sort_key() is not None
                                        and bool(self._order))

    def positions(self) -> dict[str, int]:
        """Each shown id's index in the view."""
        if self._index is None:
            self._index = {row_id: index for index, row_id in enumerate(self.view)}
        return self._index

    def hidden_marks(self) -> set[str]:
        return self.marks - self.positions().keys()

    # rows
    def replace_all(self, rows: Iterable[R]) -> bool:
        """Hold exactly `rows`, each row once (and show any pending ones); returns whether a
        row changed."""
        old = self.rows
        if isinstance(rows, Sized) and len(rows) == len(old) and all(
                map(operator.is_, map(old.get, map(self.key, rows)), rows)):
            # the very rows held (a listing's whole set after its pages): one pass, no new
            # dict (at a million rows 0.5 s instead of 2 s)
            if self.pending:
                self.settle()
            return False
        fresh = {self.key(r): r for r in rows}
        # the same object is the same row (a listing hands back the rows its pages showed)
        changed = [k for k, r in fresh.items() if k in old and (o := old[k]) is not r and o != r]
        added = [k for k in fresh if k not in old]
        removed = old.keys() - fresh.keys()
        structural = bool(added or removed)
        if not changed and not structural:
            if self.pending:  # the listing is complete: show its last pages now
                self.settle()
            return False
        self.rows = fresh
        for row_id in removed:
            self._haystacks.pop(row_id, None)
            self._sort_keys.pop(row_id, None)
        self._note(changed, added)
        marks_dropped = False
        if structural:
            self._order = list(fresh)
            self._sorted = None
            self._unsorted = []
            kept = self.marks & fresh.keys()
            marks_dropped = len(kept) != len(self.marks)
            self.marks = kept
        elif self._sorted is not None and self._sort_key_changed(old, changed):
            self._sorted = None
        resort = self._sorted is None and self.sort_column is not None
        rebuilt = (structural or resort or self._filter is not None) and self._rebuild(
            marks=marks_dropped)
        if not rebuilt:  # the same rows shown: the changed ones look different
            self._emit(Changed(rows=frozenset(changed), marks=marks_dropped))
        return True

    def _sort_key_changed(self, old: dict[str, R], changed: list[str]) -> bool:
        key = self._sort_key()
        return key is not None and any(key(old[i]) != key(self.rows[i]) for i in changed)

    def append(self, rows: Iterable[R]) -> None:
        """Add rows at the end (a page streaming in); existing ids are updated in place. While
        sorted, the new ids wait for `settle` once some rows are shown (see `pending`)."""
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
                updated.append(row_id)
            held[row_id] = row
        self._order.extend(new)
        old_keys = [self._sort_keys.get(i) for i in updated] if self._keyed else []
        self._note(updated, new)
        if self._sort_key() is not None:
            # Sorting the whole list for every page would cost O(pages * n log n) while a
            # large listing streams in: the new ids wait in `_unsorted` and are merged into
            # the sorted list in batches (`settle`).
            if self._sorted is not None and any(
                    self._sort_keys.get(i) != k for i, k in zip(updated, old_keys, strict=True)):
                self._sorted = None
            self._unsorted.extend(new)
            if not self.view:
                self._rebuild()  # the first rows show at once; later pages in batches
            elif updated or new:  # (the rows held are counted while they wait)
                self._emit(Changed(rows=frozenset(updated), pending=bool(new)))
            return
        start = len(self.view)
        self.view.extend(self._matching(new, keep=False))
        self._index = None
        self._emit(Changed(appended=start, rows=frozenset(updated)))

    def settle(self) -> None:
        """Show the rows that arrived since the last sort, in their sorted places."""
        self._rebuild()

    def _note(self, changed: list[str], new: list[str]) -> None:
        """Keep the texts and sort keys of these rows current. (Texts made only when a filter
        first needs them sped a listing up but slowed the first keystroke after it.)"""
        self._aligned = None
        row = self.rows.__getitem__
        sort_key = self._sort_key_of.get(self._keyed) if self._keyed else None
        for ids in (changed, new):
            if self._text is not None:
                self._haystacks.update(zip(ids, map(self._text, map(row, ids)), strict=True))
            if sort_key is not None:
                self._sort_keys.update(zip(ids, map(sort_key, map(row, ids)), strict=True))

    # filter and sort
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

    def _sort_key(self) -> Callable[[R], Any] | None:
        return self._sort_key_of.get(self.sort_column) if self.sort_column else None

    def _display_order(self) -> list[str]:
        """Every id in display order; sorted once per change of rows or sort, so that
        filtering (a keystroke) never sorts: filtering a sorted list keeps it sorted."""
        sort_key = self._sort_key()
        if sort_key is None:
            return self._order
        if self._keyed != self.sort_column:
            rows = self.rows
            self._sort_keys = {i: sort_key(rows[i]) for i in self._order}
            self._keyed = self.sort_column
            self._sorted = None
        key = self._sort_keys.__getitem__
        merged = self._merged
        if self._sorted is None or merged is None:
            merged = self._merged = SortedIds.sort(self._order, key, self.sort_reverse)
            self._sorted = merged.display()
        elif self._unsorted:
            # k new ids cost k binary searches over the kept keys and one copy, not a look-up
            # of every row's key (a whole sort of two runs cost that: slower at 1M rows)
            merged.merge(self._unsorted, key)
            self._sorted = merged.display()
        self._unsorted = []
        return self._sorted

    def _rebuild(self, among: list[str] | None = None, marks: bool = False) -> bool:
        """Recompute the view; False when it holds the same rows in the same order (a
        keystroke that hid nothing), in which case nothing is announced."""
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
        # The cursor stays on its row if the filter lets it through; one row is asked first,
        # as looking for a row the filter dropped scans the whole view (at 1M rows 11% of a
        # filter's keystroke, bench/profiles.md at 4177fda)
        if keep is None:
            self.cursor = 0
        else:
            at = -1
            row = self.rows.get(keep)
            if row is not None and (self._filter is None or self._filter(row)):
                with contextlib.suppress(ValueError):
                    at = self.view.index(keep)
            self.cursor = at if at >= 0 else min(self.cursor, max(0, len(self.view) - 1))
        self._emit(Changed(view=True, cursor=True, marks=marks))
        return True

    # the filter's passes
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
            for _ in self._texts_in_steps(aligned):
                pass
        assert aligned.texts is not None
        return aligned.texts

    def _texts_in_steps(self, aligned: _Aligned) -> Iterator[None]:
        """Lay out `aligned.texts`, `pack_step` ids at a time, yielding after each step; the
        texts are in use once the steps are done."""
        ids, step, text = aligned.ids, self.pack_step, self._haystacks.__getitem__
        pack = len(ids) > PACKED_GROWTH * self._packed
        texts: list[str] = []
        for start in range(0, len(ids), step):
            part = list(map(text, ids[start:start + step]))
            texts += self._packed_copies(part) if pack else part
            yield
        if pack:
            # The rows' texts become the packed copies only once all are made: the old ones
            # freed earlier gave their scattered places to the next step's copies (a filter
            # keystroke at 1M rows took 280 ms instead of 150).
            haystacks = self._haystacks
            for start in range(0, len(ids), step):
                haystacks.update(zip(ids[start:start + step], texts[start:start + step],
                                     strict=True))
                yield
            self._packed = len(texts)
        aligned.texts = texts

    @staticmethod
    def _packed_copies(texts: list[str]) -> list[str]:
        """The texts as fresh copies side by side in memory, in display order: a scan then
        reads memory in order instead of jumping to wherever each row's text was made (three
        to five times faster)."""
        joined = _SEPARATOR.join(texts)
        if joined.count(_SEPARATOR) != len(texts) - 1:
            return texts  # a text holds the separator: keep them where they are
        return joined.split(_SEPARATOR)

    def pack_texts(self) -> None:
        """Lay the filter texts and numbers out for the next keystroke now (after a listing
        ends) rather than on that keystroke."""
        for _ in self.pack_steps():
            pass

    def pack_steps(self) -> Iterator[None]:
        """`pack_texts` in steps of `pack_step` rows, yielding between them so that the
        caller's loop runs meanwhile (at a million rows the whole took ~6 s). It ends early
        when the rows or their order change in between; a keystroke that needs what is not
        laid out yet makes it then, and the steps skip it."""
        if self._text is None or not self.rows:
            return
        aligned = self._aligned_for(self._display_order())
        if aligned.texts is None:
            for _ in self._texts_in_steps(aligned):
                yield
                if self._aligned is not aligned:
                    return
                if aligned.texts is not None:
                    break  # laid out by a keystroke meanwhile
        for name, getter in self._number_getters.items():
            if name in aligned.numbers:
                continue
            for _ in self._numbers_in_steps(aligned, name, getter):
                yield
                if self._aligned is not aligned:
                    return
                if name in aligned.numbers:
                    break

    def _aligned_numbers(self, aligned: _Aligned, name: str,
                         row_filter: RowFilter[R] | None) -> array[float]:
        """A row's creation time or size for each id, read once per order (after a listing,
        by `pack_texts`), not kept per row as rows come: that cost memory for every row."""
        if name not in aligned.numbers:
            getter = self._number_getters.get(name)
            if getter is None:
                assert row_filter is not None
                getter = row_filter.fields.created if name == "created" \
                    else row_filter.fields.size
            assert getter is not None
            for _ in self._numbers_in_steps(aligned, name, getter):
                pass
        return aligned.numbers[name]

    def _numbers_in_steps(self, aligned: _Aligned, name: str,
                          getter: Callable[[R], float | None]) -> Iterator[None]:
        ids, step, row, nan = aligned.ids, self.pack_step, self.rows.__getitem__, math.nan
        numbers = array("d")
        for start in range(0, len(ids), step):
            # sizes as floats: exact below 2**53 bytes
            numbers.extend([nan if v is None else v
                            for v in map(getter, map(row, ids[start:start + step]))])
            yield
        aligned.numbers[name] = numbers

    # cursor
    def move_cursor(self, index: int) -> None:
        """Put the cursor at `index` of the view (kept inside it)."""
        if not self.view:
            return
        index = max(0, min(index, len(self.view) - 1))
        if index != self.cursor:
            self.cursor = index
            self._emit(Changed(cursor=True))

    # marks
    def toggle_mark(self) -> None:
        row_id = self.cursor_id
        if row_id is None:
            return
        self.marks ^= {row_id}
        self.last_marked = row_id if row_id in self.marks else None
        self._emit(Changed(rows=frozenset((row_id,)), marks=True))

    def mark_range(self) -> int:
        """Mark every shown row from the last marked one to the cursor (both included);
        the number marked, or -1 when no marked row is shown to start from."""
        anchor = self.last_marked
        if anchor is None or anchor not in self.rows or self.cursor_id is None:
            return -1
        try:
            start = self.positions()[anchor]
        except KeyError:
            return -1
        low, high = sorted((start, self.cursor))
        span = self.view[low:high + 1]
        self.marks.update(span)
        self.last_marked = self.cursor_id
        self._emit(Changed(every_row=True, marks=True))
        return len(span)

    def mark_visible(self) -> int:
        self.marks.update(self.view)
        self._emit(Changed(every_row=True, marks=True))
        return len(self.view)

    def clear_marks(self) -> None:
        self.marks.clear()
        self.last_marked = None
        self._emit(Changed(every_row=True, marks=True))

    def set_marks(self, ids: Iterable[str]) -> None:
        """Mark exactly these rows (what a prune chose), shown or not."""
        self.marks = set(ids)
        self.last_marked = None
        self._emit(Changed(every_row=True, marks=True))

    def unmark(self, ids: Iterable[str]) -> None:
        """Drop these rows' marks (rows whose deletion was asked for)."""
        self.marks.difference_update(ids)
        self._emit(Changed(every_row=True, marks=True))
