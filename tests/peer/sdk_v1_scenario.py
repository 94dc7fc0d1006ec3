"""Drive our backend's v1 API with the UNMODIFIED official SDK 1.22.0.

Runs inside the separate SDK 1.22.0 virtualenv (the SDK pins protobuf<7), using only the
SDK's public API; endpoint (and optional key) from CWSANDBOX_BASE_URL / CWSANDBOX_API_KEY.
Prints exactly one JSON object on stdout, like `sdk_scenario.py`:

    {"sdk_version": ..., "steps": {name: value, ...}, "completed": [...],
     "failed_step": null | name, "error": null | {"type", "message", "traceback"}}
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
import traceback
import urllib.request
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import cwsandbox
from cwsandbox import (
    Container,
    CWSandboxError,
    EgressRule,
    Endpoint,
    FileSystemSnapshotOptions,
    NetworkOptions,
    PvcVolumeSource,
    Sandbox,
    SandboxDefaults,
    SandboxExecutionError,
    SandboxFailedError,
    SandboxNotFoundError,
    SandboxTimeoutError,
    SandboxValidationError,
    Secret,
    Service,
    SnapshotNotFoundError,
    Volume,
)

MOUNT = "/workspace"
TAG = "sdk-v1-peer-test"

steps: dict[str, Any] = {}
completed: list[str] = []
started: list[Sandbox] = []


def run(*args: str, tags: list[str] | None = None, **kwargs: Any) -> Sandbox:
    sandbox = Sandbox.run(*args, tags=[TAG, *(tags or [])], **kwargs)
    started.append(sandbox)
    return sandbox


def record(name: str, value: Any) -> None:
    steps[name] = value
    completed.append(name)


def error_info(exc: BaseException) -> dict[str, Any]:
    return {"type": type(exc).__name__, "message": str(exc),
            "mro": [k.__name__ for k in type(exc).__mro__]}


def raised(name: str, call: Any, *kinds: type) -> None:
    try:
        call()
        record(name, {"raised": None})
    except CWSandboxError as exc:
        record(name, {**error_info(exc), "expected": isinstance(exc, kinds)})


def refused_with_reason(name: str, **kwargs: Any) -> None:
    """A create the service itself does not implement: the reason the SDK branches on."""
    try:
        Sandbox.run(tags=[TAG, "refused"], **kwargs).wait()
        record(name, {"raised": None})
    except CWSandboxError as exc:
        record(name, {**error_info(exc), "reason": getattr(exc, "reason", None), "fields": [
            v.field for v in getattr(exc, "field_violations", ())]})


def fetched(url: str) -> str:
    """The page at `url` once something serves it (RUNNING is the server's start, not yet
    its listen())."""
    for _attempt in range(100):
        with suppress(OSError):
            with urllib.request.urlopen(url, timeout=5) as reply:
                return str(reply.read().decode())
        time.sleep(0.1)
    return ""


def refused(name: str, **kwargs: Any) -> None:
    """A create the backend must refuse naming the field: the SDK's SandboxValidationError."""
    try:
        Sandbox.run("sleep", "600", tags=[TAG, "refused"], **kwargs).wait()
        record(name, {"raised": None})
    except CWSandboxError as exc:
        record(name, {**error_info(exc), "fields": [
            v.field for v in getattr(exc, "field_violations", ())],
            "expected": isinstance(exc, SandboxValidationError)})


def snapshot_record(snap: Any) -> dict[str, Any]:
    return {"id": snap.file_system_snapshot_id, "status": str(snap.status),
            "status_reason": snap.status_reason, "size_bytes": snap.size_bytes,
            "source_sandbox_id": snap.source_sandbox_id, "trigger": str(snap.trigger),
            "created_at": snap.created_at.isoformat() if snap.created_at else None,
            "completed_at": snap.completed_at.isoformat() if snap.completed_at else None}


def bucket_record(cfg: Any) -> dict[str, Any]:
    return {"mode": str(cfg.mode), "bucket_name": cfg.bucket_name, "region": cfg.region,
            "effective_bucket_name": cfg.effective_bucket_name}


def scenario() -> None:
    # 1. start with a snapshot volume, exec, files, logs
    source = run(file_system_snapshot=FileSystemSnapshotOptions(mount_path=MOUNT, size="1Gi"))
    source.wait()
    record("source", {"sandbox_id": source.sandbox_id, "status": str(source.status)})
    seeded = source.exec(["sh", "-c", f"echo hello > {MOUNT}/data.txt"]).result()
    failing = source.exec(["sh", "-c", "echo oops >&2; exit 3"]).result()
    in_dir = source.exec(["pwd"], cwd="/tmp").result()
    record("exec", {"seed": seeded.returncode, "failing": failing.returncode,
                    "failing_stderr": failing.stderr, "pwd": in_dir.stdout})
    source.write_file(f"{MOUNT}/written.bin", b"\x00\x01binary").result()
    record("files", {"read": list(source.read_file(f"{MOUNT}/written.bin").result()),
                     "cat": source.exec(["cat", f"{MOUNT}/data.txt"]).result().stdout})

    talker = run("sh", "-c", "echo line-one; echo line-two; exec sleep 600")
    talker.wait()
    lines: list[str] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the lines reach the log shortly after RUNNING
        lines = list(talker.stream_logs(timeout_seconds=10))
        if len(lines) >= 2:
            break
        time.sleep(0.05)  # poll interval of a bounded wait
    record("logs", {"lines": [line.rstrip("\n") for line in lines],
                    "tail": [line.rstrip("\n") for line in talker.stream_logs(tail_lines=1)]})

    # 2. snapshots with and without waiting; an idempotent request id
    manual_id = source.snapshot().result()
    first = source.snapshot(wait_for_ready=False, request_id="peer-key-1").result()
    again = source.snapshot(wait_for_ready=False, request_id="peer-key-1").result()
    manual = Sandbox.get_snapshot(manual_id).result()
    record("snapshots", {"manual": manual_id, "no_wait": first, "no_wait_again": again,
                         "manual_record": snapshot_record(manual)})

    # 3. restore into a new sandbox
    restored = run(file_system_snapshot=FileSystemSnapshotOptions(
        mount_path=MOUNT, file_system_snapshot_id=manual_id))
    record("restore", {"sandbox_id": restored.sandbox_id,
                       "cat": restored.exec(["cat", f"{MOUNT}/data.txt"]).result().stdout})

    # 4. bucket config get / update / revert, and a bad name
    record("bucket_initial", bucket_record(Sandbox.get_snapshot_bucket_config().result()))
    record("bucket_byo", bucket_record(Sandbox.set_snapshot_bucket_config(
        bucket_name="my-bucket", region="us-east-1").result()))
    record("bucket_get_byo", bucket_record(Sandbox.get_snapshot_bucket_config().result()))
    record("bucket_revert", bucket_record(Sandbox.set_snapshot_bucket_config(
        bucket_name="").result()))
    raised("bucket_bad", lambda: Sandbox.set_snapshot_bucket_config(
        bucket_name="Bad_Bucket!", region="us-east-1").result(), CWSandboxError)

    # 5. stop with snapshot
    on_stop = run(file_system_snapshot=FileSystemSnapshotOptions(mount_path=MOUNT))
    on_stop.exec(["sh", "-c", f"echo bye > {MOUNT}/farewell.txt"]).result()
    on_stop.stop(snapshot_on_stop=True).result()
    record("stop_with_snapshot", {
        "sandbox_id": on_stop.sandbox_id, "snapshot_id": on_stop.file_system_snapshot_id,
        "status": str(on_stop.status), "returncode": on_stop.returncode,
        "record": snapshot_record(Sandbox.get_snapshot(on_stop.file_system_snapshot_id).result())})

    listed = Sandbox.list_snapshots().result()
    by_source = Sandbox.list_snapshots(source_sandbox_id=source.sandbox_id).result()
    record("list_snapshots", {"ids": sorted(s.file_system_snapshot_id for s in listed),
                              "by_source": sorted(s.file_system_snapshot_id for s in by_source)})

    # 6. list, attach, plain stop, delete
    active = Sandbox.list(tags=[TAG]).result()
    everything = Sandbox.list(tags=[TAG], show_terminated=True).result()
    record("list", {"active": sorted(s.sandbox_id for s in active),
                    "all": sorted(s.sandbox_id for s in everything),
                    "statuses": {s.sandbox_id: str(s.status) for s in everything}})
    attached = Sandbox.from_id(restored.sandbox_id).result()
    record("from_id", {"status": str(attached.status),
                       "echo": attached.exec(["echo", "attached"]).result().stdout})
    source.stop().result()
    record("plain_stop", {"status": str(source.status), "returncode": source.returncode,
                          "snapshot_id": source.file_system_snapshot_id,
                          "from_id": str(Sandbox.from_id(source.sandbox_id).result().status)})
    Sandbox.delete(source.sandbox_id).result()
    raised("delete_again", lambda: Sandbox.delete(source.sandbox_id).result(),
           SandboxNotFoundError)
    Sandbox.delete(source.sandbox_id, missing_ok=True).result()
    raised("from_id_after_delete", lambda: Sandbox.from_id(source.sandbox_id).result(),
           SandboxNotFoundError)

    Sandbox.delete_snapshot(manual_id).result()
    Sandbox.delete_snapshot(manual_id, missing_ok=True).result()
    raised("get_deleted_snapshot", lambda: Sandbox.get_snapshot(manual_id).result(),
           SnapshotNotFoundError)
    raised("delete_deleted_snapshot", lambda: Sandbox.delete_snapshot(manual_id).result(),
           SnapshotNotFoundError)

    # 7. volumes
    pvc = PvcVolumeSource(runner_id="local-runner", namespace="default", claim_name="data")
    volume = Volume.create("peer-volume", pvc=pvc, description="from the SDK").result()
    created_state = str(volume.state)
    volume.wait_until_ready(timeout=30)
    volume.update(description="changed").result()
    fetched = Volume.get("peer-volume").result()
    record("volumes", {"created_state": created_state, "state": str(fetched.state),
                       "description": fetched.description,
                       "listed": [v.volume_id for v in Volume.list().result()]})
    fetched.delete().result()
    record("volume_deleted", {"listed": [v.volume_id for v in Volume.list().result()]})

    # 8. discovery
    runners = cwsandbox.list_runners(include_resources=True)
    one = cwsandbox.get_runner(runners[0].runner_id, organization_id=runners[0].organization_id)
    record("runners", {
        "listed": [{"runner_id": r.runner_id, "healthy": r.healthy,
                    "max_cpu_millicores": r.max_cpu_millicores,
                    "running": r.resources.running_sandboxes if r.resources else None}
                   for r in runners],
        "get": {"runner_id": one.runner_id, "organization_id": one.organization_id,
                "architectures": list(one.supported_architectures)}})
    raised("runner_missing", lambda: cwsandbox.get_runner(
        "gpu-runner", organization_id=runners[0].organization_id), cwsandbox.RunnerNotFoundError)

    if not os.environ.get("SDK_SCENARIO_CORE_ONLY"):
        rest_of_the_api(restored, talker)

    for sandbox in (talker, restored):
        sandbox.stop().result()
    record("cleanup", True)


def rest_of_the_api(box: Sandbox, talker: Sandbox) -> None:
    """The public calls of SDK 1.22.0 the snapshot flow above does not make (one machine, no
    W&B: templates and compose files are refused by the local backend, see the audit)."""
    # 9. exec: stdin, streamed output, check, timeout, cancel, the module's results / wait
    typed = box.exec(["cat"], stdin=True)
    typed.stdin.writeline("typed line").result()
    typed.stdin.close().result()
    typed_result = typed.result()
    streamed = box.exec(["sh", "-c", "echo a; echo b >&2; echo c"])
    record("exec_more", {
        "stdin": typed_result.stdout, "returncode": typed.returncode, "command": typed.command,
        "poll": typed.poll(), "stdout_lines": list(streamed.stdout),
        "stderr_lines": list(streamed.stderr), "wait": streamed.wait(timeout=30),
        "results": [r.stdout for r in cwsandbox.results([box.exec(["echo", str(n)])
                                                         for n in range(2)])]})
    raised("exec_check", lambda: box.exec(["sh", "-c", "exit 4"], check=True).result(),
           SandboxExecutionError)
    raised("exec_timeout", lambda: box.exec(["sleep", "30"], timeout_seconds=0.5).result(),
           SandboxTimeoutError)
    sleeper = box.exec(["sleep", "600"])
    done, pending = cwsandbox.wait([sleeper], timeout=0.2)
    cancelled = sleeper.cancel()
    try:
        sleeper.result(timeout=10)
        after_cancel = "returned"
    except BaseException as exc:  # a cancelled future raises CancelledError
        after_cancel = type(exc).__name__
    record("exec_cancel", {"done": len(done), "pending": len(pending), "cancelled": cancelled,
                           "after": after_cancel})

    # 10. streamed files, a TTY shell, followed logs with timestamps
    box.write_file_streaming(f"{MOUNT}/streamed.bin", iter([b"ab", b"cd" * 40_000])).result()
    terminal = box.shell(["/bin/sh"], width=100, height=30)
    terminal.stdin.writeline("test -t 0 && echo IS-A-TTY; stty size").result()
    screen = b""
    shown = iter(terminal.output)
    while b"30 100" not in screen:
        screen += next(shown)
    terminal.resize(132, 43)  # after the first answer, so the order is certain
    terminal.stdin.write(b"stty size; exit 6\n").result()
    screen += b"".join(shown)
    followed = talker.stream_logs(follow=True, timestamps=True)
    lines: list[str] = []
    for line in followed:
        lines.append(line)
        if len(lines) == 2:
            break
    followed.close()
    now = datetime.now(UTC)
    record("log_windows", {
        "since_past": [line.rstrip("\n") for line in talker.stream_logs(
            since_time=now - timedelta(hours=1))],
        "since_future": list(talker.stream_logs(since_time=now + timedelta(hours=1)))})
    record("streams", {
        "read_back": len(b"".join(box.read_file_streaming(f"{MOUNT}/streamed.bin"))),
        "tty": "IS-A-TTY" in screen.decode() and "30 100" in screen.decode(),
        "resized": "43 132" in screen.decode(),
        "tty_exit": terminal.wait(timeout=30),
        "followed": [line.split(" ", 1) for line in lines]})

    # 11. the handle: properties, status filter, a context manager, start(), complete
    record("handle", {
        "tags": list(box.tags), "runner_id": box.runner_id, "status": str(box.get_status()),
        "created_at": box.created_at is not None, "started_at": box.started_at is not None,
        "containers": [c.name for c in box.containers], "exec_count": box.exec_stats,
        "container_statuses": len(box.container_statuses),
        "volume_ids": list(box.attached_volume_ids), "status_updated": box.status_updated_at
        is not None,
        "running": sorted(s.sandbox_id for s in Sandbox.list(tags=[TAG],
                                                             status="running").result()),
        "on_runner": len(Sandbox.list(tags=[TAG], runner_ids=["local-runner"]).result()),
        "on_no_runner": len(Sandbox.list(tags=[TAG], runner_ids=["elsewhere"]).result()),
        "in_container": box.exec(["echo", "main"], container="main").result().stdout})
    with Sandbox.run(tags=[TAG, "with-block"]) as scoped:
        inside = scoped.exec(["echo", "in a with block"]).result().stdout
    built = Sandbox(command="sleep", args=["600"], tags=[TAG, "built"])
    started.append(built)
    built.start().result()
    built_status = str(built.wait().status)
    built.stop().result()
    quick = run("sh", "-c", "exit 0")
    quick.wait_until_complete(timeout=30).result()
    failing = run("sh", "-c", "echo why >&2; exit 7")
    raised("complete_failed", lambda: failing.wait_until_complete(timeout=30).result(),
           SandboxFailedError)
    record("lifecycle", {"with_block": inside, "after_with": str(scoped.status),
                         "built": built_status, "built_stopped": str(built.status),
                         "complete": [str(quick.status), quick.returncode],
                         "failed": [str(failing.status), failing.status_reason],
                         "async": asyncio.run(async_use())})

    # 12. a session: its sandboxes, listing, attach, a remote function
    with Sandbox.session(SandboxDefaults(tags=(TAG, "session"))) as session:
        member = session.sandbox()
        member.wait()
        listed = [s.sandbox_id for s in session.list().result()]
        attached = session.from_id(member.sandbox_id).result()

        @session.function()
        def add(x: int, y: int) -> int:
            return x + y

        adopted = Sandbox.run(tags=[TAG, "adopted"])
        session.adopt(adopted)
        record("session", {
            "listed": listed == [member.sandbox_id],
            "attached": attached.sandbox_id == member.sandbox_id,
            "count": session.sandbox_count, "remote": add.remote(2, 3).result(),
            "map": [ref.result() for ref in add.map([(1, 1), (2, 2)])],
            "local": add.local(1, 2)})
    record("session_closed", [str(Sandbox.from_id(one.sandbox_id).result().status)
                              for one in (member, adopted)])

    # 13. volumes: validate and a state filter; templates are refused (not offered)
    pvc = PvcVolumeSource(runner_id="local-runner", namespace="default", claim_name="more")
    volume = Volume.create("peer-volume-2", pvc=pvc).result()
    volume.wait_until_ready(timeout=30)
    validated = volume.validate().result()
    record("volume_more", {"validated": str(validated.state),
                           "ready": [v.volume_id for v in Volume.list(states=["ready"]).result()],
                           "elsewhere": len(Volume.list(runner_ids=["elsewhere"]).result())})
    volume.delete().result()

    # 14. create fields: honoured (files, a runner pin, resources, annotations), or refused by
    # the field's name
    given = run("sleep", "600", runner_ids=["local-runner"], annotations={"team": "peer"},
                mounted_files=[{"mount_path": "/tmp/given/conf.txt", "file_content": "given\n"}],
                resources={"requests": {"cpu": "100m", "memory": "64Mi"}})
    given.wait()
    record("create_fields", {"cat": given.exec(["cat", "/tmp/given/conf.txt"]).result().stdout,
                             "runner_id": given.runner_id})
    given.stop().result()
    refused("refused_secrets", secrets=[Secret(store="vault", name="TOKEN")])
    refused("refused_privileged", security_context={"privileged": True})
    refused("refused_file", mounted_files=[{"mount_path": "/etc/app.conf", "file_content": "x"}])
    raised("from_template", lambda: Sandbox.run_from_template("tmpl-1", tags=[TAG]).wait(),
           CWSandboxError)

    # 15. services at their urls, a working_dir, the runtime class echoed, serverless placed
    # here; what the service does not implement refused with its reasons
    served = run("sh", "-c", "echo v1-service > index.html && exec python -m http.server 8000",
                 services=[Service(port=8000, name="web", visibility="public")],
                 working_dir="/tmp/site")
    served.wait()
    [(port, service_name, url)] = served.service_urls
    record("services", {"port": port, "name": service_name, "url": url,
                        "page": fetched(f"{url}/index.html"),
                        "pwd": served.exec(["pwd"]).result().stdout,
                        "runtime_class": served.effective_runtime_class})
    served.stop().result()
    serverless = run("sleep", "600", placement_mode="serverless")
    serverless.wait()
    record("serverless", {"status": str(serverless.status), "runner_id": serverless.runner_id})
    serverless.stop().result()
    pair = [Container(name="main", image="python:3.11", command="sleep", args=["600"],
                      primary=True, resources={"cpu": "100m", "memory": "64Mi"}),
            Container(name="helper", image="python:3.11", command="sleep", args=["600"],
                      resources={"cpu": "100m", "memory": "64Mi"})]
    refused_with_reason("refused_containers", containers=pair)
    refused_with_reason("refused_mixed_services", services=[
        Service(port=80, visibility="public"), Service(port=81, visibility="private")])
    refused_with_reason("refused_tls", services=[
        Service(port=443, visibility="public", endpoint=Endpoint(kind="tls_passthrough"))])
    refused_with_reason("refused_dns_egress", network=NetworkOptions(
        egress=[EgressRule(dns_name="pypi.org")]))
    raised("from_file", lambda: Sandbox.run_from_file(
        b"services:\n  app:\n    image: python:3.11\n", primary_service="app",
        tags=[TAG]).wait(), CWSandboxError)


async def async_use() -> dict[str, Any]:
    """The same handle from asyncio: awaited refs, an async with block."""
    async with Sandbox.run(tags=[TAG, "async"]) as box:
        await box
        done = await box.exec(["echo", "awaited"])
        await box.write_file("/tmp/async.txt", b"async bytes")
        data = await box.read_file("/tmp/async.txt")
        listed = await Sandbox.list(tags=[TAG, "async"])
    return {"stdout": done.stdout, "read": data.decode(), "listed": len(listed),
            "after": str(box.status)}


def cleanup() -> None:
    for sandbox in started:
        with suppress(Exception):
            sandbox.stop(missing_ok=True).result(timeout=30)


def main() -> int:
    if os.environ.get("SDK_SCENARIO_DEBUG"):
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
