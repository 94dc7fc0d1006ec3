"""The embedded backend outlives the client that started it while its sandboxes live: it runs
detached (a hang-up does not end it), stays past the linger while a sandbox runs, and exits
once idle; `backend status|stop` show and end it; `--demo` seeds a lingering backend once.

Each client here is a process of its own that exits, as the dashboard and the commands do.
The linger is 1 s (CWSANDBOX_TUI_LINGER) so that "after the idle period" costs no long wait.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cwsandbox_tui import paths

from .helpers import REPO, cli

LINGER = {"CWSANDBOX_TUI_LINGER": "1"}
WAIT = 20.0

# A client process: starts a sandbox with a mount through the real client (taking the lease
# on the embedded backend, which it starts), prints its id, then exits, or with "hold" waits
# for stdin to close first.
CLIENT = """
import asyncio, sys
from cwsandbox_tui.client.factory import ConnectOptions, connect
from cwsandbox_tui.client.models import SandboxSpec

async def main() -> None:
    client = connect(ConnectOptions())
    sandbox = await client.start_sandbox(SandboxSpec(mount_path="/workspace"))
    print(sandbox.id, sandbox.status.value, flush=True)
    await client.close()

asyncio.run(main())
if sys.argv[1:] == ["hold"]:
    sys.stdin.read()
"""


@pytest.fixture
def data_dir() -> Path:
    return paths.data_dir()


def _state(data_dir: Path) -> dict[str, object] | None:
    try:
        return json.loads((data_dir / "backend.json").read_text())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # an ended child of ours is a zombie until reaped
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


async def until(condition: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    give_up = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < give_up, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def _log(data_dir: Path) -> str:
    try:
        return (data_dir / "backend.log").read_text(errors="replace")
    except OSError:
        return ""


async def _client(env: dict[str, str]) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLIENT, cwd=REPO, env={**os.environ, **env},
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    sandbox_id, status = out.decode().split()
    assert status == "running"
    return sandbox_id


async def _statuses(env: dict[str, str] | None = None) -> dict[str, str]:
    run = await cli("sandboxes", "list", "--json", env=env)
    assert run.code == 0, run
    return {row["id"]: row["status"] for row in run.json()}


async def test_a_running_sandbox_keeps_the_backend_past_the_linger_then_it_ends_when_idle(
        data_dir: Path) -> None:
    sandbox_id = await _client(LINGER)  # the client has exited: its lease is stale
    state = _state(data_dir)
    assert state is not None
    pid = state["pid"]
    assert isinstance(pid, int)
    # Without a client for longer than the linger, the running sandbox keeps it.
    await until(lambda: "no client for 1s; staying while 1 running" in _log(data_dir),
                "the backend to pass its linger with the sandbox running")
    assert _alive(pid)
    assert (await _statuses(LINGER))[sandbox_id] == "running"
    state = _state(data_dir)
    assert state is not None and state["pid"] == pid  # the same backend, not a new one

    stop = await cli("sandboxes", "stop", sandbox_id, "--grace", "1", env=LINGER)
    assert stop.code == 0, stop
    # Nothing keeps it now: it exits after the linger, and cleans up after itself.
    await until(lambda: not _alive(pid), "the idle backend to exit")
    assert _state(data_dir) is None
    assert "no client, sandbox or operation is left; stopping" in _log(data_dir)


async def test_a_hang_up_does_not_end_the_backend_or_its_sandbox(data_dir: Path) -> None:
    # The launching client is the leader of a session of its own, as a login shell over ssh
    # is; it stays until its session is hung up.
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLIENT, "hold", cwd=REPO, env={**os.environ, **LINGER},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True)
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    sandbox_id = line.decode().split()[0]
    state = _state(data_dir)
    assert state is not None
    pid = state["pid"]
    assert isinstance(pid, int)
    assert os.getsid(pid) != os.getsid(process.pid)  # detached: a session of its own
    assert os.getsid(pid) == pid

    os.killpg(process.pid, signal.SIGHUP)  # the terminal's session hangs up
    await asyncio.wait_for(process.wait(), WAIT)
    assert process.returncode == -signal.SIGHUP
    os.kill(pid, signal.SIGHUP)  # and should the backend itself be sent one
    await until(lambda: "SIGHUP ignored" in _log(data_dir), "the backend to take the SIGHUP")
    await until(lambda: "no client for 1s; staying while 1 running" in _log(data_dir),
                "the backend to pass its linger with the sandbox running")
    assert _alive(pid)
    assert (await _statuses(LINGER))[sandbox_id] == "running"


async def test_backend_status_and_stop(data_dir: Path) -> None:
    none = await cli("backend", "status")
    assert none.code == 1 and none.stderr == f"no embedded backend is running for {data_dir}\n"
    sandbox_id = await _client({})
    state = _state(data_dir)
    assert state is not None
    pid = state["pid"]
    assert isinstance(pid, int)

    status = await cli("backend", "status", "--json")
    assert status.code == 0, status
    shown = status.json()
    assert (shown["pid"], shown["endpoint"], shown["data_dir"]) == (pid, state["url"],
                                                                     str(data_dir))
    assert shown["running"] == 1 and shown["paused"] == 0 and shown["operations"] == 0
    assert 0 <= shown["uptime_seconds"] < 600
    text = await cli("backend", "status")
    assert text.code == 0 and f"pid         {pid}\n" in text.stdout, text
    assert "sandboxes   1 running, 0 paused" in text.stdout

    # A careful stop: refused while a sandbox would end with it, saying why and what to do.
    refused = await cli("backend", "stop")
    assert refused.code == 1, refused
    assert refused.stderr.splitlines() == [
        f"error: the backend (pid {pid}) was not stopped:",
        "  1 sandbox would be ended (1 running, 0 paused); stop them first "
        "(`cwsandbox-tui sandboxes list --running`)",
        "  --force stops it anyway"]
    assert _alive(pid)

    forced = await cli("backend", "stop", "--force")
    assert forced.code == 0, forced
    assert forced.stdout == (f"stopped the backend (pid {pid}); 1 sandbox ended with it "
                             "(listed FAILED)\n")
    assert not _alive(pid) and _state(data_dir) is None
    assert (await _statuses())[sandbox_id] == "failed"


async def test_backend_stop_without_sandboxes_stops_it(data_dir: Path) -> None:
    first = await cli("sandboxes", "list")
    assert first.code == 0, first
    state = _state(data_dir)
    assert state is not None
    stopped = await cli("backend", "stop")
    assert stopped.code == 0 and stopped.stdout == f"stopped the backend (pid {state['pid']})\n"
    assert _state(data_dir) is None


def _demo_counts(data_dir: Path) -> tuple[int, int, int]:
    """Sandboxes, snapshots, and how many times the backend finished seeding."""
    with sqlite3.connect(data_dir / "state.sqlite3") as db:
        sandboxes = db.execute("SELECT COUNT(*) FROM sandboxes").fetchone()[0]
        snapshots = db.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0]
    return sandboxes, snapshots, _log(data_dir).count("demo records are in place")


DEMO_CLIENT = """
from cwsandbox_tui.client.factory import ConnectOptions, prepare
prepare(ConnectOptions(demo=True, oplog=False)).connect()
"""


async def _demo() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", DEMO_CLIENT, cwd=REPO, stdin=asyncio.subprocess.DEVNULL)
    assert await asyncio.wait_for(process.wait(), 60) == 0


async def test_demo_seeds_a_lingering_backend_once(data_dir: Path) -> None:
    plain = await cli("sandboxes", "list", "--json")  # a backend without the demo lingers
    assert plain.code == 0 and plain.json() == [], plain
    pid = (_state(data_dir) or {})["pid"]

    await _demo()
    await until(lambda: _demo_counts(data_dir)[2] >= 1, "the demo to be seeded", timeout=60)
    first = _demo_counts(data_dir)
    assert first[0] >= 6 and first[1] >= 40, first
    assert (_state(data_dir) or {})["pid"] == pid  # seeded by the backend that lingered

    await _demo()
    await until(lambda: _demo_counts(data_dir)[2] >= 2, "the second seeding", timeout=60)
    assert _demo_counts(data_dir)[:2] == first[:2]

    # A backend started again (its demo sandboxes ended with the last one) adds none either.
    stopped = await cli("backend", "stop", "--force")
    assert stopped.code == 0, stopped
    await _demo()
    await until(lambda: _demo_counts(data_dir)[2] >= 3, "the seeding after a restart",
                timeout=60)
    assert _demo_counts(data_dir)[:2] == first[:2]
