"""The client on `coreweave.sandbox.v1`: the same typed calls, SDK 1.22.0's behaviour where it
differs from 0.26.0 (retries on UNAVAILABLE with a hint, stop with snapshot never retried and
its extra conflicts), and the generation chosen by asking the endpoint once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from cwsandbox_tui.backend.faults import FaultPlan, Trigger
from cwsandbox_tui.backend.server import BackendServer, ServerConfig
from cwsandbox_tui.client import adapter_v1
from cwsandbox_tui.client import events as ev
from cwsandbox_tui.client.client import Client, EndpointInfo
from cwsandbox_tui.client.clock import Clock, SystemClock
from cwsandbox_tui.client.errors import (
    SandboxError,
    SnapshotError,
    SnapshotOnStopConflictError,
    SnapshotWaitTimeoutError,
    UnavailableError,
)
from cwsandbox_tui.client.generations import Auto, choose
from cwsandbox_tui.client.models import SandboxSpec, SandboxStatus, SnapshotStatus, SnapshotTrigger
from cwsandbox_tui.client.wire import open_channel
from tests.fake_clock import FakeClock

from .helpers import MOUNT, SLEEPER, ExecutorHold, Recorder, count_calls

Make = Callable[..., Client]


@pytest.fixture
async def make(backend: BackendServer) -> AsyncIterator[Make]:
    made: list[Client] = []

    def build(api: str = "v1", server: BackendServer | None = None,
              clock: Clock | None = None) -> Client:
        target = server or backend
        channel = open_channel(f"127.0.0.1:{target.port}", tls=False, root_certificates=None)
        client = Client(choose(api, channel, []),
                        EndpointInfo(url=target.url, source="test", auth_mode="none",
                                     read_only=False), rng=random.Random(0),
                        clock=clock or SystemClock())
        made.append(client)
        return client

    yield build
    for client in made:
        await client.close()


def _spec(mount: bool = True, **extra: object) -> SandboxSpec:
    return SandboxSpec(command="/bin/sh", args=tuple(SLEEPER), mount_path=MOUNT if mount else "",
                       **extra)  # type: ignore[arg-type]


async def test_the_whole_flow_on_v1(make: Make) -> None:
    client = make()
    assert client.api_version == "v1"
    sandbox = await client.start_sandbox(_spec(tags=("a", "b"), size="1Gi"))
    assert sandbox.status is SandboxStatus.RUNNING
    assert (sandbox.mount_path, sandbox.mount_size, sandbox.tags) == (MOUNT, "1Gi", ("a", "b"))
    assert sandbox.image == "python:3.11" and sandbox.command[0] == "/bin/sh"

    result = await client.exec(sandbox.id, ["/bin/sh", "-c", f"echo hi | tee {MOUNT}/f; exit 2"])
    assert (result.exit_code, result.stdout) == (2, b"hi\n")
    await client.add_file(sandbox.id, f"{MOUNT}/g", b"data")
    assert await client.retrieve_file(sandbox.id, f"{MOUNT}/g") == b"data"

    snap = await client.create_snapshot(sandbox.id)
    assert snap.status is SnapshotStatus.READY and snap.trigger is SnapshotTrigger.MANUAL
    keyed = await client.create_snapshot(sandbox.id, wait_for_ready=False, idempotency_key="k")
    again = await client.create_snapshot(sandbox.id, wait_for_ready=False, idempotency_key="k")
    assert keyed.id == again.id and keyed.idempotency_key == "k"

    stopped = await client.stop_sandbox(sandbox.id, snapshot=True, grace=1)
    assert stopped.final_status is SandboxStatus.COMPLETED and stopped.snapshot_id
    on_stop = await client.get_snapshot(stopped.snapshot_id)
    assert on_stop.status is SnapshotStatus.READY and on_stop.trigger is SnapshotTrigger.STOP

    restored = await client.start_sandbox(_spec(restore_from=snap.id))
    assert restored.restored_from == snap.id
    assert (await client.exec(restored.id, ["cat", f"{MOUNT}/f"])).stdout == b"hi\n"

    listed = {s.id: s for s in await client.list_sandboxes()}
    assert listed[sandbox.id].status is SandboxStatus.COMPLETED
    assert listed[sandbox.id].exit_code is not None  # v1 reports it once ended
    assert {snap.id, keyed.id, stopped.snapshot_id} <= {s.id for s in
                                                         await client.list_snapshots()}

    own = await client.set_bucket("my-bucket", "us-east-1")
    assert own.effective_bucket_name == "my-bucket"
    assert (await client.reset_bucket()).bucket_name == ""

    with pytest.raises(SandboxError, match="not offered by the coreweave.sandbox.v1 API"):
        await client.pause_sandbox(restored.id)
    await client.stop_sandbox(restored.id, grace=1)
    assert await client.delete_sandbox(restored.id)  # it had ended: the record goes
    assert restored.id not in {s.id for s in await client.list_sandboxes()}


async def test_a_snapshot_still_creating_when_the_wait_for_ready_runs_out_is_an_error(
        make: Make) -> None:
    """v1 answers a create at once in CREATING and the client follows it: a follow that runs
    out of time (600 s, on a fake clock) ends in the SDK's wait-timeout error naming the
    snapshot, never in a finish that reads like a success."""
    client = make(clock=FakeClock())
    recorder = Recorder()
    client.bus.subscribe(recorder)
    sandbox_id = (await client.start_sandbox(_spec())).id
    hold = ExecutorHold(asyncio.get_running_loop())  # the archive writer waits: CREATING
    try:
        with pytest.raises(SnapshotWaitTimeoutError) as caught:
            await client.create_snapshot(sandbox_id)
    finally:
        hold.release()
    snapshot_id = caught.value.snapshot_id
    assert snapshot_id is not None and snapshot_id.startswith("fss-")
    assert f"Snapshot {snapshot_id} was not READY within 600 s" in str(caught.value)
    creates = [e for e in recorder.events if e.op == "Create file-system snapshot"]
    assert not [e for e in creates if isinstance(e, ev.Finished)]
    [failed] = [e for e in creates if isinstance(e, ev.Failed)]
    assert failed.error == "SnapshotWaitTimeoutError"
    assert (await client.get_snapshot(snapshot_id)).status in (SnapshotStatus.CREATING,
                                                                SnapshotStatus.READY)


async def test_plain_stop_and_delete_retry_unavailable_with_a_hint(
        make: Make, backend: BackendServer) -> None:
    client = make()
    sandbox_id = (await client.start_sandbox(_spec())).id
    backend.faults.retry_delay = 0.01
    backend.faults.set_fault("DeleteSandbox", "busy", Trigger(first=2))
    stopped = await client.stop_sandbox(sandbox_id, grace=1)
    assert stopped.final_status is SandboxStatus.COMPLETED
    assert backend.faults.calls("DeleteSandbox") == 3  # two refusals, then the stop

    backend.faults.clear()
    backend.faults.set_fault("DeleteSandbox", "unavailable", Trigger(first=1))  # no hint
    with pytest.raises(UnavailableError):
        await client.delete_sandbox(sandbox_id)
    assert backend.faults.calls("DeleteSandbox") == 1  # not retried without a hint


async def test_stop_with_snapshot_is_never_retried(make: Make, backend: BackendServer) -> None:
    client = make()
    sandbox_id = (await client.start_sandbox(_spec())).id
    backend.faults.retry_delay = 0.01
    backend.faults.set_fault("DeleteSandbox", "busy", Trigger(first=1))
    with pytest.raises(UnavailableError):
        await client.stop_sandbox(sandbox_id, snapshot=True, grace=1)
    assert backend.faults.calls("DeleteSandbox") == 1
    assert (await client.get_sandbox(sandbox_id)).status is SandboxStatus.RUNNING


async def test_snapshot_on_stop_conflicts_of_sdk_1x(make: Make, backend: BackendServer) -> None:
    client = make()
    adapter = client.adapter
    assert isinstance(adapter, adapter_v1.V1Adapter)
    with pytest.raises(SnapshotOnStopConflictError, match="no longer exists"):
        await adapter.stop("sb-gone", grace=1, snapshot=True, wait_for_ready=True,
                           max_timeout=600, idempotency_key="", timeout=30)
    plain = (await client.start_sandbox(_spec(mount=False))).id
    count_calls(backend, "DeleteSandbox")
    with pytest.raises(SnapshotError, match="no scratch volume"):
        await client.stop_sandbox(plain, snapshot=True, grace=1)
    assert backend.faults.calls("DeleteSandbox") == 0  # refused before any call


async def test_auto_asks_once_and_lands_on_what_the_endpoint_speaks(
        make: Make, backend: BackendServer, tmp_path: Path) -> None:
    both = make("auto")
    assert both.api_version == "auto"
    count_calls(backend, "GetFileSystemSnapshotBucketConfig")
    await both.list_snapshots()
    await both.list_sandboxes()
    assert both.api_version == "v1"  # the current generation when both are served
    assert backend.faults.calls("GetFileSystemSnapshotBucketConfig") == 1  # asked once

    old = BackendServer(ServerConfig(data_dir=tmp_path / "old", port=0, api="v1beta2",
                                     faults=FaultPlan(seed=1)))
    await old.start()
    try:
        client = make("auto", old)
        assert await client.resolve_api() == "v1beta2"
        sandbox = await client.start_sandbox(_spec())
        assert sandbox.status is SandboxStatus.RUNNING
        assert isinstance(client.adapter, Auto) and client.has_pause
        await client.stop_sandbox(sandbox.id, grace=1)
    finally:
        await old.stop(grace=0)


async def test_volumes_on_v1_and_their_absence_on_v1beta2(make: Make,
                                                          backend: BackendServer) -> None:
    assert backend.engine is not None
    from cwsandbox_tui.backend.volumes import VolumeRecord, VolumeRegistry
    VolumeRegistry(backend.config.data_dir / "volumes", "local-runner").create(VolumeRecord(
        volume_id="data", runner_id="local-runner", namespace="ns", claim_name="c"))
    client = make("v1")
    [volume] = await client.list_volumes()
    assert (volume.id, volume.claim_name) == ("data", "c")
    assert (await client.get_volume("data")).id == "data"
    assert await client.delete_volume("data")
    assert not await client.delete_volume("data", missing_ok=True)
    with pytest.raises(SandboxError, match="not offered by the coreweave.sandbox.v1beta2"):
        await make("v1beta2").list_volumes()
