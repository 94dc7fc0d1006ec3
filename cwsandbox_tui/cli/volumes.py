"""`volumes list|get|delete`: registered volumes (coreweave.sandbox.v1 only)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ..client.client import Client
from ..client.models import Volume
from ..formatting import iso
from .render import out as _out
from .render import table, to_json

OK, FAILURE = 0, 1
HEADERS = ["ID", "STATE", "RUNNER", "CLAIM", "CAPACITY", "CREATED", "DESCRIPTION"]


def add_parsers(subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
                common: Callable[..., Any]) -> None:
    """`common(parser, handler)` adds --json, the connection flags and the handler."""
    volumes = subparsers.add_parser(
        "volumes", help="list, show or delete registered volumes (API v1 only)")
    vo = volumes.add_subparsers(dest="action", metavar="ACTION", required=True)
    common(vo.add_parser("list", help="list volumes"), run_volumes_list)
    p = vo.add_parser("get", help="show one volume")
    p.add_argument("volume_id")
    common(p, run_volumes_get)
    p = vo.add_parser("delete", help="delete volumes")
    p.add_argument("volume_ids", nargs="+")
    p.add_argument("--missing-ok", action="store_true", help="a volume already gone is fine")
    common(p, run_volumes_delete)


def _row(volume: Volume) -> list[str]:
    claim = f"{volume.namespace}/{volume.claim_name}" if volume.claim_name else "-"
    return [volume.id, volume.state, volume.runner_id or "-", claim, volume.capacity or "-",
            iso(volume.created_at) if volume.created_at else "-", volume.description]


async def run_volumes_list(client: Client, args: argparse.Namespace) -> int:
    rows = await client.list_volumes()
    if args.json:
        _out(to_json(rows))
    elif not rows:
        _out("No volumes found.")
    else:
        _out(table(HEADERS, [_row(v) for v in rows]))
    return OK


async def run_volumes_get(client: Client, args: argparse.Namespace) -> int:
    volume = await client.get_volume(args.volume_id)
    if args.json:
        _out(to_json(volume))
    else:
        _out(table(["FIELD", "VALUE"], [[h.lower(), v] for h, v in
                                         zip(HEADERS, _row(volume), strict=True)]))
    return OK


async def run_volumes_delete(client: Client, args: argparse.Namespace) -> int:
    done: dict[str, str] = {}
    for volume_id in args.volume_ids:
        deleted = await client.delete_volume(volume_id, missing_ok=args.missing_ok)
        done[volume_id] = "deleted" if deleted else "already gone"
    _out(to_json(done) if args.json else "\n".join(f"{k} {v}" for k, v in done.items()))
    return OK if done else FAILURE
