"""`cwsandbox-tui serve`: run the embedded backend in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .. import paths
from ..textsafe import inert_lines

if TYPE_CHECKING:
    from ..backend.quotas import Quotas


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "serve", help="run the embedded sandbox backend (gRPC, coreweave.sandbox v1 and v1beta2)",
        description="Serve the CoreWeave Sandbox API (v1 and v1beta2) from this machine: "
                    "sandboxes are "
                    "local processes, snapshots are tar archives under the data directory.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; others need an API key)")
    parser.add_argument("--port", type=int, default=50051, help="port (0 picks a free one)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help=f"where records and archives live (default {paths.data_dir()})")
    parser.add_argument("--api-key-env", metavar="VAR", default=None,
                        help="require the key read from VAR on every call, as "
                             "'authorization: Bearer <key>' or as W&B's 'x-wandb-api-key: "
                             "<key>' with an 'x-entity-id'")
    parser.add_argument("--faults", metavar="SPEC", default="",
                        help="inject faults, e.g. 'seed=1,DeleteFileSystemSnapshot.throttle=10%%'")
    parser.add_argument("--no-isolation", action="store_true",
                        help="run sandboxes as plain processes with all of your rights, even "
                             "where bubblewrap works (without it, or `allow_unisolated_sandboxes "
                             "= true` in config.toml, sandboxes that cannot be isolated are "
                             "refused)")
    parser.add_argument("--demo", action="store_true",
                        help="seed example sandboxes and snapshots (real processes and archives)")
    parser.add_argument("--archive-rate", metavar="SIZE", default="",
                        help="write snapshot archives no faster than SIZE per second, e.g. 16Mi")
    parser.add_argument("--seed-snapshots", type=int, default=0, metavar="N",
                        help="add N snapshot records sharing one small archive (benchmarks)")
    parser.add_argument("--seed-sandboxes", type=int, default=0, metavar="M",
                        help="add M stopped sandbox records (benchmarks)")
    parser.add_argument("--sandbox-processes", type=int, default=None, metavar="N",
                        help="processes (and threads) one sandbox may run (default 4096)")
    parser.add_argument("--sandbox-memory", metavar="SIZE", default="",
                        help="memory one sandbox may hold when it asks no limit (default 8Gi)")
    parser.add_argument("--sandbox-log", metavar="SIZE", default="",
                        help="output one sandbox's log keeps, the last SIZE of it (default 64Mi)")
    parser.add_argument("--api", choices=("both", "v1", "v1beta2"), default="both",
                        help="API generations to serve on the one port (default both)")
    parser.add_argument("--max-connections", type=int, default=None, metavar="N",
                        help="connections held at once; more are closed as they come "
                             "(default: from the open-file limit, at most 4096)")
    # tests: seconds a new connection has to finish the HTTP/2 handshake (default 10)
    parser.add_argument("--handshake-timeout", type=float, default=None, metavar="SECONDS",
                        help=argparse.SUPPRESS)
    # seconds to linger after the last client's lease (the embedded backend's)
    parser.add_argument("--exit-when-unused", type=float, default=None, metavar="SECONDS",
                        help=argparse.SUPPRESS)
    # tests: snapshot archives stay CREATING while this path exists
    parser.add_argument("--hold-archives-while", type=Path, default=None, metavar="PATH",
                        help=argparse.SUPPRESS)
    parser.set_defaults(run=run, command_parser=parser)


class InertFormatter(logging.Formatter):
    """Log lines name what sandboxes made (file names a snapshot left out, commands): on a
    terminal, or in a log file shown on one later, that text is inert (see textsafe)."""

    def format(self, record: logging.LogRecord) -> str:
        return inert_lines(super().format(record))


def _limits(args: argparse.Namespace) -> Quotas:
    """The sandbox limits the flags set; ValueError names the flag and what is wrong."""
    from ..backend.quotas import Quotas
    from ..naming import quantity_bytes

    given: dict[str, int] = {}
    if args.sandbox_processes is not None:
        given["processes"] = args.sandbox_processes
    for flag, name, text in (("--sandbox-memory", "memory_bytes", args.sandbox_memory),
                             ("--sandbox-log", "log_bytes", args.sandbox_log)):
        if text:
            amount = quantity_bytes(text)
            if not amount:
                raise ValueError(f"{flag}: {text!r} is not a size like 512Mi")
            given[name] = amount
    flags = {"processes": "--sandbox-processes", "memory_bytes": "--sandbox-memory",
             "log_bytes": "--sandbox-log"}
    try:
        return Quotas(**given)
    except ValueError as exc:
        name = str(exc).split(" ", 1)[0]
        raise ValueError(f"{flags.get(name, name)}: {exc}") from None


def run(args: argparse.Namespace) -> int:
    # Here, not at the top: the dashboard and the commands build this parser too, and the
    # backend is a third of their start-up time that they never use.
    from ..backend.faults import FaultPlan
    from ..backend.server import BackendConfigError, DataDirBusy, ServerConfig, serve_forever
    from ..client.errors import ConfigError
    from ..client.profiles import load_settings
    from ..naming import quantity_bytes

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(InertFormatter("%(asctime)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            print(f"error: --api-key-env: the variable {args.api_key_env} is empty or unset",
                  file=sys.stderr)
            return 2
    for flag, value in (("--seed-snapshots", args.seed_snapshots),
                        ("--seed-sandboxes", args.seed_sandboxes)):
        if not 0 <= value <= 10_000_000:
            print(f"error: {flag}: {value} is outside 0 to 10000000", file=sys.stderr)
            return 2
    if args.exit_when_unused is not None and not 0 <= args.exit_when_unused <= 86_400:
        print(f"error: --exit-when-unused: {args.exit_when_unused:g} is outside 0 to 86400 "
              "seconds", file=sys.stderr)
        return 2
    if args.max_connections is not None and not 1 <= args.max_connections <= 1_000_000:
        print(f"error: --max-connections: {args.max_connections} is outside 1 to 1000000",
              file=sys.stderr)
        return 2
    if args.handshake_timeout is not None and not 0.1 <= args.handshake_timeout <= 3600:
        print(f"error: --handshake-timeout: {args.handshake_timeout:g} is outside 0.1 to 3600 "
              "seconds", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"error: --port: {args.port} is not a port number", file=sys.stderr)
        return 2
    try:
        faults = FaultPlan.parse(args.faults)
    except ValueError as exc:
        print(f"error: --faults: {exc}", file=sys.stderr)
        return 2
    rate = None
    if args.archive_rate:
        rate = quantity_bytes(args.archive_rate)
        if not rate:
            print(f"error: --archive-rate: {args.archive_rate!r} is not a size like 16Mi",
                  file=sys.stderr)
            return 2
    try:
        settings = load_settings(paths.config_dir() / "config.toml")
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        limits = _limits(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    config = ServerConfig(data_dir=args.data_dir or paths.data_dir(), host=args.host,
                          port=args.port, api_key=api_key, faults=faults,
                          isolate=not args.no_isolation, hidden=(paths.config_dir(),),
                          allow_unisolated=settings.allow_unisolated_sandboxes,
                          archive_rate=rate, hold_archives_while=args.hold_archives_while,
                          demo=args.demo,
                          seed_snapshots=args.seed_snapshots, seed_sandboxes=args.seed_sandboxes,
                          api=args.api, max_connections=args.max_connections,
                          limits=limits)
    if args.handshake_timeout is not None:
        config.handshake_timeout = args.handshake_timeout
    try:
        asyncio.run(serve_forever(config, exit_when_unused=args.exit_when_unused))
    except (BackendConfigError, DataDirBusy) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
