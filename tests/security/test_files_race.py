"""AddFile and RetrieveFile against a sandbox that races them, and files that are not files.

The sandbox swaps a directory and a link to a host path with renameat2(RENAME_EXCHANGE) as
fast as it can while the client reads and writes through the directory's name: no call may
ever read or write a host file. FIFOs, sockets and devices are refused at once, without a
blocking open, and the server keeps answering other calls meanwhile.
"""

from __future__ import annotations

import asyncio
import collections
import time
from pathlib import Path

import grpc

from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb
from tests.backend.helpers import (
    MOUNT,
    add_file,
    expect_error,
    poll,
    read_file,
    sh_ok,
    start_sandbox,
)

from .support import (  # noqa: F401
    HOST_SECRET,
    STALL_LIMIT_MS,
    Guarded,
    Probe,
    guarded_fixture,
    report,
)

ITERATIONS = 150

SWAPPER = r"""
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
pairs = []
for index, target in enumerate(sys.argv[1:]):
    real, link = f"d{index}", f"l{index}"
    os.makedirs(real, exist_ok=True)
    with open(f"{real}/secret.txt", "w") as out:
        out.write("inside")
    os.symlink(target, link)
    pairs.append((real.encode(), link.encode()))
open("ready", "w").close()
deadline = time.monotonic() + 60
swaps = 0
while time.monotonic() < deadline and not os.path.exists("stop"):
    for real, link in pairs:
        for _ in range(50):
            if libc.renameat2(-100, real, -100, link, 2) != 0:
                raise OSError(ctypes.get_errno(), "renameat2")
            swaps += 1
print("swaps", swaps, flush=True)
"""

ALLOWED = {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED,
           grpc.StatusCode.FAILED_PRECONDITION}


async def test_symlink_swap_race_never_reaches_a_host_file(guarded: Guarded) -> None:
    gateway = guarded.gateway
    etc_before = {p.name for p in Path("/etc").iterdir()}
    before = guarded.host_state()
    sid = await start_sandbox(gateway, command="/usr/bin/python3",
                              args=["-c", SWAPPER, str(guarded.secret_dir), "/etc"])

    async def ready() -> bool | None:
        try:
            await read_file(gateway, sid, f"{MOUNT}/ready")
        except grpc.aio.AioRpcError:
            return None
        return True

    await poll(ready, 20, "the swapper to start")
    outcomes: collections.Counter[str] = collections.Counter()
    leaked: list[str] = []
    started = time.perf_counter()
    for i in range(ITERATIONS):
        for pair in (0, 1):
            for name in (f"d{pair}", f"l{pair}"):
                try:
                    data = await read_file(gateway, sid, f"{MOUNT}/{name}/secret.txt")
                except grpc.aio.AioRpcError as error:
                    assert error.code() in ALLOWED, (error.code(), error.details())
                    outcomes[f"read {error.code().name}"] += 1
                else:
                    if data != b"inside":
                        leaked.append(f"read {name}: {data[:40]!r}")
                    outcomes["read inside"] += 1
            try:
                await add_file(gateway, sid, f"{MOUNT}/d{pair}/out-{i}.txt", b"written")
            except grpc.aio.AioRpcError as error:
                assert error.code() in ALLOWED, (error.code(), error.details())
                outcomes[f"write {error.code().name}"] += 1
            else:
                outcomes["write inside"] += 1
    elapsed = time.perf_counter() - started
    await add_file(gateway, sid, f"{MOUNT}/stop", b"")
    assert not leaked, leaked
    assert guarded.host_state() == before, "a host file was written"
    assert {p.name for p in Path("/etc").iterdir()} == etc_before, "a file appeared in /etc"
    # the race really ran: both states of the swap were seen by the calls
    assert outcomes["read inside"] > 0 and outcomes["read NOT_FOUND"] > 0, outcomes
    calls = sum(outcomes.values())
    report("symlink-swap race", calls=calls, seconds=f"{elapsed:.1f}",
           host_files_read=len(leaked), host_files_written=0, outcomes=dict(outcomes))


async def test_fifo_socket_and_devices_are_refused_without_blocking(guarded: Guarded) -> None:
    gateway = guarded.gateway
    sid = await start_sandbox(gateway)
    await sh_ok(guarded.streaming, sid,
                f"mkfifo {MOUNT}/pipe && python3 -c \"import socket; "
                f"socket.socket(socket.AF_UNIX).bind('{MOUNT}/sock')\"")
    probe = Probe(lambda: gateway.GetFileSystemSnapshotBucketConfig(
        pb.GetFileSystemSnapshotBucketConfigRequest()))

    async def attack() -> float:
        started = time.perf_counter()
        calls = []
        for _ in range(10):
            calls.append(expect_error(read_file(gateway, sid, f"{MOUNT}/pipe"),
                                      grpc.StatusCode.FAILED_PRECONDITION,
                                      reason="CWSANDBOX_FILE_IO_FAILED"))
            calls.append(expect_error(add_file(gateway, sid, f"{MOUNT}/pipe", b"x"),
                                      grpc.StatusCode.FAILED_PRECONDITION,
                                      reason="CWSANDBOX_FILE_IO_FAILED"))
            calls.append(expect_error(read_file(gateway, sid, f"{MOUNT}/sock"),
                                      grpc.StatusCode.FAILED_PRECONDITION,
                                      reason="CWSANDBOX_FILE_IO_FAILED"))
        found = await asyncio.wait_for(asyncio.gather(*calls), 10)
        assert "FIFO" in found[0].message and "socket" in found[2].message
        return time.perf_counter() - started

    took = await probe.around(attack())
    for path in ("/dev/zero", "/dev/null", "/proc/self/environ", "/proc/1/cmdline"):
        await expect_error(read_file(gateway, sid, path), grpc.StatusCode.PERMISSION_DENIED,
                           reason="CWSANDBOX_FILE_PERMISSION_DENIED")
    await expect_error(read_file(gateway, sid, "/sys/kernel/notes"), grpc.StatusCode.NOT_FOUND,
                       reason="CWSANDBOX_FILE_NOT_FOUND")  # a sandbox has no /sys
    report("FIFO retrieve", fifo_calls_seconds=f"{took:.3f}",
           other_call_worst_ms=f"{probe.worst_ms:.1f}",
           other_call_median_ms=f"{probe.median_ms:.1f}", probes=len(probe.latencies))
    assert probe.latencies, "no other call was answered while the FIFO was retrieved"
    assert probe.worst_ms < STALL_LIMIT_MS, probe.latencies


async def test_the_sandbox_view_of_files(guarded: Guarded) -> None:
    """Read what the sandbox can read, write only where it can write, hidden stays hidden."""
    gateway = guarded.gateway
    sid = await start_sandbox(gateway)
    assert await read_file(gateway, sid, "/etc/os-release") == Path("/etc/os-release").read_bytes()
    secret = str(guarded.secret_dir)
    await expect_error(read_file(gateway, sid, f"{secret}/secret.txt"), grpc.StatusCode.NOT_FOUND,
                       reason="CWSANDBOX_FILE_NOT_FOUND")
    await expect_error(read_file(gateway, sid, secret), grpc.StatusCode.NOT_FOUND,
                       reason="CWSANDBOX_FILE_NOT_FOUND")  # /var is not in a sandbox's root
    await expect_error(add_file(gateway, sid, f"{secret}/planted", b"x"),
                       grpc.StatusCode.PERMISSION_DENIED,
                       reason="CWSANDBOX_FILE_PERMISSION_DENIED")
    # the data directory is not there either (in the sandbox, /tmp is its own)
    await expect_error(read_file(gateway, sid, str(guarded.data_dir / "state.sqlite3")),
                       grpc.StatusCode.NOT_FOUND, reason="CWSANDBOX_FILE_NOT_FOUND")
    home = Path.home()
    for name in (".bashrc", ".profile"):
        if (home / name).is_file() and home != Path("/"):
            await expect_error(read_file(gateway, sid, str(home / name)),
                               grpc.StatusCode.NOT_FOUND)
    # the host's secrets are not in a sandbox's root, whatever the backend's privileges
    for path in ("/etc/shadow", "/etc/ssl/private/key.pem", "/root/.bashrc", "/run/x"):
        await expect_error(read_file(gateway, sid, path), grpc.StatusCode.NOT_FOUND,
                           reason="CWSANDBOX_FILE_NOT_FOUND")
    await expect_error(read_file(gateway, sid, "/nonexistent/file"), grpc.StatusCode.NOT_FOUND,
                       reason="CWSANDBOX_FILE_NOT_FOUND")
    await expect_error(add_file(gateway, sid, "/etc/planted", b"x"),
                       grpc.StatusCode.PERMISSION_DENIED,
                       reason="CWSANDBOX_FILE_PERMISSION_DENIED")
    assert not Path("/etc/planted").exists()
    # a file used as a directory is a clear file error, not UNKNOWN
    await add_file(gateway, sid, f"{MOUNT}/plain", b"x")
    for call in (add_file(gateway, sid, f"{MOUNT}/plain/child", b"x"),
                 read_file(gateway, sid, f"{MOUNT}/plain/child")):
        await expect_error(call, grpc.StatusCode.FAILED_PRECONDITION,
                           reason="CWSANDBOX_FILE_IO_FAILED")
    await add_file(gateway, sid, "/tmp/ok", b"fine")
    assert await sh_ok(guarded.streaming, sid, "cat /tmp/ok") == b"fine"
    assert guarded.host_state() == {"secret.txt": HOST_SECRET}
