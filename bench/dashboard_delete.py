"""3b. The dashboard's own bulk delete, end to end, through the proxy (20 ms on every call).

A worker process runs the dashboard (`DashboardApp`, refresh every 2 s as by default) on a
pseudo-terminal (120x40), its client pointed at `bench/proxy.py` in front of a backend seeded
with 1,000 snapshots. It opens the snapshots view, waits for every row, marks them all (`*`),
asks to delete (`ctrl+d`), and when the confirmation is up, presses `y`. The clock runs from
that `y` to the first frame written with no snapshot row left on the screen (the delete, then
the refresh that follows it). Keys are posted as key events, as in big_table.

While it runs, a probe task on the app's event loop wakes every 5 ms and records how late it
woke: the longest of those is the longest time the app could neither paint nor answer a key
(the "frame time" the issue asks about: no frame can be written while the loop is held).
The frames written in that time are counted too.

The SDK loop it is compared with is the one bulk_delete measures (the same proxy, the same
1,000 snapshots); run alone, this benchmark measures that loop once itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import (
    PYTHON,
    REPO,
    Context,
    Faults,
    Figure,
    PtyProcess,
    Target,
    backend,
    clean_env,
    figure,
    log,
    proxy,
)

NAME = "dashboard_delete"
COUNT = 1000
QUICK_COUNT = 200
SIZE = (120, 40)
LATENCY = Faults(latency_ms=20)
PROBE_INTERVAL = 0.005
STEP_TIMEOUT = 120.0
WORKER_TIMEOUT = 300.0
PROFILE = os.environ.get("BENCH_PROFILE", "")  # a path: cProfile of the delete phase
# a path: the event loop's thread sampled every SAMPLE_EVERY s during the delete phase, with
# the longest stall's window, to say what held the loop then (bench/profiles.py reads it)
SAMPLES = os.environ.get("BENCH_SAMPLES", "")
SAMPLE_EVERY = 0.001


# --- the worker (its own process, on a pty) ---------------------------------------------------

async def _measure(url: str, count: int) -> dict[str, Any]:
    from cwsandbox_tui.ui.app import DashboardApp
    from cwsandbox_tui.ui.screens.dialogs import ConfirmDialog
    from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen

    from .big_table import Frames, _client_factory, _key_event, settle

    app = DashboardApp(_client_factory(url, 1000), refresh_interval=2.0)
    frames = Frames(app)
    result: dict[str, Any] = {}
    async with app.run_test(headless=False, size=SIZE) as pilot:
        app.post_message(_key_event("2"))

        def snapshots_screen() -> Any:
            screen = app.screen
            return screen if isinstance(screen, SnapshotsScreen) else None

        def all_shown() -> bool:
            screen = snapshots_screen()
            return screen is not None and len(screen.table.view) == count

        await asyncio.wait_for(frames.when(all_shown), STEP_TIMEOUT)
        await settle(pilot)
        screen = snapshots_screen()
        table = screen.table
        app.post_message(_key_event("*"))
        await settle(pilot)
        if len(table.marks) != count:
            raise RuntimeError(f"'*' marked {len(table.marks)} of {count} rows")
        app.post_message(_key_event("ctrl+d"))
        await asyncio.wait_for(frames.when(lambda: isinstance(app.screen, ConfirmDialog)),
                               STEP_TIMEOUT)
        await settle(pilot)

        stalls: list[float] = []
        windows: list[tuple[float, float]] = []  # (woke late by, woke at), for SAMPLES
        running = True

        async def probe() -> None:
            while running:
                before = time.perf_counter()
                await asyncio.sleep(PROBE_INTERVAL)
                woke = time.perf_counter()
                stalls.append(woke - before - PROBE_INTERVAL)
                windows.append((stalls[-1], woke))

        sampler = _Sampler() if SAMPLES else None

        prober = asyncio.ensure_future(probe())
        profiler = None
        if PROFILE:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        frames_before = len(frames.times)
        gone = frames.when(lambda: app.screen is screen and len(table.view) == 0)
        pressed = time.perf_counter()
        app.post_message(_key_event("y"))
        try:
            gone_at = await asyncio.wait_for(gone, STEP_TIMEOUT)
        except TimeoutError:
            raise RuntimeError(f"rows still shown after {STEP_TIMEOUT:g} s: "
                               f"{len(table.view)} (screen {type(app.screen).__name__})") from None
        running = False
        await prober
        if sampler is not None:
            sampler.stop()
            late, woke = max(windows)
            sampler.dump(SAMPLES, woke - PROBE_INTERVAL - late, woke)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(PROFILE)
        stalls.sort()
        result.update(seconds=gone_at - pressed, frames=len(frames.times) - frames_before,
                      worst_stall_ms=stalls[-1] * 1000 if stalls else None,
                      p99_stall_ms=stalls[int(len(stalls) * 0.99)] * 1000 if stalls else None,
                      probes=len(stalls), left=len(app.store.snapshots))
    return result


class _Sampler:
    """The calling thread's stack, every SAMPLE_EVERY s, from another thread: while the
    event loop holds the GIL that thread gets it back at each switch interval, so a long
    stall is sampled every few milliseconds."""

    def __init__(self) -> None:
        import threading

        self.target = threading.get_ident()
        self.samples: list[tuple[float, list[str]]] = []
        self.collections: list[tuple[float, float, int]] = []  # (start, end, generation)
        self._collecting = 0.0
        import gc

        gc.callbacks.append(self._gc)
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import sys
        import traceback

        while self.running:
            frame = sys._current_frames().get(self.target)
            if frame is not None:
                stack = [f"{f.filename.rsplit('site-packages/', 1)[-1].split('/work/', 1)[-1]}"
                         f":{f.lineno} {f.name}" for f in traceback.extract_stack(frame)]
                self.samples.append((time.perf_counter(), stack))
            time.sleep(SAMPLE_EVERY)

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._collecting = time.perf_counter()
        else:
            self.collections.append((self._collecting, time.perf_counter(), info["generation"]))

    def stop(self) -> None:
        import gc

        self.running = False
        self.thread.join()
        gc.callbacks.remove(self._gc)

    def dump(self, path: str, start: float, end: float) -> None:
        inside = [stack for at, stack in self.samples if start <= at <= end]
        collections = [(b - start, e - b, g) for b, e, g in self.collections
                       if b < end and e > start]
        Path(path).write_text(json.dumps({"stall_s": end - start, "samples": inside,
                                          "all_samples": len(self.samples),
                                          "collections": collections}))


def worker_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        result = asyncio.run(_measure(args.url, args.count))
    except BaseException as error:
        import traceback

        args.out.write_text(json.dumps({"error": f"{type(error).__name__}: {error}",
                                        "traceback": traceback.format_exc()}))
        return 1
    args.out.write_text(json.dumps(result))
    return 0


# --- the parent -------------------------------------------------------------------------------

def one_run(count: int, scratch: Path) -> dict[str, Any]:
    from .bulk_delete import worker

    with backend(seed_snapshots=count) as server, proxy(server, LATENCY) as front:
        out = Path(tempfile.mkstemp(prefix="dash-delete-", suffix=".json", dir=scratch)[1])
        term = PtyProcess([str(PYTHON), "-m", "bench.dashboard_delete", "--url", front.url,
                           "--count", str(count), "--out", str(out)],
                          env=clean_env(TERM="xterm-256color"), size=SIZE, cwd=REPO)
        try:
            code = term.wait(WORKER_TIMEOUT)
            if code is None:
                raise TimeoutError(f"the worker did not finish within {WORKER_TIMEOUT:g} s")
            text = out.read_text()
            result: dict[str, Any] = json.loads(text) if text else {}
            if code != 0 or "error" in result or not result:
                raise RuntimeError(f"the worker failed (exit {code}): "
                                   f"{result.get('traceback', term.text()[-3000:])}")
        finally:
            term.close()
        left = int(worker("count", server.url)["rows"])
        if left:
            raise RuntimeError(f"{left} snapshots left on the server after the dashboard's delete")
    return result


def run(ctx: Context) -> list[Figure]:
    count = QUICK_COUNT if ctx.quick else COUNT
    results = []
    for n in range(ctx.runs):
        results.append(one_run(count, ctx.scratch))
        r = results[-1]
        log(f"dashboard_delete #{n}: {r['seconds']:.2f} s, worst stall "
            f"{r['worst_stall_ms']:.1f} ms, {r['frames']} frames")
    sdk_times = ctx.extra.get(f"sdk_loop_{count}")
    if not sdk_times:
        from .bulk_delete import snapshots_side
        from .common import sdk_python

        log("dashboard_delete: measuring the SDK loop once (bulk_delete did not run)")
        sdk_times = [snapshots_side("sdk", count, str(sdk_python()))[0]]
    spec = LATENCY.describe()
    return [
        figure(NAME, f"dashboard: delete {count:,} marked snapshots, 'y' to no row left "
                     f"[{spec}]", [r["seconds"] for r in results], "s",
               target=Target(">=", 25, on="ratio"), reference=sdk_times,
               reference_label="SDK 0.26.0 loop", ratio="ref/value",
               note="ends at the first frame with no snapshot row (the refresh after the delete "
                    "included); verified on the server"),
        figure(NAME, "dashboard: longest event-loop stall while deleting (no frame or key "
                     "can be handled meanwhile)", [r["worst_stall_ms"] for r in results], "ms",
               target=Target("<=", 50)),
        figure(NAME, "dashboard: 99th percentile event-loop stall while deleting",
               [r["p99_stall_ms"] for r in results], "ms"),
    ]


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
