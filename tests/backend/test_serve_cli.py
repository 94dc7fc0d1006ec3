"""`cwsandbox-tui serve`: the command that runs the backend, as a real subprocess."""

from __future__ import annotations

import json
import signal
import uuid
from pathlib import Path

import grpc
import pytest

from cwsandbox_tui.backend.server import read_state
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb
from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc

from .helpers import (
    FSS_CREATING,
    FSS_READY,
    expect_error,
    get,
    get_snapshot,
    poll,
    sh_ok,
    snapshot,
    start_sandbox,
    until,
    wait_snapshot,
)
from .serving import ServeProcess, processes_with, run_serve

API_KEY = "serve-cli-key-9f8e7d6c5b4a"


async def test_serve_writes_its_state_serves_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "served"
    server = await ServeProcess(data_dir).ready()
    try:
        state = read_state(data_dir)
        assert state is not None
        assert state["url"] == f"http://127.0.0.1:{server.port}"
        assert state["isolation"] in ("bubblewrap", "none") and state["auth"] is False
        gateway, streaming = server.stubs()
        sid = await start_sandbox(gateway)
        assert await sh_ok(streaming, sid, "echo served") == b"served\n"
        # a second backend on the same data directory is refused, naming the first
        busy = run_serve(data_dir)
        assert busy.returncode == 2
        assert "in use" in busy.stderr and str(server.port) in busy.stderr
        assert await server.close() == 0
    finally:
        server.kill()
    assert not (data_dir / "backend.json").exists()
    output = server.output
    assert f"serving coreweave.sandbox.v1 and v1beta2 on http://127.0.0.1:{server.port}" in output
    assert "isolation:" in output and "authentication: none" in output and "stopping" in output


async def test_serve_with_an_api_key_beyond_loopback(tmp_path: Path) -> None:
    refused = run_serve(tmp_path / "open", "--host", "0.0.0.0")
    assert refused.returncode == 2 and "API key" in refused.stderr
    assert not (tmp_path / "open" / "backend.json").exists()
    unset = run_serve(tmp_path / "unset", "--host", "0.0.0.0", "--api-key-env", "NO_SUCH_VAR_X")
    assert unset.returncode == 2 and "NO_SUCH_VAR_X" in unset.stderr

    server = await ServeProcess(tmp_path / "keyed", "--host", "0.0.0.0", "--api-key-env",
                                "TEST_BACKEND_KEY", env={"TEST_BACKEND_KEY": API_KEY}).ready()
    try:
        state = read_state(tmp_path / "keyed")
        assert state is not None and state["auth"] is True and API_KEY not in json.dumps(state)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            gateway = gateway_pb2_grpc.GatewayServiceStub(channel)
            request = pb.GetFileSystemSnapshotBucketConfigRequest()
            await expect_error(gateway.GetFileSystemSnapshotBucketConfig(request),
                               grpc.StatusCode.UNAUTHENTICATED)
            await expect_error(gateway.GetFileSystemSnapshotBucketConfig(
                request, metadata=(("authorization", "Bearer wrong"),)),
                grpc.StatusCode.UNAUTHENTICATED)
            config = await gateway.GetFileSystemSnapshotBucketConfig(
                request, metadata=(("authorization", f"Bearer {API_KEY}"),))
            assert config.effective_bucket_name
        assert await server.close() == 0
    finally:
        server.kill()
    assert "authentication: API key required" in server.output
    assert API_KEY not in server.output


@pytest.mark.parametrize(("args", "message"), [
    (("--faults", "Get.explode=1"), "--faults"),
    (("--faults", "seed"), "--faults"),
    (("--port", "70000"), "--port"),
    (("--sandbox-memory", "lots"), "--sandbox-memory: 'lots' is not a size like 512Mi"),
    (("--sandbox-memory", "1Mi"),
     "--sandbox-memory: memory_bytes must be at least 16.0 MiB, not 1.0 MiB"),
    (("--sandbox-processes", "2"), "--sandbox-processes: processes must be at least 8, not 2"),
    (("--sandbox-log", "0"), "--sandbox-log: '0' is not a size"),
])
def test_serve_refuses_bad_options(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = run_serve(tmp_path / "bad", *args)
    assert result.returncode == 2 and message in result.stderr


async def test_serve_applies_the_fault_spec(tmp_path: Path) -> None:
    server = await ServeProcess(tmp_path / "faulty", "--faults",
                                "seed=3,GetFileSystemSnapshotBucketConfig.throttle=first1,"
                                "retry_delay=1.5s").ready()
    try:
        gateway, _ = server.stubs()
        request = pb.GetFileSystemSnapshotBucketConfigRequest()
        found = await expect_error(gateway.GetFileSystemSnapshotBucketConfig(request),
                                   grpc.StatusCode.RESOURCE_EXHAUSTED,
                                   reason="CWSANDBOX_FSS_BACKEND_THROTTLED")
        assert found.retry_delay == pytest.approx(1.5)
        assert (await gateway.GetFileSystemSnapshotBucketConfig(request)).effective_bucket_name
        assert await server.close() == 0
    finally:
        server.kill()


async def test_serve_holds_archives_while_the_hold_file_exists(tmp_path: Path) -> None:
    """The hidden test option: archives stay CREATING until the hold file is removed."""
    hold = tmp_path / "hold"
    hold.touch()
    server = await ServeProcess(tmp_path / "held", "--hold-archives-while", str(hold)).ready()
    try:
        gateway, _ = server.stubs()
        sid = await start_sandbox(gateway)
        held = (await snapshot(gateway, sid, wait=False)).file_system_snapshot_id
        # a wait of a second runs out while the archive is held
        found = await expect_error(snapshot(gateway, sid, key="waits", max_timeout=1),
                                   grpc.StatusCode.DEADLINE_EXCEEDED,
                                   reason="CWSANDBOX_FSS_WAIT_TIMEOUT")
        assert (await get_snapshot(gateway, held)).status == FSS_CREATING
        waited = found.metadata["file_system_snapshot_id"]
        assert (await get_snapshot(gateway, waited)).status == FSS_CREATING
        hold.unlink()
        for snapshot_id in (held, waited):
            ready = await wait_snapshot(gateway, snapshot_id, FSS_READY)
            assert ready.size_bytes > 0
        assert await server.close() == 0
    finally:
        server.kill()


async def test_unisolated_serve_says_so_and_its_sandboxes_die_with_it(tmp_path: Path) -> None:
    marker = f"1000.{uuid.uuid4().int % 10**9}"  # a sleep length no other process uses
    server = await ServeProcess(tmp_path / "plain", "--no-isolation").ready()
    try:
        state = read_state(tmp_path / "plain")
        assert state is not None and state["isolation"] == "none"
        gateway, _ = server.stubs()
        sid = await start_sandbox(gateway, args=["-c", f"exec sleep {marker}"])
        assert (await get(gateway, sid)).local_details.isolation == "none"
        await until(lambda: bool(processes_with(marker)), what="the workload to run")
        server.kill()  # SIGKILL: the backend gets no chance to clean up
        await until(lambda: not processes_with(marker), what="the workload to die with it")
        await server.close()
    finally:
        server.kill()
    assert "WARNING isolation: isolation disabled by --no-isolation" in server.output


def _ignored_signals(status_line: bytes) -> set[str]:
    """Which of SIGHUP, SIGINT, SIGQUIT a /proc/<pid>/status SigIgn line says are ignored."""
    mask = int(status_line.split()[-1], 16)
    return {sig.name for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT)
            if mask & (1 << (sig - 1))}


async def test_signals_ignored_where_serve_was_started_are_not_ignored_in_its_sandboxes(
        tmp_path: Path) -> None:
    """`serve &` (SIGINT, SIGQUIT ignored) or nohup (SIGHUP): those ignores stay across exec,
    so the sandboxes' processes inherited them (a ^C in a shell, a hang-up, never arrived)."""
    server = await ServeProcess(tmp_path / "served", ignoring=("INT", "QUIT", "HUP")).ready()
    try:
        gateway, streaming = server.stubs()
        sid = await start_sandbox(gateway, args=[
            "-c", "grep SigIgn /proc/self/status > /tmp/main; exec sleep infinity"])

        async def main_wrote() -> bytes | None:
            return await sh_ok(streaming, sid, "cat /tmp/main 2>/dev/null; true") or None

        main = await poll(main_wrote, what="the main process's signal mask")
        executed = await sh_ok(streaming, sid, "grep SigIgn /proc/self/status")
        assert _ignored_signals(main) == set() and _ignored_signals(executed) == set(), \
            (main, executed)
        assert await server.close() == 0  # the backend itself still runs on as asked
    finally:
        server.kill()
