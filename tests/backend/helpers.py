"""Helpers for the backend tests: starting sandboxes, polling state, running streams, errors.

Every wait here is a bounded poll of the server's own state, never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.rpc import error_details_pb2, status_pb2

from cwsandbox_tui.backend import procs
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb
from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc, streaming_pb2_grpc
from cwsandbox_tui.proto.v1beta2 import streaming_pb2 as spb

T = TypeVar("T")
Gateway = gateway_pb2_grpc.GatewayServiceStub
Streaming = streaming_pb2_grpc.GatewayStreamingServiceStub

# The SDK's default workload: a shell that sleeps until SIGTERM/SIGINT and then exits 0.
SLEEPER = ["-c", 'trap "exit 0" TERM INT; sleep infinity & wait']
# Ignores SIGTERM (and so do its children, which inherit the disposition): only SIGKILL ends it.
# Ignores SIGTERM (a stop ends it only at its grace period's SIGKILL) once it has written
# TRAPPED: a stop in the moment between the shell's start and its trap would end it at once.
TRAPPED = "/tmp/trapped"
STUBBORN = ["-c", f'trap "" TERM; : > {TRAPPED}; while :; do sleep 0.05; done']
MOUNT = "/workspace"

CREATING = pb.SANDBOX_STATUS_CREATING
RUNNING = pb.SANDBOX_STATUS_RUNNING
PAUSED = pb.SANDBOX_STATUS_PAUSED
TERMINATING = pb.SANDBOX_STATUS_TERMINATING
COMPLETED = pb.SANDBOX_STATUS_COMPLETED
FAILED = pb.SANDBOX_STATUS_FAILED
TERMINAL = (COMPLETED, FAILED, pb.SANDBOX_STATUS_TERMINATED)

FSS_CREATING = pb.FILE_SYSTEM_SNAPSHOT_STATUS_CREATING
FSS_READY = pb.FILE_SYSTEM_SNAPSHOT_STATUS_READY
FSS_FAILED = pb.FILE_SYSTEM_SNAPSHOT_STATUS_FAILED

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION

STDOUT = spb.ExecStreamOutput.STREAM_TYPE_STDOUT
STDERR = spb.ExecStreamOutput.STREAM_TYPE_STDERR


def own_processes() -> set[int]:
    """The pids below this test process (the backend under test runs in it). CI runs these
    tests as two accounts at once on one host: a scan of /proc by what a process runs would
    also find the other run's sandboxes."""
    return set(procs.descendants(procs.table(), os.getpid()))


def in_foreground(argv: bytes) -> bool:
    """A process of this test's backend runs `argv` as its terminal's foreground group
    (a ctrl+c sent before then reaches the shell that is starting it, not it)."""
    for pid in own_processes():
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes() != argv:
                continue
            fields = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b") ", 1)[1].split()
        except OSError:
            continue
        if fields[2] == fields[5]:  # its process group is the terminal's foreground one
            return True
    return False


def status_name(value: int) -> str:
    return pb.SandboxStatus.Name(value)


# ---------------------------------------------------------------------------------------------
# errors


@dataclass
class ErrorDetails:
    """What a failed RPC carried: its code and message and the AIP-193 details."""

    code: grpc.StatusCode
    message: str
    status: status_pb2.Status | None = None
    reason: str = ""
    domain: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    retry_delay: float | None = None
    violations: dict[str, str] = field(default_factory=dict)  # field -> description


def details_of(error: grpc.aio.AioRpcError) -> ErrorDetails:
    found = ErrorDetails(code=error.code(), message=error.details() or "")
    for key, value in error.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status.FromString(value)
        found.status = status
        for packed in status.details:
            info = error_details_pb2.ErrorInfo()
            retry = error_details_pb2.RetryInfo()
            bad = error_details_pb2.BadRequest()
            if packed.Unpack(info):
                found.reason, found.domain = info.reason, info.domain
                found.metadata = dict(info.metadata)
            elif packed.Unpack(retry):
                found.retry_delay = retry.retry_delay.ToNanoseconds() / 1e9
            elif packed.Unpack(bad):
                found.violations = {v.field: v.description for v in bad.field_violations}
    return found


async def expect_error(call: Awaitable[Any], code: grpc.StatusCode, *,
                       reason: str | None = None, field_name: str | None = None) -> ErrorDetails:
    """Await a unary call that must fail with `code` (and the given reason or bad field)."""
    try:
        result = await call
    except grpc.aio.AioRpcError as error:
        found = details_of(error)
    else:
        raise AssertionError(f"expected {code.name}, got a response: {result!r}")
    assert found.code == code, (found.code, found.message)
    assert found.status is not None, "no grpc-status-details-bin trailer"
    assert found.status.code == code.value[0]
    if reason is not None:
        assert found.reason == reason, (found.reason, found.message)
        assert found.domain == "cwsandbox.com"
    if field_name is not None:
        assert field_name in found.violations, (found.violations, found.message)
        assert field_name in found.message
    return found


# ---------------------------------------------------------------------------------------------
# polling


async def poll(check: Callable[[], Awaitable[T | None]], timeout: float = 10.0,
               what: str = "condition", interval: float = 0.02) -> T:
    """Call `check` until it returns something other than None, at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


async def until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
                ) -> None:
    async def check() -> bool | None:
        return True if predicate() else None
    await poll(check, timeout, what)


async def get(gateway: Gateway, sandbox_id: str) -> pb.GetSandboxResponse:
    return await gateway.Get(pb.GetSandboxRequest(sandbox_id=sandbox_id))


async def wait_status(gateway: Gateway, sandbox_id: str, want: int | Collection[int],
                      timeout: float = 10.0) -> pb.GetSandboxResponse:
    """Poll Get until the sandbox's status is `want` (or one of them)."""
    wanted = {want} if isinstance(want, int) else set(want)

    async def check() -> pb.GetSandboxResponse | None:
        response = await get(gateway, sandbox_id)
        return response if response.sandbox_status in wanted else None

    names = ", ".join(status_name(w) for w in sorted(wanted))
    return await poll(check, timeout, f"sandbox {sandbox_id} to be {names}")


async def get_snapshot(gateway: Gateway, snapshot_id: str) -> pb.FileSystemSnapshot:
    return await gateway.GetFileSystemSnapshot(
        pb.GetFileSystemSnapshotRequest(file_system_snapshot_id=snapshot_id))


async def wait_snapshot(gateway: Gateway, snapshot_id: str, want: int | Collection[int],
                        timeout: float = 15.0) -> pb.FileSystemSnapshot:
    wanted = {want} if isinstance(want, int) else set(want)

    async def check() -> pb.FileSystemSnapshot | None:
        snap = await get_snapshot(gateway, snapshot_id)
        return snap if snap.status in wanted else None

    return await poll(check, timeout, f"snapshot {snapshot_id} to reach {sorted(wanted)}")


# ---------------------------------------------------------------------------------------------
# sandboxes and snapshots


def start_request(*, command: str = "/bin/sh", args: Iterable[str] = SLEEPER,
                  mount_path: str | None = MOUNT, size: str = "", restore: str = "",
                  tags: Iterable[str] = (), env: dict[str, str] | None = None,
                  lifetime: int = 0) -> pb.StartSandboxRequest:
    request = pb.StartSandboxRequest(command=command, args=list(args), tags=list(tags),
                                     container_image="python:3.11",
                                     environment_variables=env or {},
                                     max_lifetime_seconds=lifetime)
    if mount_path is not None:
        request.file_system.mount_path = mount_path
        if size:
            request.file_system.size = size
        if restore:
            request.file_system.file_system_snapshot.file_system_snapshot_id = restore
    return request


async def start_sandbox(gateway: Gateway, *, wait: bool = True, **options: Any) -> str:
    """Start a sandbox (by default the SDK's sleeper with a mount) and wait until RUNNING."""
    response = await gateway.Start(start_request(**options))
    assert response.sandbox_id
    if wait:
        await wait_status(gateway, response.sandbox_id, RUNNING)
        if options.get("args") == STUBBORN:
            await poll(lambda: _has_file(gateway, response.sandbox_id, TRAPPED),
                       what="the stubborn sandbox's TERM trap")
    return response.sandbox_id


async def _has_file(gateway: Gateway, sandbox_id: str, path: str) -> bool | None:
    try:
        await gateway.RetrieveFile(pb.RetrieveFileSandboxRequest(sandbox_id=sandbox_id,
                                                                 filepath=path))
    except grpc.aio.AioRpcError as error:
        if error.code() != grpc.StatusCode.NOT_FOUND:
            raise
        return None
    return True


async def stop(gateway: Gateway, sandbox_id: str, grace: int = 1, **options: Any
               ) -> pb.StopSandboxResponse:
    return await gateway.Stop(pb.StopSandboxRequest(
        sandbox_id=sandbox_id, graceful_shutdown_seconds=grace, **options))


async def snapshot(gateway: Gateway, sandbox_id: str, *, wait: bool = True, key: str = "",
                   max_timeout: int | None = None) -> pb.CreateFileSystemSnapshotResponse:
    request = pb.CreateFileSystemSnapshotRequest(sandbox_id=sandbox_id, wait_for_ready=wait,
                                                 idempotency_key=key)
    if max_timeout is not None:
        request.max_timeout_seconds = max_timeout
    return await gateway.CreateFileSystemSnapshot(request)


async def add_file(gateway: Gateway, sandbox_id: str, path: str, data: bytes
                   ) -> pb.AddFileSandboxResponse:
    return await gateway.AddFile(pb.AddFileSandboxRequest(
        sandbox_id=sandbox_id, filepath=path, file_contents=data))


async def read_file(gateway: Gateway, sandbox_id: str, path: str) -> bytes:
    response = await gateway.RetrieveFile(pb.RetrieveFileSandboxRequest(
        sandbox_id=sandbox_id, filepath=path))
    assert response.success
    return response.file_contents


# ---------------------------------------------------------------------------------------------
# streams


@dataclass
class ExecResult:
    stdout: bytes
    stderr: bytes
    exit_code: int | None
    frames: list[spb.ExecStreamResponse]

    @property
    def kinds(self) -> list[str]:
        return [frame.WhichOneof("response") or "" for frame in self.frames]


def exec_init(sandbox_id: str, argv: list[str], env: dict[str, str] | None = None
              ) -> spb.ExecStreamRequest:
    return spb.ExecStreamRequest(init=spb.ExecStreamInit(
        sandbox_id=sandbox_id, command=argv, env=env or {}))


async def collect_exec(call: AsyncIterator[spb.ExecStreamResponse]) -> ExecResult:
    frames = [frame async for frame in call]
    out = b"".join(f.output.data for f in frames
                   if f.HasField("output") and f.output.stream_type == STDOUT)
    err = b"".join(f.output.data for f in frames
                   if f.HasField("output") and f.output.stream_type == STDERR)
    exits = [f.exit.exit_code for f in frames if f.HasField("exit")]
    return ExecResult(out, err, exits[-1] if exits else None, frames)


async def run_exec(streaming: Streaming, sandbox_id: str, argv: list[str],
                   env: dict[str, str] | None = None, timeout: float = 30) -> ExecResult:
    """Run a command the way the SDK's exec() does: init, then half-close at once."""
    async def requests() -> AsyncIterator[spb.ExecStreamRequest]:
        yield exec_init(sandbox_id, argv, env)

    return await asyncio.wait_for(collect_exec(streaming.StreamExec(requests())), timeout)


async def sh(streaming: Streaming, sandbox_id: str, script: str, **options: Any) -> ExecResult:
    return await run_exec(streaming, sandbox_id, ["/bin/sh", "-c", script], **options)


async def sh_ok(streaming: Streaming, sandbox_id: str, script: str) -> bytes:
    result = await sh(streaming, sandbox_id, script)
    assert result.exit_code == 0, (script, result.exit_code, result.stdout, result.stderr,
                                   result.frames[-1:])
    return result.stdout


async def read_logs(streaming: Streaming, sandbox_id: str, timeout: float = 10, **init: Any
                    ) -> list[spb.LogStreamResponse]:
    """A non-follow StreamLogs the way the SDK sends it: init, then half-close."""
    async def requests() -> AsyncIterator[spb.LogStreamRequest]:
        yield spb.LogStreamRequest(init=spb.LogStreamInit(sandbox_id=sandbox_id, **init))

    async def collect() -> list[spb.LogStreamResponse]:
        return [frame async for frame in streaming.StreamLogs(requests())]

    return await asyncio.wait_for(collect(), timeout)


def log_text(frames: Iterable[spb.LogStreamResponse]) -> bytes:
    return b"".join(f.data.data for f in frames if f.HasField("data"))


async def until_logged(streaming: Streaming, sandbox_id: str, text: bytes,
                       timeout: float = 10.0) -> bytes:
    """Poll the sandbox's log until it holds `text`; returns the whole log."""
    async def check() -> bytes | None:
        logged = log_text(await read_logs(streaming, sandbox_id))
        return logged if text in logged else None

    return await poll(check, timeout, f"{text!r} in the log of {sandbox_id}")


def wire_listing(engine: Any, wire: Any, response: Any, page_size: int = 7) -> list[Any]:
    """Every snapshot through `wire`'s encoded pages of `page_size`, parsed as `response` (a
    generation's ListFileSystemSnapshotsResponse), checking each page's token."""
    rows: list[Any] = []
    token = ""
    while True:
        keys, token = engine.snapshot_page_keys(token, page_size)
        reply = response.FromString(wire.page(keys, token))
        assert reply.next_page_token == token
        rows += reply.file_system_snapshots
        if not token:
            return rows
