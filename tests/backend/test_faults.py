"""Fault injection: the spec, first-N and seeded-rate triggers, latency, lost responses, drain."""

from __future__ import annotations

import time

import grpc
import pytest

from cwsandbox_tui.backend.faults import FAULT_KINDS, FaultPlan, Trigger, parse_duration
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb

from .conftest import StartBackend
from .helpers import (
    COMPLETED,
    FSS_READY,
    RUNNING,
    STUBBORN,
    TERMINAL,
    TERMINATING,
    Gateway,
    Streaming,
    add_file,
    details_of,
    exec_init,
    expect_error,
    get,
    get_snapshot,
    sh_ok,
    snapshot,
    start_sandbox,
    stop,
    wait_snapshot,
    wait_status,
)

BUCKET_GET = "GetFileSystemSnapshotBucketConfig"


async def bucket_config(gateway: Gateway) -> pb.FileSystemSnapshotBucketConfig:
    return await gateway.GetFileSystemSnapshotBucketConfig(
        pb.GetFileSystemSnapshotBucketConfigRequest())


# ---------------------------------------------------------------------------------------------
# the plan itself


def test_spec_parsing() -> None:
    plan = FaultPlan.parse("seed=7, *.latency=20ms; DeleteFileSystemSnapshot.throttle=10%,"
                           "ListFileSystemSnapshots.unavailable=first2,Get.deadline=0.5,"
                           "Stop.lost=first1,retry_delay=200ms,drain_after=3s")
    assert plan.seed == 7
    assert plan.retry_delay == pytest.approx(0.2)
    assert plan.drain_after == pytest.approx(3.0)
    assert plan.methods["*"].latency == pytest.approx(0.02)
    assert plan.methods["DeleteFileSystemSnapshot"].triggers["throttle"] == Trigger(rate=0.1)
    assert plan.methods["ListFileSystemSnapshots"].triggers["unavailable"] == Trigger(first=2)
    assert plan.methods["Get"].triggers["deadline"] == Trigger(rate=0.5)
    assert plan.methods["Stop"].triggers["lost"] == Trigger(first=1)
    assert FaultPlan.parse("").methods == {}
    assert parse_duration("1.5s") == 1.5 and parse_duration("2m") == 120
    assert parse_duration("250ms") == pytest.approx(0.25) and parse_duration("3") == 3


@pytest.mark.parametrize("spec", [
    "seed", "Get.explode=10%", "Get.unavailable=150%", "Get.unavailable=-1",
    "Get.unavailable=firstx",
    "Get.latency=soon", "retry_delay=1h", "nonsense=1", "seed=abc", "Get.unavailable=first",
])
def test_bad_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        FaultPlan.parse(spec)


def test_set_fault_refuses_unknown_kinds() -> None:
    with pytest.raises(ValueError):
        FaultPlan().set_fault("Get", "explode", Trigger(first=1))
    assert set(FAULT_KINDS) == {"unavailable", "deadline", "throttle", "lost", "busy", "cut"}


def outcomes(plan: FaultPlan, method: str, count: int) -> list[str]:
    found = []
    for _ in range(count):
        decision = plan.decide(method)
        if decision.lose_response:
            found.append("lost")
        elif decision.error is not None:
            found.append(decision.error.code.name)
        else:
            found.append("ok")
    return found


def test_rates_are_deterministic_under_a_seed() -> None:
    spec = "seed=42,Get.unavailable=30%,Get.throttle=20%,List.lost=50%"
    first, second = FaultPlan.parse(spec), FaultPlan.parse(spec)
    a = outcomes(first, "Get", 200)
    # interleaving calls of another method does not move this method's sequence
    b = []
    for _ in range(200):
        outcomes(second, "List", 1)
        b += outcomes(second, "Get", 1)
    assert a == b
    # 30 % unavailable; throttle (20 %) only where unavailable did not fire
    assert 40 <= a.count("UNAVAILABLE") <= 80
    assert 15 <= a.count("RESOURCE_EXHAUSTED") <= 50 and "ok" in a
    other = FaultPlan.parse(spec.replace("seed=42", "seed=43"))
    assert outcomes(other, "Get", 200) != a, "another seed gives another sequence"
    # clear() forgets rules and counts; with the rules back, the sequence starts over
    first.clear()
    assert outcomes(first, "Get", 3) == ["ok"] * 3 and first.calls("Get") == 0
    again = FaultPlan.parse(spec)
    assert outcomes(again, "Get", 200) == a


def test_first_n_then_never() -> None:
    plan = FaultPlan()
    plan.set_fault("Get", "deadline", Trigger(first=3))
    assert outcomes(plan, "Get", 6) == ["DEADLINE_EXCEEDED"] * 3 + ["ok"] * 3
    assert plan.calls("Get") == 6
    assert outcomes(plan, "List", 2) == ["ok", "ok"]


# ---------------------------------------------------------------------------------------------
# against a live backend


async def test_unavailable_first_n(backend: BackendServer, gateway: Gateway) -> None:
    backend.faults.set_fault(BUCKET_GET, "unavailable", Trigger(first=2))
    for _ in range(2):
        found = await expect_error(bucket_config(gateway), grpc.StatusCode.UNAVAILABLE)
        assert "injected" in found.message
    assert (await bucket_config(gateway)).effective_bucket_name
    assert backend.faults.calls(BUCKET_GET) == 3


async def test_deadline_exceeded(backend: BackendServer, gateway: Gateway) -> None:
    backend.faults.set_fault("ListFileSystemSnapshots", "deadline", Trigger(first=1))
    await expect_error(gateway.ListFileSystemSnapshots(pb.ListFileSystemSnapshotsRequest()),
                       grpc.StatusCode.DEADLINE_EXCEEDED)
    await gateway.ListFileSystemSnapshots(pb.ListFileSystemSnapshotsRequest())


async def test_throttling_carries_retry_info_and_reason(backend: BackendServer, gateway: Gateway
                                                        ) -> None:
    backend.faults.retry_delay = 0.75
    backend.faults.set_fault("*", "throttle", Trigger(first=1))
    found = await expect_error(bucket_config(gateway), grpc.StatusCode.RESOURCE_EXHAUSTED,
                               reason="CWSANDBOX_FSS_BACKEND_THROTTLED")
    assert found.retry_delay == pytest.approx(0.75)
    # `*` applies to every method, counted per method
    await expect_error(gateway.ListFileSystemSnapshots(pb.ListFileSystemSnapshotsRequest()),
                       grpc.StatusCode.RESOURCE_EXHAUSTED, reason="CWSANDBOX_FSS_BACKEND_THROTTLED")
    await bucket_config(gateway)


async def test_latency_per_method(backend: BackendServer, gateway: Gateway) -> None:
    # long enough that an unhindered call on a loaded machine stays well below it
    latency = 1.5
    backend.faults.set_latency(BUCKET_GET, latency)
    began = time.monotonic()
    await bucket_config(gateway)
    assert time.monotonic() - began >= latency
    began = time.monotonic()
    await gateway.ListFileSystemSnapshots(pb.ListFileSystemSnapshotsRequest())
    assert time.monotonic() - began < latency
    backend.faults.clear()
    began = time.monotonic()
    await bucket_config(gateway)
    assert time.monotonic() - began < latency


async def test_lost_response_commits_then_answers_unavailable(backend: BackendServer,
                                                              gateway: Gateway) -> None:
    backend.faults.set_fault("SetFileSystemSnapshotBucketConfig", "lost", Trigger(first=1))
    await expect_error(gateway.SetFileSystemSnapshotBucketConfig(
        pb.SetFileSystemSnapshotBucketConfigRequest(bucket_name="lost-but-saved")),
        grpc.StatusCode.UNAVAILABLE)
    assert (await bucket_config(gateway)).bucket_name == "lost-but-saved"


async def test_lost_create_is_deduplicated_by_the_idempotency_key(backend: BackendServer,
                                                                  gateway: Gateway) -> None:
    sid = await start_sandbox(gateway)
    backend.faults.set_fault("CreateFileSystemSnapshot", "lost", Trigger(first=1))
    await expect_error(snapshot(gateway, sid, key="once"), grpc.StatusCode.UNAVAILABLE)
    retried = await snapshot(gateway, sid, key="once")  # the SDK's retry, same key
    listed = await gateway.ListFileSystemSnapshots(pb.ListFileSystemSnapshotsRequest())
    assert [s.file_system_snapshot_id for s in listed.file_system_snapshots] == \
        [retried.file_system_snapshot_id]
    assert (await get_snapshot(gateway, retried.file_system_snapshot_id)).status == FSS_READY


async def test_lost_delete_then_retry_finds_it_gone(backend: BackendServer, gateway: Gateway
                                                    ) -> None:
    sid = await start_sandbox(gateway)
    snapshot_id = (await snapshot(gateway, sid)).file_system_snapshot_id
    backend.faults.set_fault("DeleteFileSystemSnapshot", "lost", Trigger(first=1))
    request = pb.DeleteFileSystemSnapshotRequest(file_system_snapshot_id=snapshot_id)
    await expect_error(gateway.DeleteFileSystemSnapshot(request), grpc.StatusCode.UNAVAILABLE)
    await expect_error(gateway.DeleteFileSystemSnapshot(request), grpc.StatusCode.NOT_FOUND,
                       reason="CWSANDBOX_FSS_NOT_FOUND")


async def test_real_errors_pass_through_a_lost_rule(backend: BackendServer, gateway: Gateway
                                                    ) -> None:
    backend.faults.set_fault("Get", "lost", Trigger(first=5))
    await expect_error(gateway.Get(pb.GetSandboxRequest(sandbox_id="sb-x")),
                       grpc.StatusCode.NOT_FOUND, reason="CWSANDBOX_SANDBOX_NOT_FOUND")


async def test_streams_get_faults_too(backend: BackendServer, gateway: Gateway,
                                      streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    backend.faults.set_fault("StreamExec", "unavailable", Trigger(first=1))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in streaming.StreamExec(iter([exec_init(sid, ["true"])])):
            pass
    assert details_of(caught.value).code == grpc.StatusCode.UNAVAILABLE
    assert await sh_ok(streaming, sid, "echo fine") == b"fine\n"


async def test_seeded_rates_against_the_server_repeat(start_backend: StartBackend) -> None:
    async def run() -> list[str]:
        served = await start_backend(faults=FaultPlan.parse(
            f"seed=9,{BUCKET_GET}.unavailable=40%,{BUCKET_GET}.throttle=20%"))
        seen = []
        for _ in range(40):
            try:
                await bucket_config(served.gateway)
                seen.append("ok")
            except grpc.aio.AioRpcError as error:
                seen.append(error.code().name)
        return seen

    first, second = await run(), await run()
    assert first == second
    assert {"ok", "UNAVAILABLE", "RESOURCE_EXHAUSTED"} <= set(first)


# ---------------------------------------------------------------------------------------------
# drains


async def test_drain_after_stops_sandboxes_by_itself(start_backend: StartBackend) -> None:
    served = await start_backend(faults=FaultPlan.parse("drain_after=300ms"))
    sid = await start_sandbox(served.gateway)
    began = time.monotonic()
    done = await wait_status(served.gateway, sid, TERMINAL)
    assert time.monotonic() - began >= 0.2
    assert done.sandbox_status == COMPLETED and "drained" in done.status_reason


async def test_engine_drain_and_snapshot_on_stop_conflict(backend: BackendServer,
                                                          gateway: Gateway) -> None:
    assert backend.engine is not None
    stubborn = await start_sandbox(gateway, args=STUBBORN)
    backend.engine.drain(stubborn)
    info = await get(gateway, stubborn)
    assert info.sandbox_status == TERMINATING and "drained" in info.status_reason
    # the drain is a stop in progress: a snapshot stop now is refused, a plain stop joins it
    await expect_error(stop(gateway, stubborn, file_system_snapshot_on_stop=True),
                       grpc.StatusCode.FAILED_PRECONDITION)
    assert (await stop(gateway, stubborn)).success
    backend.engine.drain(stubborn)  # a second drain changes nothing
    backend.engine.drain("sb-unknown")  # nor does draining what is not there
    # and it is no longer RUNNING, so it cannot be snapshotted either
    await expect_error(snapshot(gateway, stubborn), grpc.StatusCode.FAILED_PRECONDITION)


async def test_drain_of_a_paused_sandbox(backend: BackendServer, gateway: Gateway) -> None:
    assert backend.engine is not None
    sid = await start_sandbox(gateway)
    await add_file(gateway, sid, "/tmp/x", b"x")
    await gateway.Pause(pb.PauseSandboxRequest(sandbox_id=sid))
    backend.engine.drain(sid)
    assert (await wait_status(gateway, sid, TERMINAL)).sandbox_status == COMPLETED


async def test_faults_can_change_while_serving(backend: BackendServer, gateway: Gateway) -> None:
    sid = await start_sandbox(gateway)
    backend.faults.set_fault("Get", "unavailable", Trigger(rate=1.0))
    await expect_error(get(gateway, sid), grpc.StatusCode.UNAVAILABLE)
    backend.faults.clear()
    assert (await get(gateway, sid)).sandbox_status == RUNNING
    snapshot_id = (await snapshot(gateway, sid, wait=False)).file_system_snapshot_id
    await wait_snapshot(gateway, snapshot_id, FSS_READY)
