"""Bulk commands make their calls at once, not one after another, and touch only what was
asked: observed on the server, where a probe counts every call and holds each one until
enough of them are in flight together (a serial client never gets there)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from cwsandbox_tui.backend.faults import FaultPlan
from cwsandbox_tui.backend.seeding import seed_bulk
from cwsandbox_tui.backend.server import BackendServer, ServerConfig
from cwsandbox_tui.backend.service import GatewayService

from .helpers import cli, remaining, seed

HOLD_TIMEOUT = 5.0  # how long a call waits for company before the probe stops holding calls


class Probe:
    """Wraps servicer methods: counts calls, tracks how many are in flight, and holds each
    call until `together` are in flight at once (or gives up holding after HOLD_TIMEOUT)."""

    def __init__(self, together: int) -> None:
        self.together = together
        self.calls: Counter[str] = Counter()
        self.in_flight = 0
        self.peak = 0
        self.reached = asyncio.Event()
        self.gave_up = False

    def wrap(self, name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        async def handler(servicer: Any, request: Any, context: Any) -> Any:
            self.calls[name] += 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            if self.in_flight >= self.together:
                self.reached.set()
            try:
                if not self.reached.is_set() and not self.gave_up:
                    try:
                        await asyncio.wait_for(self.reached.wait(), HOLD_TIMEOUT)
                    except TimeoutError:
                        self.gave_up = True
                return await method(servicer, request, context)
            finally:
                self.in_flight -= 1
        return handler


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> Probe:
    probe = Probe(together=12)
    for name in ("DeleteFileSystemSnapshot", "GetFileSystemSnapshot", "Delete", "Get"):
        monkeypatch.setattr(GatewayService, name, probe.wrap(name, getattr(GatewayService, name)))
    return probe


@pytest.fixture
async def backend(data_dir: Path, probe: Probe) -> AsyncIterator[BackendServer]:
    """The shared fixture's backend, started after the probe is in place."""
    server = BackendServer(ServerConfig(data_dir=data_dir, port=0, faults=FaultPlan(seed=1)))
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace=0)


async def test_snapshots_delete_has_no_lookups_runs_at_once_and_deletes_only_what_was_asked(
        backend: BackendServer, probe: Probe) -> None:
    ids = seed(backend, [f"fss-{n:03d}" for n in range(60)])
    asked = ids[:40:2] + ["fss-unknown-1"] + ids[1:40:2] + ["fss-unknown-2", "fss-unknown-3"]
    run = await cli("snapshots", "delete", *asked, "--json",
                    env={"CWSANDBOX_BASE_URL": backend.url})
    assert run.code == 3, run  # partial: three ids are unknown
    outcomes = {item["id"]: item["outcome"] for item in run.json()["items"]}
    assert outcomes == {i: "not_found" if "unknown" in i else "deleted" for i in asked}
    assert remaining(backend) == set(ids[40:])
    assert probe.calls == {"DeleteFileSystemSnapshot": len(asked)}  # one call per id, no Get
    assert probe.peak >= probe.together and not probe.gave_up


async def test_snapshots_prune_deletes_at_once(backend: BackendServer, probe: Probe) -> None:
    old = seed(backend, [f"fss-old-{n:02d}" for n in range(30)], age_days=10)
    new = seed(backend, [f"fss-new-{n:02d}" for n in range(5)], age_days=1)
    run = await cli("snapshots", "prune", "--older-than", "7d", "--yes",
                    env={"CWSANDBOX_BASE_URL": backend.url})
    assert run.code == 0 and run.stdout.strip() == f"{len(old)} deleted", run
    assert remaining(backend) == set(new)
    assert probe.calls == {"DeleteFileSystemSnapshot": len(old)}
    assert probe.peak >= probe.together and not probe.gave_up


async def test_sandboxes_delete_runs_at_once_and_reports_unknown_ids(
        backend: BackendServer, probe: Probe) -> None:
    assert backend.engine is not None
    seed_bulk(backend.engine, snapshots=0, sandboxes=30)
    ids = sorted(row.id for row in backend.engine.store.sandboxes_after(0))
    asked = ids[:20] + ["sb-unknown"]
    run = await cli("sandboxes", "delete", *asked, "--json",
                    env={"CWSANDBOX_BASE_URL": backend.url})
    assert run.code == 3, run
    assert run.json() == {i: "not_found" if i == "sb-unknown" else "deleted" for i in asked}
    assert sorted(row.id for row in backend.engine.store.sandboxes_after(0)) == ids[20:]
    assert probe.calls == {"Delete": len(asked)}
    assert probe.peak >= probe.together and not probe.gave_up
