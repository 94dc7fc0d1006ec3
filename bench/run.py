"""Run the benchmark suite at one commit and write bench/results.md (and results.json).

    .venv/bin/python bench/run.py                  # everything, 3 runs each (<= 20 minutes)
    .venv/bin/python bench/run.py --quick          # a smoke run: 1 run, small sizes, no files
    .venv/bin/python bench/run.py --only listing   # one benchmark (repeatable); see --help
    .venv/bin/python bench/run.py --readme         # print the README's table from results.json
    .venv/bin/python bench/run.py --write-readme   # put that table into README.md

Latency and faults come from `bench/proxy.py`, a process of our own between client and
server; every measure names what it ran under in [brackets] ("loopback, no proxy" where none).
A full run refuses a working tree with uncommitted changes (`--allow-dirty` runs anyway and
says so in the results), records the commit, the machine (cores, CPU model, memory) and the
date, and rewrites bench/results.md and bench/results.json as one set. `--only` replaces just
those benchmarks' sections; the header then lists each commit it holds.

Figures that reproduce: one run.py at a time (a second one refuses while the first holds
its lock), its benchmarks one after another, each comparison's sides interleaved run by run.
The 1-minute load average is sampled between runs (at every progress line and figure) and
each figure records the highest sample of its benchmark with the core count. A run whose
load went above the threshold it prints at the start (default 0.5 x cores, `--max-load`)
writes no results; `--ignore-load` writes them marked loud, and `--write-readme` refuses any
loud section, a section without load samples, uncommitted code or a mix of commits.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from bench import (  # noqa: E402
    archive,
    big_table,
    bulk_delete,
    dashboard_delete,
    listing,
    startup,
    terminal_bytes,
    usage,
)
from bench.common import (  # noqa: E402
    BENCH,
    LOAD,
    QUIET_SHARE,
    Benchmark,
    Context,
    Figure,
    figures_from_json,
    figures_to_json,
    fmt,
    fmt_load,
    fmt_target,
    log,
    markdown_table,
    quiet_limit,
    text_table,
)

BENCHMARKS: dict[str, Benchmark] = {  # in the order they run (bulk_delete before
    startup.NAME: startup.run,               # dashboard_delete: it shares the SDK loop)
    listing.NAME: listing.run,
    bulk_delete.NAME: bulk_delete.run,
    dashboard_delete.NAME: dashboard_delete.run,
    big_table.NAME: big_table.run,
    terminal_bytes.NAME: terminal_bytes.run,
    archive.NAME: archive.run,
    usage.NAME: usage.run,
}
README = BENCH.parent / "README.md"
README_BEGIN = "<!-- bench-table:begin (bench/run.py --write-readme) -->"
README_END = "<!-- bench-table:end -->"
# what the bench and the profiles write: a change to them is not a change to the code measured
RESULT_FILES = ("bench/results.md", "bench/results.json", "bench/profiles.md",
                "bench/profiles-first-rows.md")
RESULTS_JSON = BENCH / "results.json"
RESULTS_MD = BENCH / "results.md"
LOCK = Path(tempfile.gettempdir()) / "cwsandbox-tui-bench.lock"


class Busy(Exception):
    """Another bench/run.py holds the lock."""


@contextlib.contextmanager
def only_run(path: Path | None = None) -> Iterator[None]:
    """Held while measuring: two runs at once would skew each other's figures."""
    lock = path or LOCK
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise Busy(f"another bench/run.py is measuring (pid {handle.read().strip() or '?'},"
                       f" lock {lock})") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def loud(section: dict[str, object]) -> str | None:
    """Why a section's figures may not stand for the code (None: it was measured quietly)."""
    before, limit = section.get("load_before"), section.get("load_limit")
    if limit is None:
        return "no load samples recorded"
    if before is None:  # results of the harness before it waited for a quiet start
        before = section.get("load_peak")
        if before is None:
            return "no load samples recorded"
    if float(str(before)) > float(str(limit)):
        return (f"1-minute load {float(str(before)):.2f} > {float(str(limit)):.2f} when it "
                "began: other work was running")
    if section.get("ignored_load"):
        return "measured with --ignore-load"
    return None


def readme_refusals(sections: dict[str, dict[str, object]]) -> list[str]:
    """Why these results may not become the README's table (empty: they may)."""
    reasons = [f"{name}: {why}" for name, section in sections.items()
               if (why := loud(section)) is not None]
    codes = {str(section.get("code", "?")) for section in sections.values()}
    if len(codes) > 1:
        reasons.append("sections measured at different commits: " + "; ".join(sorted(codes)))
    reasons += [f"measured on {code}" for code in codes if "uncommitted" in code or "?" in code]
    if not sections:
        reasons.append("no results")
    return reasons


def machine() -> str:
    import textual

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except (OSError, ValueError):
        pass
    return (f"nproc {os.cpu_count()}, {cpu}, {memory} RAM, Python {platform.python_version()}, "
            f"Textual {textual.__version__}, {platform.system()} {platform.release()}")


def _git(*args: str) -> str:
    import subprocess

    return subprocess.run(["git", *args], cwd=BENCH.parent, capture_output=True, text=True,
                          timeout=30, check=True).stdout


def uncommitted() -> list[str]:
    """Changed or untracked files, apart from the results this run writes."""
    lines = _git("status", "--porcelain", "--untracked-files=all").splitlines()
    return [line[3:] for line in lines if line[3:] not in RESULT_FILES]


def code_version() -> str:
    """The commit, and "+ uncommitted changes (files)" when the tree differs from it."""
    try:
        head = _git("rev-parse", "--short=10", "HEAD").strip()
        dirty = uncommitted()
    except (OSError, Exception):  # noqa: BLE001 - no git: say so rather than fail
        return "? (not a git checkout)"
    if not dirty:
        return head
    shown = ", ".join(dirty[:5]) + (f" and {len(dirty) - 5} more" if len(dirty) > 5 else "")
    return f"{head} + uncommitted changes ({shown})"


def _header(sections: dict[str, dict[str, object]]) -> list[str]:
    codes = sorted({str(section.get("code", "?")) for section in sections.values()})
    machines = sorted({str(section.get("machine", "?")) for section in sections.values()})
    when = sorted(str(section.get("when", "?")) for section in sections.values())
    lines = []
    if len(codes) == 1:
        lines.append(f"- Commit: `{codes[0]}`")
    else:
        lines.append("- Commits: **MIXED** (sections were measured at different code states: "
                     + "; ".join(f"`{c}`" for c in codes) + ")")
    lines.append(f"- Machine: {'; '.join(machines)}")
    befores = sorted(float(str(section["load_before"])) for section in sections.values()
                     if section.get("load_before") is not None)
    peaks = sorted(float(str(section["load_peak"])) for section in sections.values()
                   if section.get("load_peak") is not None)
    limits = sorted({float(str(section["load_limit"])) for section in sections.values()
                     if section.get("load_limit") is not None})
    if befores:
        lines.append(f"- 1-minute load average when each benchmark began: {befores[0]:.2f} to "
                     f"{befores[-1]:.2f} (quiet threshold "
                     f"{', '.join(f'{x:g}' for x in limits)}: {QUIET_SHARE:g} x the cores)")
    if peaks:
        lines.append(f"- Highest 1-minute load average sampled during each benchmark: "
                     f"{peaks[0]:.2f} to {peaks[-1]:.2f} (its own processes, the backend, "
                     "proxy and clients it starts, count in it)")
    lines.append(f"- Date: {when[0]}" + (f" to {when[-1]}" if when[-1] != when[0] else ""))
    return lines


def render_markdown(sections: dict[str, dict[str, object]]) -> str:
    figures: list[Figure] = []
    lines = ["# Benchmarks", "",
             "Produced by `.venv/bin/python bench/run.py` (see `bench/`).", "",
             *_header(sections), "",
             "Each figure is the median of the runs counted in its Runs column; Range is the "
             "fastest and slowest run. Ratio says how many times better ours is than what it "
             "is compared with (their time / our time), except where its note says otherwise. "
             "What each measure ran under is in [brackets]: latency and faults are added by "
             "`bench/proxy.py`, a gRPC proxy process between client and server, on every "
             "call. Every backend ran as its own process. \"Load/cores\" is the highest "
             "1-minute load average sampled while the figure's benchmark ran (its own "
             "processes included), over the machine's cores.", ""]
    for name in BENCHMARKS:
        section = sections.get(name)
        if section is None:
            continue
        figures += figures_from_json(section["figures"])  # type: ignore[arg-type]
    lines.append(markdown_table(figures))
    lines.append("")
    lines.append("| Benchmark | Measured (UTC) | Code | Runs | Took | Load when it began | "
                 "Highest load | Threshold |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for name in BENCHMARKS:
        section = sections.get(name)
        if section is not None:
            lines.append(f"| {name} | {section['when']} | {section.get('code', '?')} | "
                         f"{section['runs']} | {section['seconds']:.0f} s | "
                         f"{section.get('load_before', section.get('load', '?'))} | "
                         f"{section.get('load_peak', '?')} | "
                         f"{section.get('load_limit', '?')} |")
    return "\n".join(lines) + "\n"


def readme_table(sections: dict[str, dict[str, object]]) -> str:
    """The README's table: the same figures as results.md, fewer columns."""
    figures = [f for name in BENCHMARKS if name in sections
               for f in figures_from_json(sections[name]["figures"])]  # type: ignore[arg-type]
    lines = [*_header(sections), "",
             "| measure | ours (median) | target | met | compared with | ratio | load/cores |",
             "|---|---|---|---|---|---|---|"]
    for f in figures:
        row = [f"{f.bench}: {f.measure}", fmt(f.value, f.unit), fmt_target(f.target, f.unit),
               {True: "yes", False: "**no**", None: ""}[f.met], f.reference,
               f"{f.ratio:.2f}x" if f.ratio is not None else "", fmt_load(f)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines)


def write_readme(table: str, sections: dict[str, dict[str, object]]) -> None:
    refused = readme_refusals(sections)
    if refused:
        raise SystemExit("refusing to write the README's table: figures measured on a busy "
                         "machine or at mixed code do not reproduce:\n  " + "\n  ".join(refused))
    text = README.read_text()
    if README_BEGIN not in text or README_END not in text:
        raise SystemExit(f"README.md has no {README_BEGIN} ... {README_END} markers")
    before, rest = text.split(README_BEGIN, 1)
    _, after = rest.split(README_END, 1)
    README.write_text(f"{before}{README_BEGIN}\n{table}\n{README_END}{after}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="one run each and smaller sizes: a smoke test, not figures")
    parser.add_argument("--only", action="append", choices=list(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark ({', '.join(BENCHMARKS)}); repeatable")
    parser.add_argument("--runs", type=int, default=None,
                        help="runs per figure (default 3, --quick 1)")
    parser.add_argument("--baseline", action="store_true",
                        help="big_table: also measure Textual's DataTable (adds ~5 minutes)")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="run on a tree with uncommitted changes (the results say so)")
    parser.add_argument("--output", type=Path, default=None,
                        help="write the Markdown table here instead of bench/results.md")
    parser.add_argument("--render-only", action="store_true",
                        help="run nothing: rewrite bench/results.md from bench/results.json")
    parser.add_argument("--readme", action="store_true",
                        help="run nothing: print the README's table from bench/results.json")
    parser.add_argument("--write-readme", action="store_true",
                        help="run nothing: put that table into README.md between its markers "
                             "(refused unless every section was measured quietly at one commit)")
    parser.add_argument("--max-load", type=float, default=None,
                        help=f"the quiet threshold: the highest 1-minute load average a run may "
                             f"see (default {QUIET_SHARE:g} x cores = {quiet_limit():g})")
    parser.add_argument("--ignore-load", action="store_true",
                        help="a dry run on a busy machine: write the results marked loud (the "
                             "README is never written from them)")
    args = parser.parse_args(argv)
    if args.render_only or args.readme or args.write_readme:
        stored_only = json.loads(RESULTS_JSON.read_text())
        if args.readme:
            print(readme_table(stored_only))
        if args.write_readme:
            write_readme(readme_table(stored_only), stored_only)
            log(f"wrote the table into {README}")
        if args.render_only:
            (args.output or RESULTS_MD).write_text(render_markdown(stored_only))
            print(text_table([f for name in BENCHMARKS if name in stored_only
                              for f in figures_from_json(stored_only[name]["figures"])]))
        return 0
    dirty = uncommitted()
    if dirty and not args.quick and not args.allow_dirty:
        print("refusing to measure a tree with uncommitted changes (commit them, or pass "
              "--allow-dirty and the results will say so):\n  " + "\n  ".join(dirty[:20]),
              file=sys.stderr)
        return 2
    try:
        with only_run():
            return measure(args, dirty)
    except Busy as busy:
        print(f"refusing to measure: {busy}", file=sys.stderr)
        return 2


def measure(args: argparse.Namespace, dirty: list[str]) -> int:
    runs = args.runs or (1 if args.quick else 3)
    limit = args.max_load if args.max_load is not None else quiet_limit()
    chosen = [name for name in BENCHMARKS if not args.only or name in args.only]
    figures: list[Figure] = []
    failures: list[str] = []
    sections: dict[str, dict[str, object]] = {}
    started = time.monotonic()
    code = code_version()
    host = machine()
    log(f"measuring {code} on {host}; {len(chosen)} benchmarks, one after another, {runs} "
        f"run{'s' if runs != 1 else ''} each{', quick' if args.quick else ''}")
    log(f"quiet threshold: 1-minute load average <= {limit:g} on {os.cpu_count()} cores when "
        f"each benchmark begins; now {os.getloadavg()[0]:.2f}")
    extra: dict[str, object] = {"baseline": args.baseline}  # shared: later ones reuse figures
    with tempfile.TemporaryDirectory(prefix="cws-bench-") as scratch:
        for number, name in enumerate(chosen, 1):
            log(f"== [{number}/{len(chosen)}] {name} "
                f"({time.monotonic() - started:.0f} s in so far)")
            # Other work on the machine skews every figure: each benchmark begins only once
            # the load has fallen to the threshold (a benchmark's own processes raise it
            # while it runs: its peak is recorded, but is not other work).
            settled = LOAD.settle(limit)
            if settled.load > limit:
                log(f"== {name}: the load is still {settled.load:.2f} > {limit:g}")
            began = time.monotonic()
            load = LOAD.begin().load
            ctx = Context(runs=runs, quick=args.quick, scratch=Path(scratch), extra=extra)
            try:
                result = BENCHMARKS[name](ctx)
            except Exception as error:  # one broken benchmark must not hide the others
                import traceback

                traceback.print_exc()
                failures.append(f"{name}: {type(error).__name__}: {error}")
                continue
            took = time.monotonic() - began
            LOAD.sample()
            peak = LOAD.peak()
            section_code = code
            if code_version() != code:
                section_code += " (the code changed while this benchmark ran)"
                log(f"== {name}: the code changed while it ran")
            log(f"== {name} took {took:.0f} s; highest load {peak:.2f} (threshold {limit:g})")
            figures += result
            sections[name] = {"figures": figures_to_json(result), "runs": runs,
                              "seconds": took, "machine": host, "load": f"{load:.2f}",
                              "load_before": round(settled.load, 2),
                              "load_peak": round(peak, 2), "load_limit": limit,
                              "cores": os.cpu_count(), "ignored_load": bool(args.ignore_load),
                              "code": section_code,
                              "when": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    total = time.monotonic() - started
    print(text_table(figures))
    print("\nRatio: how many times better ours is (their time / ours), unless its note says "
          "otherwise.")
    print(f"\n{len(figures)} figures from {len(chosen) - len(failures)} benchmarks, "
          f"{runs} run{'s' if runs != 1 else ''} each, in {total:.0f} s, at {code}")
    missed = [f for f in figures if f.met is False]
    if missed:
        print("Targets missed: " + "; ".join(f"{f.bench} / {f.measure}" for f in missed))
    for failure in failures:
        print(f"FAILED {failure}")
    noisy = {name: why for name, section in sections.items()
             if (why := loud(section)) is not None and not why.startswith("measured with")}
    for name, why in noisy.items():
        print(f"LOUD {name}: {why}")
    if noisy and not args.quick:
        if not args.ignore_load:
            print(f"refusing to write the results: other work kept the load above the "
                  f"threshold {limit:g}; measure again on a quiet machine (or pass "
                  "--ignore-load for a dry run: results marked loud, never the README)",
                  file=sys.stderr)
            return 3

    if args.quick and args.output is None:
        return 1 if failures else 0
    if args.output is not None:
        args.output.write_text(render_markdown(sections))
        log(f"wrote {args.output}")
        return 1 if failures else 0
    stored: dict[str, dict[str, object]] = {}
    if args.only and RESULTS_JSON.exists():
        stored = {k: v for k, v in json.loads(RESULTS_JSON.read_text()).items()
                  if k in BENCHMARKS}
    stored.update(sections)
    RESULTS_JSON.write_text(json.dumps(stored, indent=1) + "\n")
    RESULTS_MD.write_text(render_markdown(stored))
    log(f"wrote {RESULTS_MD} and {RESULTS_JSON.name}; `bench/run.py --write-readme` puts the "
        "table into README.md")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
