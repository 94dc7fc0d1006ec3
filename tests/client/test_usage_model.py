"""client/usage.py folded page by page from a real listing and kept as deletes land: always
the same groups as grouping the rows from scratch."""

from __future__ import annotations

import time

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client.models import Snapshot
from cwsandbox_tui.client.usage import DAY, Grouping, Usage

from .helpers import Harness, seed_snapshots


def fresh(rows: list[Snapshot], now: float) -> dict[Grouping, list[tuple[str, int, int]]]:
    usage = Usage(now)
    usage.add(rows)
    return {by: [(g.key, g.count, g.size_bytes) for g in usage.groups(by, {})]
            for by in Grouping}


def held(usage: Usage) -> dict[Grouping, list[tuple[str, int, int]]]:
    return {by: [(g.key, g.count, g.size_bytes) for g in usage.groups(by, {})]
            for by in Grouping}


async def test_pages_and_deletes_fold_in_like_a_fresh_grouping(
        harness: Harness, backend: BackendServer) -> None:
    now = time.time()
    seed_snapshots(backend, 1500, prefix="fss-new", created_at=now - 0.5 * DAY, source="sb-a")
    seed_snapshots(backend, 700, prefix="fss-old", created_at=now - 40 * DAY, source="sb-b",
                   status=states.FSS_FAILED)
    client, _ = harness.make()
    usage = Usage(now)
    pages: list[int] = []

    def page(rows: list[Snapshot], restarted: bool) -> None:
        pages.append(len(rows))
        usage.add(rows)

    rows = await client.list_snapshots(on_page=page)
    assert len(pages) >= 3  # 1,000 a page: folded in as they came
    assert held(usage) == fresh(rows, now)
    assert held(usage)[Grouping.STATUS] == [("ready", 1500, 1500 * 1024),
                                            ("failed", 700, 700 * 1024)]

    doomed = [s.id for s in rows if s.id.startswith("fss-old")][:300]
    result = await client.delete_snapshots(doomed)
    assert result.ok
    usage.remove(doomed)
    after = await client.list_snapshots()
    assert len(after) == 1900
    assert held(usage) == fresh(after, now)
    # a whole listing later: only what changed is folded in, and the same comes out
    usage.sync({s.id: s for s in after}, now)
    assert held(usage) == fresh(after, now) and len(usage) == 1900
    # the clock moved on past the rebase: bands measured again from the new now
    later = now + 20 * DAY
    usage.sync({s.id: s for s in after}, later)
    assert held(usage) == fresh(after, later)
    assert {k for k, _, _ in held(usage)[Grouping.AGE]} == {"a month", "older"}
