"""Run the benchmark suite and print (and save) the table of figures.

    .venv/bin/python bench/run.py                  # everything, 3 runs each (the README's table)
    .venv/bin/python bench/run.py --quick          # a fast smoke run: 1 run, smaller sizes
    .venv/bin/python bench/run.py --only listing   # one benchmark (repeatable)
    .venv/bin/python bench/run.py --runs 5
    .venv/bin/python bench/run.py --render-only    # results.md again from results.json

A full run rewrites bench/results.md (and bench/results.json, which keeps each benchmark's
latest figures). `--only` updates just those benchmarks' sections and re-renders the
Markdown from all sections; `--quick` writes nothing unless `--output` says where.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    __package__ = "bench"

from bench import archive, big_table, bulk_delete, listing, startup, terminal_bytes  # noqa: E402
from bench.common import (  # noqa: E402
    BENCH,
    Benchmark,
    Context,
    Figure,
    figures_from_json,
    figures_to_json,
    log,
    markdown_table,
    text_table,
)

BENCHMARKS: dict[str, Benchmark] = {
    startup.NAME: startup.run,
    big_table.NAME: big_table.run,
    bulk_delete.NAME: bulk_delete.run,
    listing.NAME: listing.run,
    terminal_bytes.NAME: terminal_bytes.run,
    archive.NAME: archive.run,
}
RESULTS_JSON = BENCH / "results.json"
RESULTS_MD = BENCH / "results.md"


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
    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
            f"Textual {textual.__version__}, {platform.system()} {platform.release()}")


def code_version() -> str:
    """HEAD, and a digest of the package's files if they differ from it (others may be
    changing the package while the benchmarks run)."""
    import hashlib
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=BENCH.parent,
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "cwsandbox_tui"],
                               cwd=BENCH.parent, capture_output=True, text=True,
                               timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"
    if not dirty:
        return head
    digest = hashlib.sha256()
    for path in sorted((BENCH.parent / "cwsandbox_tui").rglob("*")):
        if path.suffix in (".py", ".tcss") and path.is_file():
            digest.update(path.read_bytes())
    return f"{head} + changes {digest.hexdigest()[:8]}"


def render_markdown(sections: dict[str, dict[str, object]]) -> str:
    figures: list[Figure] = []
    lines = ["# Benchmarks", "",
             "Produced by `.venv/bin/python bench/run.py` (see `bench/`). Each figure is the "
             "median of the runs counted in its Runs column; Range is the fastest and slowest "
             "run. Ratio says how many times better ours is than what it is compared with "
             "(their time / our time, our rate / their rate, their memory / our memory). "
             "Every backend ran as its own process. \"Load before\" is the 1-minute load "
             "average when the benchmark began (2 cores: above ~0.5, other work skews it).", ""]
    for name in BENCHMARKS:
        section = sections.get(name)
        if section is None:
            continue
        figures += figures_from_json(section["figures"])  # type: ignore[arg-type]
    lines.append(markdown_table(figures))
    lines.append("")
    lines.append("| Benchmark | Measured | Code | Runs | Took | Load before | Machine |")
    lines.append("|---|---|---|---|---|---|---|")
    for name in BENCHMARKS:
        section = sections.get(name)
        if section is not None:
            lines.append(f"| {name} | {section['when']} | {section.get('code', '?')} | "
                         f"{section['runs']} | "
                         f"{section['seconds']:.0f} s | {section.get('load', '?')} | "
                         f"{section['machine']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="one run each and smaller sizes: a smoke test, not figures")
    parser.add_argument("--only", action="append", choices=list(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark ({', '.join(BENCHMARKS)}); repeatable")
    parser.add_argument("--runs", type=int, default=None,
                        help="runs per figure (default 3, --quick 1)")
    parser.add_argument("--output", type=Path, default=None,
                        help="write the Markdown table here instead of bench/results.md")
    parser.add_argument("--render-only", action="store_true",
                        help="run nothing: rewrite bench/results.md from bench/results.json")
    args = parser.parse_args(argv)
    if args.render_only:
        stored_only = json.loads(RESULTS_JSON.read_text())
        (args.output or RESULTS_MD).write_text(render_markdown(stored_only))
        print(text_table([f for name in BENCHMARKS if name in stored_only
                          for f in figures_from_json(stored_only[name]["figures"])]))
        return 0
    runs = args.runs or (1 if args.quick else 3)
    chosen = args.only or list(BENCHMARKS)
    figures: list[Figure] = []
    failures: list[str] = []
    sections: dict[str, dict[str, object]] = {}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cws-bench-") as scratch:
        for name in chosen:
            quick = ", quick" if args.quick else ""
            log(f"== {name} ({runs} run{'s' if runs != 1 else ''}{quick})")
            began = time.monotonic()
            load = os.getloadavg()[0]  # other work on the machine skews every figure
            code = code_version()
            ctx = Context(runs=runs, quick=args.quick, scratch=Path(scratch))
            try:
                result = BENCHMARKS[name](ctx)
            except Exception as error:  # one broken benchmark must not hide the others
                import traceback

                traceback.print_exc()
                failures.append(f"{name}: {type(error).__name__}: {error}")
                continue
            took = time.monotonic() - began
            if code_version() != code:
                code += " (the package changed during this benchmark)"
                log(f"== {name}: the package changed while it ran")
            log(f"== {name} took {took:.0f} s")
            figures += result
            sections[name] = {"figures": figures_to_json(result), "runs": runs,
                              "seconds": took, "machine": machine(), "load": f"{load:.2f}",
                              "code": code,
                              "when": time.strftime("%Y-%m-%d %H:%M")}
    total = time.monotonic() - started
    print(text_table(figures))
    print("\nRatio: how many times better ours is (their time / ours, our rate / theirs, "
          "their memory / ours).")
    print(f"\n{len(figures)} figures from {len(chosen) - len(failures)} benchmarks, "
          f"{runs} run{'s' if runs != 1 else ''} each, in {total:.0f} s")
    missed = [f for f in figures if f.met is False]
    if missed:
        print("Targets missed: " + "; ".join(f"{f.bench} / {f.measure}" for f in missed))
    for failure in failures:
        print(f"FAILED {failure}")

    if args.quick and args.output is None:
        return 1 if failures else 0
    if args.output is not None:
        args.output.write_text(render_markdown(sections))
        log(f"wrote {args.output}")
        return 1 if failures else 0
    stored: dict[str, dict[str, object]] = {}
    if args.only and RESULTS_JSON.exists():
        stored = json.loads(RESULTS_JSON.read_text())
    stored.update(sections)
    RESULTS_JSON.write_text(json.dumps(stored, indent=1) + "\n")
    RESULTS_MD.write_text(render_markdown(stored))
    log(f"wrote {RESULTS_MD} and {RESULTS_JSON.name}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
