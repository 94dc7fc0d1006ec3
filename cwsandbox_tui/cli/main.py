"""The command line: the dashboard by default, `serve`, and the scriptable commands."""

from __future__ import annotations

import argparse

from .. import __version__
from . import commands, serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cwsandbox-tui",
        description="A keyboard-driven dashboard for CoreWeave Sandboxes and their snapshots.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve.add_parser(subparsers)
    commands.add_parsers(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 2
    return int(args.run(args))
