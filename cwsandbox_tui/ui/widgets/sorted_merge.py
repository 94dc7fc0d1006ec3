"""Merging a batch of new ids into an already sorted list, giving exactly what a whole stable
sort of the old and new ids together (old first, in arrival order) would give.

A whole sort of n rows costs n sort-key look-ups however few rows are new; merging k new rows
costs k binary searches and one C-level copy of the old lists. The old list is kept in
ascending key order together with its keys (`SortedIds`); a descending view is its reverse.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class SortedIds:
    """Ids in ascending key order with their keys alongside (same length, same order).

    For a descending sort the ascending list is the display order reversed, so rows with
    equal keys stand in reverse arrival order here (and in arrival order once reversed).
    """

    ids: list[str]
    keys: list[Any]
    reverse: bool

    @classmethod
    def sort(cls, ids: list[str], key: Callable[[str], Any], reverse: bool) -> SortedIds:
        """A whole stable sort, as `sorted(ids, key=key, reverse=reverse)` orders them."""
        ordered = sorted(ids, key=key, reverse=reverse)
        if reverse:
            ordered.reverse()
        return cls(ordered, [key(i) for i in ordered], reverse)

    def display(self) -> list[str]:
        """The ids in display order (a new list when descending)."""
        return self.ids[::-1] if self.reverse else self.ids

    def merge(self, new: list[str], key: Callable[[str], Any]) -> None:
        """Add ids that arrived after every id held (none of them held already)."""
        if not new:
            return
        batch = SortedIds.sort(new, key, self.reverse)
        # Equal keys: a later arrival goes after the earlier ones in display order, which is
        # after them here when ascending and before them here when descending.
        find = bisect_left if self.reverse else bisect_right
        old_ids, old_keys = self.ids, self.keys
        ids: list[str] = []
        keys: list[Any] = []
        start = 0
        for row_id, row_key in zip(batch.ids, batch.keys, strict=True):
            at = find(old_keys, row_key, start)  # the batch is ascending: never before `start`
            if at > start:
                ids += old_ids[start:at]
                keys += old_keys[start:at]
                start = at
            ids.append(row_id)
            keys.append(row_key)
        ids += old_ids[start:]
        keys += old_keys[start:]
        self.ids, self.keys = ids, keys
