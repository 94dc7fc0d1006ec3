"""Snapshot calls against the embedded backend with injected faults (sdk-behaviour 1.3, 4, 7).

Retry sleeps run on a fake clock, so retried calls cost no wall time.
"""

from __future__ import annotations

import asyncio

import pytest

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.faults import Trigger
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client import deadlines
from cwsandbox_tui.client import events as ev
from cwsandbox_tui.client.bulk import Outcome
from cwsandbox_tui.client.client import Client, ClientOptions
from cwsandbox_tui.client.errors import (
    PaginationError,
    RequestTimeoutError,
    SnapshotError,
    SnapshotNotFoundError,
    SnapshotNotSupportedError,
    ThrottledError,
    UnavailableError,
)
from cwsandbox_tui.client.models import SandboxSpec, Snapshot, SnapshotStatus
from tests.fake_clock import FakeClock

from .helpers import (
    MOUNT,
    SLEEPER,
    ExecutorHold,
    Harness,
    Recorder,
    count_calls,
    engine,
    over_its_size,
    seed_snapshots,
    server_snapshot_ids,
    start,
)

GET = "GetFileSystemSnapshot"
LIST = "ListFileSystemSnapshots"
DELETE = "DeleteFileSystemSnapshot"
CREATE = "CreateFileSystemSnapshot"


def fault(backend: BackendServer, method: str, kind: str, first: int) -> None:
    backend.faults.set_fault(method, kind, Trigger(first=first))


# ---------------------------------------------------------------------------------------------
# retries


async def test_unavailable_is_retried_with_jittered_backoff(
        fclient: tuple[Client, Recorder], backend: BackendServer, fake_clock: FakeClock) -> None:
    c, recorder = fclient
    [snapshot_id] = seed_snapshots(backend, 1)
    fault(backend, GET, "unavailable", 3)
    snap = await c.get_snapshot(snapshot_id)
    assert snap.id == snapshot_id and snap.status is SnapshotStatus.READY
    assert backend.faults.calls(GET) == 4
    retries = recorder.of(ev.RetryScheduled)
    assert [r.attempt for r in retries] == [1, 2, 3]
    assert all(r.code == "UNAVAILABLE" and r.reason is None for r in retries)
    # no RetryInfo: jittered pauses growing x1.5 from 0.2 s
    assert fake_clock.sleeps == [r.delay for r in retries]
    for delay, (floor, ceiling) in zip(fake_clock.sleeps, [(0.2, 0.3), (0.3, 0.45),
                                                           (0.45, 0.675)], strict=True):
        assert floor - 1e-9 <= delay <= ceiling + 1e-9
    assert {r.op_id for r in retries} == {recorder.of(ev.OperationStarted)[0].op_id}
    assert all(r.targets == (snapshot_id,) for r in retries)


async def test_throttling_is_retried_after_the_servers_retry_info_delay(
        fclient: tuple[Client, Recorder], backend: BackendServer, fake_clock: FakeClock) -> None:
    c, recorder = fclient
    [snapshot_id] = seed_snapshots(backend, 1)
    backend.faults.retry_delay = 1.75
    fault(backend, GET, "throttle", 2)
    await c.get_snapshot(snapshot_id)
    assert fake_clock.sleeps == [1.75, 1.75]  # the hint, literally
    retries = recorder.of(ev.RetryScheduled)
    assert [r.reason for r in retries] == ["CWSANDBOX_FSS_BACKEND_THROTTLED"] * 2
    assert [r.code for r in retries] == ["RESOURCE_EXHAUSTED"] * 2


async def test_a_long_retry_info_delay_is_capped_at_10_s(
        fclient: tuple[Client, Recorder], backend: BackendServer, fake_clock: FakeClock) -> None:
    c, _ = fclient
    [snapshot_id] = seed_snapshots(backend, 1)
    backend.faults.retry_delay = 25.0
    fault(backend, GET, "throttle", 1)
    await c.get_snapshot(snapshot_id)
    assert fake_clock.sleeps == [10.0]


async def test_the_budget_runs_out_and_the_last_error_is_raised(
        fclient: tuple[Client, Recorder], backend: BackendServer, fake_clock: FakeClock) -> None:
    c, recorder = fclient
    [snapshot_id] = seed_snapshots(backend, 1)
    backend.faults.retry_delay = 7.0
    fault(backend, GET, "throttle", 1000)
    with pytest.raises(ThrottledError) as raised:
        await c.get_snapshot(snapshot_id)
    assert fake_clock.sleeps == pytest.approx([7, 7, 7, 7, 2])
    assert backend.faults.calls(GET) == 5
    assert raised.value.reason == "CWSANDBOX_FSS_BACKEND_THROTTLED"
    [failed] = recorder.of(ev.Failed)
    assert failed.attempts == 5 and failed.error == "ThrottledError"
    assert failed.reason == "CWSANDBOX_FSS_BACKEND_THROTTLED"
    assert "(after 5 attempts)" in failed.message


async def test_a_server_deadline_on_get_is_retried(
        fclient: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, _ = fclient
    [snapshot_id] = seed_snapshots(backend, 1)
    fault(backend, GET, "deadline", 1)
    await c.get_snapshot(snapshot_id)
    assert backend.faults.calls(GET) == 2


async def test_not_found_is_final(fclient: tuple[Client, Recorder], backend: BackendServer,
                                  fake_clock: FakeClock) -> None:
    c, _ = fclient
    with pytest.raises(SnapshotNotFoundError) as raised:
        await c.get_snapshot("fss-missing")
    assert raised.value.snapshot_id == "fss-missing"
    assert fake_clock.sleeps == []


# ---------------------------------------------------------------------------------------------
# create


async def test_create_with_wait_returns_the_ready_record(
        client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, recorder = client
    sandbox_id = await start(c)
    snap = await c.create_snapshot(sandbox_id)
    assert snap.status is SnapshotStatus.READY and snap.size_bytes > 0
    assert snap.source_sandbox_id == sandbox_id and snap.trigger.value == "manual"
    assert len(snap.idempotency_key) == 32 and snap.idempotency_key.isalnum()
    assert snap.idempotency_key == snap.idempotency_key.lower()
    [deadline] = recorder.of(ev.DeadlineSet)
    assert deadline.seconds == 605
    finished = recorder.of(ev.Finished)[-1]
    assert finished.targets == (sandbox_id, snap.id) and finished.result["status"] == "ready"


async def test_create_without_wait_uses_the_request_timeout(
        client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, recorder = client
    sandbox_id = await start(c)
    snap = await c.create_snapshot(sandbox_id, wait_for_ready=False, idempotency_key="k-1")
    assert snap.status in (SnapshotStatus.CREATING, SnapshotStatus.READY)
    assert snap.idempotency_key == "k-1"
    assert recorder.of(ev.DeadlineSet)[0].seconds == 300


async def test_a_lost_create_is_retried_with_the_same_key_and_makes_one_snapshot(
        harness: Harness, backend: BackendServer) -> None:
    c, recorder = harness.make(clock=FakeClock())
    sandbox_id = await start(c)
    fault(backend, CREATE, "lost", 1)  # committed, then answered UNAVAILABLE
    snap = await c.create_snapshot(sandbox_id)
    assert backend.faults.calls(CREATE) == 2
    assert len(recorder.of(ev.RetryScheduled)) == 1
    mine = [s for s in await c.list_snapshots() if s.source_sandbox_id == sandbox_id]
    assert [s.id for s in mine] == [snap.id]


async def test_a_deadline_on_create_is_final_not_retried(
        harness: Harness, backend: BackendServer) -> None:
    c, recorder = harness.make(clock=FakeClock())
    sandbox_id = await start(c)
    fault(backend, CREATE, "deadline", 1)  # DEADLINE_EXCEEDED before anything is created
    with pytest.raises(RequestTimeoutError):
        await c.create_snapshot(sandbox_id)
    assert backend.faults.calls(CREATE) == 1  # the wait-for-ready deadline is not retried
    assert recorder.of(ev.RetryScheduled) == []
    [exceeded] = recorder.of(ev.DeadlineExceeded)
    assert exceeded.seconds == 605 and "may still complete" in exceeded.message
    assert recorder.of(ev.Failed)[-1].error == "RequestTimeoutError"
    assert [s for s in await c.list_snapshots() if s.source_sandbox_id == sandbox_id] == []


async def test_a_client_deadline_on_create_looks_the_snapshot_up_by_key_and_follows_it(
        harness: Harness, backend: BackendServer, monkeypatch: pytest.MonkeyPatch) -> None:
    c, recorder = harness.make()
    sandbox_id = await start(c)
    count_calls(backend, CREATE)
    # The client's real gRPC deadline is cut to 0.3 s, and the backend's archive writer is
    # held: the server records the snapshot (CREATING) and blocks waiting for it to be READY.
    monkeypatch.setattr(deadlines, "create_budget",
                        lambda wait, timeout=300.0: deadlines.CreateBudget(600, 0.3))
    hold = ExecutorHold(asyncio.get_running_loop())
    seen_creating: list[SnapshotStatus] = []

    def on_event(event: ev.Event) -> None:
        if isinstance(event, ev.DeadlineExceeded):
            [row] = engine(backend).store.snapshots_page(0, 10)
            seen_creating.append(row.status)
            hold.release()  # the archive may now be written: the snapshot completes later

    c.bus.subscribe(on_event)
    try:
        snap = await c.create_snapshot(sandbox_id, idempotency_key="key-42")
    finally:
        hold.release()
    assert backend.faults.calls(CREATE) == 1  # the client deadline is not retried
    assert seen_creating == [states.FSS_CREATING]
    [exceeded] = recorder.of(ev.DeadlineExceeded)
    assert exceeded.seconds == 0.3 and "may still complete" in exceeded.message
    assert snap.idempotency_key == "key-42" and snap.source_sandbox_id == sandbox_id
    assert snap.status is SnapshotStatus.READY
    finished = recorder.of(ev.Finished)[-1]
    assert finished.op_id == exceeded.op_id and finished.targets == (sandbox_id, snap.id)


async def test_a_client_deadline_on_create_with_nothing_created_re_raises(
        harness: Harness, backend: BackendServer, monkeypatch: pytest.MonkeyPatch) -> None:
    c, recorder = harness.make()
    sandbox_id = await start(c)
    monkeypatch.setattr(deadlines, "create_budget",
                        lambda wait, timeout=300.0: deadlines.CreateBudget(600, 0.2))
    backend.faults.set_latency(CREATE, 1.0)  # the server has not started when the client quits
    with pytest.raises(RequestTimeoutError):
        await c.create_snapshot(sandbox_id)
    assert len(recorder.of(ev.DeadlineExceeded)) == 1
    assert backend.faults.calls(CREATE) == 1
    assert [s for s in await c.list_snapshots() if s.source_sandbox_id == sandbox_id] == []


async def test_create_on_a_sandbox_without_a_mount_is_not_supported(
        client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, _ = client
    sandbox_id = await start(c, mount=False)
    with pytest.raises(SnapshotNotSupportedError):
        await c.create_snapshot(sandbox_id)


# ---------------------------------------------------------------------------------------------
# delete


async def test_a_lost_delete_response_counts_as_deleted(
        fclient: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, recorder = fclient
    keep, target = seed_snapshots(backend, 2)
    fault(backend, DELETE, "lost", 1)  # the delete commits, the answer is UNAVAILABLE
    outcome = await c.delete_snapshot(target)
    assert outcome is Outcome.DELETED  # attempt 2 found nothing: an earlier attempt did it
    assert backend.faults.calls(DELETE) == 2
    assert server_snapshot_ids(backend) == {keep}
    assert recorder.of(ev.Finished)[-1].result == {"outcome": "deleted"}


async def test_delete_of_a_missing_snapshot(fclient: tuple[Client, Recorder],
                                            backend: BackendServer) -> None:
    c, _ = fclient
    with pytest.raises(SnapshotNotFoundError) as raised:
        await c.delete_snapshot("fss-missing")
    assert raised.value.snapshot_id == "fss-missing"
    assert await c.delete_snapshot("fss-missing", missing_ok=True) is Outcome.ALREADY_GONE


async def test_delete_retries_throttling(fclient: tuple[Client, Recorder], backend: BackendServer,
                                         fake_clock: FakeClock) -> None:
    c, _ = fclient
    [target] = seed_snapshots(backend, 1)
    backend.faults.retry_delay = 0.4
    fault(backend, DELETE, "throttle", 2)
    assert await c.delete_snapshot(target) is Outcome.DELETED
    assert fake_clock.sleeps == [0.4, 0.4]
    assert server_snapshot_ids(backend) == set()


# ---------------------------------------------------------------------------------------------
# listing


async def test_listing_walks_every_page_in_server_order(
        harness: Harness, backend: BackendServer) -> None:
    c, _ = harness.make(clock=FakeClock(), options=ClientOptions(page_size=40))
    ids = seed_snapshots(backend, 250)
    count_calls(backend, LIST)
    rows = await c.list_snapshots()
    assert [s.id for s in rows] == ids
    assert backend.faults.calls(LIST) == 7  # ceil(250 / 40)


async def test_a_listing_failing_mid_way_restarts_from_page_1_without_duplicates(
        harness: Harness, backend: BackendServer) -> None:
    c, recorder = harness.make(clock=FakeClock(), options=ClientOptions(page_size=50))
    ids = seed_snapshots(backend, 230)
    count_calls(backend, LIST)
    pages: list[tuple[list[str], bool]] = []

    def on_page(page: list[Snapshot], restart: bool) -> None:
        pages.append(([s.id for s in page], restart))
        if len(pages) == 3:  # after the third page, the fourth call fails
            fault(backend, LIST, "unavailable", backend.faults.calls(LIST) + 1)

    rows = await c.list_snapshots(on_page=on_page)
    assert [s.id for s in rows] == ids  # no duplicates, nothing dropped, order kept
    assert backend.faults.calls(LIST) == 3 + 1 + 5
    assert [restart for _, restart in pages] == [False, False, False, True, False, False, False,
                                                 False]
    second_walk = [i for page, _ in pages[3:] for i in page]
    assert second_walk == ids  # the restarted walk alone is the whole listing
    assert pages[3][0] == pages[0][0]
    [retry] = recorder.of(ev.RetryScheduled)
    assert retry.attempt == 1 and retry.code == "UNAVAILABLE"
    assert recorder.of(ev.Finished)[-1].result == {"count": 230}


async def test_listing_that_keeps_failing_re_raises_the_last_error(
        harness: Harness, backend: BackendServer) -> None:
    clock = FakeClock()
    c, _ = harness.make(clock=clock)
    fault(backend, LIST, "unavailable", 10_000)
    with pytest.raises(UnavailableError):
        await c.list_snapshots()
    assert sum(clock.sleeps) == pytest.approx(30.0)


async def test_pagination_has_one_total_deadline(harness: Harness,
                                                 backend: BackendServer) -> None:
    clock = FakeClock()
    c, _ = harness.make(clock=clock, options=ClientOptions(page_size=10))
    seed_snapshots(backend, 30)
    count_calls(backend, LIST)

    def slow_page(page: list[Snapshot], restart: bool) -> None:
        clock.advance(200)  # 2 pages x 200 s > the 300 s total

    with pytest.raises(PaginationError, match="timed out during pagination"):
        await c.list_snapshots(on_page=slow_page)
    # Two pages walked; the third may have reached the server (it is requested ahead of
    # converting the second) before it was cancelled. A retry would have called again.
    assert backend.faults.calls(LIST) in (2, 3)


async def test_sandbox_listing_walks_pages(harness: Harness, backend: BackendServer) -> None:
    c, _ = harness.make(options=ClientOptions(page_size=2))
    started = [await start(c, mount=False) for _ in range(5)]
    rows = await c.list_sandboxes()
    assert [s.id for s in rows] == started


async def test_bucket_calls_are_retried(fclient: tuple[Client, Recorder],
                                        backend: BackendServer) -> None:
    c, _ = fclient
    fault(backend, "GetFileSystemSnapshotBucketConfig", "unavailable", 1)
    fault(backend, "SetFileSystemSnapshotBucketConfig", "unavailable", 1)
    config = await c.set_bucket("my-bucket", "us-east-1")
    assert config.bucket_name == "my-bucket" and config.mode.value == "bring_your_own"
    assert (await c.get_bucket()).effective_bucket_name == "my-bucket"
    reset = await c.reset_bucket()
    assert reset.mode.value == "cw_managed" and reset.bucket_name == ""
    assert backend.faults.calls("SetFileSystemSnapshotBucketConfig") == 3


async def test_snapshot_rows_seeded_with_states_come_back_typed(
        fclient: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, _ = fclient
    seed_snapshots(backend, 1, prefix="fss-failed", status=states.FSS_FAILED)
    [snap] = await c.list_snapshots()
    assert snap.status is SnapshotStatus.FAILED and snap.created_at is not None


async def test_concurrent_calls_do_not_share_retry_budgets(
        fclient: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, recorder = fclient
    ids = seed_snapshots(backend, 4)
    fault(backend, GET, "unavailable", 4)
    snaps = await asyncio.gather(*(c.get_snapshot(i) for i in ids))
    assert [s.id for s in snaps] == ids
    assert len(recorder.of(ev.RetryScheduled)) == 4


async def _oversized_sandbox(c: Client) -> str:
    """A sandbox whose mount holds more than its size: its snapshots fail."""
    sandbox = await c.start_sandbox(SandboxSpec(command="/bin/sh", args=SLEEPER,
                                                mount_path=MOUNT, size="1Ki"))
    await over_its_size(c, sandbox.id)
    return sandbox.id


async def test_a_snapshot_that_fails_raises_with_its_id_and_reason(
        client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, recorder = client
    sandbox_id = await _oversized_sandbox(c)
    with pytest.raises(SnapshotError, match="size limit") as raised:
        await c.create_snapshot(sandbox_id)
    assert raised.value.snapshot_id
    failed = await c.get_snapshot(raised.value.snapshot_id)
    assert failed.status is SnapshotStatus.FAILED and "size limit" in failed.status_reason
    assert recorder.of(ev.Failed)[-1].error == "SnapshotError"


async def test_a_snapshot_found_after_a_client_deadline_that_then_fails_raises(
        harness: Harness, backend: BackendServer, monkeypatch: pytest.MonkeyPatch) -> None:
    c, recorder = harness.make()
    sandbox_id = await _oversized_sandbox(c)
    monkeypatch.setattr(deadlines, "create_budget",
                        lambda wait, timeout=300.0: deadlines.CreateBudget(600, 0.3))
    hold = ExecutorHold(asyncio.get_running_loop())
    c.bus.subscribe(lambda e: hold.release() if isinstance(e, ev.DeadlineExceeded) else None)
    try:
        with pytest.raises(SnapshotError, match="size limit") as raised:
            await c.create_snapshot(sandbox_id)
    finally:
        hold.release()
    assert raised.value.snapshot_id
    [exceeded] = recorder.of(ev.DeadlineExceeded)
    assert all(f.op_id != exceeded.op_id for f in recorder.of(ev.Finished))
    [failed] = [f for f in recorder.of(ev.Failed) if f.op_id == exceeded.op_id]
    assert failed.error == "SnapshotError"
