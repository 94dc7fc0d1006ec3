"""What fills the bucket: snapshots grouped by source sandbox, age band, status or trigger.

Headless (the CLI's `snapshots usage` and the dashboard's usage view both use it). Rows are
folded in as they come: `add` a page, `remove` deleted ids, `sync` with a whole listing
(only what changed is folded in). Each row is counted (and its bytes summed) in the slot of
its (status, trigger, age band) and under its source sandbox; every grouping is one of
these running sums or a sum over the few slots, so showing a grouping never walks the rows.

Age bands are measured from `now`, fixed when the rows are (re)grouped: `sync` regroups
from scratch once the clock has moved on by more than `REBASE_AFTER`.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from operator import itemgetter

from .models import Sandbox, Snapshot, SnapshotStatus, SnapshotTrigger

DAY = 86400.0
WEEK = 7 * DAY
MONTH = 30 * DAY
# The age past which the prune form (and so usage's hint) calls a snapshot old: its default.
PRUNE_AGE_DAYS = 7
PRUNE_AGE = PRUNE_AGE_DAYS * DAY
REBASE_AFTER = 60.0  # seconds the clock may move before the age bands are measured again
NO_AGE = -1  # the shown band of a snapshot with no creation time
# A source id a filter may name: anything else (spaces, quotes, controls a hostile server
# could send) would not read back as the same id, or would be shown raw in the filter bar.
PLAIN_ID = re.compile(r"[A-Za-z0-9._:-]+")


class Grouping(StrEnum):
    SOURCE = "source"
    AGE = "age"
    STATUS = "status"
    TRIGGER = "trigger"

    def next(self) -> Grouping:
        members = list(Grouping)
        return members[(members.index(self) + 1) % len(members)]


@dataclass(frozen=True)
class AgeBand:
    label: str
    lower: float  # age in seconds, inclusive
    upper: float  # exclusive; math.inf for the oldest

    @property
    def filter(self) -> str:
        """The filter-bar terms that show this band (see ui/filter_expr.py)."""
        terms = [f"age>={_days(self.lower)}"] if self.lower > 0 else []
        if self.upper != math.inf:
            terms.append(f"age<{_days(self.upper)}")
        return " ".join(terms)


AGE_BANDS = (AgeBand("a day", 0.0, DAY), AgeBand("a week", DAY, WEEK),
             AgeBand("a month", WEEK, MONTH), AgeBand("older", MONTH, math.inf))


def _days(seconds: float) -> str:
    return f"{seconds / DAY:g}d"


@dataclass(frozen=True)
class Group:
    """One line of a grouping: what it is, how many snapshots and bytes it holds."""

    by: Grouping
    key: str  # the source id, band label, status or trigger value
    label: str
    count: int
    size_bytes: int
    share: float  # of the whole's bytes (of its count when no snapshot has a size)
    filter: str  # the filter-bar expression that shows exactly this group ("" if none does)
    tags: tuple[str, ...] = ()  # a source sandbox's tags
    exists: bool | None = None  # whether the source sandbox is still listed (None: n/a)
    safe: str = ""  # why the group is usually safe to drop ("" when it is not)


@dataclass(frozen=True)
class Hint:
    """A set of snapshots usually safe to drop."""

    reason: str
    count: int
    size_bytes: int
    filter: str  # "" when no filter expression shows exactly them


class Usage:
    def __init__(self, now: float, *, prune_age: float = PRUNE_AGE) -> None:
        self.prune_age = prune_age
        # Band edges in seconds of age: those shown, and the prune age (a hint's edge).
        self._edges = sorted({b.lower for b in AGE_BANDS[1:]} | {prune_age})
        # Internal bands: 0 the oldest ... len(edges) the newest, then one for no time.
        bands = len(self._edges) + 2
        self._no_age = bands - 1
        statuses, triggers = list(SnapshotStatus), list(SnapshotTrigger)
        # A row's slot is its (status, trigger, band); its (count, bytes) pair in `_totals`
        # is at 2 * slot, the sum of these three offsets.
        self._status_at = {st: n * len(triggers) * bands * 2 for n, st in enumerate(statuses)}
        self._trigger_at = {tr: n * bands * 2 for n, tr in enumerate(triggers)}
        self._band_at = [2 * band for band in range(bands)]
        self._slots = [(st, tr, band) for st in statuses for tr in triggers
                       for band in range(bands)]
        self._held: dict[str, Snapshot] = {}
        # Running sums: (count, bytes) per slot, flat (a slot's pair at 2 * slot), and
        # [count, bytes] per source sandbox. Every grouping is one of these or a sum over
        # the few slots, and the hints too.
        self._totals = [0] * (2 * len(self._slots))
        self._sources: defaultdict[str, list[int]] = defaultdict(_new_pair)
        self._rebase(now)

    def _rebase(self, now: float) -> None:
        self.now = now
        # ascending creation times; bisect_left gives, for created c, the band whose ages
        # are [edge, next edge): 0 is the oldest, len(edges) the newest
        self._cutoffs = [now - e for e in reversed(self._edges)]

    def __len__(self) -> int:
        return len(self._held)

    @property
    def total(self) -> tuple[int, int]:
        totals = self._totals
        return sum(totals[0::2]), sum(totals[1::2])

    # folding rows in
    def add(self, rows: Iterable[Snapshot]) -> None:
        """Rows new or changed (a page of a listing); a row held already is replaced."""
        held = self._held
        fresh = []
        for snap in rows:
            old = held.get(snap[0])
            if old is not None:
                if old is snap or old == snap:
                    continue
                self._take(old)
            held[snap[0]] = snap
            fresh.append(snap)
        self._fold(fresh)

    def _fold(self, rows: Iterable[Snapshot]) -> None:
        """Count rows into the slots' and the sources' sums: the one loop over every row, kept
        lean, as it is most of what grouping a million snapshots costs. The slots' sums are one
        short list that stays in the cache; a cell per source and slot instead (a wide matrix
        touched at random) cost a third more, as did counting column by column with C loops.
        The five fields it reads are taken at C speed (`_FOLDED`): unpacking all eleven touched
        six more objects a row, scattered in memory, for nothing."""
        totals, cells = self._totals, self._sources
        cutoffs, no_age = self._cutoffs, 2 * self._no_age
        status_at, trigger_at, band_at = self._status_at, self._trigger_at, self._band_at
        for status, size, created, source, trigger in map(_FOLDED, rows):
            cell = cells[source]
            cell[0] += 1
            cell[1] += size
            at = status_at[status] + trigger_at[trigger] + (
                no_age if created is None else band_at[bisect_left(cutoffs, created)])
            totals[at] += 1
            totals[at + 1] += size

    def remove(self, ids: Iterable[str]) -> None:
        held = self._held
        for snapshot_id in ids:
            old = held.pop(snapshot_id, None)
            if old is not None:
                self._take(old)

    def clear(self) -> None:
        self._held.clear()
        self._sources.clear()
        self._totals = [0] * len(self._totals)

    def _take(self, snap: Snapshot) -> None:
        created = snap[4]
        at = self._status_at[snap[1]] + self._trigger_at[snap[8]] + (
            2 * self._no_age if created is None else
            self._band_at[bisect_left(self._cutoffs, created)])
        self._totals[at] -= 1
        self._totals[at + 1] -= snap[3]
        cell = self._sources[snap[7]]
        cell[0] -= 1
        cell[1] -= snap[3]
        if not cell[0]:
            del self._sources[snap[7]]

    def sync(self, rows: Mapping[str, Snapshot], now: float) -> None:
        """Hold exactly `rows`: fold in what is new, changed or gone since the last call
        (all of it, measured again, once the clock has moved on by more than REBASE_AFTER)."""
        rows = dict(rows)  # one step at C speed: the caller's may change meanwhile (a thread)
        held = self._held
        if not held or abs(now - self.now) > REBASE_AFTER:
            self.clear()
            self._rebase(now)
            self._held = rows
            self._fold(rows.values())
            return
        gone = held.keys() - rows.keys()
        if gone:
            self.remove(gone)
        self.add(r for k, r in rows.items() if held.get(k) is not r)

    # reading
    def groups(self, by: Grouping, sandboxes: Mapping[str, Sandbox] | None = None) -> list[Group]:
        """The groups of one grouping, the biggest first (by bytes, then count, then key).
        `sandboxes`: the listed sandboxes (None: unknown, so none is said to be gone)."""
        sums: dict[object, list[int]] = {}
        if by is Grouping.SOURCE:
            sums.update(self._sources)
        else:
            totals = self._totals
            for n, (status, trigger, band) in enumerate(self._slots):
                count = totals[2 * n]
                if not count:
                    continue
                part: object = status if by is Grouping.STATUS else trigger \
                    if by is Grouping.TRIGGER else self._shown_band(band)
                acc = sums.setdefault(part, [0, 0])
                acc[0] += count
                acc[1] += totals[2 * n + 1]
        total_count, total_size = self.total
        out = []
        for part, (count, size) in sums.items():
            share = size / total_size if total_size else (count / total_count
                                                          if total_count else 0.0)
            out.append(self._group(by, part, count, size, share, sandboxes))
        out.sort(key=lambda g: (-g.size_bytes, -g.count, g.key))
        return out

    def _shown_band(self, band: int) -> int:
        """The index in AGE_BANDS of an internal band (NO_AGE for no creation time)."""
        if band == self._no_age:
            return NO_AGE
        age = self._edges[len(self._edges) - band - 1] if band < len(self._edges) else 0.0
        return next(n for n, b in enumerate(AGE_BANDS) if b.lower <= age < b.upper)

    def _group(self, by: Grouping, part: object, count: int, size: int, share: float,
               sandboxes: Mapping[str, Sandbox] | None) -> Group:
        if by is Grouping.SOURCE:
            source = str(part)
            sandbox = sandboxes.get(source) if sandboxes is not None else None
            exists = None if sandboxes is None or not source else sandbox is not None
            return Group(by, source, source or "(no source)", count, size, share,
                         f"source={source}" if PLAIN_ID.fullmatch(source) else "",
                         tags=sandbox.tags if sandbox is not None else (), exists=exists,
                         safe="its sandbox is gone" if exists is False else "")
        if by is Grouping.AGE:
            if part == NO_AGE:
                return Group(by, "unknown", "no creation time", count, size, share, "")
            band = AGE_BANDS[part if isinstance(part, int) else 0]
            safe = f"older than {_days(self.prune_age)}" if band.lower >= self.prune_age else ""
            label = f"within {band.label}" if band.upper != math.inf else "older than a month"
            return Group(by, band.label, label, count, size, share, band.filter, safe=safe)
        if by is Grouping.STATUS:
            status = SnapshotStatus(str(part))
            return Group(by, status.value, status.value.upper(), count, size, share,
                         f"status={status.value}",
                         safe="FAILED" if status is SnapshotStatus.FAILED else "")
        trigger = SnapshotTrigger(str(part))
        return Group(by, trigger.value, trigger.value, count, size, share,
                     f"trigger={trigger.value}")

    def hints(self, sandboxes: Mapping[str, Sandbox] | None = None) -> list[Hint]:
        """The snapshots usually safe to drop: FAILED ones, those whose sandbox is gone, those
        older than the prune age (each set may overlap the others)."""
        failed = [0, 0]
        old = [0, 0]
        # bands whose ages start at the prune age or later (0 is the oldest)
        old_bands = len(self._edges) - self._edges.index(self.prune_age)
        totals = self._totals
        for n, (status, _trigger, band) in enumerate(self._slots):
            if status is SnapshotStatus.FAILED:
                failed[0] += totals[2 * n]
                failed[1] += totals[2 * n + 1]
            if band < old_bands:
                old[0] += totals[2 * n]
                old[1] += totals[2 * n + 1]
        gone = [0, 0]
        if sandboxes is not None:
            for source, (count, size) in self._sources.items():
                if source and source not in sandboxes:
                    gone[0] += count
                    gone[1] += size
        return [Hint("FAILED", failed[0], failed[1], "status=failed"),
                Hint("sandbox gone", gone[0], gone[1], "sandbox=gone"),
                Hint(f"older than {_days(self.prune_age)}", old[0], old[1],
                     f"age>={_days(self.prune_age)}")]


# what `_fold` reads of a Snapshot: status, size_bytes, created_at, source_sandbox_id, trigger
_FOLDED = itemgetter(1, 3, 4, 7, 8)


def _new_pair() -> list[int]:
    return [0, 0]


def bar(share: float, width: int) -> str:
    """`width` cells, the share filled (anything above nothing shows one cell)."""
    filled = round(width * min(max(share, 0.0), 1.0))
    if share > 0 and filled == 0:
        filled = 1
    return "█" * filled + "░" * (width - filled)
