"""Sandbox lifecycle: Start, Get, Stop, Pause, Resume, Delete and max_lifetime_seconds."""

from __future__ import annotations

import asyncio
import signal
import time

import grpc
import pytest

from cwsandbox_tui.backend import procs
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb

from .conftest import ExecutorHold
from .helpers import (
    COMPLETED,
    CREATING,
    FAILED,
    INVALID,
    MOUNT,
    NOT_FOUND,
    PAUSED,
    PRECONDITION,
    RUNNING,
    STUBBORN,
    TERMINAL,
    TERMINATING,
    Gateway,
    Streaming,
    add_file,
    expect_error,
    get,
    log_text,
    poll,
    read_file,
    read_logs,
    sh,
    sh_ok,
    snapshot,
    start_request,
    start_sandbox,
    stop,
    until,
    until_logged,
    wait_status,
)

# Leaves a line in its log when SIGTERM arrives, then exits 0.
POLITE = ["-c", 'trap "echo got-sigterm; exit 0" TERM; echo up; while :; do sleep 0.05; done']


def sandbox_states(backend: BackendServer, sandbox_id: str) -> tuple[set[str], set[str]]:
    """The /proc states of the sandbox's workload processes, and of its keepers.

    The keepers are the process the backend started and, under bubblewrap, its one child
    (bubblewrap's init); everything below them is the workload.
    """
    assert backend.engine is not None
    launcher = backend.engine.runtime.live[sandbox_id].process.pid  # type: ignore[union-attr]
    table = procs.table()
    kids = procs.children(table)
    keepers = [launcher]
    if backend.engine.isolation.isolated:
        keepers += kids.get(launcher, [])
    workload: list[int] = []
    pending = [k for keeper in keepers for k in kids.get(keeper, []) if k not in keepers]
    while pending:
        pid = pending.pop()
        workload.append(pid)
        pending += kids.get(pid, [])
    if not backend.engine.isolation.isolated:
        workload.append(launcher)
        keepers = []
    return ({_bound(p, table[p].state) for p in workload if p in table},
            {table[p].state for p in keepers if p in table})


BOUND_TO_STOP = "T (SIGSTOP pending)"


def _bound(pid: int, state: str) -> str:
    """A process with a SIGSTOP pending runs no more code of its own: it stops on its way
    out of the kernel. (A shell waiting in vfork for its child, stopped before its exec,
    waits in state D until the resume.)"""
    if state in ("T", "t", "Z"):
        return state
    try:
        with open(f"/proc/{pid}/status") as status:
            pending = [int(line.split()[1], 16) for line in status
                       if line.startswith(("ShdPnd:", "SigPnd:"))]
    except OSError:
        return state
    return BOUND_TO_STOP if any(mask & (1 << (signal.SIGSTOP - 1)) for mask in pending) \
        else state


def group_states(backend: BackendServer, sandbox_id: str) -> set[str]:
    return sandbox_states(backend, sandbox_id)[0]


async def test_start_reports_creating_then_running_never_unspecified(gateway: Gateway) -> None:
    response = await gateway.Start(start_request(tags=["t1", "t2"], env={"GREETING": "hi"}))
    assert response.sandbox_id.startswith("sb-")
    assert response.sandbox_status == CREATING
    assert response.runner_id
    seen = set()
    while (status := (await get(gateway, response.sandbox_id)).sandbox_status) != RUNNING:
        seen.add(status)
        assert status == CREATING, status
    info = await get(gateway, response.sandbox_id)
    assert info.sandbox_id == response.sandbox_id
    assert info.started_at_time.seconds > 0
    details = info.local_details
    assert details.command == "/bin/sh"
    assert list(details.tags) == ["t1", "t2"]
    assert details.mount_path == MOUNT
    assert details.container_image == "python:3.11"
    assert details.created_at.seconds > 0
    assert not details.HasField("ended_at")


async def test_environment_and_mount_are_visible(gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway, env={"GREETING": "hello"})
    assert await sh_ok(streaming, sid, 'echo "$GREETING"; pwd') == f"hello\n{MOUNT}\n".encode()


async def test_start_rejects_bad_requests(gateway: Gateway) -> None:
    cases: list[tuple[pb.StartSandboxRequest, str]] = [
        (start_request(command=""), "command"),
        (start_request(lifetime=-1), "max_lifetime_seconds"),
        (start_request(mount_path="relative/dir"), "file_system.mount_path"),
        (start_request(mount_path="/etc/app"), "file_system.mount_path"),
        (start_request(mount_path="/proc"), "file_system.mount_path"),
        (start_request(mount_path="/work/../etc"), "file_system.mount_path"),
        (start_request(mount_path="/"), "file_system.mount_path"),
        (start_request(mount_path=""), "file_system.mount_path"),
        (start_request(size="ten gigs"), "file_system.size"),
        (start_request(size="0"), "file_system.size"),
        (start_request(size="5Ei"), "file_system.size"),
    ]
    for request, field_name in cases:
        await expect_error(gateway.Start(request), INVALID, field_name=field_name)
    listed = await gateway.List(pb.ListSandboxesRequest(include_stopped=True))
    assert not listed.sandboxes, "a rejected Start must not leave a sandbox behind"


async def test_command_that_cannot_start_fails_with_reason(gateway: Gateway) -> None:
    sid = await start_sandbox(gateway, command="/no/such/program", args=[], wait=False)
    info = await wait_status(gateway, sid, FAILED)
    assert info.status_reason
    assert info.local_details.status_reason == info.status_reason


async def test_exit_codes_decide_completed_or_failed(gateway: Gateway) -> None:
    ok = await start_sandbox(gateway, args=["-c", "exit 0"], wait=False)
    bad = await start_sandbox(gateway, args=["-c", "exit 3"], wait=False)
    done = await wait_status(gateway, ok, COMPLETED)
    assert done.local_details.exit_code == 0
    assert done.local_details.HasField("ended_at")
    failed = await wait_status(gateway, bad, FAILED)
    assert failed.local_details.exit_code == 3
    assert "exited with code 3" in failed.status_reason


async def test_get_errors(gateway: Gateway) -> None:
    await expect_error(gateway.Get(pb.GetSandboxRequest()), INVALID, field_name="sandbox_id")
    found = await expect_error(gateway.Get(pb.GetSandboxRequest(sandbox_id="sb-nope")), NOT_FOUND,
                               reason="CWSANDBOX_SANDBOX_NOT_FOUND")
    assert found.metadata["sandbox_id"] == "sb-nope"


async def test_stop_sends_sigterm_first_and_completes(gateway: Gateway, streaming: Streaming
                                                     ) -> None:
    sid = await start_sandbox(gateway, args=POLITE)
    await until_logged(streaming, sid, b"up\n")
    response = await stop(gateway, sid, grace=5)
    assert response.success and not response.file_system_snapshot_id
    began = time.monotonic()
    info = await wait_status(gateway, sid, TERMINAL)
    assert time.monotonic() - began < 4, "a workload that exits on SIGTERM needs no SIGKILL"
    assert info.sandbox_status == COMPLETED
    assert info.status_reason == "stopped by request"
    assert info.local_details.exit_code == 0
    assert b"got-sigterm" in log_text(await read_logs(streaming, sid))


async def test_stop_kills_after_the_grace_period(gateway: Gateway) -> None:
    sid = await start_sandbox(gateway, args=STUBBORN)
    began = time.monotonic()
    await stop(gateway, sid, grace=1)
    assert (await get(gateway, sid)).sandbox_status == TERMINATING
    info = await wait_status(gateway, sid, TERMINAL, timeout=10)
    elapsed = time.monotonic() - began
    assert 0.9 <= elapsed < 5, elapsed
    assert info.sandbox_status == COMPLETED
    assert info.local_details.exit_code == 128 + 9


async def test_stop_is_idempotent_and_validates(gateway: Gateway) -> None:
    sid = await start_sandbox(gateway)
    assert (await stop(gateway, sid, grace=1)).success
    assert (await stop(gateway, sid, grace=1)).success  # joins the stop in flight
    await wait_status(gateway, sid, COMPLETED)
    assert (await stop(gateway, sid, grace=1)).success  # already stopped: nothing to do
    await expect_error(stop(gateway, "", grace=1), INVALID, field_name="sandbox_id")
    await expect_error(stop(gateway, "sb-missing"), NOT_FOUND, reason="CWSANDBOX_SANDBOX_NOT_FOUND")
    await expect_error(stop(gateway, sid, grace=-1), INVALID,
                       field_name="graceful_shutdown_seconds")
    await expect_error(stop(gateway, sid, grace=301), INVALID,
                       field_name="graceful_shutdown_seconds")


async def test_pause_really_stops_the_process_and_resume_continues(
        backend: BackendServer, gateway: Gateway, streaming: Streaming) -> None:
    counter = ["-c", f'i=0; while :; do i=$((i+1)); echo $i > {MOUNT}/count; sleep 0.02; done']
    sid = await start_sandbox(gateway, args=counter)

    async def count() -> int:
        try:
            return int((await read_file(gateway, sid, f"{MOUNT}/count")).strip() or b"0")
        except grpc.aio.AioRpcError as error:  # not written yet
            assert error.code() == NOT_FOUND
            return 0

    async def counted_past(value: int) -> int | None:
        now = await count()
        return now if now > value else None

    await poll(lambda: counted_past(0), what="the counter to start")
    assert (await gateway.Pause(pb.PauseSandboxRequest(sandbox_id=sid))).success
    assert (await get(gateway, sid)).sandbox_status == PAUSED
    # Every process is stopped (T); a child that exited just as the group stopped stays a
    # zombie (Z) until its stopped parent reaps it, and runs no more either.
    stopped = {"T", "Z", BOUND_TO_STOP}
    await until(lambda: group_states(backend, sid) <= stopped, what="every process stopped")
    frozen = await count()  # files can still be read while paused
    assert group_states(backend, sid) <= stopped
    # bubblewrap itself is not stopped: it must stay able to act on the backend's death
    assert not sandbox_states(backend, sid)[1] & {"T", "t"}
    assert await count() == frozen
    assert (await gateway.Pause(pb.PauseSandboxRequest(sandbox_id=sid))).success  # idempotent
    assert (await get(gateway, sid)).sandbox_status == PAUSED

    assert (await gateway.Resume(pb.ResumeSandboxRequest(sandbox_id=sid))).success
    assert (await get(gateway, sid)).sandbox_status == RUNNING
    await poll(lambda: counted_past(frozen), what="the counter to move again")
    assert (await gateway.Resume(pb.ResumeSandboxRequest(sandbox_id=sid))).success  # idempotent


async def test_exec_is_refused_while_paused(gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    await gateway.Pause(pb.PauseSandboxRequest(sandbox_id=sid))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await sh(streaming, sid, "true")
    assert caught.value.code() == PRECONDITION
    # Files still work on a paused sandbox.
    assert (await add_file(gateway, sid, f"{MOUNT}/while-paused", b"x")).success


async def test_stopping_a_paused_sandbox_wakes_it_for_sigterm(gateway: Gateway,
                                                             streaming: Streaming) -> None:
    sid = await start_sandbox(gateway, args=POLITE)
    await until_logged(streaming, sid, b"up\n")  # its SIGTERM trap is in place
    await gateway.Pause(pb.PauseSandboxRequest(sandbox_id=sid))
    began = time.monotonic()
    await stop(gateway, sid, grace=5)
    info = await wait_status(gateway, sid, TERMINAL)
    assert time.monotonic() - began < 4
    assert info.sandbox_status == COMPLETED
    assert info.local_details.exit_code == 0
    assert b"got-sigterm" in log_text(await read_logs(streaming, sid))


async def test_stop_right_after_start_still_sends_sigterm(gateway: Gateway) -> None:
    """A stop that arrives before bubblewrap has started the workload must not wait out
    the whole grace period: the workload gets SIGTERM as soon as it exists."""
    for _ in range(3):
        sid = await start_sandbox(gateway, args=STUBBORN[:1] + ["exec sleep 30"])
        began = time.monotonic()
        await stop(gateway, sid, grace=5)
        info = await wait_status(gateway, sid, TERMINAL)
        assert time.monotonic() - began < 4
        assert info.local_details.exit_code == 128 + 15  # SIGTERM, not SIGKILL


async def test_pause_and_resume_errors(gateway: Gateway) -> None:
    for method in (gateway.Pause, gateway.Resume):
        request_type = (pb.PauseSandboxRequest if method is gateway.Pause
                        else pb.ResumeSandboxRequest)
        await expect_error(method(request_type()), INVALID, field_name="sandbox_id")
        await expect_error(method(request_type(sandbox_id="sb-x")), NOT_FOUND,
                           reason="CWSANDBOX_SANDBOX_NOT_FOUND")
    done = await start_sandbox(gateway, args=["-c", "exit 0"], wait=False)
    await wait_status(gateway, done, COMPLETED)
    await expect_error(gateway.Pause(pb.PauseSandboxRequest(sandbox_id=done)), PRECONDITION)
    await expect_error(gateway.Resume(pb.ResumeSandboxRequest(sandbox_id=done)), PRECONDITION)


async def test_max_lifetime_is_enforced(gateway: Gateway) -> None:
    sid = await start_sandbox(gateway, lifetime=1)
    began = time.monotonic()
    info = await wait_status(gateway, sid, TERMINAL, timeout=10)
    assert time.monotonic() - began < 5
    assert info.sandbox_status == COMPLETED
    assert "max_lifetime_seconds" in info.status_reason
    assert info.local_details.max_lifetime_seconds == 1


async def test_delete_removes_a_running_sandbox_and_its_files(
        backend: BackendServer, gateway: Gateway) -> None:
    sid = await start_sandbox(gateway)
    await add_file(gateway, sid, f"{MOUNT}/f.txt", b"data")
    assert backend.engine is not None
    directory = backend.engine.runtime.sandbox_dir(sid)
    assert (directory / "mount" / "f.txt").read_bytes() == b"data"
    assert (await gateway.Delete(pb.DeleteSandboxRequest(sandbox_id=sid))).success
    await expect_error(get(gateway, sid), NOT_FOUND, reason="CWSANDBOX_SANDBOX_NOT_FOUND")
    assert not directory.exists()
    await expect_error(gateway.Delete(pb.DeleteSandboxRequest(sandbox_id=sid)), NOT_FOUND,
                       reason="CWSANDBOX_SANDBOX_NOT_FOUND")
    await expect_error(gateway.Delete(pb.DeleteSandboxRequest()), INVALID, field_name="sandbox_id")


async def test_delete_a_stopped_sandbox(gateway: Gateway) -> None:
    sid = await start_sandbox(gateway, args=["-c", "exit 0"], wait=False)
    await wait_status(gateway, sid, COMPLETED)
    assert (await gateway.Delete(pb.DeleteSandboxRequest(sandbox_id=sid))).success
    await expect_error(get(gateway, sid), NOT_FOUND)


async def test_stop_and_delete_while_still_creating(held_executor: ExecutorHold,
                                                    gateway: Gateway) -> None:
    held_executor.release()
    source = await start_sandbox(gateway)
    snapshot_id = (await snapshot(gateway, source)).file_system_snapshot_id
    held_executor.hold()  # restores now wait: the sandboxes below stay CREATING
    stopped = await start_sandbox(gateway, restore=snapshot_id, wait=False)
    deleted = await start_sandbox(gateway, restore=snapshot_id, wait=False)
    assert (await get(gateway, stopped)).sandbox_status == CREATING
    assert (await stop(gateway, stopped)).success
    assert (await get(gateway, stopped)).sandbox_status == TERMINATING
    deleting = asyncio.ensure_future(gateway.Delete(pb.DeleteSandboxRequest(sandbox_id=deleted)))
    held_executor.release()
    assert (await deleting).success
    info = await wait_status(gateway, stopped, TERMINAL)
    assert info.sandbox_status == COMPLETED and info.status_reason == "stopped by request"
    assert not info.local_details.HasField("exit_code"), "it never ran"
    await expect_error(get(gateway, deleted), NOT_FOUND)
