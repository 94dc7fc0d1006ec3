"""Durability: what survives a restart, and what a crash (SIGKILL) leaves behind."""

from __future__ import annotations

import hashlib
import signal
import time
import uuid
from pathlib import Path

import grpc

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.store import SnapshotRow, Store
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb

from .conftest import StartBackend
from .helpers import (
    FAILED,
    FSS_CREATING,
    FSS_FAILED,
    FSS_READY,
    MOUNT,
    TERMINAL,
    add_file,
    expect_error,
    get,
    get_snapshot,
    log_text,
    read_file,
    read_logs,
    sh_ok,
    snapshot,
    start_sandbox,
    until,
    wait_status,
)
from .serving import ServeProcess, processes_with

BIG_BYTES = 200_000_000


def partials(data_dir: Path) -> list[Path]:
    return sorted(data_dir.rglob("*.partial"))


async def test_records_and_settings_survive_a_restart(start_backend: StartBackend,
                                                      tmp_path: Path) -> None:
    data_dir = tmp_path / "durable"
    first = await start_backend(data_dir=data_dir)
    gateway, streaming = first.gateway, first.streaming
    running = await start_sandbox(gateway)
    await add_file(gateway, running, f"{MOUNT}/kept.txt", b"kept")
    ready = (await snapshot(gateway, running, key="k")).file_system_snapshot_id
    finished = await start_sandbox(gateway, args=["-c", "echo said-before; exit 4"], wait=False,
                                   tags=["old"])
    await wait_status(gateway, finished, FAILED)
    await gateway.SetFileSystemSnapshotBucketConfig(pb.SetFileSystemSnapshotBucketConfigRequest(
        bucket_name="after-restart", region="eu-central-1"))
    await first.channel.close()
    await first.server.stop(grace=0)

    second = await start_backend(data_dir=data_dir)
    gateway, streaming = second.gateway, second.streaming
    config = await gateway.GetFileSystemSnapshotBucketConfig(
        pb.GetFileSystemSnapshotBucketConfigRequest())
    assert (config.bucket_name, config.region) == ("after-restart", "eu-central-1")
    assert config.mode == pb.FILE_SYSTEM_SNAPSHOT_BUCKET_MODE_BRING_YOUR_OWN
    snap = await get_snapshot(gateway, ready)
    assert snap.status == FSS_READY and snap.idempotency_key == "k"
    old = await get(gateway, finished)
    assert old.sandbox_status == FAILED and old.local_details.exit_code == 4
    assert list(old.local_details.tags) == ["old"]
    assert log_text(await read_logs(streaming, finished)) == b"said-before\n"
    # the sandbox that was running when the backend stopped has ended, and says why
    stopped = await get(gateway, running)
    assert stopped.sandbox_status in TERMINAL and "backend" in stopped.status_reason
    await expect_error(snapshot(gateway, running), grpc.StatusCode.FAILED_PRECONDITION)
    # the idempotency key still finds the same snapshot
    assert (await snapshot(gateway, running, key="k")).file_system_snapshot_id == ready
    listed = await gateway.List(pb.ListSandboxesRequest(include_stopped=True))
    assert [s.sandbox_id for s in listed.sandboxes] == [running, finished]
    # the archive is in the managed bucket; revert to restore it
    await gateway.SetFileSystemSnapshotBucketConfig(pb.SetFileSystemSnapshotBucketConfigRequest())
    restored = await start_sandbox(gateway, restore=ready)
    assert await read_file(gateway, restored, f"{MOUNT}/kept.txt") == b"kept"
    await sh_ok(streaming, restored, "true")


async def test_restart_cleans_up_interrupted_work(start_backend: StartBackend, tmp_path: Path
                                                  ) -> None:
    data_dir = tmp_path / "interrupted"
    first = await start_backend(data_dir=data_dir)
    await first.channel.close()
    await first.server.stop(grace=0)
    # what a crash leaves: a snapshot mid-archive, one mid-delete, and a half-written file
    bucket = data_dir / "buckets" / "cwsandbox-managed"
    bucket.mkdir(parents=True)
    now = time.time()
    store = Store(data_dir / "state.sqlite3")
    rows = {status: SnapshotRow(id=f"fss-{uuid.uuid4().hex[:12]}", status=status, created_at=now,
                                updated_at=now, object_bucket="cwsandbox-managed")
            for status in (states.FSS_CREATING, states.FSS_DELETING)}
    for row in rows.values():
        row.archive = f"cwsandbox-managed/{row.id}.tar"
        (bucket / f"{row.id}.tar").write_bytes(b"leftover")
        (bucket / f".{row.id}.tar.partial").write_bytes(b"half")
        store.insert_snapshot(row)
    store.close()

    second = await start_backend(data_dir=data_dir)
    creating = await get_snapshot(second.gateway, rows[states.FSS_CREATING].id)
    assert creating.status == FSS_FAILED and creating.status_reason
    await expect_error(get_snapshot(second.gateway,
                                    rows[states.FSS_DELETING].id),
                       grpc.StatusCode.NOT_FOUND, reason="CWSANDBOX_FSS_NOT_FOUND")
    assert not partials(data_dir)
    assert list(bucket.iterdir()) == []


async def test_sigkill_mid_archive_then_restart(tmp_path: Path) -> None:
    """The server dies (SIGKILL) while a snapshot is being archived; a restart on the same
    data directory keeps the finished snapshot intact and reports everything else honestly."""
    data_dir = tmp_path / "crash"
    marker = f"crash-marker-{uuid.uuid4().hex}"
    server = await ServeProcess(data_dir).ready()
    try:
        gateway, streaming = server.stubs()
        sid = await start_sandbox(gateway, mount_path="/data", args=[
            "-c", f'trap "exit 0" TERM; : {marker}; sleep infinity & wait'])
        await sh_ok(streaming, sid, f"head -c {BIG_BYTES} /dev/urandom > /data/big && "
                                    "sha256sum /data/big > /data/big.sha256")
        await add_file(gateway, sid, "/data/note.txt", b"before the crash")
        digest = (await read_file(gateway, sid, "/data/big.sha256")).split()[0].decode()
        ready = await get_snapshot(gateway, (await snapshot(gateway, sid)).file_system_snapshot_id)
        assert ready.status == FSS_READY and ready.size_bytes > BIG_BYTES
        bucket = data_dir / "buckets" / ready.object_bucket
        archive = bucket / f"{ready.file_system_snapshot_id}.tar"
        archive_digest = hashlib.sha256(archive.read_bytes()).hexdigest()

        caught = (await snapshot(gateway, sid, wait=False)).file_system_snapshot_id
        assert (await get_snapshot(gateway, caught)).status == FSS_CREATING
        # killed once the archive's file is there (its thread may not have opened it yet)
        await until(lambda: bool(partials(data_dir)), what="the archive being written")
        server.process.send_signal(signal.SIGKILL)
        assert await server.exited() == -signal.SIGKILL
        await server.close()
    finally:
        server.kill()
    assert partials(data_dir), "the archive was caught half-written"
    # the sandbox's processes did not outlive the backend
    await until(lambda: not processes_with(marker), what="the sandbox processes to die")

    restarted = await ServeProcess(data_dir).ready()
    try:
        gateway, streaming = restarted.stubs()
        kept = await get_snapshot(gateway, ready.file_system_snapshot_id)
        assert kept.status == FSS_READY and kept.size_bytes == ready.size_bytes
        assert hashlib.sha256(archive.read_bytes()).hexdigest() == archive_digest
        failed = await get_snapshot(gateway, caught)
        assert failed.status == FSS_FAILED and failed.status_reason
        assert not partials(data_dir), "no half-written archive may remain"
        assert not (archive.parent / f"{caught}.tar").exists()
        lost = await get(gateway, sid)
        assert lost.sandbox_status == FAILED
        assert "lost" in lost.status_reason and lost.local_details.HasField("ended_at")
        # the finished snapshot restores whole
        restored = await start_sandbox(gateway, restore=ready.file_system_snapshot_id,
                                       mount_path="/data")
        assert await read_file(gateway, restored, "/data/note.txt") == b"before the crash"
        check = await sh_ok(streaming, restored, "sha256sum /data/big")
        assert check.split()[0].decode() == digest
        assert await restarted.close() == 0
    finally:
        restarted.kill()
    assert not (data_dir / "backend.json").exists()
