"""Stop coalescing and the snapshot-on-stop conflict table (sdk-behaviour section 2).

`decide_stop` is checked exhaustively against the SDK's table; then every row the client can
meet is driven end to end through `Client.stop_sandbox` against the embedded backend.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.faults import Trigger
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client import events as ev
from cwsandbox_tui.client.client import Client
from cwsandbox_tui.client.errors import (
    SandboxNotFoundError,
    SnapshotError,
    SnapshotOnStopConflictError,
    TerminalStateUnavailableError,
    UnavailableError,
)
from cwsandbox_tui.client.models import SandboxSpec, SandboxStatus
from cwsandbox_tui.client.stops import (
    CONFLICT_PLAIN,
    CONFLICT_STOPPED,
    CONFLICT_TERMINATING,
    InFlight,
    StopAction,
    StopDecision,
    decide_stop,
)
from tests.fake_clock import FakeClock

from .helpers import (
    MOUNT,
    SLEEPER,
    SLOW_EXIT,
    STUBBORN,
    Harness,
    Recorder,
    count_calls,
    engine,
    over_its_size,
    start,
    until,
)

# ---------------------------------------------------------------------------------------------
# the pure decision, exhaustively


def sdk_table(status: SandboxStatus, in_flight: InFlight, snapshot: bool,
              held: bool) -> StopDecision:
    """The SDK's decision table, written out independently of stops.py."""
    if in_flight is InFlight.PLAIN:  # check 2 runs before check 3
        return CONFLICT_PLAIN if snapshot else StopDecision(StopAction.JOIN)
    if in_flight is InFlight.SNAPSHOT:
        return StopDecision(StopAction.JOIN)
    if status in (SandboxStatus.COMPLETED, SandboxStatus.FAILED, SandboxStatus.TERMINATED):
        if snapshot and not held:
            return CONFLICT_STOPPED
        return StopDecision(StopAction.NOOP)
    if status is SandboxStatus.TERMINATING:
        return CONFLICT_TERMINATING if snapshot else StopDecision(StopAction.OBSERVE)
    # creating, pending, running, paused, and unspecified-on-query count as starting/running
    return StopDecision(StopAction.NEW_STOP)


CASES = list(itertools.product(SandboxStatus, InFlight, (False, True), (False, True)))


@pytest.mark.parametrize(("status", "in_flight", "snapshot", "held"), CASES,
                         ids=[f"{s.value}-{f.value}-{'snap' if n else 'plain'}-"
                              f"{'held' if h else 'none'}" for s, f, n, h in CASES])
def test_decide_stop_matches_the_sdk_table(status: SandboxStatus, in_flight: InFlight,
                                           snapshot: bool, held: bool) -> None:
    assert decide_stop(status, in_flight, snapshot, held) == sdk_table(status, in_flight,
                                                                      snapshot, held)


def test_the_table_rows_by_name() -> None:
    running, terminating = SandboxStatus.RUNNING, SandboxStatus.TERMINATING
    stopped = SandboxStatus.COMPLETED
    rows = [
        # (status, in flight, snapshot requested, snapshot held) -> action
        ((running, InFlight.NONE, False, False), StopAction.NEW_STOP),
        ((running, InFlight.NONE, True, False), StopAction.NEW_STOP),
        ((SandboxStatus.PAUSED, InFlight.NONE, True, False), StopAction.NEW_STOP),
        ((SandboxStatus.CREATING, InFlight.NONE, False, False), StopAction.NEW_STOP),
        ((running, InFlight.PLAIN, False, False), StopAction.JOIN),
        ((running, InFlight.PLAIN, True, False), StopAction.CONFLICT),
        ((running, InFlight.SNAPSHOT, False, False), StopAction.JOIN),
        ((running, InFlight.SNAPSHOT, True, False), StopAction.JOIN),
        ((terminating, InFlight.PLAIN, False, False), StopAction.JOIN),
        ((terminating, InFlight.PLAIN, True, False), StopAction.CONFLICT),
        ((terminating, InFlight.SNAPSHOT, False, False), StopAction.JOIN),
        ((terminating, InFlight.SNAPSHOT, True, False), StopAction.JOIN),
        ((terminating, InFlight.NONE, False, False), StopAction.OBSERVE),
        ((terminating, InFlight.NONE, True, False), StopAction.CONFLICT),
        ((stopped, InFlight.NONE, False, True), StopAction.NOOP),
        ((stopped, InFlight.NONE, True, True), StopAction.NOOP),
        ((stopped, InFlight.NONE, False, False), StopAction.NOOP),
        ((stopped, InFlight.NONE, True, False), StopAction.CONFLICT),
    ]
    for args, action in rows:
        assert decide_stop(*args).action is action, args


def test_conflict_messages_are_the_sdks() -> None:
    assert CONFLICT_PLAIN.conflict == ("Cannot snapshot on stop: a plain stop is already in "
                                       "progress for this sandbox.")
    assert CONFLICT_TERMINATING.conflict == \
        "Cannot snapshot on stop: sandbox is already terminating."
    assert CONFLICT_STOPPED.conflict == "Cannot snapshot on stop: sandbox has already stopped."
    for decision in (CONFLICT_PLAIN, CONFLICT_TERMINATING, CONFLICT_STOPPED):
        assert decision.action is StopAction.CONFLICT and decision.advice


def test_conflict_error_is_a_snapshot_error() -> None:
    assert issubclass(SnapshotOnStopConflictError, SnapshotError)


# ---------------------------------------------------------------------------------------------
# through the client, against the backend


def status_of(backend: BackendServer, sandbox_id: str) -> int:
    return engine(backend).get(sandbox_id).status


async def stop_in_flight(client: Client, backend: BackendServer, sandbox_id: str, *,
                         snapshot: bool) -> asyncio.Task:
    """Start a stop and return once its Stop RPC has reached the backend."""
    before = backend.faults.calls("Stop")
    task = asyncio.ensure_future(client.stop_sandbox(sandbox_id, snapshot=snapshot, grace=1))
    await until(lambda: backend.faults.calls("Stop") > before, what="the Stop RPC")
    return task


def conflicts(recorder: Recorder) -> list[ev.Conflict]:
    return recorder.of(ev.Conflict)


async def test_plain_stop_sends_one_rpc_and_waits_for_terminal(
        client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, recorder = client
    count_calls(backend, "Stop")
    sandbox_id = await start(c)
    result = await c.stop_sandbox(sandbox_id, grace=1)
    assert result.final_status is SandboxStatus.COMPLETED and result.snapshot_id == ""
    assert backend.faults.calls("Stop") == 1
    deadline = recorder.of(ev.DeadlineSet)
    assert [d.seconds for d in deadline] == [11]  # grace 1 + 5 + 5
    finished = recorder.of(ev.Finished)[-1]
    assert finished.targets == (sandbox_id,) and finished.result["status"] == "completed"


async def test_snapshot_stop_returns_the_snapshot_and_sets_a_645_s_deadline(
        client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, recorder = client
    sandbox_id = await start(c)
    result = await c.stop_sandbox(sandbox_id, snapshot=True)
    assert result.final_status is SandboxStatus.COMPLETED
    assert result.snapshot_id and result.warning == ""
    snap = await c.get_snapshot(result.snapshot_id)
    assert snap.status.value == "ready" and snap.trigger.value == "stop"
    assert snap.source_sandbox_id == sandbox_id
    assert [d.seconds for d in recorder.of(ev.DeadlineSet)] == [645]


async def test_plain_joins_plain(client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, _ = client
    sandbox_id = await start(c)
    backend.faults.set_latency("Stop", 0.3)
    first = await stop_in_flight(c, backend, sandbox_id, snapshot=False)
    second = await c.stop_sandbox(sandbox_id)
    assert await first == second
    assert second.final_status is SandboxStatus.COMPLETED
    assert backend.faults.calls("Stop") == 1


async def test_simultaneous_plain_stops_send_one_rpc(
        client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, _ = client
    sandbox_id = await start(c)
    count_calls(backend, "Stop")
    results = await asyncio.gather(*(c.stop_sandbox(sandbox_id) for _ in range(3)))
    assert len(set(results)) == 1
    assert backend.faults.calls("Stop") == 1


async def test_simultaneous_snapshot_stops_take_one_snapshot(
        client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, _ = client
    sandbox_id = await start(c)
    count_calls(backend, "Stop")
    results = await asyncio.gather(*(c.stop_sandbox(sandbox_id, snapshot=True) for _ in range(3)))
    assert len({r.snapshot_id for r in results}) == 1 and results[0].snapshot_id
    assert backend.faults.calls("Stop") == 1
    snaps = [s for s in await c.list_snapshots() if s.source_sandbox_id == sandbox_id]
    assert len(snaps) == 1


async def test_plain_joins_snapshot_and_benefits_from_it(
        client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, _ = client
    sandbox_id = await start(c)
    backend.faults.set_latency("Stop", 0.3)
    snapshot_stop = await stop_in_flight(c, backend, sandbox_id, snapshot=True)
    plain = await c.stop_sandbox(sandbox_id, snapshot=False)
    assert plain.snapshot_id and plain == await snapshot_stop
    assert backend.faults.calls("Stop") == 1


async def test_snapshot_joins_snapshot(client: tuple[Client, Recorder],
                                       backend: BackendServer) -> None:
    c, _ = client
    sandbox_id = await start(c)
    backend.faults.set_latency("Stop", 0.3)
    first = await stop_in_flight(c, backend, sandbox_id, snapshot=True)
    second = await c.stop_sandbox(sandbox_id, snapshot=True, grace=0)
    assert second == await first and second.snapshot_id
    assert backend.faults.calls("Stop") == 1


async def test_snapshot_while_plain_in_flight_conflicts_and_leaves_the_plain_stop_running(
        client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, recorder = client
    sandbox_id = await start(c)
    backend.faults.set_latency("Stop", 0.3)
    plain = await stop_in_flight(c, backend, sandbox_id, snapshot=False)
    with pytest.raises(SnapshotOnStopConflictError, match="plain stop is already in progress"):
        await c.stop_sandbox(sandbox_id, snapshot=True)
    [conflict] = conflicts(recorder)
    assert conflict.in_flight == "plain" and conflict.targets == (sandbox_id,)
    assert conflict.message == CONFLICT_PLAIN.conflict and conflict.advice
    assert not plain.done()  # neither cancelled nor awaited
    result = await plain
    assert result.final_status is SandboxStatus.COMPLETED and result.snapshot_id == ""
    assert backend.faults.calls("Stop") == 1
    assert engine(backend).get(sandbox_id).stop_snapshot_id == ""
    failed = [e for e in recorder.of(ev.Failed) if e.op_id == conflict.op_id]
    assert failed and failed[0].error == "SnapshotOnStopConflictError"


async def test_snapshot_while_our_plain_stop_is_terminating_conflicts(
        client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, recorder = client
    sandbox_id = await start(c, args=SLOW_EXIT)
    count_calls(backend, "Stop")
    plain = asyncio.ensure_future(c.stop_sandbox(sandbox_id, grace=5))
    await until(lambda: status_of(backend, sandbox_id) == states.TERMINATING, what="TERMINATING")
    with pytest.raises(SnapshotOnStopConflictError, match="plain stop"):
        await c.stop_sandbox(sandbox_id, snapshot=True)
    assert conflicts(recorder)[0].in_flight == "plain"
    assert (await plain).final_status is SandboxStatus.COMPLETED
    assert backend.faults.calls("Stop") == 1


async def test_snapshot_on_a_drained_sandbox_conflicts(
        client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, recorder = client
    sandbox_id = await start(c, args=STUBBORN)
    engine(backend).drain(sandbox_id)
    assert status_of(backend, sandbox_id) == states.TERMINATING
    count_calls(backend, "Stop")
    with pytest.raises(SnapshotOnStopConflictError, match="already terminating"):
        await c.stop_sandbox(sandbox_id, snapshot=True)
    [conflict] = conflicts(recorder)
    assert conflict.in_flight == "terminating" and conflict.targets == (sandbox_id,)
    assert backend.faults.calls("Stop") == 0  # refused before the wire


async def test_snapshot_after_a_drain_from_the_fault_plan_conflicts(
        client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, _ = client
    backend.faults.drain_after = 0.0
    sandbox_id = await start(c, args=STUBBORN)
    await until(lambda: status_of(backend, sandbox_id) == states.TERMINATING, what="the drain")
    with pytest.raises(SnapshotOnStopConflictError, match="already terminating"):
        await c.stop_sandbox(sandbox_id, snapshot=True)


async def test_plain_stop_on_a_drained_sandbox_only_observes(
        client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, recorder = client
    sandbox_id = await start(c, args=SLOW_EXIT)
    count_calls(backend, "Stop")
    engine(backend).drain(sandbox_id)
    result = await c.stop_sandbox(sandbox_id)
    assert result.final_status is SandboxStatus.COMPLETED
    assert backend.faults.calls("Stop") == 0  # observe only: no Stop RPC
    assert recorder.of(ev.OperationStarted)[-1].detail == "observing a stop already under way"
    assert recorder.of(ev.DeadlineSet) == []


async def test_snapshot_on_a_stopped_sandbox_without_a_snapshot_conflicts(
        client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, recorder = client
    sandbox_id = await start(c)
    await c.stop_sandbox(sandbox_id, grace=1)
    count_calls(backend, "Stop")
    with pytest.raises(SnapshotOnStopConflictError, match="already stopped"):
        await c.stop_sandbox(sandbox_id, snapshot=True)
    [conflict] = conflicts(recorder)
    assert conflict.in_flight == "stopped"
    assert backend.faults.calls("Stop") == 0


async def test_snapshot_on_a_stopped_sandbox_holding_one_is_a_no_op_returning_it(
        client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, recorder = client
    sandbox_id = await start(c)
    first = await c.stop_sandbox(sandbox_id, snapshot=True)
    count_calls(backend, "Stop")
    again = await c.stop_sandbox(sandbox_id, snapshot=True)
    assert again.snapshot_id == first.snapshot_id
    assert again.final_status is SandboxStatus.COMPLETED
    assert backend.faults.calls("Stop") == 0
    assert conflicts(recorder) == []


async def test_plain_stop_on_a_stopped_sandbox_is_a_no_op(
        client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, _ = client
    sandbox_id = await start(c)
    await c.stop_sandbox(sandbox_id, grace=1)
    count_calls(backend, "Stop")
    result = await c.stop_sandbox(sandbox_id)
    assert result.final_status is SandboxStatus.COMPLETED and result.snapshot_id == ""
    assert backend.faults.calls("Stop") == 0


async def test_stop_of_an_unknown_sandbox(client: tuple[Client, Recorder],
                                          backend: BackendServer) -> None:
    c, _ = client
    with pytest.raises(SandboxNotFoundError):
        await c.stop_sandbox("sb-nope")
    plain = await c.stop_sandbox("sb-nope", missing_ok=True)
    assert plain.final_status is SandboxStatus.TERMINATED and plain.warning == ""
    snap = await c.stop_sandbox("sb-nope", snapshot=True, missing_ok=True)
    assert snap.snapshot_id == "" and "no snapshot" in snap.warning


async def test_a_failed_stop_rpc_is_not_retried_and_a_later_stop_starts_fresh(
        client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, _ = client
    sandbox_id = await start(c)
    backend.faults.set_latency("Stop", 0.2)
    backend.faults.set_fault("Stop", "unavailable", Trigger(first=1))
    first = asyncio.ensure_future(c.stop_sandbox(sandbox_id))
    await until(lambda: backend.faults.calls("Stop") == 1, what="the Stop RPC")
    joined = asyncio.ensure_future(c.stop_sandbox(sandbox_id))
    outcomes = await asyncio.gather(first, joined, return_exceptions=True)
    assert all(isinstance(o, UnavailableError) for o in outcomes)  # every joined caller
    assert backend.faults.calls("Stop") == 1  # the Stop RPC is never retried
    assert status_of(backend, sandbox_id) == states.RUNNING
    result = await c.stop_sandbox(sandbox_id)
    assert result.final_status is SandboxStatus.COMPLETED
    assert backend.faults.calls("Stop") == 2


async def test_cancelling_a_joined_caller_does_not_cancel_the_shared_stop(
        client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, _ = client
    sandbox_id = await start(c)
    backend.faults.set_latency("Stop", 0.3)
    first = await stop_in_flight(c, backend, sandbox_id, snapshot=False)
    joined = asyncio.ensure_future(c.stop_sandbox(sandbox_id))
    await asyncio.sleep(0)  # let it join
    joined.cancel()
    with pytest.raises(asyncio.CancelledError):
        await joined
    assert (await first).final_status is SandboxStatus.COMPLETED


async def test_the_terminal_wait_backs_off_and_gives_up_2_s_after_the_sandbox_vanishes(
        harness: Harness, backend: BackendServer) -> None:
    clock = FakeClock()
    c, recorder = harness.make(clock=clock)
    sandbox_id = await start(c, args=STUBBORN)
    before = len(clock.sleeps)  # the start's own polls while the sandbox was CREATING
    stopping = asyncio.ensure_future(c.stop_sandbox(sandbox_id, grace=60))
    await until(lambda: len(clock.sleeps) >= before + 10, what="ten polls")
    # polls every 0.2 s growing x1.5 up to 2 s (on the fake clock)
    expected = [min(2.0, 0.2 * 1.5 ** n) for n in range(10)]
    assert clock.sleeps[before:before + 10] == pytest.approx(expected)
    assert not stopping.done()
    # the endpoint forgets it mid-wait: no poll may see the COMPLETED the deletion passes on
    # its way (the polls run on the fake clock, back to back), so they are held meanwhile
    held = [backend.faults.hold(method) for method in ("Get", "GetSandbox")]
    await engine(backend).delete(sandbox_id)
    for hold in held:
        hold.set()
    with pytest.raises(TerminalStateUnavailableError, match="final state is unavailable"):
        await stopping
    assert recorder.of(ev.Failed)[-1].error == "TerminalStateUnavailableError"


async def test_a_snapshot_stop_whose_snapshot_fails_raises_and_is_not_retried(
        client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, _ = client
    sandbox = await c.start_sandbox(SandboxSpec(command="/bin/sh", args=SLEEPER,
                                                mount_path=MOUNT, size="1Ki"))
    await over_its_size(c, sandbox.id)
    count_calls(backend, "Stop")
    with pytest.raises(SnapshotError, match="Failed to stop sandbox: snapshot on stop failed"):
        await c.stop_sandbox(sandbox.id, snapshot=True, grace=1)
    assert backend.faults.calls("Stop") == 1
    await until(lambda: status_of(backend, sandbox.id) in states.TERMINAL, what="terminal")
    # it stopped without a usable snapshot: asking again is the "already stopped" conflict
    with pytest.raises(SnapshotOnStopConflictError, match="already stopped"):
        await c.stop_sandbox(sandbox.id, snapshot=True)
