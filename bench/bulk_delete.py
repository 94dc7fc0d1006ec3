"""3. Bulk delete of 1,000 snapshots with 20 ms of injected latency per delete.

Ours: `Client.delete_snapshots(ids)` (bounded adaptive concurrency:
`ClientOptions.bulk_concurrency` at once).
SDK 0.26.0: `Sandbox.delete_snapshot(id).result()` in a loop, as its examples do, in its own
virtualenv. Each side runs as its own process against a freshly seeded backend (a new backend
per side and per run), lists the ids first (not timed), times the deletes only, and lists
again to confirm nothing is left.

Then ours under throttling: 10% of deletes answer RESOURCE_EXHAUSTED with a RetryInfo hint
(`--faults seed=1,...throttle=10%`), once with the backend's default hint (retry_delay 0.5 s)
and once with retry_delay=100ms. Every snapshot must still be deleted.
"""

from __future__ import annotations

from typing import Any

from cwsandbox_tui.client.client import ClientOptions

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

NAME = "bulk_delete"
COUNT = 1000
QUICK_COUNT = 200
LATENCY = "DeleteFileSystemSnapshot.latency=20ms"
THROTTLED = [
    ("default hint 0.5 s", f"seed=1,{LATENCY},DeleteFileSystemSnapshot.throttle=10%"),
    ("hint 100 ms", f"seed=1,retry_delay=100ms,{LATENCY},DeleteFileSystemSnapshot.throttle=10%"),
]
TIMEOUT = 600.0


def ours(url: str) -> dict[str, Any]:
    return run_json([str(PYTHON), "-m", "bench.client_worker", "delete", "--url", url],
                    env=clean_env(), timeout=TIMEOUT)


def sdk(url: str, python: str) -> dict[str, Any]:
    return run_json([python, str(BENCH / "sdk_helper.py"), "delete"], env=sdk_env(url),
                    timeout=TIMEOUT, cwd=BENCH)


def left_after(url: str) -> int:
    """Counted with our client, independently of the side that deleted."""
    result = run_json([str(PYTHON), "-m", "bench.client_worker", "count", "--url", url],
                      env=clean_env(), timeout=120)
    return int(result["rows"])


def _check(side: str, result: dict[str, Any], count: int, url: str) -> None:
    left = left_after(url)
    if result["count"] != count or left != 0:
        raise RuntimeError(f"{side}: listed {result['count']} of {count} snapshots, "
                           f"{left} left after the delete: {result}")


def run(ctx: Context) -> list[Figure]:
    count = QUICK_COUNT if ctx.quick else COUNT
    python = str(sdk_python())
    our_times: list[float] = []
    sdk_times: list[float] = []
    for n in range(ctx.runs):
        with backend(seed_snapshots=count, faults=LATENCY) as server:
            result = ours(server.url)
            _check("ours", result, count, server.url)
            our_times.append(result["seconds"])
        with backend(seed_snapshots=count, faults=LATENCY) as server:
            result_sdk = sdk(server.url, python)
            _check("SDK", result_sdk, count, server.url)
            if result_sdk["errors"]:
                raise RuntimeError(f"the SDK failed deletes: {result_sdk}")
            sdk_times.append(result_sdk["seconds"])
        log(f"bulk_delete #{n}: ours {our_times[-1]:.2f} s, SDK {sdk_times[-1]:.2f} s")

    figures = [figure(NAME, f"delete {count:,} snapshots, 20 ms latency each", our_times, "s",
                      target=Target(">=", 15, on="ratio"), reference=sdk_times,
                      reference_label="SDK 0.26.0 loop", ratio="ref/value",
                      note=f"ours: delete_snapshots(ids), {ClientOptions().bulk_concurrency} "
                           "at once (adaptive); "
                           "SDK: Sandbox.delete_snapshot(id).result() one after another")]
    for label, faults in THROTTLED:
        times: list[float] = []
        deleted: list[float] = []
        retries: list[float] = []
        for n in range(ctx.runs):
            with backend(seed_snapshots=count, faults=faults) as server:
                result = ours(server.url)
                left = left_after(server.url)
                if left != 0 or result["failed"] or result["untouched"]:
                    raise RuntimeError(f"throttled delete left {left} snapshots: {result}")
                times.append(result["seconds"])
                deleted.append(count - left)
                retries.append(result["retries"])
            log(f"bulk_delete throttled ({label}) #{n}: {times[-1]:.2f} s, "
                f"{result['retries']} retries ({', '.join(result['retry_codes'])})")
        figures.append(figure(NAME, f"delete {count:,}, 20 ms + 10% throttled ({label})",
                              times, "s",
                              note=f"median {sorted(retries)[len(retries) // 2]:.0f} retries; "
                                   "verified by listing afterwards"))
        figures.append(figure(NAME, f"deleted under throttling ({label})", deleted, "rows",
                              target=Target(">=", count, text=f"all {count:,}")))
    return figures
