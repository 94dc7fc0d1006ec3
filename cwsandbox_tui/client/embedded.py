"""Start, or attach to, the embedded backend that serves this user's data directory.

The dashboard and the CLI, run at the same time, share one backend process (the data
directory's lock guarantees there is only one). Each client leaves a lease file named after
its pid in `<data dir>/clients/`; a backend started here exits once no lease's process lives.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

STATE_FILE = "backend.json"
LEASES = "clients"


@dataclass
class EmbeddedBackend:
    data_dir: Path
    url: str
    isolation: str
    lease: Path
    spawned: bool

    def release(self) -> None:
        with contextlib.suppress(OSError):
            self.lease.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reachable(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _running_state(data_dir: Path) -> dict[str, object] | None:
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    pid, port = state.get("pid"), state.get("port")
    if isinstance(pid, int) and isinstance(port, int) and _alive(pid) and _reachable(port):
        return state
    return None


def ensure_embedded(data_dir: Path, *, timeout: float = 20.0,
                    extra_args: tuple[str, ...] = ()) -> EmbeddedBackend:
    leases = data_dir / LEASES
    leases.mkdir(parents=True, exist_ok=True)
    lease = leases / str(os.getpid())
    lease.write_text(str(os.getpid()))
    state = _running_state(data_dir)
    spawned = False
    if state is None:
        log_path = data_dir / "backend.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "cwsandbox_tui", "serve", "--port", "0",
                 "--data-dir", str(data_dir), "--exit-when-unused", *extra_args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                env={k: v for k, v in os.environ.items() if k != "CWSANDBOX_API_KEY"},
            )
        spawned = True
        give_up = time.monotonic() + timeout
        while (state := _running_state(data_dir)) is None:
            if time.monotonic() > give_up:
                lease.unlink(missing_ok=True)
                raise ConfigError(f"the embedded backend did not start within {timeout:g} s; "
                                  f"see {log_path}")
            if process.poll() not in (None, 0) and not (data_dir / STATE_FILE).exists():
                # Lost a race with another client's backend, or failed: wait a moment for the
                # other one, then report the log's last line.
                time.sleep(0.2)
                if _running_state(data_dir) is None:
                    lease.unlink(missing_ok=True)
                    tail = log_path.read_text(errors="replace").strip().splitlines()[-1:]
                    raise ConfigError("the embedded backend failed to start: "
                                      + (tail[0] if tail else f"see {log_path}"))
            time.sleep(0.05)
    return EmbeddedBackend(data_dir=data_dir, url=str(state["url"]),
                           isolation=str(state.get("isolation", "")), lease=lease, spawned=spawned)
