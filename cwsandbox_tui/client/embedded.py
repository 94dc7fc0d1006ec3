"""Start, or attach to, the embedded backend that serves this user's data directory.

The dashboard and the CLI, run at the same time, share one backend process (the data
directory's lock guarantees there is only one). Each client leaves a lease file named after
its pid in `<data dir>/clients/`. A backend started here runs detached (its own session, its
output in `backend.log`) and exits once no lease's process lives, no sandbox of it is live and
no operation runs, after a short linger; `cwsandbox-tui backend stop` ends it sooner.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError

STATE_FILE = "backend.json"
LEASES = "clients"
DEMO_REQUEST = "demo.request"  # asks a running backend to seed the demo (it is idempotent)


@dataclass
class EmbeddedBackend:
    data_dir: Path
    url: str
    isolation: str
    lease: Path
    spawned: bool
    isolation_detail: str = ""  # why sandboxes are (not) isolated, and the fix

    def release(self) -> None:
        with contextlib.suppress(OSError):
            self.lease.unlink()


def process_alive(pid: int) -> bool:
    """Whether process `pid` runs (someone else's counts; a zombie, ended but not reaped by
    its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def _reachable(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def running_state(data_dir: Path) -> dict[str, object] | None:
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    pid, port = state.get("pid"), state.get("port")
    if isinstance(pid, int) and isinstance(port, int) and process_alive(pid) and _reachable(port):
        return state
    return None


@dataclass
class StartingBackend:
    """An embedded backend being attached to or started; `wait()` when it is needed."""

    data_dir: Path
    lease: Path
    state: dict[str, object] | None
    process: subprocess.Popen[bytes] | None
    abandoned: threading.Event = field(default_factory=threading.Event)

    def abandon(self) -> None:
        """Stop a `wait()` in another thread (the caller quit before the backend was up)."""
        self.abandoned.set()

    def wait(self, timeout: float = 20.0) -> EmbeddedBackend:
        log_path = self.data_dir / "backend.log"
        give_up = time.monotonic() + timeout
        while (state := self.state or running_state(self.data_dir)) is None:
            if self.abandoned.is_set():
                raise ConfigError("stopped waiting for the embedded backend")
            if time.monotonic() > give_up:
                self.lease.unlink(missing_ok=True)
                raise ConfigError(f"the embedded backend did not start within {timeout:g} s; "
                                  f"see {log_path}")
            exited = self.process is not None and self.process.poll() not in (None, 0)
            if exited and not (self.data_dir / STATE_FILE).exists():
                # Lost a race with another client's backend, or failed: wait a moment for the
                # other one, then report the log's last line.
                time.sleep(0.2)
                if running_state(self.data_dir) is None:
                    self.lease.unlink(missing_ok=True)
                    tail = log_path.read_text(errors="replace").strip().splitlines()[-1:]
                    raise ConfigError("the embedded backend failed to start: "
                                      + (tail[0] if tail else f"see {log_path}"))
            time.sleep(0.02)
        return EmbeddedBackend(data_dir=self.data_dir, url=str(state["url"]),
                               isolation=str(state.get("isolation", "")), lease=self.lease,
                               spawned=self.process is not None,
                               isolation_detail=str(state.get("isolation_detail", "")))


LINGER_SECONDS = 30.0
LINGER_ENV = "CWSANDBOX_TUI_LINGER"


def linger_seconds() -> float:
    """How long the backend stays after its last client: long enough that commands run one
    after another (a script, a second pane, a person reading output) share it."""
    text = os.environ.get(LINGER_ENV, "").strip()
    if not text:
        return LINGER_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86_400:  # NaN fails this too
        raise ConfigError(f"{LINGER_ENV}: {text!r} is not a number of seconds from 0 to 86400")
    return value


def start_embedded(data_dir: Path, extra_args: tuple[str, ...] = ()) -> StartingBackend:
    """Take a lease and start the backend unless one already serves `data_dir`.

    It returns at once, so the caller can do other work (import the UI) while it boots.
    """
    leases = data_dir / LEASES
    lease = leases / str(os.getpid())
    try:
        leases.mkdir(parents=True, exist_ok=True)
        lease.write_text(str(os.getpid()))
    except OSError as exc:
        raise ConfigError(f"the data directory {data_dir} cannot be used ({exc.strerror}); "
                          "set CWSANDBOX_TUI_DATA_DIR to a writable directory") from None
    if "--demo" in extra_args:
        # The backend that serves this directory may be one already running, or one another
        # client is starting now: whichever it is seeds the demo on seeing this.
        (data_dir / DEMO_REQUEST).touch()
    state = running_state(data_dir)
    process = None
    if state is None:
        with open(data_dir / "backend.log", "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "cwsandbox_tui", "serve", "--port", "0",
                 "--data-dir", str(data_dir), "--exit-when-unused", f"{linger_seconds():g}",
                 *extra_args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                env={k: v for k, v in os.environ.items() if k != "CWSANDBOX_API_KEY"},
            )
    return StartingBackend(data_dir, lease, state, process)

