"""File-system snapshots: create, wait, idempotency, get, delete, snapshot-on-stop, restore."""

from __future__ import annotations

import asyncio
import tarfile
from pathlib import Path

import grpc

from cwsandbox_tui.backend.engine import MANAGED_BUCKET
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb

from .conftest import ExecutorHold
from .helpers import (
    COMPLETED,
    CREATING,
    FSS_CREATING,
    FSS_FAILED,
    FSS_READY,
    INVALID,
    MOUNT,
    NOT_FOUND,
    PRECONDITION,
    RUNNING,
    STUBBORN,
    TERMINAL,
    TERMINATING,
    Gateway,
    Streaming,
    add_file,
    expect_error,
    get,
    get_snapshot,
    read_file,
    sh_ok,
    snapshot,
    start_request,
    start_sandbox,
    stop,
    until,
    until_logged,
    wait_snapshot,
    wait_status,
)


def buckets(backend: BackendServer) -> Path:
    assert backend.engine is not None
    return backend.engine.buckets_dir


def archive_of(backend: BackendServer, snap: pb.FileSystemSnapshot) -> Path:
    return buckets(backend) / snap.object_bucket / f"{snap.file_system_snapshot_id}.tar"


def leftovers(backend: BackendServer) -> list[Path]:
    return sorted(buckets(backend).rglob("*.partial")) if buckets(backend).exists() else []


async def restore_into_new_sandbox(gateway: Gateway, snapshot_id: str) -> str:
    return await start_sandbox(gateway, restore=snapshot_id)


async def test_create_and_wait_gives_a_ready_snapshot(backend: BackendServer, gateway: Gateway,
                                                     streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    await add_file(gateway, sid, f"{MOUNT}/a.txt", b"alpha")
    await sh_ok(streaming, sid, f"mkdir -p {MOUNT}/d/e && printf beta > {MOUNT}/d/e/b.txt")
    response = await snapshot(gateway, sid, key="k-1", max_timeout=60)
    assert response.success and response.file_system_snapshot_id.startswith("fss-")
    snap = await get_snapshot(gateway, response.file_system_snapshot_id)
    assert snap.status == FSS_READY
    assert snap.status_reason == ""
    assert snap.trigger == pb.FILE_SYSTEM_SNAPSHOT_TRIGGER_MANUAL
    assert snap.source_sandbox_id == sid
    assert snap.idempotency_key == "k-1"
    assert snap.object_bucket == MANAGED_BUCKET
    assert snap.HasField("created_at") and snap.HasField("updated_at")
    assert snap.HasField("completed_at")
    assert snap.completed_at.ToNanoseconds() >= snap.created_at.ToNanoseconds()
    archive = archive_of(backend, snap)
    assert snap.size_bytes == archive.stat().st_size > 0
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        assert {"a.txt", "d/e/b.txt"} <= names
        member = tar.extractfile("d/e/b.txt")
        assert member is not None and member.read() == b"beta"
    assert (await get(gateway, sid)).sandbox_status == RUNNING  # a snapshot does not stop it


async def test_create_without_waiting_then_ready(gateway: Gateway) -> None:
    sid = await start_sandbox(gateway)
    await add_file(gateway, sid, f"{MOUNT}/x", b"x")
    response = await snapshot(gateway, sid, wait=False)
    assert response.success
    first = await get_snapshot(gateway, response.file_system_snapshot_id)
    assert first.status in (FSS_CREATING, FSS_READY)
    if first.status == FSS_CREATING:
        assert first.size_bytes == 0 and not first.HasField("completed_at")
    ready = await wait_snapshot(gateway, response.file_system_snapshot_id, FSS_READY)
    assert ready.size_bytes > 0 and ready.HasField("completed_at")


async def test_wait_for_ready_times_out_with_reason(held_executor: ExecutorHold,
                                                   gateway: Gateway) -> None:
    sid = await start_sandbox(gateway)
    found = await expect_error(snapshot(gateway, sid, key="slow", max_timeout=1),
                               grpc.StatusCode.DEADLINE_EXCEEDED,
                               reason="CWSANDBOX_FSS_WAIT_TIMEOUT")
    snapshot_id = found.metadata["file_system_snapshot_id"]
    assert (await get_snapshot(gateway, snapshot_id)).status == FSS_CREATING
    # a retry with the same key is the same snapshot, still creating
    again = await snapshot(gateway, sid, key="slow", wait=False)
    assert again.file_system_snapshot_id == snapshot_id
    held_executor.release()
    waited = await snapshot(gateway, sid, key="slow", max_timeout=30)
    assert waited.file_system_snapshot_id == snapshot_id
    assert (await get_snapshot(gateway, snapshot_id)).status == FSS_READY


async def test_same_idempotency_key_returns_the_same_snapshot(gateway: Gateway) -> None:
    sid = await start_sandbox(gateway)
    other = await start_sandbox(gateway)
    first = await snapshot(gateway, sid, key="same")
    second = await snapshot(gateway, sid, key="same")
    assert first.file_system_snapshot_id == second.file_system_snapshot_id
    # the key belongs to one sandbox: another sandbox's snapshot with it is a new one
    elsewhere = await snapshot(gateway, other, key="same")
    assert elsewhere.file_system_snapshot_id != first.file_system_snapshot_id
    # no key: every call is a new snapshot
    a, b = await snapshot(gateway, sid), await snapshot(gateway, sid)
    assert a.file_system_snapshot_id != b.file_system_snapshot_id
    listed = await gateway.ListFileSystemSnapshots(pb.ListFileSystemSnapshotsRequest())
    assert len(listed.file_system_snapshots) == 4


async def test_concurrent_creates_with_one_key_while_the_sandbox_boots(
        held_executor: ExecutorHold, backend: BackendServer, gateway: Gateway) -> None:
    """Retries racing each other while the sandbox is still CREATING make one snapshot."""
    held_executor.release()
    source = await start_sandbox(gateway)
    base = await snapshot(gateway, source)
    held_executor.hold()
    # the restore is queued behind the held executor, so the new sandbox stays CREATING
    sid = await start_sandbox(gateway, restore=base.file_system_snapshot_id, wait=False)
    backend.faults.set_latency("CreateFileSystemSnapshot", 0.0)  # only to count the calls
    calls = [asyncio.ensure_future(snapshot(gateway, sid, key="retry", wait=False))
             for _ in range(3)]
    await until(lambda: backend.faults.calls("CreateFileSystemSnapshot") == 3,
                what="all three calls to reach the server")
    for _ in range(10):
        await asyncio.sleep(0)
    assert (await get(gateway, sid)).sandbox_status == CREATING
    held_executor.release()
    responses = await asyncio.gather(*calls)
    assert len({r.file_system_snapshot_id for r in responses}) == 1
    await wait_snapshot(gateway, responses[0].file_system_snapshot_id, FSS_READY)


async def over_its_size(streaming: Streaming, sandbox_id: str) -> None:
    """2000 bytes by their sizes in a 1Ki mount, no block on disk: too big for a snapshot,
    while the backend's watch over the mount's usage (in blocks, every 0.25 s) leaves the
    sandbox running (bytes written would have it end the sandbox FAILED, if it looked
    before the test's next call)."""
    await sh_ok(streaming, sandbox_id, f"truncate -s 1000 {MOUNT}/a {MOUNT}/b")


async def test_snapshot_over_the_mount_size_fails_with_reason(
        backend: BackendServer, gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway, size="1Ki")
    await over_its_size(streaming, sid)
    response = await snapshot(gateway, sid)
    assert not response.success
    assert response.file_system_snapshot_id
    assert "size limit" in response.error_message
    snap = await get_snapshot(gateway, response.file_system_snapshot_id)
    assert snap.status == FSS_FAILED and "size limit" in snap.status_reason
    assert snap.size_bytes == 0
    assert not archive_of(backend, snap).exists()
    assert not leftovers(backend)


async def test_create_errors(gateway: Gateway) -> None:
    await expect_error(snapshot(gateway, ""), INVALID, field_name="sandbox_id")
    await expect_error(snapshot(gateway, "sb-gone"), NOT_FOUND,
                       reason="CWSANDBOX_SANDBOX_NOT_FOUND")
    bare = await start_sandbox(gateway, mount_path=None)
    await expect_error(snapshot(gateway, bare), PRECONDITION, reason="CWSANDBOX_FSS_NOT_SUPPORTED")
    sid = await start_sandbox(gateway)
    await expect_error(snapshot(gateway, sid, max_timeout=-1), INVALID,
                       field_name="max_timeout_seconds")
    await stop(gateway, sid)
    await wait_status(gateway, sid, COMPLETED)
    await expect_error(snapshot(gateway, sid), PRECONDITION)


async def test_get_and_delete_snapshot(backend: BackendServer, gateway: Gateway) -> None:
    sid = await start_sandbox(gateway)
    await add_file(gateway, sid, f"{MOUNT}/x", b"x")
    snap = await get_snapshot(gateway, (await snapshot(gateway, sid)).file_system_snapshot_id)
    archive = archive_of(backend, snap)
    assert archive.exists()
    deleted = await gateway.DeleteFileSystemSnapshot(pb.DeleteFileSystemSnapshotRequest(
        file_system_snapshot_id=snap.file_system_snapshot_id))
    assert deleted.success
    assert not archive.exists()
    found = await expect_error(get_snapshot(gateway, snap.file_system_snapshot_id), NOT_FOUND,
                               reason="CWSANDBOX_FSS_NOT_FOUND")
    assert found.metadata["file_system_snapshot_id"] == snap.file_system_snapshot_id
    await expect_error(gateway.DeleteFileSystemSnapshot(pb.DeleteFileSystemSnapshotRequest(
        file_system_snapshot_id=snap.file_system_snapshot_id)), NOT_FOUND,
        reason="CWSANDBOX_FSS_NOT_FOUND")
    await expect_error(gateway.DeleteFileSystemSnapshot(pb.DeleteFileSystemSnapshotRequest()),
                       INVALID, field_name="file_system_snapshot_id")
    await expect_error(gateway.GetFileSystemSnapshot(pb.GetFileSystemSnapshotRequest()),
                       INVALID, field_name="file_system_snapshot_id")
    listed = await gateway.ListFileSystemSnapshots(pb.ListFileSystemSnapshotsRequest())
    assert not listed.file_system_snapshots


async def test_delete_while_creating_leaves_no_archive(held_executor: ExecutorHold,
                                                      backend: BackendServer,
                                                      gateway: Gateway) -> None:
    sid = await start_sandbox(gateway)
    await add_file(gateway, sid, f"{MOUNT}/x", b"x")
    snapshot_id = (await snapshot(gateway, sid, wait=False)).file_system_snapshot_id
    assert (await get_snapshot(gateway, snapshot_id)).status == FSS_CREATING
    await gateway.DeleteFileSystemSnapshot(pb.DeleteFileSystemSnapshotRequest(
        file_system_snapshot_id=snapshot_id))
    await expect_error(get_snapshot(gateway, snapshot_id), NOT_FOUND)
    held_executor.release()
    # the backend goes on working; nothing of the deleted snapshot may appear
    other = await snapshot(gateway, sid)
    assert other.success
    names = {p.name for p in buckets(backend).rglob("*")}
    assert not any(snapshot_id in name for name in names), names


async def test_restore_into_a_new_sandbox(gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    await add_file(gateway, sid, f"{MOUNT}/keep/me.txt", b"kept")
    snapshot_id = (await snapshot(gateway, sid)).file_system_snapshot_id
    await add_file(gateway, sid, f"{MOUNT}/later.txt", b"not in the snapshot")
    restored = await restore_into_new_sandbox(gateway, snapshot_id)
    assert await read_file(gateway, restored, f"{MOUNT}/keep/me.txt") == b"kept"
    assert await sh_ok(streaming, restored, f"ls {MOUNT}") == b"keep\n"
    info = await get(gateway, restored)
    assert info.local_details.restored_from_snapshot_id == snapshot_id
    # deleting the snapshot does not touch a sandbox restored from it
    await gateway.DeleteFileSystemSnapshot(pb.DeleteFileSystemSnapshotRequest(
        file_system_snapshot_id=snapshot_id))
    assert await read_file(gateway, restored, f"{MOUNT}/keep/me.txt") == b"kept"
    # a restore into another mount path works as well
    again = await start_sandbox(gateway, restore=(await snapshot(gateway, restored)
                                                  ).file_system_snapshot_id, mount_path="/data")
    assert await read_file(gateway, again, "/data/keep/me.txt") == b"kept"


async def test_restore_errors(held_executor: ExecutorHold, gateway: Gateway,
                              streaming: Streaming) -> None:
    found = await expect_error(gateway.Start(start_request(restore="fss-unknown")), NOT_FOUND,
                               reason="CWSANDBOX_FSS_NOT_FOUND")
    assert found.metadata["file_system_snapshot_id"] == "fss-unknown"
    sid = await start_sandbox(gateway)
    creating = (await snapshot(gateway, sid, wait=False)).file_system_snapshot_id
    await expect_error(gateway.Start(start_request(restore=creating)), PRECONDITION,
                       reason="CWSANDBOX_FSS_NOT_READY")
    held_executor.release()
    await wait_snapshot(gateway, creating, FSS_READY)
    no_mount = pb.StartSandboxRequest(command="/bin/sh")
    no_mount.file_system.file_system_snapshot.file_system_snapshot_id = creating
    await expect_error(gateway.Start(no_mount), INVALID, field_name="file_system.mount_path")
    empty_id = start_request()
    empty_id.file_system.file_system_snapshot.SetInParent()
    await expect_error(gateway.Start(empty_id), INVALID,
                       field_name="file_system.file_system_snapshot.file_system_snapshot_id")
    small = await start_sandbox(gateway, size="1Ki")
    await over_its_size(streaming, small)
    failed = (await snapshot(gateway, small)).file_system_snapshot_id
    await expect_error(gateway.Start(start_request(restore=failed)), PRECONDITION,
                       reason="CWSANDBOX_FSS_NOT_READY")
    listed = await gateway.List(pb.ListSandboxesRequest(include_stopped=True))
    assert len(listed.sandboxes) == 2, "refused restores must not create sandboxes"


# ---------------------------------------------------------------------------------------------
# snapshot on stop

# On SIGTERM it writes a file into the mount: a snapshot taken before the stop cannot hold it.
MARKS_ON_TERM = ["-c", f'trap "echo late > {MOUNT}/late; exit 0" TERM; echo up; '
                       f"while :; do sleep 0.05; done"]


async def test_stop_with_snapshot_archives_first_then_terminates(
        gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway, args=MARKS_ON_TERM)
    await until_logged(streaming, sid, b"up\n")
    await add_file(gateway, sid, f"{MOUNT}/work.txt", b"work")
    response = await stop(gateway, sid, grace=5, file_system_snapshot_on_stop=True,
                          max_timeout_seconds=60)
    assert response.success and response.file_system_snapshot_id
    snap = await get_snapshot(gateway, response.file_system_snapshot_id)
    assert snap.status == FSS_READY and snap.trigger == pb.FILE_SYSTEM_SNAPSHOT_TRIGGER_STOP
    assert snap.source_sandbox_id == sid
    info = await wait_status(gateway, sid, TERMINAL)
    assert info.sandbox_status == COMPLETED
    assert info.local_details.exit_code == 0  # it was asked with SIGTERM and exited by itself
    assert info.local_details.stop_snapshot_id == snap.file_system_snapshot_id
    restored = await start_sandbox(gateway, restore=snap.file_system_snapshot_id)
    assert await read_file(gateway, restored, f"{MOUNT}/work.txt") == b"work"
    await expect_error(read_file(gateway, restored, f"{MOUNT}/late"), NOT_FOUND)


async def test_stop_with_snapshot_keeps_the_sandbox_until_archived(
        held_executor: ExecutorHold, gateway: Gateway) -> None:
    sid = await start_sandbox(gateway)
    response = await stop(gateway, sid, file_system_snapshot_on_stop=True, wait_for_ready=False)
    assert response.success
    snapshot_id = response.file_system_snapshot_id
    assert (await get_snapshot(gateway, snapshot_id)).status == FSS_CREATING
    assert (await get(gateway, sid)).sandbox_status == TERMINATING
    # a retry of the same stop (same key) is the same snapshot; without a key it is a conflict
    await expect_error(stop(gateway, sid, file_system_snapshot_on_stop=True), PRECONDITION)
    assert (await stop(gateway, sid)).success  # a plain stop joins
    held_executor.release()
    await wait_snapshot(gateway, snapshot_id, FSS_READY)
    assert (await wait_status(gateway, sid, TERMINAL)).sandbox_status == COMPLETED


async def test_stop_with_snapshot_idempotency_key(gateway: Gateway) -> None:
    sid = await start_sandbox(gateway)
    first = await stop(gateway, sid, file_system_snapshot_on_stop=True, idempotency_key="stop-1")
    await wait_status(gateway, sid, TERMINAL)
    again = await stop(gateway, sid, file_system_snapshot_on_stop=True, idempotency_key="stop-1")
    assert again.success and again.file_system_snapshot_id == first.file_system_snapshot_id


async def test_stop_with_snapshot_wait_timeout(held_executor: ExecutorHold, gateway: Gateway
                                               ) -> None:
    sid = await start_sandbox(gateway)
    found = await expect_error(
        stop(gateway, sid, file_system_snapshot_on_stop=True, max_timeout_seconds=1),
        grpc.StatusCode.DEADLINE_EXCEEDED, reason="CWSANDBOX_FSS_WAIT_TIMEOUT")
    snapshot_id = found.metadata["file_system_snapshot_id"]
    held_executor.release()
    await wait_snapshot(gateway, snapshot_id, FSS_READY)
    info = await wait_status(gateway, sid, TERMINAL)
    assert info.local_details.stop_snapshot_id == snapshot_id


async def test_snapshot_on_stop_of_a_terminating_or_stopped_sandbox_is_refused(
        gateway: Gateway) -> None:
    stubborn = await start_sandbox(gateway, args=STUBBORN)
    await stop(gateway, stubborn, grace=2)
    assert (await get(gateway, stubborn)).sandbox_status == TERMINATING
    found = await expect_error(stop(gateway, stubborn, file_system_snapshot_on_stop=True),
                               PRECONDITION)
    assert "terminating" in found.message
    await wait_status(gateway, stubborn, TERMINAL)
    found = await expect_error(stop(gateway, stubborn, file_system_snapshot_on_stop=True),
                               PRECONDITION)
    assert "stopped" in found.message
    listed = await gateway.ListFileSystemSnapshots(pb.ListFileSystemSnapshotsRequest())
    assert not listed.file_system_snapshots


async def test_snapshot_on_stop_without_a_mount_is_refused_and_keeps_running(
        gateway: Gateway) -> None:
    sid = await start_sandbox(gateway, mount_path=None)
    await expect_error(stop(gateway, sid, file_system_snapshot_on_stop=True), PRECONDITION,
                       reason="CWSANDBOX_FSS_NOT_SUPPORTED")
    assert (await get(gateway, sid)).sandbox_status == RUNNING


async def test_failed_snapshot_on_stop_still_stops(gateway: Gateway,
                                                  streaming: Streaming) -> None:
    sid = await start_sandbox(gateway, size="1Ki")
    await over_its_size(streaming, sid)
    response = await stop(gateway, sid, file_system_snapshot_on_stop=True)
    assert not response.success and "size limit" in response.error_message
    snap = await get_snapshot(gateway, response.file_system_snapshot_id)
    assert snap.status == FSS_FAILED and snap.status_reason
    assert (await wait_status(gateway, sid, TERMINAL)).sandbox_status == COMPLETED


async def test_deleting_the_sandbox_does_not_spoil_its_snapshot_in_flight(
        backend: BackendServer, gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    await sh_ok(streaming, sid, f"for i in $(seq 1 40); do head -c 2000000 /dev/urandom "
                                f"> {MOUNT}/f$i; done; sha256sum {MOUNT}/f* > /tmp/sums")
    sums = await read_file(gateway, sid, "/tmp/sums")
    snapshot_id = (await snapshot(gateway, sid, wait=False)).file_system_snapshot_id
    await gateway.Delete(pb.DeleteSandboxRequest(sandbox_id=sid))
    snap = await wait_snapshot(gateway, snapshot_id, (FSS_READY, FSS_FAILED))
    assert snap.status == FSS_READY, snap.status_reason
    restored = await start_sandbox(gateway, restore=snapshot_id)
    await add_file(gateway, restored, "/tmp/sums", sums)
    await sh_ok(streaming, restored, "sha256sum -c --quiet /tmp/sums")
    await until(lambda: not leftovers(backend))
