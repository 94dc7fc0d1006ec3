"""Bulk commands make their calls at once, not one after another, and touch only what was
asked: observed on the server, where the gate counts every call and a probe holds each delete
until enough of them are in flight together (a serial client never gets there)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from cwsandbox_tui.backend.seeding import seed_bulk
from cwsandbox_tui.backend.server import BackendServer

from .helpers import cli, remaining, seed

HOLD_TIMEOUT = 5.0  # how long a call waits for company before the probe stops holding calls


class Probe:
    """Wraps the engine's delete calls (which every API generation's handlers make): tracks
    how many are in flight and holds each one until `together` are in flight at once (or
    gives up holding after HOLD_TIMEOUT)."""

    def __init__(self, together: int) -> None:
        self.together = together
        self.in_flight = 0
        self.peak = 0
        self.reached = asyncio.Event()
        self.gave_up = False

    def wrap(self, method: Callable[[str], Awaitable[Any]]) -> Callable[[str], Awaitable[Any]]:
        async def held(item_id: str) -> Any:
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
                return await method(item_id)
            finally:
                self.in_flight -= 1
        return held


@pytest.fixture
def probe(backend: BackendServer) -> Probe:
    engine: Any = backend.engine
    probe = Probe(together=12)
    engine.delete_snapshot = probe.wrap(engine.delete_snapshot)
    engine.delete = probe.wrap(engine.delete)
    for name in COUNTED:
        backend.faults.set_latency(name, 0.0)  # a rule makes the fault plan count the calls
    return probe


COUNTED = ("DeleteFileSystemSnapshot", "GetFileSystemSnapshot", "Delete", "DeleteSandbox",
           "Get", "GetSandbox")


def rpc_calls(backend: BackendServer) -> Counter[str]:
    """Calls per method name, as the backend's gate counted them (both API generations)."""
    return Counter({n: backend.faults.calls(n) for n in COUNTED if backend.faults.calls(n)})


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
    assert rpc_calls(backend) == {"DeleteFileSystemSnapshot": len(asked)}  # one per id, no Get
    assert probe.peak >= probe.together and not probe.gave_up


async def test_snapshots_prune_deletes_at_once(backend: BackendServer, probe: Probe) -> None:
    old = seed(backend, [f"fss-old-{n:02d}" for n in range(30)], age_days=10)
    new = seed(backend, [f"fss-new-{n:02d}" for n in range(5)], age_days=1)
    run = await cli("snapshots", "prune", "--older-than", "7d", "--yes",
                    env={"CWSANDBOX_BASE_URL": backend.url})
    assert run.code == 0 and run.stdout.strip() == f"{len(old)} deleted", run
    assert remaining(backend) == set(new)
    assert rpc_calls(backend) == {"DeleteFileSystemSnapshot": len(old)}
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
    [(name, calls)] = rpc_calls(backend).items()  # one method, whichever generation
    assert name in ("Delete", "DeleteSandbox") and calls == len(asked)
    assert probe.peak >= probe.together and not probe.gave_up
