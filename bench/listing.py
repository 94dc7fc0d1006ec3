"""4. Listing 100,000 snapshots with 20 ms added to every call by the proxy.

Keyset pages cannot be fetched in parallel (each page's token comes in the previous answer),
so the floor is pages x latency: 100 pages of 1,000 at 20 ms is 2.0 s. Ours:
`Client.list_snapshots()` at its default page size (1,000, the server's maximum), asking for
the next page before converting the current one. The SDK 0.26.0 cannot choose a page size
(the server's default is 100) and stops after 100 pages (its `max_pages`), raising and
returning nothing: its figure is the time until it gave up and the rows it had fetched
(counted by wrapping its pagination helper).

One backend seeded with 100,000 snapshots serves every run (listing changes nothing), behind
one proxy; one untimed listing first warms the server's page cache (both sides then get the
same warm server). Each side runs as its own process and times only the listing call.

Our client is measured through both API generations' adapters: v1beta2, and v1, which the
CLI speaks to a server that serves it (`--api auto`).
"""

from __future__ import annotations

import math
from typing import Any

from .common import (
    BENCH,
    PYTHON,
    Context,
    Faults,
    Figure,
    Target,
    backend,
    clean_env,
    figure,
    log,
    proxy,
    run_json,
    sdk_env,
    sdk_python,
)

NAME = "listing"
ROWS = 100_000
QUICK_ROWS = 20_000
PAGE = 1000
LATENCY = Faults(latency_ms=20)
TARGET = Target("<=", 1.15, on="ratio", text="≤ 1.15x the floor")
TIMEOUT = 300.0


def ours(url: str, page_size: int = PAGE, api: str = "v1beta2") -> dict[str, Any]:
    return run_json([str(PYTHON), "-m", "bench.client_worker", "list", "--url", url,
                     "--page-size", str(page_size), "--api", api], env=clean_env(),
                    timeout=TIMEOUT)


def sdk(url: str, python: str) -> dict[str, Any]:
    return run_json([python, str(BENCH / "sdk_helper.py"), "list"], env=sdk_env(url),
                    timeout=TIMEOUT, cwd=BENCH)


def run(ctx: Context) -> list[Figure]:
    rows = QUICK_ROWS if ctx.quick else ROWS
    python = str(sdk_python())
    pages = math.ceil(rows / PAGE)
    floor = pages * LATENCY.latency_ms / 1000
    ours_time: list[float] = []
    direct_time: list[float] = []
    v1_time: list[float] = []
    v1_direct_time: list[float] = []
    sdk_time: list[float] = []
    sdk_last: dict[str, Any] = {}
    with backend(seed_snapshots=rows) as server, proxy(server, LATENCY) as front:
        ours(server.url)  # warm the server's page caches
        ours(server.url, api="v1")
        for n in range(ctx.runs):
            result = ours(front.url)
            v1_result = ours(front.url, api="v1")
            for listed in (result, v1_result):
                if listed["rows"] != rows:
                    raise RuntimeError(f"our client ({listed.get('api')}) listed "
                                       f"{listed['rows']} of {rows}")
            ours_time.append(result["seconds"])
            v1_time.append(v1_result["seconds"])
            direct_time.append(ours(server.url)["seconds"])
            v1_direct_time.append(ours(server.url, api="v1")["seconds"])
            sdk_last = sdk(front.url, python)
            sdk_time.append(sdk_last["seconds"])
            log(f"listing #{n}: ours {ours_time[-1]:.2f} s through the proxy "
                f"(floor {floor:.2f} s), {direct_time[-1]:.2f} s direct; v1 adapter "
                f"{v1_time[-1]:.2f} s, {v1_direct_time[-1]:.2f} s direct; SDK "
                f"{sdk_last['seconds']:.2f} s for {sdk_last['fetched_rows']} rows, returned "
                f"{sdk_last['returned']}, error: {sdk_last['error']}")
    spec = LATENCY.describe()
    return [
        figure(NAME, f"list {rows:,} snapshots, pages of {PAGE:,} [{spec}]", ours_time, "s",
               target=TARGET,
               reference=[floor], reference_label=f"floor {pages} pages x 20 ms",
               ratio="value/ref",
               note="Ratio here is ours / the floor (lower is better)"),
        figure(NAME, f"list {rows:,} snapshots, pages of {PAGE:,} [direct, no proxy]",
               direct_time, "s", note="what the client and server cost without latency"),
        figure(NAME, f"list {rows:,} snapshots via the v1 adapter, pages of {PAGE:,} [{spec}]",
               v1_time, "s", target=TARGET,
               reference=[floor], reference_label=f"floor {pages} pages x 20 ms",
               ratio="value/ref", note="the CLI's path on a server that serves v1"),
        figure(NAME, f"list {rows:,} snapshots via the v1 adapter, pages of {PAGE:,} "
                     "[direct, no proxy]", v1_direct_time, "s"),
        figure(NAME, f"SDK 0.26.0 list_snapshots [{spec}]: time until it gave up", sdk_time,
               "s", note=f"it fetched {sdk_last.get('fetched_rows', 0):,} rows in "
                         f"{sdk_last.get('pages', 0)} pages of the server's default 100, then "
                         f"raised {sdk_last.get('error') or 'nothing'!r} and returned "
                         f"{sdk_last.get('returned', 0):,} rows"),
    ]
