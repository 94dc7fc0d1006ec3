"""client/usage.py's sums against a plain count of the same rows: random rows (some with no
creation time, some replaced by a changed copy, some taken out), folded in pages of random
sizes or all at once, give exactly the groups and hints a row-by-row count gives."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from cwsandbox_tui.client.models import Snapshot, SnapshotStatus, SnapshotTrigger
from cwsandbox_tui.client.usage import AGE_BANDS, DAY, PRUNE_AGE, Grouping, Usage

NOW = 1_800_000_000.0
Sums = dict[Grouping, dict[str, tuple[int, int]]]


def make_rows(rng: random.Random, count: int) -> list[Snapshot]:
    rows = []
    for n in range(count):
        created = None if rng.random() < 0.05 else NOW - rng.uniform(0, 90 * DAY)
        rows.append(Snapshot(f"fss-{n}", rng.choice(list(SnapshotStatus)), "",
                             rng.randrange(0, 2**34), created, None, None,
                             rng.choice(["", "sb-a", "sb-b", "sb-c", "sb-d"]),
                             rng.choice(list(SnapshotTrigger))))
    return rows


def counted(rows: list[Snapshot]) -> Sums:
    """Row by row, the obvious way."""
    sums: Sums = {by: {} for by in Grouping}

    def put(by: Grouping, key: str, size: int) -> None:
        count, total = sums[by].get(key, (0, 0))
        sums[by][key] = (count + 1, total + size)

    for snap in rows:
        put(Grouping.SOURCE, snap.source_sandbox_id, snap.size_bytes)
        put(Grouping.STATUS, snap.status.value, snap.size_bytes)
        put(Grouping.TRIGGER, snap.trigger.value, snap.size_bytes)
        if snap.created_at is None:
            band = "unknown"
        else:
            age = NOW - snap.created_at
            band = next(b.label for b in AGE_BANDS if b.lower <= age < b.upper)
        put(Grouping.AGE, band, snap.size_bytes)
    return sums


def grouped(usage: Usage) -> Sums:
    return {by: {g.key: (g.count, g.size_bytes) for g in usage.groups(by, {})}
            for by in Grouping}


def hinted(rows: list[Snapshot], listed: set[str]) -> dict[str, tuple[int, int]]:
    hints: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for snap in rows:
        reasons = []
        if snap.status is SnapshotStatus.FAILED:
            reasons.append("FAILED")
        if snap.source_sandbox_id and snap.source_sandbox_id not in listed:
            reasons.append("sandbox gone")
        if snap.created_at is not None and NOW - snap.created_at >= PRUNE_AGE:
            reasons.append("older than 7d")
        for reason in reasons:
            hints[reason][0] += 1
            hints[reason][1] += snap.size_bytes
    return {reason: (c, b) for reason, (c, b) in hints.items()}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_folded_sums_equal_a_plain_count(seed: int) -> None:
    rng = random.Random(seed)
    rows = make_rows(rng, 4000)
    usage = Usage(NOW)
    start = 0
    while start < len(rows):  # pages of random sizes, as a listing hands them over
        step = rng.randrange(1, 700)
        usage.add(rows[start:start + step])
        start += step
    assert grouped(usage) == counted(rows)

    # changed copies of some rows (a snapshot went READY, grew), a page again
    changed = {s.id: s._replace(status=SnapshotStatus.READY, size_bytes=s.size_bytes + 7)
               for s in rng.sample(rows, 500)}
    usage.add(changed.values())
    rows = [changed.get(s.id, s) for s in rows]
    # deletes land
    gone = {s.id for s in rng.sample(rows, 900)}
    usage.remove(gone)
    rows = [s for s in rows if s.id not in gone]
    assert grouped(usage) == counted(rows)
    assert len(usage) == len(rows)
    assert usage.total == (len(rows), sum(s.size_bytes for s in rows))

    listed = {"sb-a", "sb-c"}
    sandboxes = dict.fromkeys(listed)
    hints = {h.reason: (h.count, h.size_bytes) for h in usage.hints(sandboxes)}  # type: ignore[arg-type]
    expected = hinted(rows, listed)
    assert hints == {reason: expected.get(reason, (0, 0)) for reason in hints}

    # the whole listing at once, from scratch, gives the same
    whole = Usage(NOW)
    whole.sync({s.id: s for s in rows}, NOW)
    assert grouped(whole) == counted(rows)


def test_a_source_whose_last_snapshot_goes_leaves_the_grouping() -> None:
    rows = make_rows(random.Random(4), 50)
    usage = Usage(NOW)
    usage.add(rows)
    usage.remove([s.id for s in rows if s.source_sandbox_id == "sb-b"])
    assert "sb-b" not in grouped(usage)[Grouping.SOURCE]
    usage.remove([s.id for s in rows])
    assert grouped(usage) == {by: {} for by in Grouping} and usage.total == (0, 0)
