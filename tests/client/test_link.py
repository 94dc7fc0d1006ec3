"""The link tells a lost connection from a lossy one: probes that fail while other calls are
being answered mean the network (or the server) refused some calls, not that it is gone."""

from __future__ import annotations

import asyncio
from typing import Any

from cwsandbox_tui.backend.faults import Trigger
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client.bulk import Outcome
from cwsandbox_tui.client.link import CONNECTED, DISCONNECTED, Link
from tests.fake_clock import FakeClock

from .helpers import Harness, seed_snapshots, server_snapshot_ids

PROBE = "GetFileSystemSnapshotBucketConfig"
DELETE = "DeleteFileSystemSnapshot"


def link_for(harness: Harness, client: Any, reopened: list[int]) -> Link:
    async def reopen() -> tuple[Any, Any]:
        reopened.append(1)
        fresh, _ = harness.make()
        return fresh.adapter, fresh.info

    async def no_wait(_: float) -> None:
        await asyncio.sleep(0)

    link = Link(client, reopen, give_up_after=1, sleep=no_wait)
    client.link = link
    return link


async def test_failed_probes_while_calls_are_answered_are_no_lost_connection(
        harness: Harness, backend: BackendServer) -> None:
    c, _ = harness.make(clock=FakeClock())
    reopened: list[int] = []
    link = link_for(harness, c, reopened)
    ids = seed_snapshots(backend, 60)
    backend.faults.set_fault(PROBE, "unavailable", Trigger(first=1000))  # every probe fails
    held = backend.faults.hold(PROBE)  # and is held: the deletes finish meanwhile
    backend.faults.set_fault(DELETE, "unavailable", Trigger(first=3))  # starts the check
    result = await c.delete_snapshots(ids, concurrency=8)
    assert result.count(Outcome.DELETED) == 60 and server_snapshot_ids(backend) == set()
    held.set()
    assert link._task is not None
    await asyncio.wait_for(link._task, 10)
    assert backend.faults.calls(PROBE) == 3  # three probes failed, all in a row
    assert reopened == [] and link.state == CONNECTED


async def test_failed_probes_and_nothing_answered_is_a_lost_connection(
        harness: Harness, backend: BackendServer) -> None:
    c, _ = harness.make(clock=FakeClock())
    reopened: list[int] = []
    link = link_for(harness, c, reopened)
    backend.faults.set_fault(PROBE, "unavailable", Trigger(first=1000))
    link.check("the test says so")
    assert link._task is not None
    await asyncio.wait_for(link._task, 10)
    assert reopened == [1] and link.state == DISCONNECTED  # one try allowed, and it failed
