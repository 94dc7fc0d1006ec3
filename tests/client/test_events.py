"""Events carry the operation's id and targets, and land in the operations log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cwsandbox_tui import paths
from cwsandbox_tui.backend.faults import Trigger
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client import events as ev
from cwsandbox_tui.client.bulk import Outcome
from cwsandbox_tui.client.errors import SnapshotNotFoundError
from cwsandbox_tui.client.factory import ConnectOptions, connect
from tests.fake_clock import FakeClock

from .helpers import Harness, seed_snapshots


async def test_one_operation_shares_one_op_id_and_its_targets(
        harness: Harness, backend: BackendServer) -> None:
    c, recorder = harness.make(clock=FakeClock())
    [snapshot_id] = seed_snapshots(backend, 1)
    backend.faults.set_fault("DeleteFileSystemSnapshot", "lost", Trigger(first=1))
    await c.delete_snapshot(snapshot_id)
    assert recorder.kinds() == ["OperationStarted", "RetryScheduled", "Finished"]
    assert len({e.op_id for e in recorder.events}) == 1
    assert all(e.op == "Delete file-system snapshot" for e in recorder.events)
    assert all(e.targets == (snapshot_id,) for e in recorder.events)
    assert all(e.at > 0 for e in recorder.events)


async def test_each_operation_gets_its_own_id_and_failures_are_events(
        harness: Harness, backend: BackendServer) -> None:
    c, recorder = harness.make(clock=FakeClock())
    ids = seed_snapshots(backend, 2)
    await c.get_snapshot(ids[0])
    with pytest.raises(SnapshotNotFoundError):
        await c.delete_snapshot("fss-missing")
    starts = recorder.of(ev.OperationStarted)
    assert len({s.op_id for s in starts}) == 2
    [failed] = recorder.of(ev.Failed)
    assert failed.op_id == starts[1].op_id and failed.targets == ("fss-missing",)
    assert failed.error == "SnapshotNotFoundError" and failed.code == "NOT_FOUND"
    assert failed.reason == "CWSANDBOX_FSS_NOT_FOUND" and failed.attempts == 1


async def test_bulk_events_name_every_target(harness: Harness, backend: BackendServer) -> None:
    c, recorder = harness.make(clock=FakeClock())
    ids = seed_snapshots(backend, 5)
    await c.delete_snapshots(ids)
    started = recorder.of(ev.OperationStarted)[0]
    assert started.targets == tuple(ids) and started.detail == "5 snapshots"
    progress = recorder.of(ev.Progress)
    assert {p.op_id for p in progress} == {started.op_id}
    assert [p.done for p in progress] == [0, 5]  # no time passed: the start and the end
    assert all(p.total == 5 for p in progress)


async def test_bulk_progress_is_paced_but_tells_every_failure_by_id(
        harness: Harness, backend: BackendServer) -> None:
    clock = FakeClock()
    c, recorder = harness.make(clock=clock)
    ids = seed_snapshots(backend, 12)
    asked = ids[:4] + ["fss-unknown"] + ids[4:]
    delete = c.adapter.delete_snapshot
    answered = 0

    async def slow_delete(snapshot_id: str, timeout: float) -> tuple[bool, str]:
        nonlocal answered
        try:
            return await delete(snapshot_id, timeout)
        finally:
            answered += 1
            clock.advance(0.04)  # 0.1 s passes every 2.5 answers

    c.adapter.delete_snapshot = slow_delete  # type: ignore[method-assign]
    result = await c.delete_snapshots(asked, missing_ok=False, concurrency=1)
    assert result.count(Outcome.DELETED) == 12 and result.count(Outcome.NOT_FOUND) == 1
    progress = recorder.of(ev.Progress)
    done = [p.done for p in progress]
    assert done[0] == 0 and done[-1] == 13 and done == sorted(done)
    assert 4 <= len(progress) - 2 <= 7  # about every third item, not all 13
    [unknown] = [p for p in progress if p.targets == ("fss-unknown",)]
    assert unknown.done == 5 and unknown.failed == 1 and unknown.detail == "fss-unknown not_found"
    assert progress[-1].failed == 1


async def test_the_operations_log_appends_every_event_as_a_json_line(
        harness: Harness, backend: BackendServer, tmp_path: Path) -> None:
    log_path = tmp_path / "state" / "ops.jsonl"
    c, recorder = harness.make(clock=FakeClock())
    log = ev.OperationsLog(log_path)
    unsubscribe = c.bus.subscribe(log)
    ids = seed_snapshots(backend, 2)
    backend.faults.set_fault("GetFileSystemSnapshot", "unavailable", Trigger(first=1))
    await c.get_snapshot(ids[0])
    await c.delete_snapshot(ids[1])
    unsubscribe()
    log.close()
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [r["event"] for r in records] == recorder.kinds()
    assert [r["op_id"] for r in records] == [e.op_id for e in recorder.events]
    assert records[0]["targets"] == [ids[0]]
    retry = next(r for r in records if r["event"] == "RetryScheduled")
    assert retry["code"] == "UNAVAILABLE" and retry["attempt"] == 1
    assert ev.read_log(log_path) == records
    assert ev.read_log(log_path, limit=2) == records[-2:]
    # a second log on the same file appends
    again = ev.OperationsLog(log_path)
    c.bus.subscribe(again)
    await c.get_bucket()
    again.close()
    assert len(ev.read_log(log_path)) == len(records) + 2


def test_read_log_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert ev.read_log(tmp_path / "nope.jsonl") == []


async def test_connect_writes_the_operations_log_under_the_state_dir(
        backend: BackendServer) -> None:
    client = connect(ConnectOptions(endpoint=backend.url))
    try:
        assert client.info.source == "--endpoint" and client.info.url == backend.url
        await client.list_snapshots()
    finally:
        await client.close()
    records = ev.read_log(paths.state_dir() / "operations.jsonl")
    assert [r["event"] for r in records] == ["OperationStarted", "Finished"]
    assert records[0]["op"] == "List file-system snapshots"
    assert records[0]["op_id"] == records[1]["op_id"]


async def test_reconnecting_on_a_shared_bus_keeps_one_working_log(
        backend: BackendServer) -> None:
    bus = ev.EventBus()
    first = connect(ConnectOptions(endpoint=backend.url), bus=bus)
    await first.get_bucket()
    await first.close()
    second = connect(ConnectOptions(endpoint=backend.url), bus=bus)
    try:
        await second.get_bucket()  # the first client's (closed) log must not be written to
    finally:
        await second.close()
    records = ev.read_log(paths.state_dir() / "operations.jsonl")
    assert [r["event"] for r in records] == ["OperationStarted", "Finished"] * 2


async def test_unsubscribing_stops_delivery(harness: Harness, backend: BackendServer) -> None:
    c, _ = harness.make(clock=FakeClock())
    seen: list[ev.Event] = []
    unsubscribe = c.bus.subscribe(seen.append)
    await c.get_bucket()
    unsubscribe()
    await c.get_bucket()
    assert len(seen) == 2


async def test_a_quiet_poll_given_up_logs_nothing_a_cancelled_operation_does() -> None:
    """A routine poll that an exclusive newer one replaced (r r in a burst) was logged as
    'List runners was cancelled' in :ops; an operation a person started still is."""
    import asyncio

    from cwsandbox_tui.client.operation import Operation

    bus = ev.EventBus()
    seen: list[ev.Event] = []
    bus.subscribe(seen.append)
    for routine in (True, False):
        with pytest.raises(asyncio.CancelledError):
            async with Operation(bus, FakeClock(), "List runners", routine=routine):
                raise asyncio.CancelledError
    assert [type(e).__name__ for e in seen] == ["OperationStarted", "Failed"]
    assert bus.routine["List runners"] == 0
