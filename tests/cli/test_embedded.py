"""With no endpoint anywhere, commands start (or reuse) the embedded backend of the data dir."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from cwsandbox_tui import paths
from cwsandbox_tui.client import events as ev

from .helpers import cli


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _state(data_dir: Path) -> dict[str, object] | None:
    try:
        return json.loads((data_dir / "backend.json").read_text())
    except (OSError, ValueError):
        return None


@pytest.fixture
def data_dir_backend() -> Path:
    """The embedded data dir (a backend started there is stopped by tests/conftest.py)."""
    return paths.data_dir()


async def test_commands_start_and_share_the_embedded_backend(data_dir_backend: Path) -> None:
    assert "CWSANDBOX_BASE_URL" not in os.environ
    first = await cli("snapshots", "list", "--json")
    assert first.code == 0 and first.json() == [], first
    state = _state(data_dir_backend)
    assert state is not None and isinstance(state["pid"], int) and _alive(state["pid"])
    assert str(state["url"]).startswith("http://127.0.0.1:")
    bucket, sandboxes = await asyncio.gather(cli("bucket", "get", "--json"),
                                             cli("sandboxes", "list", "--json"))
    assert bucket.code == 0 and bucket.json()["mode"] == "cw_managed", bucket
    assert sandboxes.code == 0 and sandboxes.json() == [], sandboxes
    after = _state(data_dir_backend)  # the same backend served all three
    assert after is not None and (after["pid"], after["url"]) == (state["pid"], state["url"])
    # every command's operations went to the one log under the state dir
    records = ev.read_log(paths.state_dir() / "operations.jsonl")
    assert sorted({r["op"] for r in records}) == ["Get bucket config",
                                                  "List file-system snapshots", "List sandboxes"]
    assert (data_dir_backend / "state.sqlite3").exists()


async def test_embedded_usage_errors_still_exit_2(data_dir_backend: Path) -> None:
    run = await cli("snapshots", "prune", "--older-than", "soon", "--yes")
    assert run.code == 2 and "--older-than: 'soon'" in run.stderr, run


async def test_the_backend_lingers_then_exits_once_no_client_is_left(
        data_dir_backend: Path) -> None:
    linger = {"CWSANDBOX_TUI_LINGER": "1"}
    first = await cli("sandboxes", "list", "--json", env=linger)
    assert first.code == 0, first
    state = _state(data_dir_backend)  # None: on a slow machine it may be gone already
    if state is not None:
        assert isinstance(state["pid"], int)
        give_up = time.monotonic() + 20
        while _alive(state["pid"]):  # no lease is left: it goes after the linger
            assert time.monotonic() < give_up, "the unused embedded backend never exited"
            await asyncio.sleep(0.05)
    assert _state(data_dir_backend) is None  # and it cleaned up after itself
    assert not list((data_dir_backend / "clients").iterdir())


async def test_a_bad_linger_is_refused_by_name(data_dir_backend: Path) -> None:
    for bad in ("soon", "-1", "nan", "1e9"):
        run = await cli("sandboxes", "list", env={"CWSANDBOX_TUI_LINGER": bad})
        assert run.code == 2 and f"CWSANDBOX_TUI_LINGER: {bad!r}" in run.stderr, run
    assert _state(data_dir_backend) is None  # refused before any backend was started


async def test_volumes_work_on_the_embedded_backend_by_default(data_dir_backend: Path) -> None:
    """The default (auto, embedded) speaks v1beta2 to it, and v1 for volumes, which only v1
    has: `volumes list` exited 1 there, pointing at --api v1."""
    listed = await cli("volumes", "list", "--json")
    assert listed.code == 0 and listed.json() == [], listed
    missing = await cli("volumes", "get", "vol-nope")
    assert missing.code == 1 and "vol-nope" in missing.stderr and "--api v1" not in \
        missing.stderr, missing
