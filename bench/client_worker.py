"""Our client's side of the comparisons, run as its own process (like the SDK's side):

    python -m bench.client_worker list   --url URL [--page-size N] [--api v1|v1beta2]
    python -m bench.client_worker delete --url URL      # lists every id, then times the delete
    python -m bench.client_worker count  --url URL
    python -m bench.client_worker ids    --url URL [--sandboxes]   # every id, for a command line

Prints one JSON object. The clock runs only around the client call being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from cwsandbox_tui.client import adapter_v1
from cwsandbox_tui.client import events as ev
from cwsandbox_tui.client.adapter_v1beta2 import V1beta2Adapter
from cwsandbox_tui.client.bulk import Outcome
from cwsandbox_tui.client.client import Client, ClientOptions, EndpointInfo
from cwsandbox_tui.client.wire import open_channel


def make_client(url: str, page_size: int = 0, api: str = "v1beta2") -> Client:
    """A client on `url` speaking `api` (the CLI picks v1 on a server that serves it)."""
    channel = open_channel(url.removeprefix("http://"), tls=False, root_certificates=None)
    info = EndpointInfo(url=url, source="bench", auth_mode="no authentication", read_only=False)
    adapter = adapter_v1.V1Adapter(channel, []) if api == "v1" else V1beta2Adapter(channel, [])
    return Client(adapter, info, options=ClientOptions(page_size=page_size))


async def list_all(url: str, page_size: int, api: str = "v1beta2") -> dict[str, Any]:
    client = make_client(url, page_size, api)
    try:
        started = time.perf_counter()
        rows = await client.list_snapshots()
        seconds = time.perf_counter() - started
    finally:
        await client.close()
    return {"seconds": seconds, "rows": len(rows), "page_size": page_size, "api": api}


async def delete_all(url: str) -> dict[str, Any]:
    client = make_client(url, 1000)
    retries: list[ev.RetryScheduled] = []
    client.bus.subscribe(lambda e: retries.append(e) if isinstance(e, ev.RetryScheduled) else None)
    try:
        ids = [s.id for s in await client.list_snapshots()]
        started = time.perf_counter()
        result = await client.delete_snapshots(ids)
        seconds = time.perf_counter() - started
        left = len(await client.list_snapshots())
    finally:
        await client.close()
    return {"seconds": seconds, "count": len(ids),
            "deleted": result.count(Outcome.DELETED),
            "already_gone": result.count(Outcome.ALREADY_GONE),
            "failed": result.count(Outcome.FAILED), "untouched": result.count(Outcome.UNTOUCHED),
            "retries": len(retries),
            "retry_codes": sorted({r.code for r in retries}), "left": left,
            "concurrency": client.options.bulk_concurrency}


async def count(url: str) -> dict[str, Any]:
    client = make_client(url, 1000)
    try:
        return {"rows": len(await client.list_snapshots())}
    finally:
        await client.close()


async def ids(url: str, sandboxes: bool) -> dict[str, Any]:
    client = make_client(url, 1000)
    try:
        rows = await (client.list_sandboxes() if sandboxes else client.list_snapshots())
        return {"ids": [r.id for r in rows]}
    finally:
        await client.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["list", "delete", "count", "ids"])
    parser.add_argument("--sandboxes", action="store_true")
    parser.add_argument("--url", required=True)
    parser.add_argument("--page-size", type=int, default=0)
    parser.add_argument("--api", choices=["v1", "v1beta2"], default="v1beta2")
    args = parser.parse_args(argv)
    if args.command == "list":
        result = asyncio.run(list_all(args.url, args.page_size, args.api))
    elif args.command == "ids":
        result = asyncio.run(ids(args.url, args.sandboxes))
    elif args.command == "delete":
        result = asyncio.run(delete_all(args.url))
    else:
        result = asyncio.run(count(args.url))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
