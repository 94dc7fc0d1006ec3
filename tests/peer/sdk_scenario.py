"""Drive our backend with the UNMODIFIED official SDK (cwsandbox 0.26.0).

This file runs inside the separate SDK virtualenv, never in the project's venv: the SDK pins
protobuf<7 and its generated descriptors clash with ours. It only uses the SDK's public API,
the way its `examples/file_system_snapshots.py` does, and reads its endpoint (and optional API
key) from the environment: CWSANDBOX_BASE_URL, CWSANDBOX_API_KEY.

It prints exactly one JSON object on stdout:

    {"sdk_version": ..., "steps": {name: value, ...}, "completed": [...],
     "failed_step": null | name, "error": null | {"type", "message", "traceback"}}

Every step records what it observed; the pytest side asserts on the values. A failing step
stops the scenario (later steps depend on earlier ones), the rest is cleaned up best-effort.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from contextlib import suppress
from typing import Any

import cwsandbox
from cwsandbox import (
    CWSandboxAuthenticationError,
    CWSandboxError,
    FileSystemSnapshotOptions,
    Sandbox,
    SandboxNotFoundError,
    SnapshotNotFoundError,
)

MOUNT_PATH = "/workspace"
TAG = "sdk-peer-test"

steps: dict[str, Any] = {}
completed: list[str] = []
started: list[Sandbox] = []


def run(*, tags: list[str] | None = None, **kwargs: Any) -> Sandbox:
    sandbox = Sandbox.run(tags=[TAG, *(tags or [])], **kwargs)
    started.append(sandbox)
    return sandbox


def record(name: str, value: Any) -> None:
    steps[name] = value
    completed.append(name)


def error_info(exc: BaseException) -> dict[str, Any]:
    return {"type": type(exc).__name__, "message": str(exc),
            "mro": [k.__name__ for k in type(exc).__mro__]}


def snapshot_record(snap: Any) -> dict[str, Any]:
    return {
        "id": snap.file_system_snapshot_id,
        "status": str(snap.status),
        "status_reason": snap.status_reason,
        "size_bytes": snap.size_bytes,
        "source_sandbox_id": snap.source_sandbox_id,
        "trigger": str(snap.trigger),
        "idempotency_key_set": bool(snap.idempotency_key),
        "object_bucket": snap.object_bucket,
        "created_at": snap.created_at.isoformat() if snap.created_at else None,
        "completed_at": snap.completed_at.isoformat() if snap.completed_at else None,
    }


def bucket_record(cfg: Any) -> dict[str, Any]:
    return {"mode": str(cfg.mode), "bucket_name": cfg.bucket_name, "region": cfg.region,
            "effective_bucket_name": cfg.effective_bucket_name}


def scenario() -> None:
    # -- auth (only when the backend was started with a key): a wrong key and no key at all
    #    are both refused with the SDK's typed authentication error
    good = os.environ.get("CWSANDBOX_API_KEY")
    if good:
        try:
            for name, key in (("auth_wrong_key", "wrong-" + "x" * 8), ("auth_no_key", None)):
                if key is None:
                    del os.environ["CWSANDBOX_API_KEY"]
                else:
                    os.environ["CWSANDBOX_API_KEY"] = key
                try:
                    Sandbox.list_snapshots().result()
                    record(name, {"raised": None})
                except CWSandboxError as exc:
                    record(name, {"raised": type(exc).__name__,
                                  "is_auth_error": isinstance(exc, CWSandboxAuthenticationError)})
        finally:
            os.environ["CWSANDBOX_API_KEY"] = good
        # a provider's own auth mode (set_auth_mode): its callback's headers, not the env's
        try:
            del os.environ["CWSANDBOX_API_KEY"]
            for name, key in (("auth_mode_wrong", "wrong-" + "y" * 8), ("auth_mode_good", good)):
                cwsandbox.set_auth_mode("peer-provider", lambda k=key: cwsandbox.AuthHeaders(
                    headers={"Authorization": f"Bearer {k}"}, strategy="peer-provider"))
                try:
                    record(name, {"listed": type(Sandbox.list_snapshots().result()).__name__})
                except CWSandboxError as exc:
                    record(name, {"raised": type(exc).__name__,
                                  "is_auth_error": isinstance(exc, CWSandboxAuthenticationError)})
        finally:
            os.environ["CWSANDBOX_API_KEY"] = good

    # 1. start with a snapshot-capable mount and seed data (the SDK example, step 1)
    source = run(file_system_snapshot=FileSystemSnapshotOptions(mount_path=MOUNT_PATH, size="1Gi"))
    record("source_started", {"sandbox_id": source.sandbox_id})
    source.wait()
    record("source_running", {"status": str(source.status)})

    seeded = source.exec(["sh", "-c", f"echo hello > {MOUNT_PATH}/data.txt"]).result()
    record("seed_exec", {"returncode": seeded.returncode, "stderr": seeded.stderr})

    # 2. mid-life snapshot (waits for READY server-side); returns only the id
    manual_id = source.snapshot().result()
    record("snapshot", {"id": manual_id})
    still = source.exec(["cat", f"{MOUNT_PATH}/data.txt"]).result()
    record("source_alive_after_snapshot", {"returncode": still.returncode, "stdout": still.stdout})

    # 3. fork: restore into a brand-new sandbox
    restored = run(file_system_snapshot=FileSystemSnapshotOptions(
        mount_path=MOUNT_PATH, file_system_snapshot_id=manual_id))
    contents = restored.exec(["cat", f"{MOUNT_PATH}/data.txt"]).result()
    record("restore_cat", {"sandbox_id": restored.sandbox_id, "returncode": contents.returncode,
                           "stdout": contents.stdout, "stderr": contents.stderr})

    # 4. snapshot on stop (the SDK example, step 4)
    on_stop = run(file_system_snapshot=FileSystemSnapshotOptions(mount_path=MOUNT_PATH))
    farewell = on_stop.exec(["sh", "-c", f"echo bye > {MOUNT_PATH}/farewell.txt"]).result()
    record("on_stop_seed", {"returncode": farewell.returncode})
    on_stop.stop(snapshot_on_stop=True).result()
    record("stop_with_snapshot", {"sandbox_id": on_stop.sandbox_id,
                                  "file_system_snapshot_id": on_stop.file_system_snapshot_id,
                                  "status": str(on_stop.status)})
    stop_id = on_stop.file_system_snapshot_id

    # 5. manage snapshots: list, get, delete
    listed = Sandbox.list_snapshots().result()
    record("list_snapshots", {"ids": [s.file_system_snapshot_id for s in listed]})
    by_source = Sandbox.list_snapshots(source_sandbox_id=source.sandbox_id).result()
    record("list_snapshots_by_source", {"ids": [s.file_system_snapshot_id for s in by_source]})

    record("get_manual", snapshot_record(Sandbox.get_snapshot(manual_id).result()))
    record("get_on_stop", snapshot_record(Sandbox.get_snapshot(stop_id).result()))

    Sandbox.delete_snapshot(manual_id, missing_ok=True).result()
    Sandbox.delete_snapshot(manual_id, missing_ok=True).result()  # already gone: a no-op
    record("delete_snapshot_twice", True)
    try:
        Sandbox.get_snapshot(manual_id).result()
        record("get_after_delete", {"raised": None})
    except CWSandboxError as exc:
        record("get_after_delete",
               {**error_info(exc), "is_snapshot_not_found": isinstance(exc, SnapshotNotFoundError)})
    try:
        Sandbox.delete_snapshot(manual_id).result()
        record("delete_snapshot_strict_missing", {"raised": None})
    except CWSandboxError as exc:
        record("delete_snapshot_strict_missing",
               {**error_info(exc), "is_snapshot_not_found": isinstance(exc, SnapshotNotFoundError)})
    remaining = Sandbox.list_snapshots().result()
    record("list_after_delete", {"ids": [s.file_system_snapshot_id for s in remaining]})

    # 6. bucket configuration
    record("bucket_initial", bucket_record(Sandbox.get_snapshot_bucket_config().result()))
    record("bucket_byo", bucket_record(Sandbox.set_snapshot_bucket_config(
        bucket_name="my-bucket", region="us-east-1").result()))
    record("bucket_get_byo", bucket_record(Sandbox.get_snapshot_bucket_config().result()))
    record("bucket_revert", bucket_record(Sandbox.set_snapshot_bucket_config(
        bucket_name="").result()))
    try:
        Sandbox.set_snapshot_bucket_config(bucket_name="Bad_Bucket!", region="us-east-1").result()
        record("bucket_bad_name", {"raised": None})
    except CWSandboxError as exc:
        record("bucket_bad_name", error_info(exc))
    record("bucket_after_bad", bucket_record(Sandbox.get_snapshot_bucket_config().result()))

    # 7. sandbox listing, attach, stop, delete
    active = Sandbox.list(tags=[TAG]).result()
    record("list_active", {"ids": sorted(s.sandbox_id for s in active)})
    everything = Sandbox.list(tags=[TAG], include_stopped=True).result()
    record("list_include_stopped", {"ids": sorted(s.sandbox_id for s in everything),
                                    "statuses": {s.sandbox_id: str(s.status) for s in everything}})

    attached = Sandbox.from_id(restored.sandbox_id).result()
    echo = attached.exec(["echo", "attached"]).result()
    record("from_id", {"sandbox_id": attached.sandbox_id, "status": str(attached.status),
                       "exec_stdout": echo.stdout, "exec_returncode": echo.returncode})

    source.stop().result()
    restored.stop().result()
    record("plain_stops", {"source": str(source.status), "restored": str(restored.status),
                           "source_snapshot_id": source.file_system_snapshot_id})
    stopped = Sandbox.from_id(source.sandbox_id).result()
    record("from_id_stopped", {"status": str(stopped.status)})

    Sandbox.delete(source.sandbox_id).result()
    try:
        Sandbox.delete(source.sandbox_id).result()
        record("delete_sandbox_again", {"raised": None})
    except CWSandboxError as exc:
        record("delete_sandbox_again",
               {**error_info(exc), "is_sandbox_not_found": isinstance(exc, SandboxNotFoundError)})
    Sandbox.delete(source.sandbox_id, missing_ok=True).result()
    try:
        Sandbox.from_id(source.sandbox_id).result()
        record("from_id_after_delete", {"raised": None})
    except CWSandboxError as exc:
        record("from_id_after_delete",
               {**error_info(exc), "is_sandbox_not_found": isinstance(exc, SandboxNotFoundError)})
    final = Sandbox.list(tags=[TAG], include_stopped=True).result()
    record("list_after_delete_sandbox", {"ids": sorted(s.sandbox_id for s in final)})

    # the snapshot from the stop survives its sandbox; clean it up
    Sandbox.delete_snapshot(stop_id, missing_ok=True).result()
    record("cleanup", True)


def cleanup() -> None:
    for sandbox in started:
        with suppress(Exception):
            sandbox.stop(missing_ok=True).result(timeout=30)


def main() -> int:
    if os.environ.get("SDK_SCENARIO_DEBUG"):  # the SDK's own debug logging, on stderr
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    result: dict[str, Any] = {"sdk_version": cwsandbox.__version__, "steps": steps,
                              "completed": completed, "failed_step": None, "error": None}
    try:
        scenario()
    except BaseException as exc:  # report, don't crash: the test prints it
        result["failed_step"] = f"after {completed[-1]}" if completed else "first step"
        result["error"] = {**error_info(exc), "traceback": traceback.format_exc()}
        cleanup()
    sys.stdout.write(json.dumps(result, default=str) + "\n")
    sys.stdout.flush()
    return 0 if result["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
