"""`serve --demo`: fill the backend with a realistic, real set of sandboxes and snapshots.

Everything is made through the engine as a user's calls would make it (real processes, real
archives); afterwards the history is spread over the past weeks by moving creation times back,
and older snapshots are recorded as copies that share the real archives (deleting one never
breaks another: an archive is removed with its last record).
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from dataclasses import replace

from .engine import Engine
from .store import StoredSpec

log = logging.getLogger("cwsandbox_tui.backend")

DEMO_TAG = "demo"
DAY = 86400.0
TRAINER = ('i=0; mkdir -p /workspace/checkpoints; while true; do i=$((i+1)); '
           'echo "step $i: loss 0.$(( (i * 7919) % 900 + 100 ))"; '
           'echo "$i" > /workspace/checkpoints/latest; sleep 2; done')
KEEP_ALIVE = 'trap "exit 0" TERM INT; sleep infinity & wait'


async def _started(engine: Engine, spec: StoredSpec) -> str:
    row = engine.start(spec)
    await engine.runtime.live[row.id].booted.wait()
    return row.id


async def seed_demo(engine: Engine, *, now: float | None = None, seed: int = 7) -> None:
    """Idempotent: each live demo sandbox carries a marker tag and is started only while no
    record (in any state) carries it; the history is made once. A second `--demo`, against
    a backend that lingers or one started again, adds nothing."""
    now = now or time.time()
    rng = random.Random(seed)
    seeded = {tag for row in engine.store.sandboxes_after(0) if DEMO_TAG in row.spec.tags
              for tag in row.spec.tags if tag.startswith(MARKER)}
    await _live_sandboxes(engine, seeded)
    if engine.store.get_setting("demo_seeded") != "1":
        await _history(engine, now, rng)
        engine.store.set_settings({"demo_seeded": "1"})
    log.info("demo records are in place")


MARKER = "demo-"  # + the role: the tag that says this demo sandbox exists


async def _live_sandboxes(engine: Engine, seeded: set[str]) -> None:
    if MARKER + "trainer" not in seeded:
        trainer = await _started(engine, StoredSpec(
            command="/bin/sh", args=["-c", TRAINER], container_image="ghcr.io/acme/trainer:2.4",
            tags=[DEMO_TAG, MARKER + "trainer", "team-ml", "llama-ft"], mount_path="/workspace",
            mount_size="10Gi"))
        await engine.add_file(trainer, "/workspace/config.yaml",
                              b"model: llama-3-8b\nlr: 2.0e-5\nbatch_size: 32\nepochs: 3\n")
    if MARKER + "eval" not in seeded:
        evaluator = await _started(engine, StoredSpec(
            command="/bin/sh", args=["-c", KEEP_ALIVE], container_image="python:3.11",
            tags=[DEMO_TAG, MARKER + "eval", "eval"], mount_path="/data", mount_size="5Gi"))
        await engine.add_file(evaluator, "/data/results.jsonl",
                              b'{"task": "mmlu", "score": 0.671}\n'
                              b'{"task": "gsm8k", "score": 0.58}\n')
        await engine.add_file(evaluator, "/data/dataset.bin",
                              random.Random(1).randbytes(24 * 2**20))
        # A snapshot that is still being written when the dashboard first shows it.
        await engine.create_snapshot(evaluator, key=f"demo-{uuid.uuid4().hex[:8]}",
                                     wait_for_ready=False, max_timeout=0)
    if MARKER + "notebook" not in seeded:
        notebook = await _started(engine, StoredSpec(
            command="/bin/sh", args=["-c", KEEP_ALIVE],
            container_image="jupyter/base-notebook:2026.10",
            tags=[DEMO_TAG, MARKER + "notebook", "notebook"], mount_path="/home/jovyan/work",
            mount_size="2Gi"))
        await engine.pause(notebook)


async def _history(engine: Engine, now: float, rng: random.Random) -> None:
    prep = await _started(engine, StoredSpec(
        command="/bin/sh", args=["-c", KEEP_ALIVE], container_image="ghcr.io/acme/dataprep:1.9",
        tags=[DEMO_TAG, "etl"], mount_path="/workspace", mount_size="10Gi"))
    await engine.add_file(prep, "/workspace/shards/part-0000.parquet", rng.randbytes(300_000))
    await engine.add_file(prep, "/workspace/shards/part-0001.parquet", rng.randbytes(280_000))
    manual = await engine.create_snapshot(prep, key="demo-prep-1", wait_for_ready=True,
                                          max_timeout=60)
    await engine.stop(prep, grace=5, snapshot=True, wait_for_ready=True, max_timeout=60,
                      idempotency_key="demo-prep-stop")

    tiny = await _started(engine, StoredSpec(
        command="/bin/sh", args=["-c", KEEP_ALIVE], container_image="python:3.11",
        tags=[DEMO_TAG, "scratch"], mount_path="/workspace", mount_size="8Ki"))
    await engine.add_file(tiny, "/workspace/too-big.bin", rng.randbytes(64 * 1024))
    failed = await engine.create_snapshot(tiny, key="demo-tiny", wait_for_ready=True,
                                          max_timeout=60)
    await engine.stop(tiny, grace=1, snapshot=False, wait_for_ready=False, max_timeout=0,
                      idempotency_key="")

    crash = engine.start(StoredSpec(
        command="/bin/sh",
        args=["-c", "echo loading shards; echo 'CUDA out of memory' >&2; exit 3"],
        container_image="ghcr.io/acme/trainer:2.3", tags=[DEMO_TAG, "team-ml"]))
    await engine.runtime.live[crash.id].exited.wait()

    # Spread the real records over the past weeks, then add older copies of them.
    ready = engine.get_snapshot(manual.id)
    stop_snap = engine.get_snapshot(engine.get(prep).stop_snapshot_id)
    failed_snap = engine.get_snapshot(failed.id)
    for snap, days_ago in ((ready, 9.0), (stop_snap, 8.5), (failed_snap, 2.0)):
        _move_back(engine, snap.id, now - days_ago * DAY)
    for sandbox_id, days_ago in ((prep, 9.2), (tiny, 2.1), (crash.id, 1.5)):
        row = engine.get(sandbox_id)  # the live record: moving it moves what Get answers
        shift = now - days_ago * DAY - row.created_at
        row.created_at += shift
        row.started_at = (row.started_at or row.created_at) + shift
        row.ended_at = (row.ended_at or row.created_at) + shift
        engine.store.update_sandbox(sandbox_id, created_at=row.created_at,
                                    started_at=row.started_at, ended_at=row.ended_at)
    copies = []
    for n in range(44):
        template = failed_snap if n % 9 == 4 else (stop_snap if n % 3 == 0 else ready)
        created = now - rng.uniform(0.5, 40.0) * DAY
        copies.append(replace(
            template, id=f"fss-{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}",
            created_at=created, updated_at=created + 30,
            completed_at=None if template.completed_at is None else created + rng.uniform(5, 90),
            idempotency_key=f"history-{n}", seq=0))
    engine.store.insert_snapshots(copies)


def _move_back(engine: Engine, snapshot_id: str, created: float) -> None:
    snap = engine.get_snapshot(snapshot_id)
    took = (snap.completed_at or snap.created_at) - snap.created_at
    engine.store.update_snapshot(snapshot_id, created_at=created, updated_at=created + took,
                                 completed_at=None if snap.completed_at is None else created + took)
