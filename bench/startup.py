"""1. Startup: from the command to the first interactive frame, in a pseudo-terminal.

`.venv/bin/cwsandbox-tui` runs with a pty (80x24, TERM=xterm-256color) as its stdin, stdout
and stderr; the clock starts just before the process is spawned and stops at the read that
completes the footer's "Filter" (the footer is drawn in the first full frame, after the
screen is mounted and bound). Then "q" quits it.

(a) warm: CWSANDBOX_BASE_URL points at an empty backend that is already running.
(b) cold: no endpoint; the app spawns the embedded backend itself on a fresh data directory
    (DATA/STATE/CONFIG dirs are temp dirs). The spawned backend lingers 30 s after its last
    client; the benchmark stops it through the pid in DATA_DIR/backend.json and checks it is
    gone before the next run.

One unmeasured warm-up run precedes each case (it writes the bytecode caches).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import time
from pathlib import Path

from .common import (
    LOOPBACK,
    TUI,
    Context,
    Figure,
    PtyProcess,
    Target,
    backend,
    clean_env,
    figure,
    log,
    wait_pid_gone,
)

NAME = "startup"
FOOTER = b"Filter"
SIZE = (80, 24)
FRAME_TIMEOUT = 30.0
QUIT_TIMEOUT = 15.0
TARGET = Target("<=", 0.4)


def _dirs(root: Path) -> dict[str, str]:
    return {"CWSANDBOX_TUI_DATA_DIR": str(root / "data"),
            "CWSANDBOX_TUI_STATE_DIR": str(root / "state"),
            "CWSANDBOX_TUI_CONFIG_DIR": str(root / "config")}


def _app_env(**extra: str) -> dict[str, str]:
    """The child's environment. Without PYTHONDONTWRITEBYTECODE (set in some shells and CI):
    with it the warm-up run writes no bytecode caches and every measured start compiles the
    package's modules again, which no installed copy does."""
    env = clean_env(TERM="xterm-256color", **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def one_start(env: dict[str, str]) -> tuple[float, float]:
    """(seconds to the first interactive frame, seconds from "q" to exit)."""
    started = time.perf_counter()
    term = PtyProcess([str(TUI)], env=env, size=SIZE)
    try:
        shown = term.wait_for(FOOTER, FRAME_TIMEOUT)
        term.quiet(0.3, 20)
        asked = time.perf_counter()
        term.send(b"q")
        code = term.wait(QUIT_TIMEOUT)
        if code is None:
            raise TimeoutError(f"the dashboard did not quit within {QUIT_TIMEOUT:g} s")
        if code != 0:
            raise RuntimeError(f"the dashboard exited with {code}: {term.text()[-500:]}")
        return shown - started, time.perf_counter() - asked
    finally:
        term.close()


def stop_spawned(data_dir: Path) -> None:
    """Stop the backend the app spawned, and make sure it is gone."""
    try:
        pid = int(json.loads((data_dir / "backend.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return  # it already stopped (and removed its state file)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if not wait_pid_gone(pid, 15):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # it was started in its own session
        if not wait_pid_gone(pid, 5):
            raise RuntimeError(f"the spawned backend {pid} does not exit")


def warm_case(runs: int) -> tuple[list[float], list[float]]:
    shown: list[float] = []
    quits: list[float] = []
    with backend() as server, tempfile.TemporaryDirectory(prefix="cws-bench-") as tmp:
        env = _app_env(CWSANDBOX_BASE_URL=server.url, **_dirs(Path(tmp)))
        for n in range(runs + 1):
            first, quit_time = one_start(env)
            if n:  # run 0 warms the caches
                shown.append(first)
                quits.append(quit_time)
            log(f"startup warm #{n}: {first:.3f} s")
    return shown, quits


def cold_case(runs: int) -> list[float]:
    shown: list[float] = []
    for n in range(runs + 1):
        with tempfile.TemporaryDirectory(prefix="cws-bench-") as tmp:
            root = Path(tmp)
            env = _app_env(**_dirs(root))
            try:
                first, _ = one_start(env)
            finally:
                stop_spawned(root / "data")
            if n:
                shown.append(first)
            log(f"startup cold #{n}: {first:.3f} s")
    return shown


def run(ctx: Context) -> list[Figure]:
    warm, quits = warm_case(ctx.runs)
    cold = cold_case(ctx.runs)
    return [
        figure(NAME, f"first frame, backend already running (empty){LOOPBACK}", warm, "s",
               target=TARGET),
        figure(NAME, f"first frame, cold (spawns the embedded backend){LOOPBACK}", cold, "s",
               target=TARGET, note="fresh data directory each run; the spawned backend is "
                                   "stopped via DATA_DIR/backend.json after each run"),
        figure(NAME, "'q' to process exit", quits, "s"),
    ]
