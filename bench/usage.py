"""The usage view's grouping (`client/usage.py`) at 1,000,000 snapshots.

In-process, no backend: the rows are made as a listing hands them over, once, outside the
timing: pages of 1,000 `coreweave.sandbox.v1` snapshots encoded, decoded and read by the v1
adapter's `snapshot_from` (5,000 source sandboxes, three statuses, two triggers, ages over 60
days). Measured, each run on a fresh `Usage`:

* grouping 1M from scratch: `Usage.sync` of the whole dict (what the view does when it first
  comes up with the rows loaded, and again when the clock has moved past its rebase);
* then, on those 1M rows, the incremental costs: one page of 1,000 new rows folded in
  (`add`, as a listing's pages arrive), the same 1,000 taken out again (`remove`, as a bulk
  delete lands), and reading the four groupings with the hints (what each fold hands the
  screen).

    .venv/bin/python -m bench.usage [--runs 3] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import gc
import random
import time

from cwsandbox_tui.client.adapter_v1 import snapshot_from
from cwsandbox_tui.client.models import Snapshot
from cwsandbox_tui.client.usage import DAY, Grouping, Usage
from cwsandbox_tui.proto.v1 import sandbox_pb2 as pb

from .common import Context, Figure, Target, figure, text_table

NAME = "usage"
ROWS = 1_000_000
PAGE = 1_000
TARGET = Target("<=", 1.0)  # issue 23: grouping 1M snapshots takes at most a second
NOW = 1_800_000_000.0


def make_rows(count: int, seed: int = 1) -> dict[str, Snapshot]:
    """`count` rows as the v1 adapter reads them off the wire, a page at a time."""
    rng = random.Random(seed)
    states = [pb.SNAPSHOT_STATE_READY] * 8 + [pb.SNAPSHOT_STATE_FAILED,
                                             pb.SNAPSHOT_STATE_CREATING]
    triggers = [pb.SNAPSHOT_TRIGGER_ON_DELETE, pb.SNAPSHOT_TRIGGER_MANUAL]
    rows: dict[str, Snapshot] = {}
    for first in range(0, count, PAGE):
        page = pb.ListFileSystemSnapshotsResponse()
        for n in range(first, min(first + PAGE, count)):
            created = NOW - rng.uniform(0, 60 * DAY)
            m = page.file_system_snapshots.add(
                file_system_snapshot_id=f"fss-{n:012x}", state=states[n % 10],
                size_bytes=rng.randrange(2**20, 3 * 2**30),
                source_sandbox_id=f"sb-{n % 5000:012x}", trigger=triggers[n % 3 % 2],
                request_id=f"key-{n}", object_bucket="cwsandbox-managed")
            m.create_time.FromNanoseconds(int(created * 1e9))
            m.updated_at.FromNanoseconds(int((created + 30) * 1e9))
            m.complete_time.FromNanoseconds(int((created + 40) * 1e9))
        wire = pb.ListFileSystemSnapshotsResponse.FromString(page.SerializeToString())
        for snap in map(snapshot_from, wire.file_system_snapshots):
            rows[snap.id] = snap
    return rows


def measure(rows: dict[str, Snapshot], runs: int) -> dict[str, list[float]]:
    fresh = list(make_rows(PAGE, seed=2).values())
    fresh = [s._replace(id=f"fss-page-{n}") for n, s in enumerate(fresh)]
    out: dict[str, list[float]] = {"full": [], "page": [], "remove": [], "read": []}
    for _ in range(runs):
        gc.collect()
        usage = Usage(NOW)
        started = time.perf_counter()
        usage.sync(rows, NOW)
        out["full"].append(time.perf_counter() - started)
        started = time.perf_counter()
        usage.add(fresh)
        out["page"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        usage.remove([s.id for s in fresh])
        out["remove"].append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        for by in Grouping:
            usage.groups(by, {})
        usage.hints({})
        out["read"].append((time.perf_counter() - started) * 1000)
        assert len(usage) == len(rows)
    return out


def figures(count: int, runs: int) -> list[Figure]:
    samples = measure(make_rows(count), runs)
    return [
        figure(NAME, f"group {count:,} snapshots from scratch [in-process, no backend]",
               samples["full"], "s", target=TARGET if count == ROWS else None),
        figure(NAME, f"fold in a page of {PAGE:,} on {count:,}", samples["page"], "ms"),
        figure(NAME, f"take out {PAGE:,} deleted on {count:,}", samples["remove"], "ms"),
        figure(NAME, "read the four groupings and the hints", samples["read"], "ms"),
    ]


def run(ctx: Context) -> list[Figure]:
    return figures(100_000 if ctx.quick else ROWS, ctx.runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=ROWS)
    args = parser.parse_args()
    print(text_table(figures(args.rows, args.runs)))


if __name__ == "__main__":
    main()
