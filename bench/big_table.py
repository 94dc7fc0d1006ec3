"""2. The snapshots table at 100,000 and at 1,000,000 rows: how its cost grows with rows.

(Textual's own DataTable is measured side by side only with `run.py --baseline`: at
100,000 rows it takes minutes a run.)

How it is measured, and why:

* The backend (`serve --seed-snapshots N`, its own seeding) is its own process, on loopback
  with no proxy (0 ms added); one backend per size serves every run (listing does not change
  it). One untimed listing first warms the server's page cache, as the dashboard's periodic
  refresh keeps it warm; that cold listing's time is in the notes.
* Each run is a fresh worker process (`python -m bench.big_table --worker ...`), so that its
  resident memory is its own. The worker runs the app in-process with
  `App.run_test(headless=False, size=(120, 40))` and its stdin/stdout/stderr on a
  pseudo-terminal (120x40, TERM=xterm-256color) that the parent drains. So every frame is
  rendered, encoded and written to a real terminal device exactly as in normal use, while the
  worker can still read the table's own state (rows loaded, rows in view) and time itself.
  A headless run would skip encoding and writing the frames; a pty-only run could not see
  when the 100,000th row is in the table.
* A frame is "shown" when `App._display` hands it to the driver (the worker wraps it to
  timestamp each frame). "First rows" is the first frame at whose time the snapshots view
  holds rows; "all rows" the first frame at whose time all 100,000 rows are in the view
  (sorted: the view shows newest first). Both are timed from the key "2" (switch to the
  snapshots view), sent as soon as the app is ready, which is also when the listing starts.
* Keystrokes (filter, cursor) are posted as key events and timed until every message they
  caused has been handled and the repainted frame has been written (Pilot's own mechanism,
  without the fixed 20 ms idle-detection sleeps of `pilot.press`/`pilot.pause`, which would
  swamp a figure of a few milliseconds).
* Resident memory: VmRSS of the worker after loading (after `gc.collect()`), the delta against
  VmRSS before the app started (imports done, app built), and the peak (VmHWM).
* Pages of 1,000 (the client's default, the server's maximum).

The baseline is a minimal App with one `DataTable` (cursor_type="row") and an `Input`: the same
client, the same pages, the same cell texts (our column functions) added with `add_rows` as
pages arrive; the filter is our filter predicate followed by `clear()` + `add_rows(matches)`.
It does not sort (our view shows newest first and re-sorts while pages stream in). It runs
once (BASELINE_RUNS): at 100,000 rows its loading takes ~30 s, and every keystroke that
matches all rows costs it ~15 s.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import (
    PYTHON,
    REPO,
    Context,
    Figure,
    PtyProcess,
    Target,
    backend,
    clean_env,
    figure,
    log,
    median,
    rss_kib,
    run_json,
)

NAME = "big_table"
SIZES = (100_000, 1_000_000)
QUICK_SIZES = (5_000, 20_000)
BASELINE_RUNS = 1  # DataTable takes ~3 minutes a run at 100,000 rows (see the module doc)
SIZE = (120, 40)
FILTERS = ("fss-0a", "age>30d")
CURSOR_KEYS = 200
WORKER_TIMEOUT = 1500.0
LOAD_TIMEOUT = {"ours": 300.0, "datatable": 900.0}  # DataTable at 100 rows a page: ~4 minutes
INTERACTIVE_PAGE_SIZE = 1000


# --- the worker (runs in its own process, on a pty) ------------------------------------------

def _client_factory(url: str, page_size: int) -> Any:
    from cwsandbox_tui.client.adapter_v1beta2 import V1beta2Adapter
    from cwsandbox_tui.client.client import Client, ClientOptions, EndpointInfo
    from cwsandbox_tui.client.wire import open_channel

    def make() -> Client:
        channel = open_channel(url.removeprefix("http://"), tls=False, root_certificates=None)
        info = EndpointInfo(url=url, source="bench", auth_mode="no authentication",
                            read_only=False)
        return Client(V1beta2Adapter(channel, []), info, options=ClientOptions(page_size=page_size))

    return make


class Frames:
    """Timestamps every frame the app hands to its driver, and checks a condition at each."""

    def __init__(self, app: Any) -> None:
        self.times: list[float] = []
        self.waiters: list[tuple[Any, asyncio.Future[float]]] = []
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            original(screen, renderable)
            if renderable is None:
                return
            now = time.perf_counter()
            self.times.append(now)
            for waiter in list(self.waiters):
                condition, future = waiter
                if not future.done() and condition():
                    future.set_result(now)
                    self.waiters.remove(waiter)

        app._display = display

    def when(self, condition: Any) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters.append((condition, future))
        return future


def _key_event(name: str) -> Any:
    import unicodedata

    from textual import events
    from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key

    key = _character_to_key(name) if len(name) == 1 and not name.isalnum() else name
    try:
        char: str | None = unicodedata.lookup(_get_unicode_name_from_key(
            REPLACED_KEYS.get(key, key)))
    except KeyError:
        char = key if len(key) == 1 else None
    return events.Key(key, char)


async def settle(pilot: Any) -> None:
    """Until every message queue of the app and its screen is empty, then paint the frame."""
    app = pilot.app
    for _ in range(100):
        await pilot._wait_for_screen()
        nodes = [app, *app.screen.walk_children(with_self=True)]
        if not any(node._message_queue.qsize() for node in nodes):
            break
    app.screen._on_timer_update()


async def keystroke(pilot: Any, name: str) -> float:
    started = time.perf_counter()
    pilot.app.post_message(_key_event(name))
    await settle(pilot)
    return time.perf_counter() - started


class Phases:
    """cProfile switched on only during one phase ("load", "first": the key `2` to the first
    rows shown, "filter" or "cursor"), if asked."""

    def __init__(self, phase: str | None, path: Path | None) -> None:
        import cProfile

        self.phase = phase
        self.path = path
        self.profiler = cProfile.Profile() if phase and path else None

    def start(self, phase: str) -> None:
        if self.profiler is not None and phase == self.phase:
            self.profiler.enable()

    def stop(self, phase: str) -> None:
        if self.profiler is not None and phase == self.phase:
            self.profiler.disable()
            assert self.path is not None
            self.profiler.dump_stats(str(self.path))


PHASES = Phases(None, None)


def _mb(kib: int) -> float:
    return kib / 1024


async def _measure(kind: str, url: str, page_size: int, rows: int,
                   load_only: bool = False) -> dict[str, Any]:
    from textual.app import App

    if kind == "ours":
        from cwsandbox_tui.ui.app import DashboardApp

        app: App[Any] = DashboardApp(_client_factory(url, page_size), refresh_interval=0)
    else:
        app = _baseline_app(_client_factory(url, page_size))
    gc.collect()
    rss_before, _ = rss_kib()
    frames = Frames(app)
    result: dict[str, Any] = {"kind": kind, "page_size": page_size}
    began = time.perf_counter()
    async with app.run_test(headless=False, size=SIZE) as pilot:
        ready = time.perf_counter()
        result["app_ready_s"] = ready - began
        if kind == "ours":
            from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen

            def table() -> Any:
                screen = app.screen
                return screen.table if isinstance(screen, SnapshotsScreen) else None

            def has_rows() -> bool:
                t = table()
                return t is not None and len(t.view) > 0

            def all_rows() -> bool:
                t = table()
                return t is not None and len(t.view) == rows

            first = frames.when(has_rows)
            full = frames.when(all_rows)
            PHASES.start("load")
            PHASES.start("first")
            pressed = time.perf_counter()
            app.post_message(_key_event("2"))
        else:
            def has_rows() -> bool:
                return app.table.row_count > 0  # type: ignore[attr-defined]

            def all_rows() -> bool:
                return app.table.row_count == rows  # type: ignore[attr-defined]

            first = frames.when(has_rows)
            full = frames.when(all_rows)
            PHASES.start("load")
            pressed = ready
        try:
            first_at = await asyncio.wait_for(first, LOAD_TIMEOUT[kind])
            PHASES.stop("first")
            full_at = await asyncio.wait_for(full, LOAD_TIMEOUT[kind])
        except TimeoutError:
            raise RuntimeError(f"the rows did not all arrive within {LOAD_TIMEOUT[kind]:g} s: "
                               + _state(app)) from None
        PHASES.stop("load")
        result["first_rows_s"] = first_at - pressed
        result["first_rows_from_start_s"] = first_at - began
        result["all_rows_s"] = full_at - pressed
        result["frames_during_load"] = sum(1 for t in frames.times if pressed <= t <= full_at)
        await settle(pilot)
        await pilot.pause()
        gc.collect()
        rss_after, hwm = rss_kib()
        result.update(rss_before_mb=_mb(rss_before), rss_after_mb=_mb(rss_after),
                      rss_delta_mb=_mb(rss_after - rss_before), rss_peak_mb=_mb(hwm))
        result["rows"] = rows
        if load_only:
            return result

        def shown() -> int:
            if kind == "ours":
                return len(app.screen.table.view)  # type: ignore[attr-defined]
            return int(app.table.row_count)  # type: ignore[attr-defined]

        filters: dict[str, list[tuple[str, float, int]]] = {}
        clears: dict[str, float] = {}
        PHASES.start("filter")
        for expression in FILTERS:
            await keystroke(pilot, "/")
            steps = []
            for char in expression:
                seconds = await keystroke(pilot, char)
                steps.append((char, seconds, shown()))
            filters[expression] = steps
            clears[expression] = await keystroke(pilot, "escape")
            if shown() != rows:
                raise RuntimeError(f"escape left {shown()} of {rows} rows shown")
        PHASES.stop("filter")
        result["filters"] = filters
        result["filter_clear_s"] = clears
        await settle(pilot)

        def cursor_row() -> int:
            if kind == "ours":
                return int(app.screen.table.cursor)  # type: ignore[attr-defined]
            return int(app.table.cursor_row)  # type: ignore[attr-defined]

        start_row = cursor_row()
        PHASES.start("cursor")
        moves = time.perf_counter()
        for _ in range(CURSOR_KEYS):
            await keystroke(pilot, "down")
        PHASES.stop("cursor")
        result["cursor_per_key_s"] = (time.perf_counter() - moves) / CURSOR_KEYS
        if cursor_row() - start_row != CURSOR_KEYS:
            raise RuntimeError(f"the cursor moved {cursor_row() - start_row} rows "
                               f"for {CURSOR_KEYS} downs")
    return result


def _state(app: Any) -> str:
    """What the app holds, for a report when loading stalls."""
    parts = [f"loaded={getattr(app, '_loaded', getattr(app, 'loaded', None))}",
             f"refreshing={app.store.refreshing}",
             f"screen={type(app.screen).__name__}"]
    screen = app.screen
    table = getattr(screen, "table", None) or getattr(app, "table", None)
    if table is not None and hasattr(table, "view"):
        parts.append(f"rows={len(table.rows)} view={len(table.view)} "
                     f"resort_pending={table._resort is not None}")
    elif table is not None:
        parts.append(f"row_count={table.row_count}")
    for worker in list(app.workers):
        parts.append(f"worker {worker.name} {worker.state.name} error={worker.error!r}")
    for row in getattr(app, "op_rows", [])[-8:]:
        parts.append(f"op: {row}")
    return "; ".join(parts)


def _baseline_app(client_factory: Any) -> Any:
    from textual.app import App, ComposeResult
    from textual.binding import Binding
    from textual.widgets import DataTable, Input

    from cwsandbox_tui.client.models import Snapshot
    from cwsandbox_tui.ui.filter_expr import FilterError, compile_filter
    from cwsandbox_tui.ui.screens.columns import SNAPSHOT_COLUMNS, SNAPSHOT_FIELDS

    class Baseline(App[None]):
        CSS = """
        Input { display: none; height: 1; border: none; }
        Input.-shown { display: block; }
        DataTable { height: 1fr; }
        """
        BINDINGS = [Binding("slash", "filter", "Filter"), Binding("escape", "clear", "Clear")]

        def __init__(self) -> None:
            super().__init__()
            self.loaded = False
            self.everything: list[tuple[Snapshot, tuple[str, ...]]] = []
            self.now = time.time()

        def compose(self) -> ComposeResult:
            yield Input(id="filter")
            yield DataTable(cursor_type="row", id="table")

        @property
        def table(self) -> DataTable[str]:
            return self.query_one(DataTable)

        def on_mount(self) -> None:
            self.client = client_factory()
            self.table.add_columns(*(c.label for c in SNAPSHOT_COLUMNS))
            self.table.focus()
            self.run_worker(self.load())

        async def load(self) -> None:
            await self.client.list_snapshots(on_page=self.page)
            self.loaded = True
            self.table.refresh()

        def page(self, page: list[Snapshot], restarted: bool) -> None:
            cells = [tuple(c.cell(s, self.now) for c in SNAPSHOT_COLUMNS) for s in page]
            self.everything.extend(zip(page, cells, strict=True))
            self.table.add_rows(cells)

        def action_filter(self) -> None:
            field = self.query_one(Input)
            field.add_class("-shown")
            field.focus()

        def action_clear(self) -> None:
            field = self.query_one(Input)
            field.value = ""
            field.remove_class("-shown")
            self.table.focus()

        def on_input_changed(self, event: Input.Changed) -> None:
            try:
                predicate = compile_filter(event.value, SNAPSHOT_FIELDS, self.now)
            except FilterError:
                return
            rows = [c for s, c in self.everything if predicate is None or predicate(s)]
            self.table.clear()
            self.table.add_rows(rows)

        async def on_unmount(self) -> None:
            await self.client.close()

    return Baseline()


def worker_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", choices=["ours", "datatable"], required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--page-size", type=int, default=0)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--profile", type=Path, default=None,
                        help="write a cProfile of one phase here (see --phase)")
    parser.add_argument("--phase", choices=["load", "first", "filter", "cursor"],
                        default="filter")
    parser.add_argument("--load-only", action="store_true",
                        help="stop after loading (and measuring memory)")
    args = parser.parse_args(argv)
    global PHASES
    PHASES = Phases(args.phase, args.profile)
    try:
        result = asyncio.run(_measure(args.worker, args.url, args.page_size, args.rows,
                                      args.load_only))
    except BaseException as error:
        import traceback

        args.out.write_text(json.dumps({"error": f"{type(error).__name__}: {error}",
                                        "traceback": traceback.format_exc()}))
        return 1
    args.out.write_text(json.dumps(result))
    return 0


# --- the parent ------------------------------------------------------------------------------

def run_worker(kind: str, url: str, page_size: int, rows: int, scratch: Path,
               profile: Path | None = None, phase: str = "filter",
               load_only: bool = False) -> dict[str, Any]:
    out = Path(tempfile.mkstemp(prefix=f"big-{kind}-", suffix=".json", dir=scratch)[1])
    argv = [str(PYTHON), "-m", "bench.big_table", "--worker", kind, "--url", url,
            "--page-size", str(page_size), "--rows", str(rows), "--out", str(out)]
    if profile is not None:
        argv += ["--profile", str(profile), "--phase", phase]
    if load_only:
        argv.append("--load-only")
    term = PtyProcess(argv, env=clean_env(TERM="xterm-256color"), size=SIZE, cwd=REPO)
    try:
        code = term.wait(WORKER_TIMEOUT)
        if code is None:
            raise TimeoutError(f"the {kind} worker did not finish within {WORKER_TIMEOUT:g} s")
        text = out.read_text()
        result: dict[str, Any] = json.loads(text) if text else {}
        if code != 0 or "error" in result or not result:
            raise RuntimeError(f"the {kind} worker failed (exit {code}): "
                               f"{result.get('traceback', term.text()[-3000:])}")
        result["terminal_bytes"] = term.total_bytes
        return result
    finally:
        term.close()


def _per_key(result: dict[str, Any], expression: str) -> list[float]:
    return [seconds for _, seconds, _ in result["filters"][expression]]


@dataclass(frozen=True)
class Targets:
    first: float
    all: float
    filter_ms: float
    cursor_ms: float | None
    rss_mb: float


TARGETS = {100_000: Targets(0.08, 0.6, 16, 8, 160),  # issue 22
           1_000_000: Targets(0.08, 5, 100, 8, 900)}
ALL_ROWS_RATIO = 1.3  # all rows shown: at most this many times listing them with no UI


def warm_up(url: str) -> float:
    """One listing by the client (untimed for the table): fills the server's page cache, as
    the dashboard's own periodic refresh would; returns how long that cold listing took."""
    result = run_json([str(PYTHON), "-m", "bench.client_worker", "list", "--url", url,
                       "--page-size", "1000"], env=clean_env(), timeout=WORKER_TIMEOUT)
    return float(result["seconds"])


def one_size(ctx: Context, rows: int, t: Targets | None,
             baseline: bool) -> list[Figure]:
    kinds = ["ours"] + (["datatable"] if baseline else [])
    results: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    client_only: list[float] = []  # the same listing through the client, no UI
    with backend(seed_snapshots=rows, start_timeout=900) as server:
        cold = warm_up(server.url)
        log(f"big_table {rows:,}: the server's first listing took {cold:.1f} s (cold)")
        for n in range(ctx.runs):
            client_only.append(warm_up(server.url))
            log(f"big_table {rows:,} #{n}: the client alone listed them in "
                f"{client_only[-1]:.2f} s")
            for kind in kinds:
                if kind == "datatable" and n >= BASELINE_RUNS:
                    continue
                result = run_worker(kind, server.url, INTERACTIVE_PAGE_SIZE, rows, ctx.scratch)
                results[kind].append(result)
                log(f"big_table {rows:,} #{n} {kind}: first rows "
                    f"{result['first_rows_s']:.3f} s, all {result['all_rows_s']:.2f} s, "
                    f"RSS {result['rss_after_mb']:.0f} MB, cursor "
                    f"{result['cursor_per_key_s'] * 1000:.1f} ms/key, filter "
                    + ", ".join(f"{e}: {max(_per_key(result, e)) * 1000:.0f} ms max"
                                for e in FILTERS))
    label = f"{rows:,} rows [loopback, no proxy]"
    base_label = "DataTable" + (f" ({BASELINE_RUNS} run)" if BASELINE_RUNS < ctx.runs else "")

    def compare(measure: str, value: Any, unit: str, limit: float | None = None,
                note: str = "") -> Figure:
        return figure(NAME, f"{label}: {measure}", [value(r) for r in results["ours"]], unit,
                      target=Target("<=", limit) if limit is not None else None,
                      reference=[value(r) for r in results["datatable"]] if baseline else None,
                      reference_label=base_label, ratio="ref/value", note=note)

    figures = [
        compare("first rows visible", lambda r: r["first_rows_s"], "s", t.first if t else None,
                note="from the key '2' (sent when the app is ready) to the first frame "
                     "showing snapshot rows; pages of 1,000"),
        figure(NAME, f"{label}: all rows loaded and shown", [r["all_rows_s"] for r in
                                                              results["ours"]], "s",
               target=Target("<=", t.all, also_op="<=", also_limit=ALL_ROWS_RATIO,
                             also_on="ratio") if t else None,
               reference=client_only, reference_label="the client alone", ratio="value/ref",
               note=f"Ratio here is ours / listing the same rows through the client with no "
                    f"UI (measured before each run); the server's page cache warmed by one "
                    f"listing first (that cold listing took {cold:.1f} s)"),
    ]
    for expression in FILTERS:
        figures.append(compare(
            f"filter '{expression}': slowest keystroke",
            lambda r, e=expression: max(_per_key(r, e)) * 1000, "ms", t.filter_ms if t else None,
            note="each keystroke timed until its repainted frame is written"
            if expression == FILTERS[0] else ""))
        figures.append(compare(f"filter '{expression}': median keystroke",
                               lambda r, e=expression: median(_per_key(r, e)) * 1000, "ms"))
    figures.append(compare("esc: clear the filter (back to all rows)",
                           lambda r: max(r["filter_clear_s"].values()) * 1000, "ms"))
    figures.append(compare(f"cursor down, per key ({CURSOR_KEYS} keys)",
                           lambda r: r["cursor_per_key_s"] * 1000, "ms",
                           t.cursor_ms if t else None))
    figures.append(compare("RSS after loading", lambda r: r["rss_after_mb"], "MB",
                           t.rss_mb if t else None,
                           note="VmRSS of the whole process (Python, Textual, gRPC, rows), "
                                "after gc.collect()"))
    return figures


def run(ctx: Context) -> list[Figure]:
    sizes = QUICK_SIZES if ctx.quick else SIZES
    baseline = bool(ctx.extra.get("baseline"))
    figures: list[Figure] = []
    for rows in sizes:
        figures += one_size(ctx, rows, None if ctx.quick else TARGETS.get(rows), baseline)
    return figures


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1:]))
