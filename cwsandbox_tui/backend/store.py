"""Durable state of the embedded backend: sandbox and snapshot records and settings in SQLite.

States and triggers are kept as the engine's own words (`states.py`). A data directory written
before that kept v1beta2's wire numbers; it is rewritten when it is opened (`_migrate`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any

from .states import SandboxState, SnapshotCause, SnapshotState

SCHEMA = """
CREATE TABLE IF NOT EXISTS sandboxes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    status TEXT NOT NULL,
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
    status TEXT NOT NULL,
    status_reason TEXT NOT NULL DEFAULT '',
    size_bytes INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    completed_at REAL,
    source_sandbox_id TEXT NOT NULL DEFAULT '',
    trigger TEXT NOT NULL DEFAULT '',
    idempotency_key TEXT NOT NULL DEFAULT '',
    object_bucket TEXT NOT NULL DEFAULT '',
    archive TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS snapshots_idempotency
    ON snapshots (source_sandbox_id, idempotency_key) WHERE idempotency_key != '';
CREATE INDEX IF NOT EXISTS snapshots_archive ON snapshots (archive);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# PRAGMA user_version of a store that keeps the engine's words (0: v1beta2's numbers, or new)
VERSION = 1

# What the store kept before VERSION 1: v1beta2's wire numbers (SandboxStatus,
# FileSystemSnapshotStatus, FileSystemSnapshotTrigger), frozen here as they were written.
_V0_SANDBOX = {1: SandboxState.CREATING, 2: SandboxState.RUNNING, 3: SandboxState.COMPLETED,
               4: SandboxState.FAILED, 5: SandboxState.TERMINATED, 6: SandboxState.PENDING,
               7: SandboxState.PAUSED, 9: SandboxState.TERMINATING}
_V0_SNAPSHOT = {1: SnapshotState.CREATING, 2: SnapshotState.READY, 3: SnapshotState.FAILED,
                4: SnapshotState.DELETING}
_V0_TRIGGER = {0: SnapshotCause.NONE, 1: SnapshotCause.STOP, 2: SnapshotCause.MANUAL}


@dataclass
class StoredSpec:
    """What a sandbox was started with, as the store keeps it: what was asked, and what its
    placement and start applied."""

    command: str
    args: list[str] = field(default_factory=list)
    container_image: str = ""
    tags: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    mount_path: str = ""
    mount_size: str = ""
    mount_size_bytes: int = 0
    restored_from: str = ""
    max_lifetime_seconds: int = 0
    # Names the v1 API gives things the v1beta2 API leaves unnamed ("" = the default).
    volume_name: str = ""  # the scratch volume that holds the mount
    container_name: str = ""
    # network: the modes asked for, replaced at Start by the modes applied
    ingress_mode: str = ""
    egress_mode: str = ""
    exposed_ports: list[int] = field(default_factory=list)
    # the ports published at `service_address` (forwards.ServicePort fields, one dict each)
    services: list[dict[str, Any]] = field(default_factory=list)
    service_address: str = ""
    working_dir: str = ""  # where the command starts ("" = the mount, else /tmp)
    # Where it was placed and what was applied (see discovery.py); empty for records
    # written before placement existed.
    runner_id: str = ""
    runner_group_id: str = ""
    profile_id: str = ""
    profile_name: str = ""
    requests: dict[str, str] = field(default_factory=dict)  # cpu, memory, gpu_count, gpu_type
    limits: dict[str, str] = field(default_factory=dict)
    reserved: list[int] = field(default_factory=list)  # cpu millicores, memory bytes, gpus
    runtime: str = ""  # how the image was provided, said in the details
    # kept and echoed by the v1 API (Kubernetes pod annotations upstream; nothing reads them)
    annotations: dict[str, str] = field(default_factory=dict)
    display_name: str = ""
    enforced: list[int] = field(default_factory=list)  # quotas.Applied, as a list


@dataclass
class SandboxRow:
    id: str
    status: SandboxState
    spec: StoredSpec
    created_at: float
    status_reason: str = ""
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    stop_snapshot_id: str = ""
    seq: int = 0


@dataclass
class SnapshotRow:
    id: str
    status: SnapshotState
    created_at: float
    updated_at: float
    source_sandbox_id: str = ""
    trigger: SnapshotCause = SnapshotCause.NONE
    idempotency_key: str = ""
    object_bucket: str = ""
    archive: str = ""
    status_reason: str = ""
    size_bytes: int = 0
    completed_at: float | None = None
    seq: int = 0


_SNAPSHOT_COLUMNS = [f.name for f in fields(SnapshotRow)]


class Store:
    def __init__(self, path: Path) -> None:
        self._snapshot_listeners: list[Callable[[str], None]] = []
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._transaction():
            if self._db.execute("PRAGMA user_version").fetchone()[0] < VERSION:
                _migrate(self._db)
                self._db.execute(f"PRAGMA user_version = {VERSION}")

    def close(self) -> None:
        self._db.close()

    def on_snapshot_change(self, listener: Callable[[str], None]) -> None:
        """Call `listener(id)` whenever a snapshot record is changed or deleted (before the
        change is visible, in the same turn of the loop)."""
        self._snapshot_listeners.append(listener)

    def _snapshot_changed(self, snapshot_id: str) -> None:
        for listener in self._snapshot_listeners:
            listener(snapshot_id)

    # settings
    def get_setting(self, key: str, default: str = "") -> str:
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else default

    def set_settings(self, values: dict[str, str]) -> None:
        with self._transaction():
            self._db.executemany(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                list(values.items()),
            )

    # sandboxes
    def insert_sandbox(self, row: SandboxRow) -> SandboxRow:
        cursor = self._db.execute(
            "INSERT INTO sandboxes (id, status, status_reason, spec, created_at, started_at,"
            " ended_at, exit_code, stop_snapshot_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (row.id, row.status, row.status_reason, json.dumps(asdict(row.spec)), row.created_at,
             row.started_at, row.ended_at, row.exit_code, row.stop_snapshot_id),
        )
        row.seq = int(cursor.lastrowid or 0)
        return row

    def update_sandbox(self, sandbox_id: str, **changes: Any) -> None:
        assignments = ", ".join(f"{name} = ?" for name in changes)
        self._db.execute(
            f"UPDATE sandboxes SET {assignments} WHERE id = ?", (*changes.values(), sandbox_id)
        )

    def get_sandbox(self, sandbox_id: str) -> SandboxRow | None:
        row = self._db.execute("SELECT * FROM sandboxes WHERE id = ?", (sandbox_id,)).fetchone()
        return _sandbox(row) if row else None

    def sandboxes_after(self, seq: int) -> Iterable[SandboxRow]:
        for row in self._db.execute("SELECT * FROM sandboxes WHERE seq > ? ORDER BY seq", (seq,)):
            yield _sandbox(row)

    def sandboxes_with_status(self, statuses: Sequence[SandboxState]) -> list[SandboxRow]:
        marks = ",".join("?" * len(statuses))
        query = f"SELECT * FROM sandboxes WHERE status IN ({marks}) ORDER BY seq"
        return [_sandbox(r) for r in self._db.execute(query, tuple(statuses))]

    def delete_sandbox(self, sandbox_id: str) -> bool:
        return self._db.execute("DELETE FROM sandboxes WHERE id = ?", (sandbox_id,)).rowcount > 0

    # snapshots
    def insert_snapshot(self, row: SnapshotRow) -> SnapshotRow:
        self._snapshot_changed(row.id)
        values = asdict(row)
        values.pop("seq")
        names = ", ".join(values)
        marks = ", ".join("?" * len(values))
        cursor = self._db.execute(
            f"INSERT INTO snapshots ({names}) VALUES ({marks})", tuple(values.values())
        )
        row.seq = int(cursor.lastrowid or 0)
        return row

    def insert_snapshots(self, rows: Sequence[SnapshotRow]) -> None:
        """Bulk insert in one transaction (seeding)."""
        if self._snapshot_listeners:
            for row in rows:
                self._snapshot_changed(row.id)
        names = [n for n in _SNAPSHOT_COLUMNS if n != "seq"]
        query = (f"INSERT INTO snapshots ({', '.join(names)}) "
                 f"VALUES ({', '.join('?' * len(names))})")
        with self._transaction():
            self._db.executemany(query, [tuple(getattr(r, n) for n in names) for r in rows])

    def update_snapshot(self, snapshot_id: str, **changes: Any) -> None:
        self._snapshot_changed(snapshot_id)
        assignments = ", ".join(f"{name} = ?" for name in changes)
        self._db.execute(
            f"UPDATE snapshots SET {assignments} WHERE id = ?", (*changes.values(), snapshot_id)
        )

    def get_snapshot(self, snapshot_id: str) -> SnapshotRow | None:
        row = self._db.execute("SELECT * FROM snapshots WHERE id = ?", (snapshot_id,)).fetchone()
        return _snapshot(row) if row else None

    def find_snapshot_by_key(self, sandbox_id: str, key: str) -> SnapshotRow | None:
        row = self._db.execute(
            "SELECT * FROM snapshots WHERE source_sandbox_id = ? AND idempotency_key = ?",
            (sandbox_id, key),
        ).fetchone()
        return _snapshot(row) if row else None

    def snapshots_page(self, after_seq: int, limit: int) -> list[SnapshotRow]:
        rows = self._db.execute(
            "SELECT * FROM snapshots WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit)
        )
        return [_snapshot(r) for r in rows]

    LISTING_COLUMNS = ("seq, id, status, status_reason, size_bytes, created_at, updated_at, "
                       "completed_at, source_sandbox_id, trigger, idempotency_key, object_bucket")

    def snapshot_listing(self, after_seq: int, limit: int) -> list[tuple[Any, ...]]:
        """A page for listing as plain tuples in LISTING_COLUMNS order (no row objects:
        this is the hot path of a listing of many thousands)."""
        cursor = self._db.cursor()
        cursor.row_factory = None
        return cursor.execute(
            f"SELECT {self.LISTING_COLUMNS} FROM snapshots WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit)).fetchall()

    def snapshot_keys(self, after_seq: int, limit: int) -> list[tuple[int, str]]:
        """(seq, id) of the next `limit` records after `after_seq`, in order: a listing page's
        members, read from the primary key alone."""
        cursor = self._db.cursor()
        cursor.row_factory = None
        return cursor.execute("SELECT seq, id FROM snapshots WHERE seq > ? ORDER BY seq LIMIT ?",
                              (after_seq, limit)).fetchall()

    def snapshot_listing_range(self, first_seq: int, last_seq: int) -> list[tuple[Any, ...]]:
        """The records from `first_seq` to `last_seq` (both included) in LISTING_COLUMNS."""
        cursor = self._db.cursor()
        cursor.row_factory = None
        return cursor.execute(
            f"SELECT {self.LISTING_COLUMNS} FROM snapshots WHERE seq >= ? AND seq <= ? "
            "ORDER BY seq", (first_seq, last_seq)).fetchall()

    def snapshots_with_status(self, status: SnapshotState) -> list[SnapshotRow]:
        rows = self._db.execute("SELECT * FROM snapshots WHERE status = ?", (status,))
        return [_snapshot(r) for r in rows]

    def archive_used(self, archive: str) -> bool:
        """Whether any record still names this archive (stops at the first, unlike a count:
        seeded records share one archive, and each of their deletes asked)."""
        row = self._db.execute("SELECT 1 FROM snapshots WHERE archive = ? LIMIT 1", (archive,))
        return row.fetchone() is not None

    def all_archives(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT DISTINCT archive FROM snapshots")}

    def delete_snapshot(self, snapshot_id: str) -> bool:
        self._snapshot_changed(snapshot_id)
        return self._db.execute("DELETE FROM snapshots WHERE id = ?", (snapshot_id,)).rowcount > 0

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN")

    def __exit__(self, kind: object, *_: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")


def _sandbox(row: sqlite3.Row) -> SandboxRow:
    data = dict(row)
    data["spec"] = StoredSpec(**json.loads(data["spec"]))
    data["status"] = SandboxState(data["status"])
    return SandboxRow(**data)


def _snapshot(row: sqlite3.Row) -> SnapshotRow:
    data = dict(row)
    data["status"] = SnapshotState(data["status"])
    data["trigger"] = SnapshotCause(data["trigger"])
    return SnapshotRow(**data)


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a store of an earlier version to VERSION, in the caller's transaction.

    SQLite cannot change a column's type, so a table of numbers is rebuilt: renamed aside,
    created anew, copied over with each number spelled as its word, and dropped. Every `seq`
    is kept (listing page tokens carry them), and so is the next one AUTOINCREMENT gives.
    """
    tables = {name for (name,) in
              db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    old = [name for name in ("sandboxes", "snapshots") if name in tables]
    for name in old:
        db.execute(f"ALTER TABLE {name} RENAME TO {name}_v0")
    for index in ("snapshots_idempotency", "snapshots_archive"):
        db.execute(f"DROP INDEX IF EXISTS {index}")
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)
    if "sandboxes" in old:
        _copy(db, "sandboxes", {"status": _V0_SANDBOX})
    if "snapshots" in old:
        _copy(db, "snapshots", {"status": _V0_SNAPSHOT, "trigger": _V0_TRIGGER})


def _copy(db: sqlite3.Connection, table: str,
          words: Mapping[str, Mapping[int, StrEnum]]) -> None:
    columns = [row[1] for row in db.execute(f"PRAGMA table_info({table}_v0)")]
    chosen = []
    for column in columns:
        if column in words:
            cases = " ".join(f"WHEN {number} THEN '{word.value}'"
                             for number, word in words[column].items())
            chosen.append(f"CASE {column} {cases} ELSE CAST({column} AS TEXT) END")
        else:
            chosen.append(column)
    db.execute(f"INSERT INTO {table} ({', '.join(columns)}) "
               f"SELECT {', '.join(chosen)} FROM {table}_v0 ORDER BY seq")
    last = db.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (f"{table}_v0",)).fetchone()
    if last is not None:
        db.execute("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
        db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, last[0]))
    db.execute(f"DROP TABLE {table}_v0")
