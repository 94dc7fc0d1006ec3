"""3. Bulk paths through the proxy: every call of every side pays the same added latency.

Each side runs as its own process against a freshly seeded backend behind `bench/proxy.py`
(a new backend and proxy per side and per run); the ids are listed first, directly from the
backend (not timed); afterwards the backend is listed again, directly, to confirm that what
was asked is gone.

* CLI: `cwsandbox-tui snapshots delete ID... --json` with all 1,000 ids on its command line,
  timed from the spawn of the process to its exit (interpreter start and imports included).
* client: `Client.delete_snapshots(ids)`, the library call the dashboard makes, timed around
  the call.
* SDK 0.26.0: `Sandbox.delete_snapshot(id).result()` in a loop, as its examples do, in its own
  virtualenv, timed around the loop.
* chaos: the CLI again, with 20% of calls UNAVAILABLE (half of them after the server made the
  change: the answer is lost and the retry finds the snapshot gone) and 10%
  RESOURCE_EXHAUSTED with a RetryInfo hint, on every method; compared with the clean CLI time.
* prune: `cwsandbox-tui snapshots prune --status ready,failed --yes` (every seeded snapshot:
  one listing, then the deletes).
* sandboxes: `cwsandbox-tui sandboxes delete ID...` of stopped sandboxes, against the SDK's
  `Sandbox.delete(id).result()` loop.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from typing import Any

from cwsandbox_tui.client.client import ClientOptions

from .common import (
    BENCH,
    PYTHON,
    TUI,
    Context,
    Faults,
    Figure,
    Target,
    backend,
    clean_env,
    figure,
    log,
    median,
    proxy,
    run_json,
    sdk_env,
    sdk_python,
)

NAME = "bulk_delete"
COUNT = 1000
QUICK_COUNT = 200
SANDBOXES = 200
QUICK_SANDBOXES = 50
LATENCY = Faults(latency_ms=20)
CHAOS = Faults(latency_ms=20, unavailable=0.2, lost=0.5, throttle=0.1, retry_delay_ms=500)
TIMEOUT = 600.0


def process_start() -> float:
    """Seconds from the spawn of `cwsandbox-tui --version` to its exit: the interpreter and
    the CLI's imports, what every CLI command pays before its first call."""
    import subprocess

    started = time.perf_counter()
    subprocess.run([str(TUI), "--version"], env=clean_env(), capture_output=True,
                   timeout=TIMEOUT, stdin=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def run_cli(args: list[str], url: str) -> tuple[float, dict[str, Any], str]:
    """(seconds from spawn to exit, the JSON it printed, its stderr)."""
    import subprocess

    with tempfile.TemporaryDirectory(prefix="cws-bench-cli-") as tmp:
        env = clean_env(CWSANDBOX_BASE_URL=url, CWSANDBOX_TUI_CONFIG_DIR=f"{tmp}/config",
                        CWSANDBOX_TUI_STATE_DIR=f"{tmp}/state",
                        CWSANDBOX_TUI_DATA_DIR=f"{tmp}/data")
        started = time.perf_counter()
        proc = subprocess.run([str(TUI), *args], env=env, capture_output=True, text=True,
                              timeout=TIMEOUT, stdin=subprocess.DEVNULL, cwd=tmp)
        seconds = time.perf_counter() - started
    try:
        return seconds, json.loads(proc.stdout), proc.stderr
    except ValueError:
        raise RuntimeError(f"{' '.join(args[:3])} printed no JSON (exit {proc.returncode}):\n"
                           f"{proc.stdout[-1000:]}\n{proc.stderr[-3000:]}") from None


def worker(command: str, url: str, *extra: str) -> dict[str, Any]:
    return run_json([str(PYTHON), "-m", "bench.client_worker", command, "--url", url, *extra],
                    env=clean_env(), timeout=TIMEOUT)


def sdk(command: str, url: str, python: str) -> dict[str, Any]:
    return run_json([python, str(BENCH / "sdk_helper.py"), command], env=sdk_env(url),
                    timeout=TIMEOUT, cwd=BENCH)


def _snapshots_left(url: str) -> int:
    return int(worker("count", url)["rows"])


def _outcomes(report: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in report["items"]:
        counts[item["outcome"]] = counts.get(item["outcome"], 0) + 1
    return counts


def _retries(stderr: str) -> int:
    return sum(1 for line in stderr.splitlines() if line.startswith("retrying"))


def snapshots_side(side: str, count: int, python: str) -> tuple[float, str]:
    """One timed run of one side; returns (seconds, a note)."""
    faults = CHAOS if side == "chaos" else LATENCY
    with backend(seed_snapshots=count) as server, proxy(server, faults) as front:
        ids = worker("ids", server.url)["ids"]
        if len(ids) != count:
            raise RuntimeError(f"seeded {count}, listed {len(ids)}")
        note = ""
        if side in ("cli", "chaos"):
            seconds, report, stderr = run_cli(["snapshots", "delete", *ids, "--json"], front.url)
            outcomes = _outcomes(report)
            if outcomes.get("deleted", 0) + outcomes.get("already_gone", 0) != count:
                raise RuntimeError(f"{side}: {report['summary']}\n{stderr[-2000:]}")
            note = f"{_retries(stderr)} retries"
        elif side == "prune":
            seconds, report, stderr = run_cli(["snapshots", "prune", "--status", "ready,failed",
                                               "--yes", "--json"], front.url)
            if _outcomes(report).get("deleted") != count:
                raise RuntimeError(f"prune: {report['summary']}\n{stderr[-2000:]}")
        elif side == "client":
            result = worker("delete", front.url)
            if result["deleted"] != count:
                raise RuntimeError(f"client: {result}")
            seconds = result["seconds"]
        else:
            result = sdk("delete", front.url, python)
            if result["errors"] or result["count"] != count:
                raise RuntimeError(f"the SDK failed deletes: {result}")
            seconds = result["seconds"]
        left = _snapshots_left(server.url)
        if left:
            raise RuntimeError(f"{side}: {left} snapshots left after deleting all {count}")
    return seconds, note


def sandboxes_side(side: str, count: int, python: str) -> float:
    with backend(seed_sandboxes=count) as server, proxy(server, LATENCY) as front:
        ids = worker("ids", server.url, "--sandboxes")["ids"]
        if len(ids) != count:
            raise RuntimeError(f"seeded {count} sandboxes, listed {len(ids)}")
        if side == "cli":
            seconds, report, stderr = run_cli(["sandboxes", "delete", *ids, "--json"], front.url)
            if set(report.values()) != {"deleted"}:
                raise RuntimeError(f"sandboxes delete: {report}\n{stderr[-2000:]}")
        else:
            result = sdk("delete-sandboxes", front.url, python)
            if result["errors"] or result["count"] != count:
                raise RuntimeError(f"the SDK failed deletes: {result}")
            seconds = result["seconds"]
        left = len(worker("ids", server.url, "--sandboxes")["ids"])
        if left:
            raise RuntimeError(f"{side}: {left} sandboxes left")
    return seconds


def run(ctx: Context) -> list[Figure]:
    count = QUICK_COUNT if ctx.quick else COUNT
    sandboxes = QUICK_SANDBOXES if ctx.quick else SANDBOXES
    python = str(sdk_python())
    sides = ("cli", "client", "sdk", "chaos", "prune")
    times: dict[str, list[float]] = {side: [] for side in sides}
    notes: dict[str, list[str]] = {side: [] for side in sides}
    sb_times: dict[str, list[float]] = {"cli": [], "sdk": []}
    starts: list[float] = []
    for n in range(ctx.runs):
        starts.append(process_start())
        log(f"bulk_delete #{n} process start: {starts[-1]:.3f} s")
        for side in sides:
            seconds, note = snapshots_side(side, count, python)
            times[side].append(seconds)
            notes[side].append(note)
            log(f"bulk_delete #{n} {side}: {seconds:.2f} s {note}")
        for side in sb_times:
            sb_times[side].append(sandboxes_side(side, sandboxes, python))
            log(f"bulk_delete #{n} sandboxes {side}: {sb_times[side][-1]:.2f} s")

    ctx.extra[f"sdk_loop_{count}"] = times["sdk"]  # dashboard_delete compares with it too
    clean = LATENCY.describe()
    chaos = CHAOS.describe()
    sdk_label = "SDK 0.26.0 loop"
    at_once = ClientOptions().bulk_concurrency
    floor = math.ceil(count / at_once) * LATENCY.latency_ms / 1000
    start = median(starts)
    cli_limit = 1.5 * (floor + start)
    return [
        figure(NAME, f"CLI `snapshots delete` of {count:,} ids [{clean}]", times["cli"], "s",
               target=Target(">=", 25, on="ratio", also_op="<=", also_limit=cli_limit,
                             text=f"≥ 25x and ≤ {cli_limit:.3f} s = 1.5 x (floor {floor:.2f} s "
                                  f"+ process start {start:.3f} s)"),
               reference=times["sdk"],
               reference_label=sdk_label, ratio="ref/value",
               note=f"CLI timed from spawn to exit (imports included); {at_once} calls at once, "
                    "no look-up before the deletes; SDK: Sandbox.delete_snapshot(id).result() "
                    "one after another, timed around the loop"),
        figure(NAME, f"client delete_snapshots of {count:,} [{clean}]", times["client"], "s",
               target=Target(">=", 25, on="ratio"), reference=times["sdk"],
               reference_label=sdk_label, ratio="ref/value",
               note="the call the dashboard makes, timed around the call"),
        figure(NAME, f"CLI `snapshots delete` of {count:,} ids [{chaos}]", times["chaos"], "s",
               target=Target("<=", 3, on="ratio", text="≤ 3x the clean CLI time"),
               reference=times["cli"], reference_label="clean CLI", ratio="value/ref",
               note="all deleted in every run (checked by listing afterwards); retries per run: "
                    + ", ".join(notes["chaos"])),
        figure(NAME, f"CLI `snapshots prune` of {count:,} [{clean}]", times["prune"], "s",
               reference=times["sdk"], reference_label=sdk_label, ratio="ref/value",
               note="one listing, then the deletes"),
        figure(NAME, "process start: `cwsandbox-tui --version`, spawn to exit", starts, "s",
               note="the interpreter and the CLI's imports"),
        figure(NAME, f"CLI `sandboxes delete` of {sandboxes:,} ids [{clean}]", sb_times["cli"],
               "s", reference=sb_times["sdk"], reference_label="SDK Sandbox.delete loop",
               ratio="ref/value"),
    ]


if __name__ == "__main__":  # one side, for profiling: python -m bench.bulk_delete SIDE [COUNT]
    import sys

    side_name = sys.argv[1]
    print(snapshots_side(side_name, int(sys.argv[2]) if len(sys.argv) > 2 else COUNT,
                         str(sdk_python())))
