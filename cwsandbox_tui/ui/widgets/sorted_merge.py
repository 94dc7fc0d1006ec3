"""Merging a batch of new ids into an already sorted list, giving exactly what a whole stable
sort of the old and new ids together (old first, in arrival order) would give.

A whole sort of n rows costs n sort-key look-ups however few rows are new; merging k new rows
costs k binary searches and one C-level copy of the old lists. The old list is kept in
ascending key order together with its keys (`SortedIds`); a descending view is its reverse.
Other per-row values (a filter's texts and numbers) can ride along as columns, so that they
stay laid out in the same order without a look-up per row.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    Column: TypeAlias = list[Any] | array[float]
else:
    Column: TypeAlias = Any
# the values of one column for some ids, in their order
ColumnOf: TypeAlias = Callable[[str, list[str]], Column]


@dataclass
class SortedIds:
    """Ids in ascending key order with their keys alongside (same length, same order).

    For a descending sort the ascending list is the display order reversed, so rows with
    equal keys stand in reverse arrival order here (and in arrival order once reversed).
    """

    ids: list[str]
    keys: Any  # a list, or an array of floats when every key is one (see `_packed_keys`)
    reverse: bool
    columns: dict[str, Column] = field(default_factory=dict)

    @classmethod
    def sort(cls, ids: list[str], key: Callable[[str], Any], reverse: bool,
             names: tuple[str, ...] = (), column: ColumnOf | None = None) -> SortedIds:
        """A whole stable sort, as `sorted(ids, key=key, reverse=reverse)` orders them."""
        ordered = sorted(ids, key=key, reverse=reverse)
        if reverse:
            ordered.reverse()
        columns = {name: column(name, ordered) for name in names} if column else {}
        return cls(ordered, _packed_keys([key(i) for i in ordered]), reverse, columns)

    def display(self) -> list[str]:
        """The ids in display order (a new list when descending)."""
        return self.ids[::-1] if self.reverse else self.ids

    def display_column(self, name: str) -> Column:
        values = self.columns[name]
        return values[::-1] if self.reverse else values

    def merge(self, new: list[str], key: Callable[[str], Any],
              column: ColumnOf | None = None) -> None:
        """Add ids that arrived after every id held (none of them held already)."""
        if not new:
            return
        names = tuple(self.columns)
        batch = SortedIds.sort(new, key, self.reverse, names, column)
        # Equal keys: a later arrival goes after the earlier ones in display order, which is
        # after them here when ascending and before them here when descending.
        find = bisect_left if self.reverse else bisect_right
        old_keys = self.keys
        if isinstance(old_keys, array) and not isinstance(batch.keys, array):
            old_keys = list(old_keys)  # a key that is no float came: keep them as objects
        cuts: list[int] = []  # where each new id goes among the old ones
        start = 0
        for row_key in batch.keys:
            start = find(old_keys, row_key, start)  # the batch is ascending: never before
            cuts.append(start)
        self.ids = _interleave(self.ids, batch.ids, cuts)
        self.keys = _interleave(old_keys, batch.keys, cuts)
        for name in names:
            self.columns[name] = _interleave(self.columns[name], batch.columns[name], cuts)

    def find(self, row_id: str) -> int:
        """Where an id stands in the ascending lists (ValueError if it is not held)."""
        return self.ids.index(row_id)


def _packed_keys(keys: list[Any]) -> Any:
    """Float keys as an array: a binary search then reads one block of memory instead of a
    float object per step, wherever it was made (most sort keys are times)."""
    if keys and all(type(k) is float for k in keys):
        return array("d", keys)
    return keys


def _interleave(old: Any, new: Any, cuts: list[int]) -> Any:
    """`old` with `new[n]` put before `old[cuts[n]]` (cuts ascending); lists or arrays."""
    out = old[:0]
    start = 0
    for value, at in zip(new, cuts, strict=True):
        if at > start:
            out += old[start:at]
            start = at
        out.append(value)
    out += old[start:]
    return out
