"""5. Bytes the dashboard writes to an 80x24 terminal per refresh.

The dashboard (`cwsandbox-tui --endpoint URL --refresh 1`) runs in a pseudo-terminal against a
backend with 3 stopped sandboxes, 20 snapshots and one real running sandbox (started with our
client; its AGE reads in seconds for its first minute and would repaint its row every tick, so
measuring waits until it is past 60 s). Every byte the app writes is read and timestamped.

* Idle: the bytes written over 10 refresh ticks with nothing changing, per tick (target ≈ 0).
* One row changes: the running sandbox is paused (or resumed, alternately) through our
  client from this process; the bytes written in the next 2.2 s (covering the tick that shows
  it; idle ticks write ~nothing) are the cost of that refresh. The new status must appear in
  that output.
"""

from __future__ import annotations

import asyncio
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
    strip_ansi,
)

NAME = "terminal_bytes"
SIZE = (80, 24)
TICKS = 10
CHANGE_WINDOW = 2.2
AGE_SETTLED = 62.0  # seconds after the sandbox started: its AGE reads "1m" until 120 s


def _client(url: str):  # type: ignore[no-untyped-def]
    from .client_worker import make_client

    return make_client(url)


async def _start_sandbox(url: str) -> str:
    from cwsandbox_tui.client.models import SandboxSpec

    client = _client(url)
    try:
        sandbox = await client.start_sandbox(SandboxSpec(tags=("bench",)))
        return sandbox.id
    finally:
        await client.close()


async def _set_paused(url: str, sandbox_id: str, pause: bool) -> None:
    client = _client(url)
    try:
        if pause:
            await client.pause_sandbox(sandbox_id)
        else:
            await client.resume_sandbox(sandbox_id)
    finally:
        await client.close()


def run(ctx: Context) -> list[Figure]:
    ticks = 4 if ctx.quick else TICKS
    idle: list[float] = []
    change: list[float] = []
    with backend(seed_snapshots=20, seed_sandboxes=3) as server, \
            tempfile.TemporaryDirectory(prefix="cws-bench-") as tmp:
        sandbox_id = asyncio.run(_start_sandbox(server.url))
        started = time.monotonic()
        env = clean_env(TERM="xterm-256color", CWSANDBOX_TUI_DATA_DIR=f"{tmp}/data",
                        CWSANDBOX_TUI_STATE_DIR=f"{tmp}/state",
                        CWSANDBOX_TUI_CONFIG_DIR=f"{tmp}/config")
        term = PtyProcess([str(TUI), "--endpoint", server.url, "--refresh", "1"], env=env,
                          size=SIZE, cwd=Path(tmp))
        try:
            term.wait_for(b"Filter", 30)
            term.wait_for(b"RUNNING", 30)
            wait = AGE_SETTLED - (time.monotonic() - started)
            if wait > 0:
                log(f"terminal_bytes: waiting {wait:.0f} s for the sandbox's age to pass a minute")
                time.sleep(wait)
            paused = False
            for n in range(ctx.runs):
                if time.monotonic() - started + ticks + CHANGE_WINDOW + 1 > 119:
                    raise RuntimeError("the runs do not fit before the AGE column changes")
                begin = time.perf_counter()
                time.sleep(ticks * 1.0)
                end = time.perf_counter()
                idle.append(term.bytes_between(begin, end) / ticks)
                mark = term.total_bytes
                paused = not paused
                before = time.perf_counter()
                asyncio.run(_set_paused(server.url, sandbox_id, paused))
                time.sleep(CHANGE_WINDOW)
                written = term.bytes_between(before, time.perf_counter())
                word = b"PAUSED" if paused else b"RUNNING"
                term.wait_for(word, 1, start=mark)  # the refresh showed the change
                change.append(written)
                shown = strip_ansi(term.raw_between(before, time.perf_counter())).strip()
                log(f"terminal_bytes #{n}: idle {idle[-1]:.0f} B/tick, "
                    f"{'pause' if paused else 'resume'}: {written} B, text {shown!r}")
        finally:
            term.send(b"q")
            term.wait(10)
            term.close()
    return [
        figure(NAME, f"idle refresh at 80x24 (per tick, over {ticks} ticks){LOOPBACK}", idle,
               "B",
               target=Target("<=", 16, text="≈ 0")),
        figure(NAME, f"refresh showing one changed row (pause/resume){LOOPBACK}", change,
               "B",
               target=Target("<=", 300, text="≈ one row (100–300 B)"),
               note="all bytes written in the 2.2 s after the change"),
    ]
