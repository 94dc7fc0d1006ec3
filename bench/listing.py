"""4. Listing 100,000 snapshots: our client against the SDK's `Sandbox.list_snapshots()`.

One backend seeded with 100,000 snapshots serves every run (listing changes nothing). Each
side runs as its own process and times only the listing call (channel set-up included, which
both do inside the call). Ours: `Client.list_snapshots()` with page_size 0 (the server's
default, 100) and 1000 (the server's maximum). The SDK cannot choose a page size; with the
server's 100 per page it stops after 100 pages (its `max_pages`) and raises, returning nothing:
its throughput is counted over the rows it fetched before that (counted by wrapping its
pagination helper).
"""

from __future__ import annotations

from typing import Any

from .common import (
    BENCH,
    PYTHON,
    Context,
    Figure,
    Target,
    backend,
    clean_env,
    figure,
    log,
    run_json,
    sdk_env,
    sdk_python,
)

NAME = "listing"
ROWS = 100_000
QUICK_ROWS = 20_000
TIMEOUT = 300.0


def ours(url: str, page_size: int) -> dict[str, Any]:
    return run_json([str(PYTHON), "-m", "bench.client_worker", "list", "--url", url,
                     "--page-size", str(page_size)], env=clean_env(), timeout=TIMEOUT)


def sdk(url: str, python: str) -> dict[str, Any]:
    return run_json([python, str(BENCH / "sdk_helper.py"), "list"], env=sdk_env(url),
                    timeout=TIMEOUT, cwd=BENCH)


def run(ctx: Context) -> list[Figure]:
    rows = QUICK_ROWS if ctx.quick else ROWS
    python = str(sdk_python())
    ours_rate: dict[int, list[float]] = {0: [], 1000: []}
    ours_time: dict[int, list[float]] = {0: [], 1000: []}
    sdk_rate: list[float] = []
    sdk_time: list[float] = []
    sdk_last: dict[str, Any] = {}
    with backend(seed_snapshots=rows) as server:
        for n in range(ctx.runs):
            for page_size in (0, 1000):
                result = ours(server.url, page_size)
                if result["rows"] != rows:
                    raise RuntimeError(f"our client listed {result['rows']} of {rows}")
                ours_rate[page_size].append(result["rows"] / result["seconds"])
                ours_time[page_size].append(result["seconds"])
            sdk_last = sdk(server.url, python)
            sdk_rate.append(sdk_last["fetched_rows"] / sdk_last["seconds"])
            sdk_time.append(sdk_last["seconds"])
            log(f"listing #{n}: ours {ours_time[0][-1]:.2f} s (page 100), "
                f"{ours_time[1000][-1]:.2f} s (page 1000); SDK {sdk_last['seconds']:.2f} s for "
                f"{sdk_last['fetched_rows']} rows, returned {sdk_last['returned']}, "
                f"error: {sdk_last['error']}")
    sdk_note = (f"SDK fetched {sdk_last['fetched_rows']:,} rows in {sdk_last['pages']} pages, "
                f"then raised {sdk_last['error'] or 'nothing'!r} and returned "
                f"{sdk_last['returned']:,} rows; its rate is over the rows it fetched")
    figures = []
    for page_size in (0, 1000):
        tag = "page_size 100 (server default)" if page_size == 0 else "page_size 1000"
        figures.append(figure(NAME, f"list {rows:,} snapshots, {tag}", ours_rate[page_size],
                              "rows/s", target=Target(">=", 3, on="ratio"), reference=sdk_rate,
                              reference_label="SDK", ratio="value/ref",
                              note=sdk_note if page_size == 0 else ""))
        figures.append(figure(NAME, f"list {rows:,} snapshots, {tag}: time", ours_time[page_size],
                              "s"))
    figures.append(figure(NAME, "SDK: time until it gave up", sdk_time, "s"))
    return figures
