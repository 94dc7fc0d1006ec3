"""`cwsandbox-tui backend status|stop`: the embedded backend that outlives its clients."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

from .. import paths
from ..client.embedded import LEASES, process_alive, running_state
from ..formatting import human_age

STOP_WAIT = 20.0  # seconds: its sandboxes get their grace on the way out
OK, FAILURE, USAGE = 0, 1, 2


def add_parsers(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    backend = subparsers.add_parser(
        "backend", help="show or stop the embedded backend (it outlives the dashboard while "
                        "sandboxes run)")
    actions = backend.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = actions.add_parser("status", help="pid, endpoint, data directory, uptime, sandboxes")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run_status)
    p = actions.add_parser(
        "stop", help="end it; refused while sandboxes live, operations run or clients are "
                     "attached, unless --force",
        description="Stop the embedded backend of the data directory. While sandboxes are "
                    "running or paused, an operation runs or a dashboard or command is "
                    "attached, it is refused: stop those first (`cwsandbox-tui sandboxes "
                    "list --running`), or pass --force, which ends the sandboxes' processes "
                    "with the backend (they are listed FAILED, 'killed when the backend "
                    "stopped').")
    p.add_argument("--force", action="store_true",
                   help="stop it even though sandboxes or operations would end with it")
    p.set_defaults(run=run_stop)


def _data_dir() -> Path:
    return paths.data_dir()


def _clients(data_dir: Path) -> list[int]:
    """Pids of the clients attached (their lease files), those alive."""
    pids = []
    for lease in sorted((data_dir / LEASES).glob("*")):
        try:
            pid = int(lease.name)
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError):
            continue
        except PermissionError:
            pass
        pids.append(pid)
    return pids


def _keeping(state: dict[str, object]) -> dict[str, int]:
    keeping = state.get("keeping")
    if not isinstance(keeping, dict):
        return {}
    return {k: v for k, v in keeping.items() if isinstance(v, int)}


def _not_running(data_dir: Path) -> int:
    print(f"no embedded backend is running for {data_dir}", file=sys.stderr)
    return FAILURE


def run_status(args: argparse.Namespace) -> int:
    data_dir = _data_dir()
    state = running_state(data_dir)
    if state is None:
        return _not_running(data_dir)
    keeping = _keeping(state)
    given = state.get("started_at")
    started = float(given) if isinstance(given, (int, float)) else None
    uptime = time.time() - started if started is not None else None
    clients = _clients(data_dir)
    if args.json:
        print(json.dumps({"pid": state["pid"], "endpoint": state["url"],
                          "data_dir": str(data_dir), "uptime_seconds": uptime,
                          "running": keeping.get("running", 0),
                          "paused": keeping.get("paused", 0),
                          "starting_or_stopping": keeping.get("changing", 0),
                          "operations": keeping.get("operations", 0), "clients": clients}))
        return OK
    rows = [("pid", str(state["pid"])), ("endpoint", str(state["url"])),
            ("data dir", str(data_dir)),
            ("uptime", human_age(started, time.time()) if uptime is not None else "-"),
            ("sandboxes", f"{keeping.get('running', 0)} running, {keeping.get('paused', 0)} "
                          f"paused, {keeping.get('changing', 0)} starting or stopping"),
            ("operations", str(keeping.get("operations", 0))),
            ("clients", ", ".join(f"pid {p}" for p in clients) or "none")]
    print("\n".join(f"{name:<11} {value}" for name, value in rows))
    return OK


def _is_backend(pid: int, data_dir: Path) -> bool:
    """The pid is this data directory's backend (not a pid reused since it died)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc here: trust the state file, whose server answered just now
    return b"cwsandbox_tui" in cmdline and str(data_dir).encode() in cmdline


def run_stop(args: argparse.Namespace) -> int:
    data_dir = _data_dir()
    state = running_state(data_dir)
    if state is None:
        return _not_running(data_dir)
    pid = state["pid"]
    assert isinstance(pid, int)
    keeping = _keeping(state)
    live = keeping.get("running", 0) + keeping.get("paused", 0) + keeping.get("changing", 0)
    operations = keeping.get("operations", 0)
    clients = [p for p in _clients(data_dir) if p != os.getpid()]
    problems = []
    if live:
        problems.append(f"{live} sandbox{'es' if live != 1 else ''} would be ended "
                        f"({keeping.get('running', 0)} running, {keeping.get('paused', 0)} "
                        "paused); stop them first (`cwsandbox-tui sandboxes list --running`)")
    if operations:
        problems.append(f"{operations} operation{'s' if operations != 1 else ''} would be "
                        "cut off (snapshot archives, deletes, stops)")
    if clients:
        problems.append("attached: " + ", ".join(f"pid {p}" for p in clients)
                        + " (a dashboard would start it again)")
    if problems and not args.force:
        print(f"error: the backend (pid {pid}) was not stopped:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        print("  --force stops it anyway", file=sys.stderr)
        return FAILURE
    if not _is_backend(pid, data_dir):
        print(f"error: pid {pid} in {data_dir / 'backend.json'} is not its backend",
              file=sys.stderr)
        return FAILURE
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        print(f"the backend (pid {pid}) had already exited")
        return OK
    give_up = time.monotonic() + STOP_WAIT
    while running_state(data_dir) is not None or process_alive(pid):
        if time.monotonic() > give_up:
            print(f"error: the backend (pid {pid}) did not exit within {STOP_WAIT:g} s",
                  file=sys.stderr)
            return FAILURE
        time.sleep(0.05)
    ended = f"; {live} sandbox{'es' if live != 1 else ''} ended with it (listed FAILED)" \
        if live else ""
    print(f"stopped the backend (pid {pid}){ended}")
    return OK
