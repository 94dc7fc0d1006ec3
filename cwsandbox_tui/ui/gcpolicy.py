"""Keeping the cyclic garbage collector off the rows the dashboard holds.

A listing of a million snapshots makes millions of long-lived objects (rows, their tuples and
texts). Every full collection walks all of them, and while they are being made the collector
runs full collections again and again: at a million rows that was about a third of the load's
CPU, with pauses of more than a second. Rows hold no reference cycles, so they are freed by
reference counting alone; moving what exists into the collector's permanent generation each
time the rows have doubled takes them out of those walks without keeping them alive. What
else is frozen and only a collection could free (cyclic garbage of that moment) stays: a
bounded cost, as freezes come only when the rows double (seven up to a million).
"""

from __future__ import annotations

import gc

FIRST_FREEZE = 10_000  # rows; below this a collection is cheap


class FreezeOnGrowth:
    def __init__(self, first: int = FIRST_FREEZE) -> None:
        self._next = first
        self.freezes = 0

    def rows(self, count: int) -> None:
        """The dashboard now holds `count` rows."""
        if count >= self._next:
            gc.freeze()
            self.freezes += 1
            self._next = 2 * count
