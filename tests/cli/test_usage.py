"""Usage errors exit 2 and name the flag (or the setting) that is wrong; nothing is sent."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest

from cwsandbox_tui import paths
from cwsandbox_tui.backend.server import BackendServer

from .helpers import REPO, Run, cli, remaining, seed

# (arguments, what stderr must mention)
USAGE_ERRORS: list[tuple[tuple[str, ...], str]] = [
    (("snapshots", "prune", "--older-than", "7x", "--yes"), "--older-than: '7x' is not an age"),
    (("snapshots", "prune", "--older-than", "7d", "--concurrency", "0"),
     "--concurrency: 0 is outside 1 to 256"),
    (("snapshots", "delete", "fss-1", "--concurrency", "999"), "--concurrency: 999"),
    (("snapshots", "prune", "--status", "bogus", "--yes"), "--status: 'bogus' is not a snapshot"),
    (("snapshots", "list", "--status", "readyy"), "--status: 'readyy'"),
    (("snapshots", "prune", "--yes"), "prune needs at least one of --older-than, --status"),
    (("sandboxes", "stop", "sb-1", "--no-wait-for-snapshot"),
     "--no-wait-for-snapshot goes with --snapshot"),
    (("sandboxes", "stop", "sb-1", "--grace", "301"), "--grace: 301 is outside 0 to 300"),
    (("sandboxes", "stop", "sb-1", "--grace", "-1"), "--grace: -1 is outside"),
    (("snapshots", "list", "--endpoint", "ftp://host"), "--endpoint: 'ftp://host' must start"),
    (("snapshots", "list", "--endpoint", "http://host/api"), "--endpoint: 'http://host/api' must"),
    (("snapshots", "list", "--profile", "nope"), "--profile: no profile 'nope'"),
    (("snapshots", "list", "--endpoint", "http://host", "--ca-cert", "/x.pem"),
     "--endpoint: a CA certificate needs an https:// endpoint"),
    # argparse's own errors
    (("snapshots", "delete"), "snapshot_ids"),
    (("snapshots", "prune", "--concurrency", "many"), "--concurrency: invalid int value"),
    (("sandboxes", "stop", "sb-1", "--grace", "soon"), "--grace: invalid float value"),
    (("snapshots", "list", "--bogus-flag"), "--bogus-flag"),
    # the usage of the command given, not the program's (that was printed)
    (("snapshots", "list", "--bogus"), "usage: cwsandbox-tui snapshots list"),
    (("serve", "--bogus"), "usage: cwsandbox-tui serve"),
    (("snapshots", "frobnicate"), "frobnicate"),
]


async def test_usage_errors_exit_2_and_name_the_flag(backend: BackendServer) -> None:
    seed(backend, ["fss-1"], age_days=30)
    env = {"CWSANDBOX_BASE_URL": backend.url}
    # a few at a time: 21 interpreters started at once beside other tests outran 30 s
    slots = asyncio.Semaphore(3)

    async def limited(args: tuple[str, ...]) -> Run:
        async with slots:
            return await cli(*args, env=env)

    runs = await asyncio.gather(*(limited(args) for args, _ in USAGE_ERRORS))
    for run, (_, mention) in zip(runs, USAGE_ERRORS, strict=True):
        assert run.code == 2, run
        assert mention in run.stderr, run
        assert run.stdout == "", run
    assert remaining(backend) == {"fss-1"}


@pytest.mark.parametrize(("value", "mention"), [
    ("localhost:50051", "CWSANDBOX_BASE_URL: 'localhost:50051' must start with http"),
    ("https://host/v1beta2", "CWSANDBOX_BASE_URL: 'https://host/v1beta2' must not have a path"),
])
async def test_a_bad_base_url_names_the_variable(value: str, mention: str) -> None:
    run = await cli("snapshots", "list", env={"CWSANDBOX_BASE_URL": value})
    assert run.code == 2 and mention in run.stderr, run


async def test_a_broken_config_file_names_the_file() -> None:
    config = paths.config_dir() / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[profiles.prod]\nendpoint = 'http://x'\napi_key = 'sk-do-not-print'\n")
    run = await cli("snapshots", "list")
    assert run.code == 2, run
    assert str(config) in run.stderr and "keep keys out of the config file" in run.stderr
    assert "sk-do-not-print" not in run.stderr


async def test_help_lists_the_commands() -> None:
    run = await cli("snapshots", "--help")
    assert run.code == 0, run
    for action in ("list", "get", "create", "delete", "prune"):
        assert action in run.stdout


async def test_version() -> None:
    run = await cli("--version")
    assert run.code == 0 and run.stdout.startswith("cwsandbox-tui "), run


def test_the_scriptable_cli_does_not_import_textual() -> None:
    script = (
        "import sys\n"
        "import cwsandbox_tui.cli.main, cwsandbox_tui.cli.commands\n"
        "print(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


async def test_a_usage_error_starts_no_embedded_backend() -> None:
    """With no endpoint, a bad flag is reported before the embedded backend is started."""
    run = await cli("snapshots", "prune", "--older-than", "7x", "--yes")
    assert run.code == 2 and "--older-than" in run.stderr, run
    data = paths.data_dir()
    assert not (data / "backend.log").exists() and not (data / "backend.json").exists()


def test_the_dashboard_without_a_terminal_says_so_and_exits() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "cwsandbox_tui"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "needs a terminal" in done.stderr and done.stdout == ""
