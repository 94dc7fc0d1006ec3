"""Keeping the cyclic garbage collector off the rows the dashboard holds.

A listing of a million snapshots makes millions of long-lived objects (rows, their tuples and
texts). Every full collection walks all of them, and while they are being made the collector
runs full collections again and again: at a million rows that was about a third of the load's
CPU, with pauses of more than a second. Rows hold no reference cycles, so they are freed by
reference counting alone; moving what exists into the collector's permanent generation each
time the rows have doubled takes them out of those walks without keeping them alive. What
else is frozen and only a collection could free (cyclic garbage of that moment) stays: a
bounded cost, as freezes come only when the rows double (seven up to a million).

The dashboard's own objects (Textual's widgets and styles, gRPC, the modules) are frozen the
same way once its first listing is in: they live as long as it does, and a full collection
walking them all was the longest pause of a dashboard deleting a thousand snapshots (a
generation-2 collection of ~110 ms inside its longest 122 ms stall; bench/profiles.md as
profiled at 3d26df1, in git at ba78b1c). When the dashboard closes, everything frozen goes
back to the collector: a process that goes on (the tests, a second dashboard) can free it
again.
"""

from __future__ import annotations

import gc

FIRST_FREEZE = 10_000  # rows; below this a collection is cheap


class FreezeOnGrowth:
    def __init__(self, first: int = FIRST_FREEZE) -> None:
        self._next = first
        self.freezes = 0
        self._settled = False

    def settled(self) -> None:
        """The dashboard is up and has listed once: what it holds now lives as long as it."""
        if not self._settled:
            self._settled = True
            gc.freeze()
            self.freezes += 1

    def release(self) -> None:
        """The dashboard is closing: what was frozen can be collected again."""
        if self.freezes:
            gc.unfreeze()
            self.freezes = 0

    def rows(self, count: int) -> None:
        """The dashboard now holds `count` rows."""
        if count >= self._next:
            gc.freeze()
            self.freezes += 1
            self._next = 2 * count
