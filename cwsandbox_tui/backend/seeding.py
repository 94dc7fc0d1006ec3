"""`serve --seed-snapshots N --seed-sandboxes M`: many real records, fast, for benchmarks.

The records list, page and delete like any other. Sandboxes are stopped ones (no process);
snapshots are READY and share one small real archive, which is removed with its last record.
"""

from __future__ import annotations

import random
import tempfile
import time
import uuid
from pathlib import Path

from . import states
from .archives import create_archive
from .engine import Engine
from .store import SandboxRow, SnapshotRow, StoredSpec

DAY = 86400.0


def seed_bulk(engine: Engine, *, snapshots: int, sandboxes: int, seed: int = 1,
              now: float | None = None) -> None:
    now = now or time.time()
    rng = random.Random(seed)
    bucket = engine.bucket().effective
    source_ids = []
    for _ in range(max(sandboxes, 1 if snapshots else 0)):
        created = now - rng.uniform(0, 60) * DAY
        row = SandboxRow(
            id=f"sb-{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}", status=states.COMPLETED,
            created_at=created, started_at=created + 2, ended_at=created + 3600,
            status_reason="stopped by request", exit_code=0,
            spec=StoredSpec(command="/bin/sh", args=["-c", "true"], container_image="python:3.11",
                             tags=["seeded"], mount_path="/workspace", mount_size="10Gi"))
        engine.store.insert_sandbox(row)
        source_ids.append(row.id)
    if not snapshots:
        return
    archive = f"{bucket}/seeded-{uuid.uuid4().hex[:8]}.tar"
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "seeded.txt").write_text("a seeded snapshot\n")
        size = create_archive(Path(tmp), engine.buckets_dir / archive, limit_bytes=2**20)
    rows = []
    for n in range(snapshots):
        created = now - rng.uniform(0, 60) * DAY
        failed = rng.random() < 0.05
        rows.append(SnapshotRow(
            id=f"fss-{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}",
            status=states.FSS_FAILED if failed else states.FSS_READY,
            created_at=created, updated_at=created + 30,
            completed_at=None if failed else created + 30,
            source_sandbox_id=source_ids[n % len(source_ids)],
            trigger=states.TRIGGER_STOP if rng.random() < 0.3 else states.TRIGGER_MANUAL,
            idempotency_key=f"seed-{seed}-{n}", object_bucket=bucket, archive=archive,
            status_reason="seeded as failed" if failed else "",
            size_bytes=0 if failed else size))
    engine.store.insert_snapshots(rows)
