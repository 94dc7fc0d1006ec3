"""Drive our backend with the UNMODIFIED official SDK (cwsandbox 0.26.0): the rest of its API.

Runs inside the SDK's own virtualenv (see test_official_sdk.py) against CWSANDBOX_BASE_URL.
The other scenarios cover snapshots, files, discovery, runtimes, logs, shell and exec; this one
covers what they leave: context managers and `await`, defaults and `Sandbox.session`, start
options (environment, annotations, mounted files, lifetime), the record's remaining properties,
exec options (`check`, `timeout_seconds`, streamed stdout), `Process`/`TerminalSession`
accessors, log filters, list filters, `cwsandbox.wait` over mixed waitables, snapshot and stop
options, and the typed errors of a sandbox that is not running or failed.

Every step runs on its own and records what the SDK saw, or the error it raised, so that one
broken feature does not hide the others. It prints one JSON object: {"sdk_version", "steps"}.
"""

from __future__ import annotations

import asyncio
import json
import sys
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import cwsandbox
from cwsandbox import (
    AsyncFunctionError,
    FileSystemSnapshotOptions,
    NetworkOptions,
    ResourceOptions,
    Sandbox,
    SandboxDefaults,
    Secret,
    Session,
)
from scenario_steps import raised, step, steps

TAG = "sdk-peer-api"
SLEEP = ("/bin/sh", "-c", "exec sleep infinity")
started: list[Sandbox] = []


def sandbox(*args: str, tags: list[str] | None = None, **kwargs: Any) -> Sandbox:
    made = Sandbox.run(*(args or SLEEP), tags=[TAG, *(tags or [])], **kwargs)
    started.append(made)
    made.wait()
    return made


def when(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# transient faults (first: they fault the first calls of their methods) ---------------

@step("transport_faults")
def _() -> Any:
    # The pytest side makes the first calls of these methods fail on the backend, as a
    # cluster's would under load. The snapshot calls are retried by the SDK (30 s budget); the
    # sandbox calls are asked not to retry, so the typed error of each fault comes through.
    return {"unavailable": raised(lambda: Sandbox.list_snapshots().result()),
            "throttled": raised(lambda: Sandbox.delete_snapshot("fss-none").result()),
            "deadline": raised(lambda: Sandbox.get_snapshot_bucket_config().result()),
            "list_no_retry": raised(lambda: Sandbox.list(poll_retry_budget_seconds=0).result()),
            "get_no_retry": raised(lambda: Sandbox.from_id(
                "sb-any", poll_retry_budget_seconds=0).result())}


# start options and the record ----------------------------------------------------------------

@step("context_manager")
def _() -> Any:
    with Sandbox.run(*SLEEP, tags=[TAG], environment_variables={"PEER_ENV": "from-env"},
                     annotations={"team": "peer"}, max_lifetime_seconds=600,
                     max_timeout_seconds=600) as sb:
        env = sb.exec(["/bin/sh", "-c", 'echo "$PEER_ENV"']).result().stdout
        inside = {"sandbox_id": sb.sandbox_id, "status": str(sb.status),
                  "started_at": when(sb.started_at),
                  "status_updated_at": when(sb.status_updated_at),
                  "returncode": sb.returncode, "service_address": sb.service_address,
                  "exposed_ports": sb.exposed_ports, "resource_gpu": sb.resource_gpu}
    after = Sandbox.from_id(inside["sandbox_id"]).result()
    return {**inside, "env": env, "after_exit": str(after.status),
            "from_id_started_at": when(after.started_at)}


@step("mounted_files")
def _() -> Any:
    sb = sandbox(mounted_files=[
        {"mount_path": "/tmp/config/app.json", "file_content": b'{"peer": true}\n'},
        {"mount_path": "/tmp/bin.dat", "file_content": bytes(range(256))}])
    cat = sb.exec(["cat", "/tmp/config/app.json"]).result()
    size = sb.exec(["/bin/sh", "-c", "wc -c < /tmp/bin.dat"]).result()
    return {"cat": cat.stdout, "cat_rc": cat.returncode, "bin_size": size.stdout.strip(),
            "read": sb.read_file("/tmp/bin.dat").result() == bytes(range(256))}


@step("start_refusals")
def _() -> Any:
    return {
        "secret": raised(lambda: sandbox(secrets=[Secret(store="wandb", name="HF_TOKEN")])),
        "s3_mount": raised(lambda: sandbox(
            s3_mount={"bucket": "b", "directory": "d", "mount_path": "/mnt/s3"})),
        # ports are published (tests/peer: public_port); not without ingress, nor UDP
        "exposed_ports": raised(lambda: sandbox(
            network=NetworkOptions(ingress_mode="none", exposed_ports=(8080,)))),
        "ports": raised(lambda: sandbox(
            ports=[{"container_port": 53, "name": "dns", "protocol": "UDP"}])),
        "mounted_outside": raised(lambda: sandbox(
            mounted_files=[{"mount_path": "/etc/peer.conf", "file_content": b"x"}])),
    }


@step("defaults_and_session")
def _() -> Any:
    defaults = SandboxDefaults(tags=(TAG, "defaults"), environment_variables={"FROM": "defaults"},
                               max_lifetime_seconds=600)
    one = sandbox(defaults=defaults, environment_variables={"EXTRA": "call"})
    env = one.exec(["/bin/sh", "-c", 'echo "$FROM $EXTRA"']).result().stdout
    session = Sandbox.session(defaults)
    try:
        owned = session.sandbox(command=SLEEP[0], args=list(SLEEP[1:]))
        owned.wait()
        count = session.sandbox_count
        tagged = sorted(s.sandbox_id for s in Sandbox.list(tags=["defaults"]).result())
    finally:
        session.close().result()
    return {"env": env, "count": count, "tagged": tagged,
            "expected": sorted([one.sandbox_id, owned.sandbox_id]),
            "owned_after_close": str(Sandbox.from_id(owned.sandbox_id).result().status)}


# exec ------------------------------------------------------------------------------------------

@step("exec_options")
def _() -> Any:
    sb = sandbox()
    proc = sb.exec(["/bin/sh", "-c", "for i in 1 2 3; do echo out-$i; echo err-$i >&2; done"])
    streamed = list(proc.stdout)
    errors = list(proc.stderr)
    code = proc.wait(timeout=30)
    checked = raised(lambda: sb.exec(["/bin/sh", "-c", "echo bad >&2; exit 5"],
                                     check=True).result())
    timed = raised(lambda: sb.exec(["sleep", "30"], timeout_seconds=1).result())
    ok = sb.exec(["true"], check=True).result()
    return {"streamed": streamed, "errors": errors, "wait": code,
            "returncode": proc.returncode, "command": proc.command, "check": checked,
            "timeout": timed, "check_ok": ok.returncode, "exec_stats": sb.exec_stats}


@step("shell_result")
def _() -> Any:
    sb = sandbox()
    term = sb.shell(["/bin/sh", "-c", "echo term-ok; exit 6"])
    result = term.result(timeout=30)
    return {"command": term.command, "returncode": term.returncode,
            "result_returncode": result.returncode,
            "output": b"".join(term.output).decode(errors="replace")
            if hasattr(term, "output") else None}


# sandboxes that end ----------------------------------------------------------------------------

@step("ended")
def _() -> Any:
    done = sandbox("/bin/sh", "-c", "echo done; exit 0")
    done.wait_until_complete(timeout=60).result()
    failed = Sandbox.run("/bin/sh", "-c", "exit 7", tags=[TAG])
    started.append(failed)
    failing = raised(lambda: failed.wait_until_complete(timeout=60).result())
    return {"done_status": str(done.status), "done_returncode": done.returncode,
            "failed": failing, "failed_status": str(failed.get_status()),
            "failed_returncode": failed.returncode,
            "exec_after_end": raised(lambda: done.exec(["true"]).result())}


@step("stop_options")
def _() -> Any:
    sb = sandbox("/bin/sh", "-c",
                 "trap 'echo bye; exit 0' TERM; echo ready; sleep infinity & wait",
                 file_system_snapshot=FileSystemSnapshotOptions(mount_path="/workspace"))
    # RUNNING says the process started, not that its shell has set its trap yet
    for line in sb.stream_logs(follow=True, timeout_seconds=30):
        if line == "ready\n":
            break
    snap_id = sb.snapshot(wait_for_ready=False, idempotency_key="peer-snap-1").result()
    same = sb.snapshot(wait_for_ready=False, idempotency_key="peer-snap-1").result()
    ready = Sandbox.get_snapshot(snap_id).result()
    sb.stop(graceful_shutdown_seconds=5, idempotency_key="peer-stop-1").result()
    again = raised(lambda: sb.stop(missing_ok=True).result())
    return {"snapshot_same": snap_id == same, "snapshot_status": str(ready.status),
            "status": str(sb.status), "returncode": sb.returncode, "stop_again": again,
            "logs": list(sb.stream_logs())}


# logs, listing, waiting ------------------------------------------------------------------------

@step("log_filters")
def _() -> Any:
    sb = sandbox("/bin/sh", "-c", "echo early; sleep 1; echo late; exec sleep infinity")
    lines = []
    for line in sb.stream_logs(follow=True, timeout_seconds=30):
        lines.append(line.strip())
        if "late" in line:
            break
    stamped = {line.split(" ", 1)[1].strip(): line.split(" ", 1)[0]
               for line in sb.stream_logs(timestamps=True)}
    late_at = datetime.fromisoformat(stamped["late"][:26] + "+00:00")  # to microseconds
    future = list(sb.stream_logs(since_time=datetime.now(UTC) + timedelta(hours=1)))
    return {"followed": lines, "since_future": future,
            "since_late": [line.strip() for line in sb.stream_logs(since_time=late_at)],
            "since_past": [line.strip() for line in sb.stream_logs(
                since_time=datetime.now(UTC) - timedelta(hours=1))]}


@step("list_filters")
def _() -> Any:
    sb = sandbox(tags=["listed"])
    return {
        "id": sb.sandbox_id,
        "status_running": [s.sandbox_id for s in Sandbox.list(tags=["listed"],
                                                              status="running").result()],
        "status_completed": [s.sandbox_id for s in Sandbox.list(tags=["listed"],
                                                                status="completed").result()],
        "runner": [s.sandbox_id for s in Sandbox.list(tags=["listed"],
                                                      runner_ids=["local-runner"]).result()],
        "other_runner": [s.sandbox_id for s in Sandbox.list(tags=["listed"],
                                                            runner_ids=["elsewhere"]).result()],
        "profile_name": [s.sandbox_id for s in Sandbox.list(tags=["listed"],
                                                            profile_names=["default"]).result()],
        "profile_id": [s.sandbox_id for s in Sandbox.list(
            tags=["listed"], profile_ids=[sb.profile_id or ""]).result()],
    }


@step("wait_mixed")
def _() -> Any:
    fresh = Sandbox.run(*SLEEP, tags=[TAG])
    started.append(fresh)
    long = sandbox()
    slow = long.exec(["sleep", "30"])
    quick = long.exec(["echo", "quick"])
    read = long.read_file("/etc/hostname")
    done, pending = cwsandbox.wait([fresh, slow, quick, read], num_returns=3, timeout=60)
    slow.cancel()
    return {"done": sorted(type(w).__name__ for w in done),
            "pending": [type(w).__name__ for w in pending],
            "fresh_status": str(fresh.status), "bad_num": raised(
                lambda: cwsandbox.wait([quick], num_returns=0))}


# remote functions ------------------------------------------------------------------------------

@step("function_errors")
def _() -> Any:
    with Session(report_to=[]) as session:
        @session.function()
        def boom(x):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
            raise ValueError(f"bad {x}")

        async def coro() -> int:
            return 1

        return {"remote_raise": raised(lambda: boom.remote(3).result()),
                "async_refused": raised(lambda: session.function()(coro)),
                "async_is_typed": isinstance(AsyncFunctionError("x"), Exception)}


# typed errors of conditions this backend really meets ------------------------------------------

@step("typed_errors")
def _() -> Any:
    plain = sandbox()
    small = sandbox(file_system_snapshot=FileSystemSnapshotOptions(mount_path="/workspace",
                                                                   size="4Mi"))
    # a tree nested deeper than the backend archives: the snapshot FAILS with the reason
    small.exec(["python3", "-c", "import os\nos.chdir('/workspace')\nfor _ in range(300):\n"
                "    os.mkdir('d'); os.chdir('d')"]).result()
    too_deep = raised(lambda: small.snapshot().result())
    small.exec(["rm", "-rf", "/workspace/d"]).result()
    # a mount is held to its size while it is written: the write past it is refused
    over = small.exec(["/bin/sh", "-c", "head -c 6000000 /dev/zero > /workspace/big"]).result()
    out = {"not_supported": raised(lambda: plain.snapshot().result()),
           "too_deep": too_deep,
           "size_exceeded": {"returncode": over.returncode, "stderr": over.stderr,
                             "snapshot": raised(lambda: small.snapshot().result())},
           # capacity may free up, so the SDK retries it: asked not to, it shows the error
           "too_much_cpu": raised(lambda: sandbox(
               resources=ResourceOptions(requests={"cpu": "100000"}),
               poll_retry_budget_seconds=0)),
           "gpu": raised(lambda: sandbox(resources=ResourceOptions(gpu={"count": 1}),
                                         poll_retry_budget_seconds=0))}
    small.exec(["rm", "/workspace/big"]).result()
    # a restore from a snapshot still being archived (the backend archives slowly here)
    small.exec(["/bin/sh", "-c", "head -c 600000 /dev/urandom > /workspace/slow"]).result()
    creating = small.snapshot(wait_for_ready=False).result()
    restore = FileSystemSnapshotOptions(mount_path="/workspace", file_system_snapshot_id=creating)
    out["not_ready"] = raised(lambda: sandbox(file_system_snapshot=restore))
    small.exec(["rm", "/workspace/slow"]).result()
    made = small.snapshot().result()
    Sandbox.set_snapshot_bucket_config(bucket_name="another-bucket", region="us-east-1").result()
    try:
        elsewhere = FileSystemSnapshotOptions(mount_path="/workspace",
                                              file_system_snapshot_id=made)
        out["bucket_mismatch"] = raised(lambda: sandbox(file_system_snapshot=elsewhere))
    finally:
        Sandbox.set_snapshot_bucket_config(bucket_name="").result()
    plain.stop().result()
    out["on_stop_conflict"] = raised(lambda: plain.stop(snapshot_on_stop=True).result())
    mine = small.sandbox_id
    out["list_failed"] = [str(x.status) for x in Sandbox.list_snapshots(
        source_sandbox_id=mine, status="failed").result()]
    ready = Sandbox.list_snapshots(source_sandbox_id=mine, status="ready").result()
    out["list_ready"] = [made in [x.file_system_snapshot_id for x in ready],
                         sorted({str(x.status) for x in ready})]
    small.stop(snapshot_on_stop=True, wait_for_ready=False).result()
    out["stop_no_wait"] = [str(small.status), bool(small.file_system_snapshot_id)]
    return out


# asyncio ---------------------------------------------------------------------------------------

async def async_scenario() -> dict[str, Any]:
    async with Session(report_to=[]) as session:
        sb = session.sandbox(command=SLEEP[0], args=list(SLEEP[1:]), tags=[TAG, "async"])
        await sb  # Sandbox.__await__: running
        proc = sb.exec(["/bin/sh", "-c", "echo a; echo b"])
        result = await proc
        # read after the end: the SDK's `async for` awaits a queue of its own loop thread, which
        # never wakes a caller that waits on it before the first line arrives (an SDK defect)
        lines = [line async for line in proc.stdout]
        await sb.write_file("/tmp/async.txt", b"async bytes")
        read = await sb.read_file("/tmp/async.txt")
        listed = await Sandbox.list(tags=["async"])
        term = sb.shell(["/bin/sh", "-c", "exit 2"])
        term_result = await term
    async with Sandbox.run(*SLEEP, tags=[TAG]) as own:
        echoed = await own.exec(["echo", "in async with"])
        own_id = own.sandbox_id
    after = await Sandbox.from_id(own_id)
    return {"lines": lines, "returncode": result.returncode, "read": read.decode(),
            "listed": [s.sandbox_id for s in listed] == [sb.sandbox_id],
            "term": term_result.returncode, "echo": echoed.stdout,
            "own_after": str(after.status)}


@step("asyncio")
def _() -> Any:
    return asyncio.run(async_scenario())


for made in started:
    with suppress(Exception):
        made.stop(missing_ok=True).result(timeout=30)

json.dump({"sdk_version": cwsandbox.__version__, "steps": steps}, sys.stdout, default=str)
sys.stdout.write("\n")
