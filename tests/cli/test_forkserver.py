"""The CLI tests' warm launcher (tests/cli/forkserver.py) runs a command as a new interpreter
would: the same bytes out and exit code, the command's own environment, and a command that
outlives its timeout killed and reaped."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from cwsandbox_tui.backend import procs
from cwsandbox_tui.backend.server import BackendServer

from . import helpers
from .helpers import cli, seed


async def test_a_forked_command_is_a_new_interpreters_twin(backend: BackendServer) -> None:
    seed(backend, ["fss-twin-1", "fss-twin-2"])
    env = {"CWSANDBOX_BASE_URL": backend.url}
    for args in (("--help",), ("snapshots", "list", "--json"), ("snapshots", "list"),
                 ("snapshots", "get", "fss-none"), ("snapshots", "prune", "--older-than", "x")):
        warm, cold = await asyncio.gather(cli(*args, env=env), cli(*args, env=env, cold=True))
        assert (warm.code, warm.raw_stdout, warm.raw_stderr) == \
            (cold.code, cold.raw_stdout, cold.raw_stderr), f"{warm}\n{cold}"
    codes = [(await cli(*args, env=env)).code
             for args in (("--help",), ("snapshots", "get", "fss-none"), ("--no-such-flag",))]
    assert codes == [0, 1, 2]


async def test_each_command_has_its_own_environment(backend: BackendServer) -> None:
    """The endpoint comes from each command's environment, not the fork server's."""
    seed(backend, ["fss-env"])
    reached, refused = await asyncio.gather(
        cli("snapshots", "list", "--json", env={"CWSANDBOX_BASE_URL": backend.url}),
        cli("snapshots", "list", "--json", env={"CWSANDBOX_BASE_URL": "http://127.0.0.1:1"}))
    assert reached.code == 0 and [r["id"] for r in reached.json()] == ["fss-env"], reached
    assert refused.code == 1 and "127.0.0.1:1" in refused.stderr, refused


async def test_a_command_past_its_timeout_is_killed_and_reaped(tmp_path: Path) -> None:
    await cli("--help")  # the server is up
    server = helpers._Forkserver.process
    assert server is not None
    with pytest.raises(TimeoutError):
        # serves until killed
        await cli("serve", "--port", "0", "--data-dir", str(tmp_path), timeout=2.0)
    assert procs.descendants(procs.table(), server.pid) == []
    after = await cli("--help")  # and the server goes on
    assert after.code == 0 and after.stdout.startswith("usage: cwsandbox-tui")
    assert helpers._Forkserver.process is server
    assert os.stat(helpers._Forkserver.folder).st_mode & 0o077 == 0  # its socket: ours alone
