"""v1 snapshots, stop with snapshot, restore and the bucket, over real gRPC on loopback."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2

from cwsandbox_tui.proto.v1 import sandbox_pb2 as pb
from cwsandbox_tui.proto.v1 import settings_pb2 as spb
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as beta
from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc

from .helpers import INVALID, NOT_FOUND, PRECONDITION, expect_error
from .v1_helpers import (
    MOUNT,
    STATE_COMPLETED,
    V1,
    V1_TERMINAL,
    VOLUME,
    get,
    run_ok,
    start,
    wait_snapshot,
    wait_state,
)


@pytest.fixture
def v1(channel: grpc.aio.Channel) -> V1:
    return V1.on(channel)


def _create(sandbox_id: str, request_id: str = "", volume: str = VOLUME
            ) -> pb.CreateFileSystemSnapshotRequest:
    return pb.CreateFileSystemSnapshotRequest(sandbox_id=sandbox_id, request_id=request_id,
                                              scratch_volume_name=volume)


async def test_snapshot_is_creating_at_once_then_ready(v1: V1) -> None:
    sandbox_id = await start(v1)
    await run_ok(v1, sandbox_id, f"echo hello > {MOUNT}/greeting")
    made = await v1.sandboxes.CreateFileSystemSnapshot(_create(sandbox_id, "k1"))
    assert made.state == pb.SNAPSHOT_STATE_CREATING
    assert made.request_id == "k1"
    assert (made.source_sandbox_id, made.source_volume_name) == (sandbox_id, VOLUME)
    assert made.trigger == pb.SNAPSHOT_TRIGGER_MANUAL
    assert made.HasField("create_time") and not made.HasField("complete_time")

    again = await v1.sandboxes.CreateFileSystemSnapshot(_create(sandbox_id, "k1"))
    assert again.file_system_snapshot_id == made.file_system_snapshot_id  # same request id

    ready = await wait_snapshot(v1, made.file_system_snapshot_id)
    assert ready.size_bytes > 0
    assert ready.HasField("complete_time") and ready.HasField("updated_at")
    assert ready.object_bucket
    listed = await v1.sandboxes.ListFileSystemSnapshots(pb.ListFileSystemSnapshotsRequest())
    assert [s.file_system_snapshot_id for s in listed.file_system_snapshots] == [
        made.file_system_snapshot_id]
    assert listed.file_system_snapshots[0] == ready


async def test_snapshot_requests_are_checked(v1: V1) -> None:
    sandbox_id = await start(v1)
    no_mount = await start(v1, volume=None)
    await expect_error(v1.sandboxes.CreateFileSystemSnapshot(_create("")), INVALID,
                       field_name="sandbox_id")
    await expect_error(v1.sandboxes.CreateFileSystemSnapshot(_create(sandbox_id, volume="other")),
                       INVALID, field_name="scratch_volume_name")
    await expect_error(v1.sandboxes.CreateFileSystemSnapshot(_create("sb-missing")), NOT_FOUND,
                       reason="CWSANDBOX_SANDBOX_NOT_FOUND")
    await expect_error(v1.sandboxes.CreateFileSystemSnapshot(_create(no_mount, volume="")),
                       PRECONDITION, reason="CWSANDBOX_FSS_NOT_SUPPORTED")
    await expect_error(v1.sandboxes.GetFileSystemSnapshot(
        pb.GetFileSystemSnapshotRequest(file_system_snapshot_id="fss-missing")), NOT_FOUND,
        reason="CWSANDBOX_FSS_NOT_FOUND")


async def test_a_snapshot_that_cannot_be_made_fails_with_a_reason(v1: V1) -> None:
    # (a mount written past its size no longer gets there: the write itself is refused, and
    # the sandbox ended, while it is written; a tree nested too deep to walk still does)
    sandbox_id = await start(v1)
    await run_ok(v1, sandbox_id, "python3 -c \"import os\nfor _ in range(300): "
                                 "os.mkdir('d'); os.chdir('d')\"")
    made = await v1.sandboxes.CreateFileSystemSnapshot(_create(sandbox_id))
    failed = await wait_snapshot(v1, made.file_system_snapshot_id, pb.SNAPSHOT_STATE_FAILED)
    assert "more than 256 deep" in failed.state_reason


async def test_stop_with_snapshot_then_restore_then_delete(v1: V1) -> None:
    sandbox_id = await start(v1, tags=["flow"])
    await run_ok(v1, sandbox_id, f"echo kept > {MOUNT}/note")
    stop = pb.DeleteSandboxRequest(sandbox_id=sandbox_id, grace_period_seconds=10,
                                   snapshot_volumes=[VOLUME], request_id="stop-1")
    response = await v1.sandboxes.DeleteSandbox(stop)
    (snapshot_id,) = response.file_system_snapshot_ids
    assert response.sandbox.sandbox_id == sandbox_id
    retried = await v1.sandboxes.DeleteSandbox(stop)  # the SDK never retries, but a proxy may
    assert list(retried.file_system_snapshot_ids) == [snapshot_id]

    ready = await wait_snapshot(v1, snapshot_id)
    assert ready.trigger == pb.SNAPSHOT_TRIGGER_ON_DELETE
    assert ready.request_id == "stop-1"
    ended = await wait_state(v1, sandbox_id, V1_TERMINAL)
    assert ended.status.state == STATE_COMPLETED
    await expect_error(v1.sandboxes.DeleteSandbox(pb.DeleteSandboxRequest(
        sandbox_id=sandbox_id, grace_period_seconds=10, snapshot_volumes=[VOLUME])),
        PRECONDITION)  # already stopped: no snapshot can be taken any more

    restored = await start(v1, restore=snapshot_id)
    assert (await get(v1, restored)).spec.volumes[0].scratch.restore_from_snapshot_id == \
        snapshot_id
    assert await run_ok(v1, restored, f"cat {MOUNT}/note") == b"kept\n"

    deleted = await v1.sandboxes.DeleteFileSystemSnapshot(
        pb.DeleteFileSystemSnapshotRequest(file_system_snapshot_id=snapshot_id))
    assert deleted.file_system_snapshot_id == snapshot_id
    assert deleted.state == pb.SNAPSHOT_STATE_DELETING
    await expect_error(v1.sandboxes.DeleteFileSystemSnapshot(
        pb.DeleteFileSystemSnapshotRequest(file_system_snapshot_id=snapshot_id)), NOT_FOUND,
        reason="CWSANDBOX_FSS_NOT_FOUND")
    quiet = await v1.sandboxes.DeleteFileSystemSnapshot(pb.DeleteFileSystemSnapshotRequest(
        file_system_snapshot_id=snapshot_id, allow_missing=True))
    assert quiet.file_system_snapshot_id == ""


async def test_snapshots_cross_between_generations(v1: V1, channel: grpc.aio.Channel) -> None:
    gateway = gateway_pb2_grpc.GatewayServiceStub(channel)
    sandbox_id = await start(v1)
    manual = await v1.sandboxes.CreateFileSystemSnapshot(_create(sandbox_id, "m"))
    await wait_snapshot(v1, manual.file_system_snapshot_id)
    old = await gateway.CreateFileSystemSnapshot(beta.CreateFileSystemSnapshotRequest(
        sandbox_id=sandbox_id, wait_for_ready=True, idempotency_key="b"))
    on_stop = (await v1.sandboxes.DeleteSandbox(pb.DeleteSandboxRequest(
        sandbox_id=sandbox_id, grace_period_seconds=1, snapshot_volumes=[VOLUME]))
    ).file_system_snapshot_ids[0]
    await wait_snapshot(v1, on_stop)

    seen_old = await gateway.GetFileSystemSnapshot(beta.GetFileSystemSnapshotRequest(
        file_system_snapshot_id=manual.file_system_snapshot_id))
    assert seen_old.trigger == beta.FILE_SYSTEM_SNAPSHOT_TRIGGER_MANUAL
    assert seen_old.idempotency_key == "m"
    stop_old = await gateway.GetFileSystemSnapshot(beta.GetFileSystemSnapshotRequest(
        file_system_snapshot_id=on_stop))
    assert stop_old.trigger == beta.FILE_SYSTEM_SNAPSHOT_TRIGGER_STOP
    seen_new = await v1.sandboxes.GetFileSystemSnapshot(pb.GetFileSystemSnapshotRequest(
        file_system_snapshot_id=old.file_system_snapshot_id))
    assert (seen_new.state, seen_new.trigger, seen_new.request_id) == (
        pb.SNAPSHOT_STATE_READY, pb.SNAPSHOT_TRIGGER_MANUAL, "b")
    by_source = await v1.sandboxes.ListFileSystemSnapshots(
        pb.ListFileSystemSnapshotsRequest(source_sandbox_id=sandbox_id))
    assert len(by_source.file_system_snapshots) == 3
    none = await v1.sandboxes.ListFileSystemSnapshots(
        pb.ListFileSystemSnapshotsRequest(source_sandbox_id="sb-other"))
    assert list(none.file_system_snapshots) == []


async def test_bucket_config_get_update_and_revert(v1: V1, channel: grpc.aio.Channel) -> None:
    gateway = gateway_pb2_grpc.GatewayServiceStub(channel)
    initial = await v1.settings.GetFileSystemSnapshotBucketConfig(
        spb.GetFileSystemSnapshotBucketConfigRequest())
    assert initial.mode == spb.FILE_SYSTEM_SNAPSHOT_BUCKET_MODE_CW_MANAGED
    assert initial.effective_bucket_name and not initial.bucket_name

    own = await v1.settings.UpdateFileSystemSnapshotBucketConfig(
        spb.UpdateFileSystemSnapshotBucketConfigRequest(
            file_system_snapshot_bucket_config=spb.FileSystemSnapshotBucketConfig(
                bucket_name="my-bucket", region="us-east-1")))
    assert (own.mode, own.bucket_name, own.region, own.effective_bucket_name) == (
        spb.FILE_SYSTEM_SNAPSHOT_BUCKET_MODE_BRING_YOUR_OWN, "my-bucket", "us-east-1",
        "my-bucket")
    old_view = await gateway.GetFileSystemSnapshotBucketConfig(
        beta.GetFileSystemSnapshotBucketConfigRequest())
    assert old_view.bucket_name == "my-bucket"  # one store for both generations

    masked = await v1.settings.UpdateFileSystemSnapshotBucketConfig(
        spb.UpdateFileSystemSnapshotBucketConfigRequest(
            file_system_snapshot_bucket_config=spb.FileSystemSnapshotBucketConfig(
                region="eu-west-1"),
            update_mask=field_mask_pb2.FieldMask(paths=["region"])))
    assert (masked.bucket_name, masked.region) == ("my-bucket", "eu-west-1")

    await expect_error(v1.settings.UpdateFileSystemSnapshotBucketConfig(
        spb.UpdateFileSystemSnapshotBucketConfigRequest(
            file_system_snapshot_bucket_config=spb.FileSystemSnapshotBucketConfig(
                bucket_name="Bad_Bucket"))), INVALID,
        field_name="file_system_snapshot_bucket_config.bucket_name")
    await expect_error(v1.settings.UpdateFileSystemSnapshotBucketConfig(
        spb.UpdateFileSystemSnapshotBucketConfigRequest(
            file_system_snapshot_bucket_config=spb.FileSystemSnapshotBucketConfig(),
            update_mask=field_mask_pb2.FieldMask(paths=["mode"]))), INVALID,
        field_name="update_mask.paths[0]")
    await expect_error(v1.settings.UpdateFileSystemSnapshotBucketConfig(
        spb.UpdateFileSystemSnapshotBucketConfigRequest()), INVALID,
        field_name="file_system_snapshot_bucket_config")
    await expect_error(v1.settings.UpdateFileSystemSnapshotBucketConfig(  # a region, no bucket
        spb.UpdateFileSystemSnapshotBucketConfigRequest(
            file_system_snapshot_bucket_config=spb.FileSystemSnapshotBucketConfig(
                region="eu-west-1"))), INVALID,
        field_name="file_system_snapshot_bucket_config.region")
    unchanged = await v1.settings.GetFileSystemSnapshotBucketConfig(
        spb.GetFileSystemSnapshotBucketConfigRequest())
    assert (unchanged.bucket_name, unchanged.region) == ("my-bucket", "eu-west-1")
    unmasked = await v1.settings.UpdateFileSystemSnapshotBucketConfig(  # the name alone: no region
        spb.UpdateFileSystemSnapshotBucketConfigRequest(
            file_system_snapshot_bucket_config=spb.FileSystemSnapshotBucketConfig(),
            update_mask=field_mask_pb2.FieldMask(paths=["bucket_name"])))
    assert (unmasked.bucket_name, unmasked.region) == ("", "")
    await v1.settings.UpdateFileSystemSnapshotBucketConfig(
        spb.UpdateFileSystemSnapshotBucketConfigRequest(
            file_system_snapshot_bucket_config=spb.FileSystemSnapshotBucketConfig(
                bucket_name="my-bucket", region="eu-west-1")))

    # the SDK's revert: the wrapped message present but empty, no mask
    reverted = await v1.settings.UpdateFileSystemSnapshotBucketConfig(
        spb.UpdateFileSystemSnapshotBucketConfigRequest(
            file_system_snapshot_bucket_config=spb.FileSystemSnapshotBucketConfig()))
    assert reverted == initial
    await expect_error(v1.settings.GetSecretStore(spb.GetSecretStoreRequest(name="x")),
                       grpc.StatusCode.UNIMPLEMENTED, reason="CWSANDBOX_NOT_IMPLEMENTED")
