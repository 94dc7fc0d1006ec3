"""`sandboxes`, `snapshots` and `bucket`: scriptable commands over the client.

Exit codes: 0 ok, 1 failure, 2 usage, 3 partial failure of a bulk action.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from ..client.bulk import BulkResult, Outcome
from ..client.client import Client
from ..client.errors import AuthenticationError, ConfigError, CwsError
from ..client.factory import ConnectOptions, connect
from ..client.models import Sandbox, Snapshot
from ..client.selection import PruneRule, parse_age, parse_statuses, select
from ..client.terminal import DEFAULT_SHELL, attach
from ..client.usage import Grouping, Usage, bar
from ..formatting import human_age, human_size, iso
from . import discovery, volumes
from .render import err, table, to_json
from .render import fields as render_fields
from .render import out as _out
from .reporter import StderrReporter

OK, FAILURE, USAGE, PARTIAL = 0, 1, 2, 3


def add_connection_options(parser: argparse.ArgumentParser, nested: bool = False) -> None:
    """The connection flags; on a subcommand they must not reset what the top level set."""
    default: dict[str, Any] = {"default": argparse.SUPPRESS} if nested else {}
    group = parser.add_argument_group("connection")
    group.add_argument("--endpoint", help="http(s)://host:port (default: profile, "
                                          "$CWSANDBOX_BASE_URL, else the embedded backend)",
                       **default)
    group.add_argument("--profile", help="a profile from config.toml", **default)
    group.add_argument("--readonly", action="store_true", help="refuse every change",
                       **default)
    group.add_argument("--ca-cert", help="PEM file of CA certificates for https endpoints",
                       **default)
    group.add_argument("--api", choices=("auto", "v1", "v1beta2"),
                       help="API generation to speak (default: the profile's, else auto: ask "
                            "the endpoint once)", **default)


def add_parsers(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sandboxes = subparsers.add_parser("sandboxes", help="list, stop or delete sandboxes")
    sb = sandboxes.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sb.add_parser("list", help="list sandboxes")
    p.add_argument("--running", action="store_true", help="hide stopped sandboxes")
    p.add_argument("--tag", action="append", default=[], help="must carry this tag (repeatable)")
    _common(p, run_sandboxes_list)
    p = sb.add_parser("get", help="show one sandbox (with the limits it runs under)")
    p.add_argument("sandbox_id")
    _common(p, run_sandboxes_get)
    p = sb.add_parser("stop", help="stop a sandbox")
    p.add_argument("sandbox_id")
    p.add_argument("--snapshot", action="store_true", help="snapshot its mount before stopping")
    p.add_argument("--grace", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL")
    p.add_argument("--no-wait-for-snapshot", action="store_true",
                   help="with --snapshot: return once the snapshot is started")
    p.add_argument("--missing-ok", action="store_true")
    _common(p, run_sandboxes_stop)
    p = sb.add_parser("shell", help="open an interactive shell in a sandbox (exits with the "
                                    "shell's exit code)")
    p.add_argument("sandbox_id")
    p.add_argument("--command", dest="shell_command", default="",
                   help="run this instead of bash, e.g. python3")
    _common(p, run_sandboxes_shell)
    p = sb.add_parser("delete", help="delete sandboxes")
    p.add_argument("sandbox_ids", nargs="+")
    p.add_argument("--missing-ok", action="store_true")
    p.add_argument("--concurrency", type=int, default=None,
                   help="calls at once (default: the client's, 32)")
    _common(p, run_sandboxes_delete)

    snapshots = subparsers.add_parser("snapshots", help="list, create, delete or prune snapshots")
    sn = snapshots.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sn.add_parser("list", help="list snapshots")
    p.add_argument("--status", default="", help="comma-separated: ready,failed,creating")
    p.add_argument("--source-sandbox", default="")
    _common(p, run_snapshots_list)
    p = sn.add_parser("get", help="show one snapshot")
    p.add_argument("snapshot_id")
    _common(p, run_snapshots_get)
    p = sn.add_parser("create", help="snapshot a sandbox's mount")
    p.add_argument("sandbox_id")
    p.add_argument("--no-wait", action="store_true", help="return while it is still CREATING")
    p.add_argument("--idempotency-key", default="")
    _common(p, run_snapshots_create)
    p = sn.add_parser("delete", help="delete these snapshots")
    p.add_argument("snapshot_ids", nargs="+")
    p.add_argument("--missing-ok", action="store_true", help="a snapshot already gone is fine")
    p.add_argument("--concurrency", type=int, default=None,
                   help="calls at once (default: the client's, 32)")
    _common(p, run_snapshots_delete)
    p = sn.add_parser("prune", help="delete snapshots by age, status or source")
    p.add_argument("--older-than", help="e.g. 7d, 12h, 30m")
    p.add_argument("--status", default="", help="comma-separated statuses, e.g. failed,ready")
    p.add_argument("--source-sandbox", default="")
    p.add_argument("--dry-run", action="store_true", help="only show what would be deleted")
    p.add_argument("--yes", action="store_true", help="do not ask before deleting")
    p.add_argument("--concurrency", type=int, default=None,
                   help="calls at once (default: the client's, 32)")
    _common(p, run_snapshots_prune)
    p = sn.add_parser("usage", help="what fills the bucket: snapshots grouped, biggest first")
    p.add_argument("--by", choices=[g.value for g in Grouping], default=Grouping.SOURCE.value,
                   help="group by source sandbox (default), age band, status or trigger")
    _common(p, run_snapshots_usage)

    bucket = subparsers.add_parser("bucket", help="snapshot bucket settings")
    bk = bucket.add_subparsers(dest="action", metavar="ACTION", required=True)
    _common(bk.add_parser("get", help="show the bucket config"), run_bucket_get)
    p = bk.add_parser("set", help="use your own bucket")
    p.add_argument("bucket_name")
    p.add_argument("--region", default="")
    _common(p, run_bucket_set)
    _common(bk.add_parser("reset", help="go back to the managed bucket"), run_bucket_reset)
    volumes.add_parsers(subparsers, _common)
    discovery.add_parsers(subparsers, _common)


def _common(parser: argparse.ArgumentParser,
            handler: Callable[[Client, argparse.Namespace], Awaitable[int]]) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_connection_options(parser, nested=True)
    parser.set_defaults(run=lambda args: run_command(handler, args), command_parser=parser)


def check_arguments(args: argparse.Namespace) -> None:
    """Usage errors, found before anything connects (or starts the embedded backend)."""
    if getattr(args, "no_wait_for_snapshot", False) and not args.snapshot:
        raise ConfigError("--no-wait-for-snapshot goes with --snapshot")
    grace = getattr(args, "grace", None)
    if grace is not None and not 0 <= grace <= 300:
        raise ConfigError(f"--grace: {grace:g} is outside 0 to 300 seconds")
    concurrency = getattr(args, "concurrency", None)
    if concurrency is not None and not 1 <= concurrency <= 256:
        raise ConfigError(f"--concurrency: {concurrency} is outside 1 to 256")
    if getattr(args, "shell_command", ""):
        try:
            shlex.split(args.shell_command)
        except ValueError as exc:
            raise ConfigError(f"--command: cannot be split into words ({exc})") from None
    if getattr(args, "status", ""):
        parse_statuses(args.status)
    if getattr(args, "older_than", None):
        parse_age(args.older_than)
    if args.command == "snapshots" and args.action == "prune":
        rule = PruneRule.parse(args.older_than, args.status, args.source_sandbox)
        if rule.empty:
            raise ConfigError("prune needs at least one of --older-than, --status, "
                              "--source-sandbox")


def run_command(handler: Callable[[Client, argparse.Namespace], Awaitable[int]],
                args: argparse.Namespace) -> int:
    async def main() -> int:
        check_arguments(args)
        reporter = StderrReporter()
        client = connect(ConnectOptions(endpoint=args.endpoint, profile=args.profile,
                                        read_only=args.readonly, ca_cert=args.ca_cert,
                                        api=args.api))
        client.bus.subscribe(reporter)
        try:
            return await handler(client, args)
        except AuthenticationError as error:  # which kind of key was refused (never the key)
            raise AuthenticationError(f"{error} (sent: {client.info.auth_mode})",
                                      code=error.code, reason=error.reason) from None
        finally:
            await client.close()

    try:
        return asyncio.run(main())
    except ConfigError as error:
        err(f"error: {error}")
        return USAGE
    except CwsError as error:
        err(f"error: {error}")
        return FAILURE
    except KeyboardInterrupt:
        err("interrupted")
        return 130


def _sandbox_rows(rows: list[Sandbox], now: float) -> list[list[str]]:
    return [[s.id, s.status.value.upper(), s.image or "-", ",".join(s.tags) or "-",
             human_age(s.created_at or s.started_at, now), s.mount_path or "-",
             s.stop_snapshot_id or "-", _service(s)] for s in rows]


def _service(sandbox: Sandbox) -> str:
    """Where its ports are reached: the first's host:port, and how many more there are."""
    if not sandbox.service_address:
        return "-"
    more = len(sandbox.ports) - 1
    return sandbox.service_address + (f" (+{more} port{'s' if more > 1 else ''})" if more > 0
                                      else "")


def _snapshot_rows(rows: list[Snapshot]) -> list[list[str]]:
    return [[s.id, s.status.value.upper(), s.trigger.value, human_size(s.size_bytes),
             s.source_sandbox_id or "-", iso(s.created_at), s.object_bucket or "-"] for s in rows]


SNAPSHOT_HEADERS = ["ID", "STATUS", "TRIGGER", "SIZE", "SOURCE", "CREATED", "BUCKET"]


async def run_sandboxes_list(client: Client, args: argparse.Namespace) -> int:
    rows = await client.list_sandboxes(include_stopped=not args.running, tags=args.tag)
    if args.json:
        _out(to_json(rows))
    elif not rows:
        _out("No sandboxes found.")
    else:
        _out(table(["ID", "STATUS", "IMAGE", "TAGS", "AGE", "MOUNT", "SNAPSHOT", "SERVICE"],
                   _sandbox_rows(rows, client.clock.time())))
    return OK


async def run_sandboxes_get(client: Client, args: argparse.Namespace) -> int:
    s = await client.get_sandbox(args.sandbox_id)
    if args.json:
        _out(to_json(s))
    else:
        fields = [("ID", s.id), ("STATUS", s.status.value.upper()),
                  ("REASON", s.status_reason or "-"), ("IMAGE", s.image or "-"),
                  ("COMMAND", " ".join(s.command) or "-"), ("TAGS", ",".join(s.tags) or "-"),
                  ("MOUNT", s.mount_path or "-"), ("CREATED", iso(s.created_at)),
                  ("ENDED", iso(s.ended_at)),
                  ("EXIT CODE", "-" if s.exit_code is None else str(s.exit_code)),
                  ("LIMITS", str(s.enforced) if s.enforced else "-")]
        _out("\n".join(f"{k:<10} {v}" for k, v in fields))
    return OK


async def run_sandboxes_stop(client: Client, args: argparse.Namespace) -> int:
    result = await client.stop_sandbox(args.sandbox_id, snapshot=args.snapshot, grace=args.grace,
                                       wait_for_ready=not args.no_wait_for_snapshot,
                                       missing_ok=args.missing_ok)
    if args.json:
        _out(to_json(result))
    else:
        _out(f"Stopped {result.sandbox_id} ({result.final_status.value})"
             + (f", snapshot {result.snapshot_id}" if result.snapshot_id else "") + ".")
    return OK


async def run_sandboxes_shell(client: Client, args: argparse.Namespace) -> int:
    argv = shlex.split(args.shell_command) if args.shell_command else list(DEFAULT_SHELL)
    return await attach(client, args.sandbox_id, argv)


async def run_sandboxes_delete(client: Client, args: argparse.Namespace) -> int:
    result = await client.delete_sandboxes(args.sandbox_ids, missing_ok=args.missing_ok,
                                           concurrency=args.concurrency)
    done = {item.id: item.outcome.value if item.outcome is not Outcome.FAILED
            else f"failed: {item.message}" for item in result.items}
    if args.json:
        _out(to_json(done))
    for item in result.items:
        if item.outcome is Outcome.NOT_FOUND and not args.json:
            err(f"error: Sandbox {item.id!r} not found")
        elif item.outcome is Outcome.FAILED and not args.json:
            err(f"error: {item.message}")
        elif item.outcome in (Outcome.DELETED, Outcome.ALREADY_GONE) and not args.json:
            _out(f"{item.id} {item.outcome.value.replace('_', ' ')}")
    return OK if result.ok else (PARTIAL if result.partial else FAILURE)


async def run_snapshots_list(client: Client, args: argparse.Namespace) -> int:
    statuses = parse_statuses(args.status)
    rows = [s for s in await client.list_snapshots()
            if (not statuses or s.status in statuses)
            and (not args.source_sandbox or s.source_sandbox_id == args.source_sandbox)]
    rows.sort(key=lambda s: (s.created_at or 0.0, s.id))  # in creation order, oldest first
    if args.json:
        _out(to_json(rows))
    elif not rows:
        _out("No snapshots found.")
    else:
        _out(table(SNAPSHOT_HEADERS, _snapshot_rows(rows)))
    return OK


async def run_snapshots_get(client: Client, args: argparse.Namespace) -> int:
    snap = await client.get_snapshot(args.snapshot_id)
    if args.json:
        _out(to_json(snap))
    else:
        fields = [("ID", snap.id), ("STATUS", snap.status.value.upper()),
                  ("REASON", snap.status_reason or "-"), ("TRIGGER", snap.trigger.value),
                  ("SIZE", f"{human_size(snap.size_bytes)} ({snap.size_bytes} bytes)"),
                  ("SOURCE", snap.source_sandbox_id or "-"), ("CREATED", iso(snap.created_at)),
                  ("COMPLETED", iso(snap.completed_at)), ("BUCKET", snap.object_bucket or "-")]
        _out(render_fields(fields))
    return OK


async def run_snapshots_create(client: Client, args: argparse.Namespace) -> int:
    snap = await client.create_snapshot(args.sandbox_id, wait_for_ready=not args.no_wait,
                                        idempotency_key=args.idempotency_key)
    _out(to_json(snap) if args.json else f"{snap.id} {snap.status.value.upper()}")
    return OK


def _report_bulk(result: BulkResult, as_json: bool) -> int:
    if as_json:
        _out(to_json({"summary": result.summary(), "cancelled": result.cancelled,
                      "items": result.items}))
    else:
        for item in result.items:
            if item.outcome is Outcome.NOT_FOUND:
                err(f"{item.id}: not found: no snapshot has this id")
            elif item.message:
                err(f"{item.id}: {item.outcome.value}: {item.message}")
        _out(result.summary())
    return OK if result.ok else (PARTIAL if result.partial else FAILURE)


async def run_snapshots_delete(client: Client, args: argparse.Namespace) -> int:
    # No look-up first: the delete itself says whether an id is known (see delete_snapshots).
    result = await client.delete_snapshots(args.snapshot_ids, concurrency=args.concurrency,
                                           missing_ok=args.missing_ok)
    return _report_bulk(result, args.json)


async def run_snapshots_prune(client: Client, args: argparse.Namespace) -> int:
    rule = PruneRule.parse(args.older_than, args.status, args.source_sandbox)
    chosen = select(await client.list_snapshots(), rule, client.clock.time())
    total = sum(s.size_bytes for s in chosen)
    if args.dry_run or not chosen:
        if args.json:
            _out(to_json({"would_delete": chosen, "count": len(chosen), "total_bytes": total}))
        else:
            if chosen:
                _out(table(SNAPSHOT_HEADERS, _snapshot_rows(chosen)))
            _out(f"{'Would delete' if chosen else 'Nothing matches;'} {len(chosen)} snapshots"
                 f" ({human_size(total)}).")
        return OK
    if not args.yes:
        if not sys.stdin.isatty():
            raise ConfigError(f"refusing to delete {len(chosen)} snapshots without --yes "
                              "(no terminal to ask on)")
        _out(table(SNAPSHOT_HEADERS, _snapshot_rows(chosen)))
        answer = input(f"Delete these {len(chosen)} snapshots ({human_size(total)})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            _out("Nothing deleted.")
            return OK
    result = await client.delete_snapshots([s.id for s in chosen], concurrency=args.concurrency)
    return _report_bulk(result, args.json)


USAGE_BAR = 20


async def run_snapshots_usage(client: Client, args: argparse.Namespace) -> int:
    snapshots = await client.list_snapshots()
    sandboxes = {s.id: s for s in await client.list_sandboxes(include_stopped=True)}
    usage = Usage(client.clock.time())
    usage.add(snapshots)
    by = Grouping(args.by)
    groups = usage.groups(by, sandboxes)
    hints = usage.hints(sandboxes)
    count, size = usage.total
    if args.json:
        _out(to_json({"by": by.value, "count": count, "size_bytes": size, "groups": groups,
                      "safe_to_drop": hints}))
        return OK
    if not groups:
        _out("No snapshots found.")
        return OK
    rows = [[g.label, str(g.count), human_size(g.size_bytes),
             f"{bar(g.share, USAGE_BAR)} {g.share:4.0%}",
             _usage_note(g)] for g in groups]
    _out(table([by.value.upper(), "COUNT", "SIZE", "SHARE", "NOTE"], rows))
    _out(f"\n{count} snapshots, {human_size(size)}. Usually safe to drop:")
    for hint in hints:
        how = f"  (filter: {hint.filter})" if hint.filter else ""
        _out(f"  {hint.reason:<18} {hint.count:>7}  {human_size(hint.size_bytes):>9}{how}")
    return OK


def _usage_note(group: Any) -> str:
    parts = []
    if group.exists is False:
        parts.append("sandbox gone")
    if group.tags:
        parts.append(",".join(group.tags))
    if group.safe and group.exists is not False:
        parts.append(f"safe to drop: {group.safe}")
    return "  ".join(parts) or "-"


def _bucket_out(config: Any, as_json: bool) -> None:
    if as_json:
        _out(to_json(config))
    else:
        _out(f"bucket     {config.bucket_name or '-'}\nregion     {config.region or '-'}\n"
             f"mode       {config.mode.value}\neffective  {config.effective_bucket_name}")


async def run_bucket_get(client: Client, args: argparse.Namespace) -> int:
    _bucket_out(await client.get_bucket(), args.json)
    return OK


async def run_bucket_set(client: Client, args: argparse.Namespace) -> int:
    _bucket_out(await client.set_bucket(args.bucket_name, args.region), args.json)
    return OK


async def run_bucket_reset(client: Client, args: argparse.Namespace) -> int:
    _bucket_out(await client.reset_bucket(), args.json)
    return OK
