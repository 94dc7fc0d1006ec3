"""A data directory written before the store kept the engine's own words (it kept v1beta2's
wire numbers) is migrated when a backend opens it, and serves the same states on both API
generations as it did."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.store import SnapshotRow
from cwsandbox_tui.proto.v1 import sandbox_pb2 as v1pb
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb

from .conftest import StartBackend
from .v1_helpers import V1

# The schema of state.sqlite3 as the backend wrote it before the migration (store.py then).
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS sandboxes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    status INTEGER NOT NULL,
    status_reason TEXT NOT NULL DEFAULT '',
    spec TEXT NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL,
    exit_code INTEGER,
    stop_snapshot_id TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS snapshots (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    status INTEGER NOT NULL,
    status_reason TEXT NOT NULL DEFAULT '',
    size_bytes INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    completed_at REAL,
    source_sandbox_id TEXT NOT NULL DEFAULT '',
    trigger INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT NOT NULL DEFAULT '',
    object_bucket TEXT NOT NULL DEFAULT '',
    archive TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS snapshots_idempotency
    ON snapshots (source_sandbox_id, idempotency_key) WHERE idempotency_key != '';
CREATE INDEX IF NOT EXISTS snapshots_archive ON snapshots (archive);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# id -> the v1beta2 SandboxStatus number it was written with (the numbers, not the
# generated constants: these are what is on disk, whatever the modules say later)
OLD_SANDBOXES = {"sb-old-done": 3, "sb-old-failed": 4, "sb-old-killed": 5,
                 "sb-old-running": 2, "sb-old-paused": 7, "sb-old-stopping": 9}
# id -> (FileSystemSnapshotStatus, FileSystemSnapshotTrigger)
OLD_SNAPSHOTS = {"fss-old-stop": (2, 1), "fss-old-manual": (2, 2), "fss-old-failed": (3, 2),
                 "fss-old-unsaid": (2, 0), "fss-old-creating": (1, 2),
                 "fss-old-deleting": (4, 1)}
DROPPED = "fss-old-dropped"  # deleted before the upgrade: its seq must not be reused


def write_old_data_dir(data_dir: Path) -> None:
    data_dir.mkdir()
    db = sqlite3.connect(data_dir / "state.sqlite3")
    db.executescript(OLD_SCHEMA)
    spec = json.dumps({"command": "sleep", "args": ["60"], "tags": ["old"]})
    for n, (sandbox_id, status) in enumerate(OLD_SANDBOXES.items()):
        db.execute("INSERT INTO sandboxes (id, status, status_reason, spec, created_at,"
                   " ended_at, exit_code) VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (sandbox_id, status, f"reason {n}", spec, 1_000.0 + n, 2_000.0 + n, n))
    for n, (snapshot_id, (status, trigger)) in enumerate(
            [*OLD_SNAPSHOTS.items(), (DROPPED, (2, 1))]):
        db.execute("INSERT INTO snapshots (id, status, size_bytes, created_at, updated_at,"
                   " source_sandbox_id, trigger, idempotency_key, object_bucket)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (snapshot_id, status, 100 + n, 1_000.0 + n, 1_500.0 + n, "sb-old-done",
                    trigger, f"key-{n}", "cwsandbox-managed"))
    db.execute("DELETE FROM snapshots WHERE id = ?", (DROPPED,))
    db.execute("INSERT INTO settings (key, value) VALUES ('bucket_name', 'kept-bucket')")
    db.commit()
    db.close()


async def test_old_data_dir_is_migrated_and_served_alike_on_both_generations(
        start_backend: StartBackend, tmp_path: Path) -> None:
    data_dir = tmp_path / "old"
    write_old_data_dir(data_dir)
    backend = await start_backend(data_dir=data_dir)
    gateway, v1 = backend.gateway, V1.on(backend.channel)

    # sandboxes: the ended keep their state; the live ones failed when the backend stopped
    beta_state = {"sb-old-done": pb.SANDBOX_STATUS_COMPLETED,
                  "sb-old-failed": pb.SANDBOX_STATUS_FAILED,
                  "sb-old-killed": pb.SANDBOX_STATUS_TERMINATED}
    v1_state = {"sb-old-done": v1pb.STATE_COMPLETED, "sb-old-failed": v1pb.STATE_FAILED,
                "sb-old-killed": v1pb.STATE_TERMINATED}
    lost = ("sb-old-running", "sb-old-paused", "sb-old-stopping")
    for sandbox_id in lost:
        beta_state[sandbox_id] = pb.SANDBOX_STATUS_FAILED
        v1_state[sandbox_id] = v1pb.STATE_FAILED
    for sandbox_id in OLD_SANDBOXES:
        got = await gateway.Get(pb.GetSandboxRequest(sandbox_id=sandbox_id))
        assert got.sandbox_status == beta_state[sandbox_id], sandbox_id
        sandbox = await v1.sandboxes.GetSandbox(v1pb.GetSandboxRequest(sandbox_id=sandbox_id))
        assert sandbox.status.state == v1_state[sandbox_id], sandbox_id
        assert sandbox.status.state_reason == got.local_details.status_reason
        if sandbox_id in lost:
            assert "lost when the backend stopped" in sandbox.status.state_reason
        else:
            assert sandbox.status.state_reason.startswith("reason ")
    listed = await gateway.List(pb.ListSandboxesRequest(include_stopped=True))
    assert [s.sandbox_id for s in listed.sandboxes] == list(OLD_SANDBOXES)
    done = await gateway.List(pb.ListSandboxesRequest(status=pb.SANDBOX_STATUS_COMPLETED))
    assert [s.sandbox_id for s in done.sandboxes] == ["sb-old-done"]
    failed = await v1.sandboxes.ListSandboxes(v1pb.ListSandboxesRequest(
        state=v1pb.STATE_FAILED))
    assert [s.sandbox_id for s in failed.sandboxes] == ["sb-old-failed", *lost]

    # snapshots: states and triggers as written; the one mid-archive failed, mid-delete gone
    beta_snap = {"fss-old-stop": (pb.FILE_SYSTEM_SNAPSHOT_STATUS_READY,
                                  pb.FILE_SYSTEM_SNAPSHOT_TRIGGER_STOP),
                 "fss-old-manual": (pb.FILE_SYSTEM_SNAPSHOT_STATUS_READY,
                                    pb.FILE_SYSTEM_SNAPSHOT_TRIGGER_MANUAL),
                 "fss-old-failed": (pb.FILE_SYSTEM_SNAPSHOT_STATUS_FAILED,
                                    pb.FILE_SYSTEM_SNAPSHOT_TRIGGER_MANUAL),
                 "fss-old-unsaid": (pb.FILE_SYSTEM_SNAPSHOT_STATUS_READY,
                                    pb.FILE_SYSTEM_SNAPSHOT_TRIGGER_UNSPECIFIED),
                 "fss-old-creating": (pb.FILE_SYSTEM_SNAPSHOT_STATUS_FAILED,
                                      pb.FILE_SYSTEM_SNAPSHOT_TRIGGER_MANUAL)}
    v1_snap = {"fss-old-stop": (v1pb.SNAPSHOT_STATE_READY, v1pb.SNAPSHOT_TRIGGER_ON_DELETE),
               "fss-old-manual": (v1pb.SNAPSHOT_STATE_READY, v1pb.SNAPSHOT_TRIGGER_MANUAL),
               "fss-old-failed": (v1pb.SNAPSHOT_STATE_FAILED, v1pb.SNAPSHOT_TRIGGER_MANUAL),
               "fss-old-unsaid": (v1pb.SNAPSHOT_STATE_READY,
                                  v1pb.SNAPSHOT_TRIGGER_UNSPECIFIED),
               "fss-old-creating": (v1pb.SNAPSHOT_STATE_FAILED, v1pb.SNAPSHOT_TRIGGER_MANUAL)}
    beta_list = await gateway.ListFileSystemSnapshots(pb.ListFileSystemSnapshotsRequest())
    assert {s.file_system_snapshot_id: (s.status, s.trigger)
            for s in beta_list.file_system_snapshots} == beta_snap
    assert [s.file_system_snapshot_id for s in beta_list.file_system_snapshots] == list(beta_snap)
    v1_list = await v1.sandboxes.ListFileSystemSnapshots(v1pb.ListFileSystemSnapshotsRequest())
    assert {s.file_system_snapshot_id: (s.state, s.trigger)
            for s in v1_list.file_system_snapshots} == v1_snap
    for snapshot_id, (status, trigger) in beta_snap.items():
        one = await gateway.GetFileSystemSnapshot(
            pb.GetFileSystemSnapshotRequest(file_system_snapshot_id=snapshot_id))
        assert (one.status, one.trigger, one.source_sandbox_id) == (status, trigger,
                                                                   "sb-old-done")
        other = await v1.sandboxes.GetFileSystemSnapshot(
            v1pb.GetFileSystemSnapshotRequest(file_system_snapshot_id=snapshot_id))
        assert (other.state, other.trigger) == v1_snap[snapshot_id]
    bucket = await gateway.GetFileSystemSnapshotBucketConfig(
        pb.GetFileSystemSnapshotBucketConfigRequest())
    assert bucket.bucket_name == "kept-bucket"

    # the file now keeps the engine's words, and a new record does not reuse a freed seq
    assert backend.server.engine is not None
    store = backend.server.engine.store
    fresh = store.insert_snapshot(SnapshotRow(id="fss-new", status=states.FSS_READY,
                                              created_at=3_000.0, updated_at=3_000.0))
    assert fresh.seq == len(OLD_SNAPSHOTS) + 2, "the dropped record's seq was given again"
    await backend.server.stop(grace=0)
    db = sqlite3.connect(data_dir / "state.sqlite3")
    try:
        assert db.execute("PRAGMA user_version").fetchone() == (1,)
        stored = dict(db.execute("SELECT id, status FROM sandboxes").fetchall())
        assert stored == {"sb-old-done": "completed", "sb-old-failed": "failed",
                          "sb-old-killed": "terminated", "sb-old-running": "failed",
                          "sb-old-paused": "failed", "sb-old-stopping": "failed"}
        rows = db.execute("SELECT id, status, trigger FROM snapshots ORDER BY seq").fetchall()
        assert rows == [("fss-old-stop", "ready", "stop"), ("fss-old-manual", "ready", "manual"),
                        ("fss-old-failed", "failed", "manual"), ("fss-old-unsaid", "ready", ""),
                        ("fss-old-creating", "failed", "manual"), ("fss-new", "ready", "")]
        indexes = {name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'")}
        assert indexes == {"snapshots_idempotency", "snapshots_archive"}
    finally:
        db.close()

