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

A table's lists of ids (its sorted order, the shown rows, the filter's texts) are remade
whole by a merge, a filter keystroke or a re-listing, and such a list is walked, item by item,
by every young collection until it is promoted: a cache miss per id, ~100 ms per million. At
a million rows the two lists each merge made were walked so about 200 times: 23 s of a 54 s
load, in collections that freed nothing. `made_to_last` collects the young garbage, keeps the
collector off while such lists are made, and freezes them with what lives then. Only objects
alive at that moment are frozen; any of those that later become cyclic garbage wait for the
dashboard's close (see `made_to_last`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

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
        """The dashboard is closing: what was frozen can be collected again (also what its
        tables froze, `made_to_last`)."""
        if self.freezes or gc.get_freeze_count():
            gc.unfreeze()
            self.freezes = 0

    def rows(self, count: int) -> None:
        """The dashboard now holds `count` rows."""
        if count >= self._next:
            gc.freeze()
            self.freezes += 1
            self._next = 2 * count


@contextmanager
def made_to_last(rows: int) -> Iterator[None]:
    """Lists of about `rows` entries made inside are kept (see the module's doc): made with
    the collector off, and frozen with what lives as they are done. Below `FIRST_FREEZE`
    rows nothing is done: a young walk of them is cheap."""
    if rows < FIRST_FREEZE:
        yield
        return
    gc.collect(1)  # the young garbage, so that only what lives is frozen
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
