"""Where the time (and memory) of the table's missed targets goes: one profile each.

    .venv/bin/python -m bench.profiles                 # every scenario, writes bench/profiles.md
    .venv/bin/python -m bench.profiles --only listing  # one (repeatable); prints, writes nothing

`bench/run.py` says how long things take; this says what they spend it on. Each scenario runs
what its benchmark runs, once, under `cProfile` (or `tracemalloc` for memory), and keeps:

* the functions with the most own time ("tottime"), each with its share of all own time;
* the same own time summed by where the code lives (Textual, gRPC, protobuf, our client,
  ...), the shortest answer to "whose code is it";
* where client, proxy and backend are separate processes, each one's CPU seconds during the
  run (from /proc): a run whose processes together keep both cores busy is bound by CPU, not
  by the latency the proxy adds.

A profiler slows Python code down (several times, for code made of many small calls), so
read the shares, not the seconds: the seconds are bench/run.py's. Only the thread that runs
the event loop is profiled (gRPC's own threads are C).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import linecache
import os
import pstats
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from .common import (  # noqa: E402
    BENCH,
    LOAD,
    PYTHON,
    REPO,
    Faults,
    PtyProcess,
    backend,
    clean_env,
    log,
    proxy,
)

OUT = BENCH / "profiles.md"
TOP = 10
LATENCY = Faults(latency_ms=20)
TIMEOUT = 900.0
CLK_TCK = os.sysconf("SC_CLK_TCK")

# Where code lives, by path fragment, first match wins (own time summed per place).
PLACES = (
    ("cwsandbox_tui/ui/widgets/", "ours: table and widgets"),
    ("cwsandbox_tui/ui/", "ours: app, screens, store"),
    ("cwsandbox_tui/client/", "ours: client"),
    ("cwsandbox_tui/", "ours: other"),
    ("bench/", "the benchmark's own driver"),
    ("/textual/", "Textual"),
    ("/rich/", "Rich"),
    ("/grpc/", "gRPC (Python side)"),
    ("/google/protobuf/", "protobuf (Python side)"),
    ("/asyncio/", "asyncio"),
    ("<frozen importlib", "imports (importlib)"),
    ("/selectors.py", "waiting (selectors)"),
)


@dataclass
class Line:
    own: float
    share: float
    calls: int
    cumulative: float
    where: str


@dataclass
class Section:
    name: str
    explains: str  # the table's rows it is about
    how: str
    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- reading a profile ------------------------------------------------------------------------

def _where(file: str, line: int, name: str) -> str:
    if file == "~":
        return name  # a C function: "<method 'poll' of 'select.epoll' objects>"
    for marker in ("site-packages/", str(REPO) + "/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    else:
        file = file.rsplit("/lib/python3", 1)[-1].split("/", 1)[-1] if "/lib/python3" in file \
            else file
    return f"{file}:{line} {name}"


def _place(file: str, name: str) -> str:
    if file == "~":
        if "select.epoll" in name or "poll" in name and "select" in name:
            return "waiting (epoll)"
        if "marshal" in name or "_imp." in name or "exec" in name:
            return "imports (unmarshal, exec)"
        return "C functions (builtins, C extensions)"
    for fragment, place in PLACES:
        if fragment in file:
            return place
    return "Python's standard library, other"


def read_profile(path: Path, top: int = TOP) -> tuple[list[Line], list[tuple[str, float, float]]]:
    """The `top` functions by own time, and own time by place: (place, seconds, share)."""
    stats = pstats.Stats(str(path))
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in raw.values()) or 1.0
    lines = [Line(tt, tt / total, nc, ct, _where(*key))
             for key, (_cc, nc, tt, ct, _callers) in raw.items()]
    lines.sort(key=lambda line: -line.own)
    places: dict[str, float] = {}
    for (file, _line, name), (_cc, _nc, tt, _ct, _callers) in raw.items():
        place = _place(file, name)
        places[place] = places.get(place, 0.0) + tt
    by_place = sorted(((p, s, s / total) for p, s in places.items()), key=lambda x: -x[1])
    return lines[:top], by_place


def profile_tables(section: Section, path: Path, caption: str, top: int = TOP) -> None:
    lines, places = read_profile(path, top)
    section.tables.append((
        f"{caption}: own time by where the code lives",
        ["where", "own time", "share"],
        [[p, f"{s:.3f} s", f"{share:.0%}"] for p, s, share in places if share >= 0.01]))
    section.tables.append((
        f"{caption}: the {top} functions with the most own time",
        ["own time", "share", "calls", "cumulative", "function"],
        [[f"{ln.own:.3f} s", f"{ln.share:.1%}", f"{ln.calls:,}", f"{ln.cumulative:.3f} s",
          f"`{ln.where}`"] for ln in lines]))


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


@dataclass
class CpuWatch:
    pids: dict[str, int]
    before: dict[str, float] = field(default_factory=dict)

    def __enter__(self) -> CpuWatch:
        self.before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.children = os.times().children_user + os.times().children_system
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.started
        self.spent = {name: cpu_seconds(pid) - self.before[name]
                      for name, pid in self.pids.items()}
        times = os.times()
        self.spent["the measured process (profiled)"] = \
            times.children_user + times.children_system - self.children


def cpu_table(section: Section, watch: CpuWatch) -> None:
    section.wall = watch.wall
    section.cpu = watch.spent
    total = sum(watch.spent.values())
    rows = [[name, f"{seconds:.2f} s", f"{seconds / watch.wall:.0%} of one core"]
            for name, seconds in watch.spent.items()]
    rows.append(["all of them", f"{total:.2f} s",
                 f"{total / watch.wall / (os.cpu_count() or 1):.0%} of the "
                 f"{os.cpu_count()} cores"])
    section.tables.append((f"CPU seconds per process over the {watch.wall:.2f} s run",
                           ["process", "CPU", "busy"], rows))


def run_profiled(argv: list[str], out: Path, env: dict[str, str]) -> None:
    """`python -m cProfile -o OUT -m ...argv` to its end."""
    proc = subprocess.run([str(PYTHON), "-m", "cProfile", "-o", str(out), *argv], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"{' '.join(argv[:4])} failed ({proc.returncode}): "
                           f"{proc.stderr[-2000:]}")


# --- the scenarios ----------------------------------------------------------------------------

def startup(scratch: Path) -> Section:
    section = Section(
        "startup", "startup: first frame (warm and cold)",
        "A process on a pty (80x24) profiled from its first line to the first frame the app "
        "writes: the imports of the app, its construction, and `run_test(headless=False)` up "
        "to that frame, against an empty backend already running (the warm case).")
    out = scratch / "startup.prof"
    with backend() as server:
        for _ in range(2):  # the first run writes the bytecode caches, as run.py's warm-up
            term = PtyProcess([str(PYTHON), "-m", "bench.profiles", "--worker", "startup",
                               "--url", server.url, "--out", str(out)],
                              env=clean_env(TERM="xterm-256color"), size=(80, 24), cwd=REPO)
            try:
                code = term.wait(120)
            finally:
                term.close()
            if code != 0:
                raise RuntimeError(f"the startup worker failed ({code}): {term.text()[-2000:]}")
    profile_tables(section, out, "start to the first frame")
    section.tables += import_times()
    return section


def import_times() -> list[tuple[str, list[str], list[list[str]]]]:
    """`python -X importtime` of the dashboard's module: each module's own import time (not
    what it imports in turn), summed by package (ours by subpackage), and the slowest
    modules."""
    proc = subprocess.run([str(PYTHON), "-X", "importtime", "-c", "import cwsandbox_tui.ui.app"],
                          env=clean_env(), cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=True)
    modules: list[tuple[str, int]] = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            own_us, _cumulative, module = line.removeprefix("import time:").split("|")
            modules.append((module.strip(), int(own_us)))
    by_package: dict[str, int] = {}
    for name, own in modules:
        parts = name.split(".")
        package = ".".join(parts[:2]) if parts[0] == "cwsandbox_tui" else parts[0]
        by_package[package] = by_package.get(package, 0) + own
    total = sum(by_package.values()) or 1
    rows = [[package, f"{micros / 1e6:.3f} s", f"{micros / total:.0%}"]
            for package, micros in sorted(by_package.items(), key=lambda kv: -kv[1])[:10]]
    rows.append(["all imports", f"{total / 1e6:.3f} s", "100%"])
    slowest = [[f"`{name}`", f"{own / 1e3:.1f} ms"]
               for name, own in sorted(modules, key=lambda m: -m[1])[:TOP]]
    how = "`python -X importtime -c 'import cwsandbox_tui.ui.app'`, no profiler"
    return [(f"importing the dashboard ({how}): each module's own time, by package",
             ["package", "own", "share"], rows),
            ("the modules slowest to import (own time)", ["module", "own"], slowest)]


def listing(scratch: Path) -> Section:
    section = Section(
        "listing", "listing: 100,000 snapshots [20 ms on every call]",
        "`bench.client_worker list` (v1beta2, pages of 1,000) under cProfile, through the "
        "proxy adding 20 ms to every call, against a backend seeded with 100,000 snapshots "
        "(its page cache warmed by one listing first).")
    out = scratch / "listing.prof"
    with backend(seed_snapshots=100_000) as server, proxy(server, LATENCY) as front:
        run_profiled(["-m", "bench.client_worker", "list", "--url", server.url,
                      "--page-size", "1000"], scratch / "warm.prof", clean_env())
        with CpuWatch({"backend": server.pid, "proxy": front.pid}) as watch:
            run_profiled(["-m", "bench.client_worker", "list", "--url", front.url,
                          "--page-size", "1000"], out, clean_env())
    cpu_table(section, watch)
    profile_tables(section, out, "the client")
    return section


def bulk_delete(scratch: Path) -> Section:
    section = Section(
        "bulk_delete", "bulk_delete: CLI and client delete of 1,000 [20 ms on every call]; "
        "dashboard_delete: 'y' to no row left",
        "`bench.client_worker delete` (what the CLI and the dashboard call: "
        "`Client.delete_snapshots` of 1,000 ids, 32 at once) under cProfile, through the proxy "
        "adding 20 ms to every call.")
    out = scratch / "bulk.prof"
    with backend(seed_snapshots=1000) as server, proxy(server, LATENCY) as front:
        with CpuWatch({"backend": server.pid, "proxy": front.pid}) as watch:
            run_profiled(["-m", "bench.client_worker", "delete", "--url", front.url], out,
                         clean_env())
    cpu_table(section, watch)
    profile_tables(section, out, "the client")
    return section


def dashboard_delete(scratch: Path) -> Section:

    section = Section(
        "dashboard_delete", "dashboard_delete: longest event-loop stall while deleting",
        "The dashboard_delete worker (1,000 rows marked, `ctrl+d`, `y`, through the proxy "
        "adding 20 ms) with its own cProfile hook on, from `y` to the frame with no row left.")
    out = scratch / "dashboard.prof"
    result_path = scratch / "dashboard.json"
    code = _dashboard_worker(result_path, BENCH_PROFILE=str(out))
    result = json.loads(result_path.read_text())
    if code != 0 or "error" in result:
        raise RuntimeError(f"the dashboard worker failed ({code}): {result}")
    section.notes.append(f"Under the profiler: {result['seconds']:.2f} s, longest stall "
                         f"{result['worst_stall_ms']:.0f} ms, {result['frames']} frames.")
    profile_tables(section, out, "the dashboard's event loop")
    stall_tables(section, scratch)
    return section


def _dashboard_worker(result_path: Path, **env: str) -> int | None:
    """One run of the dashboard_delete worker on a fresh backend and proxy, with `env` (its
    profile or sampling hook); its exit code (None: it did not finish)."""
    from . import dashboard_delete as dash

    with backend(seed_snapshots=dash.COUNT) as server, proxy(server, LATENCY) as front:
        term = PtyProcess([str(PYTHON), "-m", "bench.dashboard_delete", "--url", front.url,
                           "--count", str(dash.COUNT), "--out", str(result_path)],
                          env=clean_env(TERM="xterm-256color", **env), size=dash.SIZE,
                          cwd=REPO)
        try:
            return term.wait(dash.WORKER_TIMEOUT)
        finally:
            term.close()


def stall_tables(section: Section, scratch: Path) -> None:
    """Another run, unprofiled, with the loop's thread sampled every millisecond: what the
    samples inside the longest stall were running."""

    samples_path = scratch / "dashboard-samples.json"
    code = _dashboard_worker(scratch / "dashboard-sampled.json",
                             BENCH_SAMPLES=str(samples_path))
    if code != 0 or not samples_path.exists():
        raise RuntimeError(f"the sampled dashboard worker failed ({code})")
    sampled = json.loads(samples_path.read_text())
    stacks: list[list[str]] = sampled["samples"]
    collections = sampled["collections"]
    section.notes.append(
        f"Sampled run (no profiler): longest stall {sampled['stall_s'] * 1000:.0f} ms, "
        f"{len(stacks)} samples of the loop's thread inside it (the sampler runs only when "
        "the loop's thread lets go of the GIL); cyclic garbage collections inside it: "
        + (", ".join(f"generation {g}, {took * 1000:.0f} ms" for _at, took, g in collections)
           or "none") + ".")
    if not stacks:
        return

    def innermost(stack: list[str], marker: str) -> str:
        return next((f for f in reversed(stack) if marker in f), "(none)")

    def handler(stack: list[str]) -> str:
        """The frame a message or callback handler begins at: the first of ours or
        Textual's below asyncio's and Textual's message dispatch."""
        for frame in stack:
            if "asyncio/" in frame or "message_pump.py" in frame or "_callback.py" in frame:
                continue
            if "textual/" in frame or "cwsandbox_tui/" in frame:
                return frame
        return "(none)"

    for caption, pick in (("where each sample entered our code or Textual's", handler),
                          ("our innermost frame in each sample",
                           lambda st: innermost(st, "cwsandbox_tui/")),
                          ("Textual's innermost frame in each sample",
                           lambda st: innermost(st, "textual/"))):
        counts: dict[str, int] = {}
        for stack in stacks:
            key = pick(stack)
            counts[key] = counts.get(key, 0) + 1
        rows = [[f"`{key}`", str(n), f"{n / len(stacks):.0%}"]
                for key, n in sorted(counts.items(), key=lambda kv: -kv[1])[:6]]
        section.tables.append((f"the longest stall: {caption}", ["frame", "samples", "share"],
                               rows))


def big_table(scratch: Path, rows: int, phases: tuple[str, ...]) -> Section:
    from . import big_table as bt

    section = Section(
        f"big_table_{rows}", f"big_table: {rows:,} rows: " + ", ".join(phases),
        f"The big_table worker at {rows:,} rows (pages of 1,000, 120x40 on a pty) with its "
        "own cProfile hook on during one phase per run: load (the key `2` to every row "
        "shown), first (the key `2` to the first rows shown), filter (both filters typed key "
        "by key, then `esc`), cursor (200 downs).")
    with backend(seed_snapshots=rows, start_timeout=900) as server:
        bt.warm_up(server.url)
        for phase in phases:
            out = scratch / f"big-{rows}-{phase}.prof"
            result = bt.run_worker("ours", server.url, bt.INTERACTIVE_PAGE_SIZE, rows, scratch,
                                   profile=out, phase=phase,
                                   load_only=phase in ("load", "first"))
            if phase in ("load", "first"):
                section.notes.append(f"{phase.capitalize()} phase's run, under the profiler: "
                                     f"first rows {result['first_rows_s']:.2f} s, all rows "
                                     f"{result['all_rows_s']:.1f} s.")
            profile_tables(section, out, f"{phase} phase")
    return section


def memory(scratch: Path, rows: int) -> Section:
    section = Section(
        f"memory_{rows}", f"big_table: {rows:,} rows: RSS after loading",
        f"The big_table worker's load of {rows:,} rows run with `tracemalloc` on: the lines "
        "that allocated what is still held once every row is shown, and the size of one row's "
        "own objects (its named tuple and the values only it holds).")
    out = scratch / f"memory-{rows}.json"
    with backend(seed_snapshots=rows, start_timeout=900) as server:
        from . import big_table as bt

        bt.warm_up(server.url)
        term = PtyProcess([str(PYTHON), "-m", "bench.profiles", "--worker", "memory",
                           "--url", server.url, "--rows", str(rows), "--out", str(out)],
                          env=clean_env(TERM="xterm-256color"), size=bt.SIZE, cwd=REPO)
        try:
            code = term.wait(TIMEOUT)
        finally:
            term.close()
    result = json.loads(out.read_text()) if out.exists() else {}
    if code != 0 or "error" in result or not result:
        raise RuntimeError(f"the memory worker failed ({code}): {result or term.text()[-2000:]}")
    total = result["traced_bytes"]
    section.notes.append(f"Traced and still held after loading: {total / 2**20:.0f} MB "
                         f"({total / rows:.0f} B a row); RSS {result['rss_mb']:.0f} MB "
                         "(tracemalloc's own bookkeeping included).")
    section.tables.append((
        "what is held, by the line that allocated it", ["held", "per row", "share", "line"],
        [[f"{size / 2**20:.1f} MB", f"{size / rows:.0f} B", f"{size / total:.0%}", f"`{where}`"]
         for where, size in result["top"]]))
    section.tables.append((
        "one row's own objects (sys.getsizeof, a median row)", ["object", "bytes"],
        [[name, str(size)] for name, size in result["row"]]))
    return section


def usage(scratch: Path) -> Section:
    from cwsandbox_tui.client.usage import Usage

    from . import usage as bench_usage
    section = Section(
        "usage", "usage: group 1,000,000 snapshots from scratch",
        "`Usage.sync` of 1,000,000 rows made as bench/usage.py makes them, under cProfile; "
        "then the fold's loop timed again with its steps taken away one by one (process "
        "time, median of 3), which a profile of one function cannot show.")
    rows = bench_usage.make_rows(bench_usage.ROWS)
    out = scratch / "usage.prof"
    profiler = cProfile.Profile()
    profiler.enable()
    Usage(bench_usage.NOW).sync(rows, bench_usage.NOW)
    profiler.disable()
    profiler.dump_stats(str(out))
    profile_tables(section, out, "Usage.sync", top=5)
    values = list(rows.values())
    steps = _fold_steps(values, Usage(bench_usage.NOW))
    section.tables.append((
        "the fold's loop, step by step (each line adds one step to the one above)",
        ["loop", "process time", "per row"],
        [[name, f"{s:.3f} s", f"{s / len(values) * 1e9:.0f} ns"] for name, s in steps]))
    return section


def _fold_steps(values: list[Any], usage: Any) -> list[tuple[str, float]]:
    import gc
    from bisect import bisect_left

    from cwsandbox_tui.client.usage import _FOLDED

    status_at, trigger_at = usage._status_at, usage._trigger_at
    band_at, cutoffs = usage._band_at, usage._cutoffs
    totals = [0] * len(usage._totals)

    def bare() -> None:
        for _row in values:
            pass

    def unpack() -> None:
        for _status, _size, _created, _source, _trigger in map(_FOLDED, values):
            pass

    def sources() -> None:
        cells: dict[str, list[int]] = {}
        for _status, size, _created, source, _trigger in map(_FOLDED, values):
            cell = cells.get(source)
            if cell is None:
                cell = cells[source] = [0, 0]
            cell[0] += 1
            cell[1] += size

    def whole() -> None:
        type(usage)(usage.now)._fold(values)

    def slot_only() -> None:
        for status, size, created, _source, trigger in map(_FOLDED, values):
            at = status_at[status] + trigger_at[trigger] + band_at[bisect_left(cutoffs, created)]
            totals[at] += 1
            totals[at + 1] += size

    steps = [("the bare loop over the rows", bare),
             ("+ reading the five fields (one itemgetter)", unpack),
             ("+ the source's count and bytes", sources),
             ("the slot's count and bytes alone (status, trigger, age band)", slot_only),
             ("the whole fold (`Usage._fold`)", whole)]
    out = []
    for name, step in steps:
        times = []
        for _ in range(3):
            gc.collect()
            started = time.process_time()
            step()
            times.append(time.process_time() - started)
        out.append((name, sorted(times)[1]))
    return out


# --- the workers (their own processes, on a pty) ----------------------------------------------

def startup_worker(url: str, out: Path) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    from cwsandbox_tui.ui.app import DashboardApp

    from .big_table import Frames, _client_factory

    async def first_frame() -> None:
        app = DashboardApp(_client_factory(url, 1000), refresh_interval=0)
        frames = Frames(app)
        shown = frames.when(lambda: True)
        async with app.run_test(headless=False, size=(80, 24)):
            if not frames.times:
                await asyncio.wait_for(shown, 60)
            profiler.disable()

    asyncio.run(first_frame())
    profiler.dump_stats(str(out))


def memory_worker(url: str, rows: int, out: Path) -> None:
    import gc

    from . import big_table as bt

    tracemalloc.start()
    from cwsandbox_tui.ui.app import DashboardApp
    from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen

    async def load() -> tuple[tracemalloc.Snapshot, list[Any], float]:
        app = DashboardApp(bt._client_factory(url, bt.INTERACTIVE_PAGE_SIZE),
                           refresh_interval=0)
        frames = bt.Frames(app)
        async with app.run_test(headless=False, size=bt.SIZE) as pilot:
            def all_rows() -> bool:
                screen = app.screen
                return isinstance(screen, SnapshotsScreen) and len(screen.table.view) == rows

            shown = frames.when(all_rows)
            app.post_message(bt._key_event("2"))
            await asyncio.wait_for(shown, TIMEOUT)
            await bt.settle(pilot)
            gc.collect()
            return (tracemalloc.take_snapshot(), list(app.store.snapshots.values()),
                    bt.rss_kib()[0] / 1024)

    snapshot, sample, rss = asyncio.run(load())
    stats = snapshot.statistics("lineno")
    total = sum(s.size for s in stats)
    top = []
    for stat in stats[:TOP]:
        frame = stat.traceback[0]
        code = linecache.getline(frame.filename, frame.lineno).strip()[:70]
        top.append((f"{_where(frame.filename, frame.lineno, '')}{code}", stat.size))
    middle = sample[len(sample) // 2]
    row = [("the named tuple (11 fields)", sys.getsizeof(middle))]
    seen = {id(middle)}
    for name in ("id", "size_bytes", "created_at", "updated_at", "completed_at",
                 "idempotency_key", "source_sandbox_id", "object_bucket"):
        value = getattr(middle, name)
        if value is None:
            continue
        shared = id(value) in seen or name in ("source_sandbox_id", "object_bucket")
        seen.add(id(value))
        row.append((f"{name} ({type(value).__name__})"
                    + (": shared with other fields or rows, not counted" if shared else ""),
                    0 if shared else sys.getsizeof(value)))
    row.append(("the named tuple and the values only it holds",
                sum(size for _name, size in row)))
    out.write_text(json.dumps({"traced_bytes": total, "top": top, "row": row, "rss_mb": rss}))


# --- the report -------------------------------------------------------------------------------

SCENARIOS: dict[str, Callable[[Path], Section]] = {
    "startup": startup,
    "listing": listing,
    "bulk_delete": bulk_delete,
    "dashboard_delete": dashboard_delete,
    "big_table_100k": lambda s: big_table(s, 100_000, ("load", "filter", "cursor")),
    "big_table_1m": lambda s: big_table(s, 1_000_000, ("load", "filter")),
    "memory_100k": lambda s: memory(s, 100_000),
    "first_rows": lambda s: big_table(s, 100_000, ("first",)),
    "usage": usage,
}


def markdown(sections: list[Section], header: list[str]) -> str:
    out = ["# Profiles of the benchmarks' missed targets", "",
           "Written by `python -m bench.profiles` (see its docstring for how to read them).", "",
           *header, ""]
    for section in sections:
        out += [f"## {section.name}", "", f"Explains: {section.explains}.", "", section.how, ""]
        out += [*section.notes, ""] if section.notes else []
        for caption, columns, rows in section.tables:
            out += [f"**{caption}**", "", "| " + " | ".join(columns) + " |",
                    "|" + "---|" * len(columns)]
            out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
                    for row in rows]
            out.append("")
    return "\n".join(out)


def _commit() -> str:
    """The commit, and whether code differs from it (the results the bench writes do not
    count: they are what a run leaves behind)."""
    from .run import code_version

    return code_version()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS))
    parser.add_argument("--worker", choices=["startup", "memory"])
    parser.add_argument("--url")
    parser.add_argument("--rows", type=int, default=0)
    parser.add_argument("--out", type=Path, help="with --only: write the report here too")
    args = parser.parse_args(argv)
    if args.worker == "startup":
        startup_worker(args.url, args.out)
        return 0
    if args.worker == "memory":
        try:
            memory_worker(args.url, args.rows, args.out)
        except BaseException as error:
            import traceback

            args.out.write_text(json.dumps({"error": repr(error),
                                            "traceback": traceback.format_exc()}))
            return 1
        return 0
    names = args.only or list(SCENARIOS)
    sections = []
    started = time.strftime("%Y-%m-%d %H:%M")
    with tempfile.TemporaryDirectory(prefix="cws-profiles-") as tmp:
        for name in names:
            log(f"profile {name}")
            sections.append(SCENARIOS[name](Path(tmp)))
    header = [f"- Commit: `{_commit()}`",
              f"- Date: {started} to {time.strftime('%Y-%m-%d %H:%M')}",
              f"- 1-minute load when it ended: {LOAD.sample().load:.2f} on "
              f"{os.cpu_count()} cores",
              f"- Python {sys.version.split()[0]}"]
    text = markdown(sections, header)
    if args.only:
        print(text)
        if args.out is not None:
            args.out.write_text(text + "\n")
    else:
        OUT.write_text(text + "\n")
        log(f"wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
