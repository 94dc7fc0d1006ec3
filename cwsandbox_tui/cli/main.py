"""The command line: the dashboard by default, `serve`, and the scriptable commands."""

from __future__ import annotations

import argparse
import contextlib

from .. import __version__
from ..client.errors import ConfigError
from ..client.factory import ConnectOptions, prepare
from . import backend_control, commands, serve


class _Parser(argparse.ArgumentParser):
    def format_help(self) -> str:
        return super().format_help() + credentials_note()


def credentials_note() -> str:
    """Which kind of key the commands would send now (never the key), resolved only for
    --help: the default profile, CWSANDBOX_AUTH and the environment, as credentials.py."""
    from .. import paths
    from ..client.connection import choose_profile, resolve_credentials
    from ..client.profiles import load_settings

    try:
        profile = choose_profile(load_settings(paths.config_dir() / "config.toml"), None)
        now = resolve_credentials(profile).mode
    except ConfigError as error:
        now = f"error: {error}"
    return ("\ncredentials, as the official SDK's: an API key ($CWSANDBOX_API_KEY or a\n"
            "profile's) sent as 'authorization: Bearer'; or, with CWSANDBOX_AUTH=wandb or\n"
            "a profile's auth = \"wandb\", a W&B key ($WANDB_API_KEY, else the netrc of\n"
            "`wandb login`) with $WANDB_ENTITY and $WANDB_PROJECT.\n"
            f"in use now: {now}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cwsandbox-tui",
        description="A keyboard-driven dashboard for CoreWeave Sandboxes and their snapshots.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands.add_connection_options(parser)
    parser.add_argument("--demo", action="store_true",
                        help="fill the local backend with example sandboxes and snapshots")
    parser.add_argument("--refresh", type=float, default=2.0, metavar="SECONDS",
                        help="refresh interval of the dashboard (default 2, 0 turns it off)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve.add_parser(subparsers)
    backend_control.add_parsers(subparsers)
    commands.add_parsers(subparsers)
    return parser


def main(argv: list[str] | None = None, *, process: bool = False) -> int:
    """`process`: this is the program's own entry point, whose process may end at once."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # said with the usage of the command they were given to, not the program's
        owner: argparse.ArgumentParser = getattr(args, "command_parser", None) or parser
        owner.error(f"unrecognized arguments: {' '.join(unknown)}")
    run = getattr(args, "run", None)
    try:
        code = dashboard(args) if run is None else int(run(args))
    except Exception as error:
        if not process:
            raise
        from ..crash import crashed

        code = crashed(error)  # one line naming the report; the traceback is in it
    if process and run is None:
        leave(code)
    return code


def leave(code: int) -> None:
    """End the process now that the dashboard has closed its client (the connection, the
    embedded backend's lease, the operations log) and given the terminal back.

    Python's own teardown after grpc has been used takes about a third of a second (the
    library's shutdown) and has nothing of ours left to do; the dashboard starts no threads
    or processes that outlive it (the embedded backend keeps its own lifetime, by leases).
    """
    import logging
    import os
    import sys

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def dashboard(args: argparse.Namespace) -> int:
    import sys

    if args.refresh != 0 and not 0.5 <= args.refresh <= 3600:
        print(f"error: --refresh: {args.refresh:g} is outside 0.5 to 3600 seconds (or 0)",
              file=sys.stderr)
        return 2
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("error: the dashboard needs a terminal (stdin and stdout); for scripts use the "
              "commands, e.g. `cwsandbox-tui sandboxes list` (see --help)", file=sys.stderr)
        return 2
    options = ConnectOptions(endpoint=args.endpoint, profile=args.profile,
                             read_only=args.readonly, ca_cert=args.ca_cert, demo=args.demo,
                             api=args.api)
    try:
        plan = prepare(options)  # starts the embedded backend, which boots while we import
        from ..ui.launch import run_dashboard

        return run_dashboard(plan, refresh_interval=args.refresh)
    except ConfigError as error:
        from .render import err

        err(f"error: {error}")
        return 2
