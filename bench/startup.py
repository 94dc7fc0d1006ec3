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

(c) the anchor: `bench/anchor_app.py`, a Textual app of one Static, on the same pty, timed
    to its text. The dashboard's target is <= 0.25 s and <= 1.5x the anchor.

The cases are interleaved run by run (warm, anchor, cold), so that a change in the machine's
load falls on every side alike. One unmeasured warm-up run of each precedes them (it writes
the bytecode caches).
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
    PYTHON,
    REPO,
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
TARGET = Target("<=", 0.25, also_op="<=", also_limit=1.5, also_on="ratio")
ANCHOR = [str(PYTHON), "-m", "bench.anchor_app"]


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


def one_start(env: dict[str, str], argv: list[str] | None = None) -> tuple[float, float]:
    """(seconds to the first interactive frame, seconds from "q" to exit)."""
    started = time.perf_counter()
    term = PtyProcess(argv or [str(TUI)], env=env, size=SIZE)
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


def cold_start(n: int) -> float:
    with tempfile.TemporaryDirectory(prefix="cws-bench-") as tmp:
        root = Path(tmp)
        try:
            first, _ = one_start(_app_env(**_dirs(root)))
        finally:
            stop_spawned(root / "data")
    log(f"startup cold #{n}: {first:.3f} s")
    return first


def cases(runs: int) -> dict[str, list[float]]:
    """Warm, anchor and cold starts, interleaved run by run; run 0 warms the caches."""
    out: dict[str, list[float]] = {"warm": [], "anchor": [], "cold": [], "quit": []}
    with backend() as server, tempfile.TemporaryDirectory(prefix="cws-bench-") as tmp:
        env = _app_env(CWSANDBOX_BASE_URL=server.url, **_dirs(Path(tmp)))
        anchor_env = _app_env(PYTHONPATH=str(REPO))
        for n in range(runs + 1):
            warm, quit_time = one_start(env)
            anchor, _ = one_start(anchor_env, ANCHOR)
            cold = cold_start(n)
            log(f"startup #{n}: warm {warm:.3f} s, anchor {anchor:.3f} s, cold {cold:.3f} s")
            if n:
                for key, value in (("warm", warm), ("anchor", anchor), ("cold", cold),
                                   ("quit", quit_time)):
                    out[key].append(value)
    return out


def run(ctx: Context) -> list[Figure]:
    got = cases(ctx.runs)
    anchor = "a one-Static Textual app"
    return [
        figure(NAME, f"first frame, backend already running (empty){LOOPBACK}", got["warm"],
               "s", target=TARGET, reference=got["anchor"], reference_label=anchor,
               ratio="value/ref", note="Ratio here is ours / the anchor (lower is better)"),
        figure(NAME, f"first frame, cold (spawns the embedded backend){LOOPBACK}", got["cold"],
               "s", target=TARGET, reference=got["anchor"], reference_label=anchor,
               ratio="value/ref", note="fresh data directory each run; the spawned backend is "
                                       "stopped via DATA_DIR/backend.json after each run"),
        figure(NAME, f"first frame of the anchor, {anchor}", got["anchor"], "s"),
        figure(NAME, "'q' to process exit", got["quit"], "s"),
    ]
