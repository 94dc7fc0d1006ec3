"""Malformed requests: every one is refused at the edge, naming the field, before any state
changes; no answer is UNKNOWN, echoes a huge value or names a host path; nothing is left in a
state that never ends, and overlapping deletes of one object have one outcome."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable
from typing import Any

import grpc
from google.protobuf import timestamp_pb2

from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb
from cwsandbox_tui.proto.v1beta2 import streaming_pb2 as spb
from tests.backend.helpers import (
    FAILED,
    FSS_READY,
    INVALID,
    MOUNT,
    ErrorDetails,
    add_file,
    expect_error,
    get,
    get_snapshot,
    snapshot,
    start_request,
    start_sandbox,
    wait_snapshot,
    wait_status,
)

from .support import Guarded, guarded_fixture, report  # noqa: F401

HUGE_ID = "sb-" + "x" * 100_000


class Errors:
    """Every error the test saw, to check them all for host paths at the end."""

    def __init__(self, guarded: Guarded) -> None:
        self.guarded = guarded
        self.seen: list[ErrorDetails] = []

    async def expect(self, call: Awaitable[Any], code: grpc.StatusCode = INVALID, *,
                     field_name: str | None = None, reason: str | None = None) -> ErrorDetails:
        found = await expect_error(call, code, field_name=field_name, reason=reason)
        self.seen.append(found)
        return found

    def assert_no_host_paths(self) -> None:
        hosts = [str(self.guarded.data_dir), str(self.guarded.secret_dir)]
        for found in self.seen:
            text = found.message + repr(found.metadata) + repr(found.violations)
            assert not any(host in text for host in hosts), text


def nul_variants() -> list[tuple[str, pb.StartSandboxRequest]]:
    cases = []
    for name in ("command", "container_image"):
        request = start_request()
        setattr(request, name, "/bin/sh\x00x")
        cases.append((name, request))
    request = start_request(args=["-c", "echo\x00hi"])
    cases.append(("args[1]", request))
    cases.append(("environment_variables[key #1]", start_request(env={"A": "b\x00c"})))
    cases.append(("environment_variables key #1", start_request(env={"A\x00B": "c"})))
    cases.append(("tags[0]", start_request(tags=["t\x00"])))
    cases.append(("file_system.mount_path", start_request(mount_path="/work\x00space")))
    cases.append(("file_system.size", start_request(size="1\x00Gi")))
    cases.append(("file_system.file_system_snapshot.file_system_snapshot_id",
                  start_request(restore="fss-\x00")))
    return cases


async def listed(gateway: Any) -> int:
    response = await gateway.List(pb.ListSandboxesRequest(include_stopped=True))
    return len(response.sandboxes)


async def test_nul_bytes_are_refused_before_anything_starts(guarded: Guarded) -> None:
    errors = Errors(guarded)
    gateway, streaming = guarded.gateway, guarded.streaming
    for field_name, request in nul_variants():
        await errors.expect(gateway.Start(request), field_name=field_name)
    assert await listed(gateway) == 0, "a refused Start must leave no sandbox"
    sid = await start_sandbox(gateway)
    await errors.expect(add_file(gateway, sid, f"{MOUNT}/a\x00b", b""), field_name="filepath")
    await errors.expect(gateway.Get(pb.GetSandboxRequest(sandbox_id="sb\x00")),
                        field_name="sandbox_id")
    await errors.expect(gateway.SetFileSystemSnapshotBucketConfig(
        pb.SetFileSystemSnapshotBucketConfigRequest(bucket_name="a\x00b")),
        field_name="bucket_name")
    for init in (spb.ExecStreamInit(sandbox_id=sid, command=["/bin/sh", "-c", "echo\x00"]),
                 spb.ExecStreamInit(sandbox_id=sid, command=["true"], env={"K": "v\x00"})):
        await errors.expect(first_exec_frame(streaming, init))
    await errors.expect(first_log_frame(streaming, spb.LogStreamInit(
        sandbox_id=sid, resume_session_id="s\x00")), field_name="init.resume_session_id")
    assert await listed(gateway) == 1
    errors.assert_no_host_paths()


async def first_exec_frame(streaming: Any, init: spb.ExecStreamInit) -> Any:
    async def requests() -> Any:
        yield spb.ExecStreamRequest(init=init)

    return [frame async for frame in streaming.StreamExec(requests())]


async def first_log_frame(streaming: Any, init: spb.LogStreamInit) -> Any:
    async def requests() -> Any:
        yield spb.LogStreamRequest(init=init)

    return [frame async for frame in streaming.StreamLogs(requests())]


async def test_huge_inputs_get_short_errors_naming_the_field(guarded: Guarded) -> None:
    errors = Errors(guarded)
    gateway, streaming = guarded.gateway, guarded.streaming
    calls = {
        "Get": gateway.Get(pb.GetSandboxRequest(sandbox_id=HUGE_ID)),
        "Delete": gateway.Delete(pb.DeleteSandboxRequest(sandbox_id=HUGE_ID)),
        "Stop": gateway.Stop(pb.StopSandboxRequest(sandbox_id=HUGE_ID)),
        "AddFile": add_file(gateway, HUGE_ID, "x", b""),
        "Snapshot": gateway.GetFileSystemSnapshot(pb.GetFileSystemSnapshotRequest(
            file_system_snapshot_id=HUGE_ID)),
        "Logs": first_log_frame(streaming, spb.LogStreamInit(sandbox_id=HUGE_ID)),
        "Exec": first_exec_frame(streaming, spb.ExecStreamInit(sandbox_id=HUGE_ID,
                                                               command=["true"])),
    }
    for name, call in calls.items():
        found = await errors.expect(call)
        assert len(found.message) < 200 and "xxxxxxxxxx" not in found.message, (name, found)
        assert list(found.violations) in (["sandbox_id"], ["file_system_snapshot_id"],
                                          ["init.sandbox_id"]), (name, found.violations)
    many_args = start_request(args=["a" * 1000] * 2000)
    await errors.expect(gateway.Start(many_args), field_name="args")
    await errors.expect(gateway.Start(start_request(tags=[f"t{i}" for i in range(100)])),
                        field_name="tags")
    await errors.expect(gateway.Start(start_request(env={"K": "v" * 200_000})),
                        field_name="environment_variables[key #1]")
    await errors.expect(gateway.Start(start_request(args=["x" * 200_000])), field_name="args[0]")
    await errors.expect(gateway.Start(start_request(size="9" * 400)),
                        field_name="file_system.size")
    await errors.expect(gateway.Start(start_request(size="9" * 60 + "Ei")),
                        field_name="file_system.size")
    await errors.expect(gateway.List(pb.ListSandboxesRequest(page_token="x" * 10_000)),
                        field_name="page_token")
    assert await listed(gateway) == 0
    report("huge inputs", errors=len(errors.seen),
           longest_message=max(len(e.message) for e in errors.seen))
    errors.assert_no_host_paths()


def forged_token(kind: str, seq: str) -> str:
    raw = f"{kind}:{seq}:000000000000".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def test_numbers_tokens_and_times_out_of_range(guarded: Guarded) -> None:
    errors = Errors(guarded)
    gateway, streaming = guarded.gateway, guarded.streaming
    for token in (forged_token("snapshots", "9" * 30), forged_token("snapshots", "-5"),
                  forged_token("snapshots", str(2**63)), "%%%", "bm90LWEtdG9rZW4"):
        await errors.expect(gateway.ListFileSystemSnapshots(
            pb.ListFileSystemSnapshotsRequest(page_token=token)), field_name="page_token")
        await errors.expect(gateway.List(pb.ListSandboxesRequest(page_token=token)),
                            field_name="page_token")
    await errors.expect(gateway.List(pb.ListSandboxesRequest(page_size=-1)), field_name="page_size")
    await errors.expect(gateway.List(pb.ListSandboxesRequest(status=99)), field_name="status")
    huge_page = await gateway.ListFileSystemSnapshots(
        pb.ListFileSystemSnapshotsRequest(page_size=2**31 - 1))
    assert not huge_page.next_page_token
    sid = await start_sandbox(gateway)
    await errors.expect(gateway.Stop(pb.StopSandboxRequest(sandbox_id=sid,
                                                           max_timeout_seconds=-1)),
                        field_name="max_timeout_seconds")
    await errors.expect(gateway.Stop(pb.StopSandboxRequest(sandbox_id=sid,
                                                           graceful_shutdown_seconds=-5)),
                        field_name="graceful_shutdown_seconds")
    await errors.expect(gateway.Stop(pb.StopSandboxRequest(sandbox_id=sid,
                                                           graceful_shutdown_seconds=2**31 - 1)),
                        field_name="graceful_shutdown_seconds")
    await errors.expect(gateway.CreateFileSystemSnapshot(pb.CreateFileSystemSnapshotRequest(
        sandbox_id=sid, max_timeout_seconds=-1)), field_name="max_timeout_seconds")
    await errors.expect(gateway.Start(start_request(lifetime=-1)),
                        field_name="max_lifetime_seconds")
    for seconds, nanos in ((2**62, 0), (-(2**62), 0), (0, -1), (0, 2_000_000_000)):
        stamp = timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)
        await errors.expect(first_log_frame(streaming, spb.LogStreamInit(
            sandbox_id=sid, since_time=stamp)), field_name="init.since_time")
    await errors.expect(first_log_frame(streaming, spb.LogStreamInit(sandbox_id=sid,
                                                                     tail_lines=-1)),
                        field_name="init.tail_lines")
    assert (await get(gateway, sid)).sandbox_status == pb.SANDBOX_STATUS_RUNNING
    errors.assert_no_host_paths()


async def test_a_sandbox_that_cannot_boot_fails_with_a_reason_and_can_be_deleted(
        guarded: Guarded) -> None:
    gateway = guarded.gateway
    response = await gateway.Start(start_request(command="/nonexistent/program"))
    info = await wait_status(gateway, response.sandbox_id, FAILED)
    assert info.status_reason
    await gateway.Delete(pb.DeleteSandboxRequest(sandbox_id=response.sandbox_id))
    # a restore from an archive that has gone bad: FAILED with a reason, never CREATING
    sid = await start_sandbox(gateway)
    await add_file(gateway, sid, f"{MOUNT}/f", b"data")
    snap_id = (await snapshot(gateway, sid)).file_system_snapshot_id
    assert guarded.server.engine is not None
    archive = guarded.server.engine.buckets_dir / guarded.server.engine.get_snapshot(
        snap_id).archive
    archive.write_bytes(b"not a tar archive at all" * 100)
    restored = await gateway.Start(start_request(restore=snap_id))
    info = await wait_status(gateway, restored.sandbox_id, FAILED)
    assert "restoring" in info.status_reason and str(guarded.data_dir) not in info.status_reason
    await asyncio.wait_for(gateway.Delete(pb.DeleteSandboxRequest(
        sandbox_id=restored.sandbox_id)), 10)
    await expect_error(get(gateway, restored.sandbox_id), grpc.StatusCode.NOT_FOUND)


async def test_overlapping_deletes_have_one_outcome(guarded: Guarded) -> None:
    """The rule: a delete that overlaps a deletion in progress joins it and succeeds with it;
    one that comes after the object is gone is NOT_FOUND. Nothing else, and one deletion."""
    gateway = guarded.gateway
    outcomes: dict[str, list[str]] = {}
    for round_ in range(3):
        sid = await start_sandbox(gateway)
        snap_id = (await snapshot(gateway, sid, wait=round_ == 0)).file_system_snapshot_id
        if round_ == 0:
            await wait_snapshot(gateway, snap_id, FSS_READY)
        answers = await asyncio.gather(
            *(gateway.DeleteFileSystemSnapshot(pb.DeleteFileSystemSnapshotRequest(
                file_system_snapshot_id=snap_id)) for _ in range(6)),
            *(gateway.Delete(pb.DeleteSandboxRequest(sandbox_id=sid)) for _ in range(6)),
            return_exceptions=True)
        names = [_outcome(a) for a in answers]
        outcomes[f"round {round_}"] = names
        for kind, part in (("snapshot", names[:6]), ("sandbox", names[6:])):
            assert set(part) <= {"OK", "NOT_FOUND"}, (kind, answers)
            assert "OK" in part, (kind, part)
        await expect_error(get_snapshot(gateway, snap_id), grpc.StatusCode.NOT_FOUND)
        await expect_error(gateway.DeleteFileSystemSnapshot(pb.DeleteFileSystemSnapshotRequest(
            file_system_snapshot_id=snap_id)), grpc.StatusCode.NOT_FOUND,
            reason="CWSANDBOX_FSS_NOT_FOUND")
        await expect_error(gateway.Delete(pb.DeleteSandboxRequest(sandbox_id=sid)),
                           grpc.StatusCode.NOT_FOUND, reason="CWSANDBOX_SANDBOX_NOT_FOUND")
        assert guarded.server.engine is not None
        assert not guarded.server.engine.runtime.sandbox_dir(sid).exists()
    report("overlapping deletes", **{k: "/".join(v) for k, v in outcomes.items()})


def _outcome(answer: object) -> str:
    if isinstance(answer, grpc.aio.AioRpcError):
        return answer.code().name
    if isinstance(answer, BaseException):
        return repr(answer)
    return "OK" if answer.success else "success=false"  # type: ignore[attr-defined]
