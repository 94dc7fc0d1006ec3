"""Bulk delete of snapshots: throttled, per-item results, cancellable, never over-reaching."""

from __future__ import annotations

import asyncio

import pytest

from cwsandbox_tui.backend.faults import Trigger
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client import events as ev
from cwsandbox_tui.client.bulk import AdaptiveLimit, Outcome
from tests.fake_clock import FakeClock

from .helpers import Harness, count_calls, seed_snapshots, server_snapshot_ids, until

DELETE = "DeleteFileSystemSnapshot"


async def test_throttled_bulk_delete_of_hundreds_deletes_exactly_what_was_asked(
        harness: Harness, backend: BackendServer) -> None:
    clock = FakeClock()
    c, recorder = harness.make(clock=clock)
    ids = seed_snapshots(backend, 400)
    asked, kept = ids[::4] + ids[1::4] + ids[2::4], ids[3::4]  # 300 asked, 100 kept
    backend.faults.retry_delay = 0.05
    backend.faults.set_fault(DELETE, "throttle", Trigger(rate=0.25))
    backend.faults.set_fault(DELETE, "lost", Trigger(rate=0.05))
    result = await c.delete_snapshots(asked, concurrency=8)

    assert [item.id for item in result.items] == asked  # one result per item, in order
    assert {item.outcome for item in result.items} == {Outcome.DELETED}
    assert result.ok and not result.cancelled and not result.partial
    assert server_snapshot_ids(backend) == set(kept)  # nothing else deleted
    retries = recorder.of(ev.RetryScheduled)
    throttled = [r for r in retries if r.reason == "CWSANDBOX_FSS_BACKEND_THROTTLED"]
    lost = [r for r in retries if r.code == "UNAVAILABLE"]
    assert len(throttled) > 30 and len(lost) > 3  # the faults really fired
    assert all(len(r.targets) == 1 and r.targets[0] in asked for r in retries)
    assert backend.faults.calls(DELETE) == len(asked) + len(retries)
    assert 0.05 in clock.sleeps  # the RetryInfo hint paced the retries
    progress = recorder.of(ev.Progress)
    assert progress[0].done == 0 and progress[-1].done == progress[-1].total == 300
    assert [p.done for p in progress] == sorted(p.done for p in progress)
    [finished] = recorder.of(ev.Finished)
    assert finished.result == {"deleted": 300, "already_gone": 0, "not_found": 0, "failed": 0,
                               "untouched": 0, "cancelled": False}
    assert set(finished.targets) == set(asked)


async def test_bulk_delete_reports_each_item(harness: Harness, backend: BackendServer) -> None:
    c, _ = harness.make(clock=FakeClock())
    present = seed_snapshots(backend, 3)
    result = await c.delete_snapshots([present[0], "fss-gone", present[1], present[0]])
    outcomes = {item.id: item.outcome for item in result.items}
    assert outcomes == {present[0]: Outcome.DELETED, "fss-gone": Outcome.ALREADY_GONE,
                        present[1]: Outcome.DELETED}  # the duplicate was dropped
    assert [item.id for item in result.items] == [present[0], "fss-gone", present[1]]
    assert result.ok
    assert server_snapshot_ids(backend) == {present[2]}


async def test_one_permanent_failure_makes_a_partial_result(
        harness: Harness, backend: BackendServer) -> None:
    c, _ = harness.make(clock=FakeClock())
    present = seed_snapshots(backend, 2)
    # an empty id is refused by the server (INVALID_ARGUMENT): final, not retried
    result = await c.delete_snapshots([present[0], "", present[1]])
    outcomes = {item.id: item.outcome for item in result.items}
    assert outcomes == {present[0]: Outcome.DELETED, "": Outcome.FAILED,
                        present[1]: Outcome.DELETED}
    failed = next(item for item in result.items if item.outcome is Outcome.FAILED)
    assert "file_system_snapshot_id" in failed.message
    assert result.partial and not result.ok
    assert result.summary() == "2 deleted, 1 failed"
    assert server_snapshot_ids(backend) == set()


async def test_cancelling_mid_way_leaves_untouched_items_alone(
        harness: Harness, backend: BackendServer) -> None:
    c, recorder = harness.make(clock=FakeClock())
    ids = seed_snapshots(backend, 300)
    asked, others = ids[:200], ids[200:]
    backend.faults.set_latency(DELETE, 0.002)
    cancel = asyncio.Event()

    delete = c.adapter.delete_snapshot
    answered = 0

    async def cancel_after_50(snapshot_id: str, timeout: float) -> tuple[bool, str]:
        nonlocal answered
        reply = await delete(snapshot_id, timeout)
        answered += 1
        if answered >= 50:  # progress comes at most every 0.1 s, so count the answers
            cancel.set()
        return reply

    c.adapter.delete_snapshot = cancel_after_50  # type: ignore[method-assign]
    result = await c.delete_snapshots(asked, cancel=cancel, concurrency=4)

    assert result.cancelled and not result.ok
    by_outcome = {o: [i.id for i in result.items if i.outcome is o] for o in Outcome}
    deleted, untouched = by_outcome[Outcome.DELETED], by_outcome[Outcome.UNTOUCHED]
    assert 50 <= len(deleted) <= 50 + 4  # those in flight when it was cancelled still finish
    assert len(deleted) + len(untouched) == 200 and not by_outcome[Outcome.FAILED]
    assert backend.faults.calls(DELETE) == len(deleted)  # untouched items were never sent
    assert server_snapshot_ids(backend) == set(untouched) | set(others)
    [finished] = recorder.of(ev.Finished)
    assert finished.result["cancelled"] is True
    assert finished.result["untouched"] == len(untouched)
    assert "(cancelled)" in finished.summary


async def test_cancelling_the_task_reports_in_flight_items_as_uncertain(
        harness: Harness, backend: BackendServer) -> None:
    c, _ = harness.make(clock=FakeClock())
    ids = seed_snapshots(backend, 40)
    backend.faults.set_latency(DELETE, 0.2)
    task = asyncio.ensure_future(c.delete_snapshots(ids, concurrency=4))
    await asyncio.sleep(0)
    for _ in range(200):  # bounded: until the first four calls are at the server
        if backend.faults.calls(DELETE) >= 4:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    result = await task
    assert result.cancelled
    uncertain = [i for i in result.items if i.outcome is Outcome.FAILED]
    untouched = [i for i in result.items if i.outcome is Outcome.UNTOUCHED]
    assert len(uncertain) == 4 and all("may or may not" in i.message for i in uncertain)
    assert len(untouched) == 36
    remaining = server_snapshot_ids(backend)
    assert {i.id for i in untouched} <= remaining  # never deleted


async def test_adaptive_limit_halves_on_throttling_and_grows_back() -> None:
    limit = AdaptiveLimit(8)

    def answers(count: int, throttled: int) -> None:
        for n in range(count):
            limit.completed()
            if n < throttled:
                limit.throttled()

    answers(8, throttled=2)  # scattered: a quarter of a window may be throttles
    assert limit.limit == 8
    answers(3, throttled=3)  # a burst: more than a quarter of the window
    assert limit.limit == 4
    answers(5, throttled=5)  # the rest of the calls in flight when it was cut
    assert limit.limit == 4
    answers(4, throttled=1)
    assert limit.limit == 4
    answers(4, throttled=2)
    assert limit.limit == 2
    for _ in range(4):
        answers(limit.limit, throttled=limit.limit)
    assert limit.limit == 1  # never below one
    for _ in range(1):
        limit.succeeded()
    assert limit.limit == 2
    for _ in range(2):
        limit.succeeded()
    assert limit.limit == 3
    for _ in range(100):
        limit.succeeded()
    assert limit.limit == 8  # never above the maximum


async def test_throttling_reduces_concurrency_at_the_server(
        harness: Harness, backend: BackendServer) -> None:
    c, _ = harness.make(clock=FakeClock())
    ids = seed_snapshots(backend, 60)
    backend.faults.retry_delay = 0.0
    backend.faults.set_fault(DELETE, "throttle", Trigger(first=16))
    engine_delete = backend.engine.delete_snapshot  # type: ignore[union-attr]
    active = 0
    peak_after_throttle = 0

    first_wave = set(ids[:16])  # these are throttled, and retry in the slots they hold

    async def observed(snapshot_id: str) -> None:
        nonlocal active, peak_after_throttle
        active += 1
        if snapshot_id not in first_wave:
            peak_after_throttle = max(peak_after_throttle, active)
        try:
            await asyncio.sleep(0.005)  # long enough for concurrent deletes to overlap
            await engine_delete(snapshot_id)
        finally:
            active -= 1

    backend.engine.delete_snapshot = observed  # type: ignore[union-attr,method-assign]
    result = await c.delete_snapshots(ids, concurrency=16)
    assert result.ok and server_snapshot_ids(backend) == set()
    assert peak_after_throttle > 1  # it grew back
    # the first 16 calls were throttled: later items run under a reduced limit
    assert peak_after_throttle < 16


@pytest.mark.parametrize("count", [0, 1])
async def test_tiny_bulk_deletes(harness: Harness, backend: BackendServer, count: int) -> None:
    c, _ = harness.make(clock=FakeClock())
    ids = seed_snapshots(backend, count)
    count_calls(backend, DELETE)
    result = await c.delete_snapshots(ids)
    assert result.ok and len(result.items) == count
    assert backend.faults.calls(DELETE) == count


async def test_a_connection_replaced_mid_way_does_not_cancel_the_bulk_delete(
        harness: Harness, backend: BackendServer) -> None:
    """A reconnect (the link replacing the adapter) lets the calls in flight finish."""
    c, _ = harness.make(clock=FakeClock())
    fresh, _ = harness.make()  # a second connection to the same server, to switch to
    ids = seed_snapshots(backend, 40)
    backend.faults.set_latency(DELETE, 0.2)
    run = asyncio.ensure_future(c.delete_snapshots(ids, concurrency=8))
    await until(lambda: backend.faults.calls(DELETE) > 0)  # deletes are in flight
    await c.replace_adapter(fresh.adapter, fresh.info)
    result = await asyncio.wait_for(run, 30)
    assert not result.cancelled and result.ok, result.summary()
    assert result.count(Outcome.DELETED) == 40
    assert server_snapshot_ids(backend).isdisjoint(ids)



async def test_chaos_loses_nothing_and_unhinted_failures_retry_soon(
        harness: Harness, backend: BackendServer) -> None:
    """20% UNAVAILABLE (a quarter of them after the change was made) and 10% throttled:
    every asked item ends deleted exactly once, nothing else is touched, and a failure that
    carries no RetryInfo waits a short jittered pause, not the SDK's 0.2 s."""
    clock = FakeClock()
    c, recorder = harness.make(clock=clock, seed=3)
    ids = seed_snapshots(backend, 300)
    asked, kept = ids[:250], ids[250:]
    backend.faults.retry_delay = 0.5
    backend.faults.set_fault(DELETE, "unavailable", Trigger(rate=0.15))
    backend.faults.set_fault(DELETE, "lost", Trigger(rate=0.05))
    backend.faults.set_fault(DELETE, "throttle", Trigger(rate=0.1))
    result = await c.delete_snapshots(asked, concurrency=16)
    assert result.ok, result.summary()
    assert [item.id for item in result.items] == asked
    assert result.count(Outcome.DELETED) == 250  # a lost answer's retry finds it gone: deleted
    assert server_snapshot_ids(backend) == set(kept)
    retries = recorder.of(ev.RetryScheduled)
    unhinted = [r for r in retries if r.code == "UNAVAILABLE"]
    hinted = [r for r in retries if r.code != "UNAVAILABLE"]
    assert len(unhinted) > 20 and len(hinted) > 10  # the faults really fired
    assert all(r.delay == 0.5 for r in hinted)  # the server's hint is honoured as given
    by_item: dict[str, list[ev.RetryScheduled]] = {}
    for r in retries:
        by_item.setdefault(r.targets[0], []).append(r)
    for item_retries in by_item.values():
        steps = [r.delay for r in item_retries if r.code == "UNAVAILABLE"]
        if steps:  # its own backoff, whatever throttles came between: 50 ms growing x2
            assert 0.05 <= steps[0] <= 0.1
            assert all(0.05 <= d <= 0.1 * 2 ** n for n, d in enumerate(steps))
    [finished] = recorder.of(ev.Finished)
    assert finished.result["deleted"] == 250 and finished.result["failed"] == 0
