"""Confinement under bubblewrap, and the unisolated mode that says so."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from conftest import bwrap_available  # tests/conftest.py

from cwsandbox_tui.backend.server import BackendServer, read_state
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb

from .conftest import StartBackend
from .helpers import (
    COMPLETED,
    MOUNT,
    TERMINAL,
    Gateway,
    Streaming,
    add_file,
    get,
    own_processes,
    read_file,
    run_exec,
    sh,
    sh_ok,
    start_sandbox,
    stop,
    until,
    wait_status,
)

needs_bwrap = pytest.mark.skipif(not bwrap_available(),
                                 reason="bubblewrap (bwrap) is not installed")


def host_dir(backend: BackendServer, sandbox_id: str) -> Path:
    assert backend.engine is not None
    return backend.engine.runtime.sandbox_dir(sandbox_id)


@needs_bwrap
async def test_backend_reports_bubblewrap(backend: BackendServer, gateway: Gateway) -> None:
    sid = await start_sandbox(gateway)
    assert (await get(gateway, sid)).local_details.isolation == "bubblewrap"
    state = read_state(backend.config.data_dir)
    assert state is not None and state["isolation"] == "bubblewrap"


@needs_bwrap
async def test_host_root_is_read_only(gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    for target in ("/cwsandbox-probe", "/etc/cwsandbox-probe", "/usr/cwsandbox-probe",
                   "/var/cwsandbox-probe", "/opt/cwsandbox-probe"):
        result = await sh(streaming, sid, f"echo pwned > {target}")
        assert result.exit_code != 0, target
        assert not Path(target).exists(), target
    # the home directory is hidden behind an empty scratch directory: nothing reaches the host
    await sh(streaming, sid, f"echo pwned > {Path.home()}/cwsandbox-probe")
    assert not (Path.home() / "cwsandbox-probe").exists()
    assert (await sh(streaming, sid, "rm /etc/os-release")).exit_code != 0
    assert Path("/etc/os-release").exists()
    # what the sandbox can write: its mount and its /tmp
    await sh_ok(streaming, sid, f"echo ok > {MOUNT}/ok && echo ok > /tmp/ok")
    assert await sh_ok(streaming, sid, "cat /etc/os-release >/dev/null && echo readable") == \
        b"readable\n"


@needs_bwrap
async def test_mount_is_a_real_directory_at_mount_path(backend: BackendServer, gateway: Gateway,
                                                      streaming: Streaming) -> None:
    sid = await start_sandbox(gateway, mount_path="/srv/deep/work")
    await sh_ok(streaming, sid, "echo from-inside > /srv/deep/work/file")
    assert (host_dir(backend, sid) / "mount" / "file").read_bytes() == b"from-inside\n"
    (host_dir(backend, sid) / "mount" / "from-host").write_bytes(b"host")
    assert await sh_ok(streaming, sid, "cat /srv/deep/work/from-host") == b"host"
    assert await sh_ok(streaming, sid, "pwd") == b"/srv/deep/work\n"


@needs_bwrap
async def test_the_data_directory_is_out_of_reach(backend: BackendServer, gateway: Gateway,
                                                 streaming: Streaming) -> None:
    data = backend.config.data_dir.resolve()
    sid = await start_sandbox(gateway)
    result = await sh(streaming, sid, f"ls -A {data}; echo x > {data}/state.sqlite3; "
                                      f"echo pwned > {data}/pwned")
    assert not (data / "pwned").exists()
    assert b"x" not in (data / "state.sqlite3").read_bytes()[:1]
    assert b"state.sqlite3" not in result.stdout


@needs_bwrap
async def test_the_home_directory_is_hidden(gateway: Gateway, streaming: Streaming) -> None:
    home = Path.home().resolve()
    if home == Path("/") or str(home).startswith("/tmp/"):
        pytest.skip(f"the home directory {home} is not one the backend hides")
    sid = await start_sandbox(gateway)
    listing = await sh(streaming, sid, f"ls -A {home}")
    assert listing.stdout == b"", "nothing of the user's home may be visible"


@needs_bwrap
async def test_a_sandbox_cannot_touch_another_sandboxes_mount(
        backend: BackendServer, gateway: Gateway, streaming: Streaming) -> None:
    victim = await start_sandbox(gateway, mount_path="/victim")
    attacker = await start_sandbox(gateway, mount_path="/attacker")
    await add_file(gateway, victim, "/victim/precious", b"precious")
    victim_host = host_dir(backend, victim) / "mount"
    for target in (f"{victim_host}/precious", f"{victim_host}/new", "/victim/precious",
                   "/victim/new"):
        await sh(streaming, attacker, f"echo pwned > {target}; rm -f {target}")
    assert sorted(os.listdir(victim_host)) == ["precious"]
    assert await read_file(gateway, victim, "/victim/precious") == b"precious"


@needs_bwrap
async def test_tmp_is_private_per_sandbox(gateway: Gateway, streaming: Streaming) -> None:
    one = await start_sandbox(gateway)
    two = await start_sandbox(gateway)
    await sh_ok(streaming, one, "echo mine > /tmp/private-note")
    assert (await sh(streaming, two, "cat /tmp/private-note")).exit_code != 0
    assert not Path("/tmp/private-note").exists()
    assert await sh_ok(streaming, one, "cat /tmp/private-note") == b"mine\n"
    # the host's /tmp (where pytest keeps this test's files) is not visible either
    assert list(Path("/tmp").glob("pytest-of-*"))
    assert (await sh(streaming, one, "ls -d /tmp/pytest-of-*")).exit_code != 0


@needs_bwrap
async def test_own_pid_namespace_and_hostname(gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    assert await sh_ok(streaming, sid, "hostname") == f"{sid}\n".encode()
    pids = (await sh_ok(streaming, sid, "ls /proc | grep -E '^[0-9]+$' | wc -l")).strip()
    assert int(pids) < 10, "only the sandbox's own processes are visible"


@needs_bwrap
async def test_sandbox_processes_die_with_their_stop(backend: BackendServer, gateway: Gateway,
                                                    streaming: Streaming) -> None:
    before = _sleepers()  # another test's, still being reaped: not this sandbox's
    sid = await start_sandbox(gateway, args=["-c", "sleep 1000 & sleep 1001 & wait"])
    await until(lambda: len(_sleepers() - before) == 2, what="the sandbox's two sleeps")
    ours = _sleepers() - before
    await stop(gateway, sid, grace=1)
    await wait_status(gateway, sid, TERMINAL)
    # The kernel ends what is left in the sandbox's pid namespace once its init is gone, and
    # that takes a moment to be reaped.
    await until(lambda: not ours & _sleepers(), timeout=20,
                what="the sandbox's processes to be gone")


def _sleepers() -> set[str]:
    ours = own_processes()  # not another run's, on the same host at the same time
    return {p.name for p in Path("/proc").iterdir()
            if p.name.isdigit() and int(p.name) in ours
            and _cmdline(p).startswith(b"sleep\x00100")}


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


# ---------------------------------------------------------------------------------------------
# unisolated


async def test_unisolated_mode_says_so_and_works(start_backend: StartBackend,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cwsandbox_tui.backend")
    served = await start_backend(isolate=False)
    gateway, streaming = served.gateway, served.streaming
    warnings = [r for r in caplog.get_records("call") if r.levelno == logging.WARNING]
    assert any("isolation" in r.getMessage() and "disabled" in r.getMessage() for r in warnings)
    state = read_state(served.server.config.data_dir)
    assert state is not None and state["isolation"] == "none"
    sid = await start_sandbox(gateway)
    info = await get(gateway, sid)
    assert info.local_details.isolation == "none"
    mount = host_dir(served.server, sid) / "mount"
    # the workload runs in its mount directory on the host
    assert await sh_ok(streaming, sid, "pwd") == f"{mount.resolve()}\n".encode()
    await add_file(gateway, sid, f"{MOUNT}/f", b"through the API")
    assert await sh_ok(streaming, sid, "cat f") == b"through the API"
    assert (mount / "f").read_bytes() == b"through the API"
    # a program that cannot start ends the stream with one failure frame
    result = await run_exec(streaming, sid, ["/no/such/program"])
    assert [k for k in result.kinds if k in ("exit", "error")] == [result.kinds[-1]]
    assert result.exit_code != 0 if result.kinds[-1] == "exit" else \
        result.frames[-1].error.code == "EXEC_START_FAILED"
    # many processes in a row all start cleanly (a child forked from the threaded gRPC
    # process must not run Python code before exec: it used to crash now and then)
    results = [await sh(streaming, sid, "exit 0") for _ in range(40)]
    assert [r.exit_code for r in results] == [0] * 40
    # lifecycle works the same
    assert (await gateway.Pause(pb.PauseSandboxRequest(sandbox_id=sid))).success
    await stop(gateway, sid, grace=5)
    assert (await wait_status(gateway, sid, TERMINAL)).sandbox_status == COMPLETED
