"""A dying embedded backend: the header says so, the dashboard starts it again, work goes on.

This runs the backend as the dashboard does in real use (its own process, started through
the connection plan), kills that process, and waits on conditions (bounded, no sleeps).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cwsandbox_tui import paths
from cwsandbox_tui.client.errors import SnapshotNotFoundError
from cwsandbox_tui.client.factory import ConnectOptions, prepare
from cwsandbox_tui.ui.app import DashboardApp
from cwsandbox_tui.ui.screens.dialogs import ConfirmDialog
from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen
from cwsandbox_tui.ui.widgets.header import HeaderBar
from cwsandbox_tui.ui.widgets.rowtable import RowTable

from .flows_support import table_lines, wait_for


def _backend_pid(data_dir: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        pid = json.loads((data_dir / "backend.json").read_text()).get("pid")
        return pid if isinstance(pid, int) else None
    return None


def _demo_seeded(data_dir: Path) -> bool:
    """Whether the backend finished seeding the demo (it seeds after it starts answering)."""
    path = data_dir / "state.sqlite3"
    if not path.exists():
        return False
    with contextlib.suppress(sqlite3.Error), \
            contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        row = db.execute("SELECT value FROM settings WHERE key = 'demo_seeded'").fetchone()
        return row is not None and row[0] == "1"
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def backend_pids() -> Iterator[list[int]]:
    """Every backend process a test saw; each is stopped at the end."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


async def test_killed_backend_reconnects_and_a_later_delete_lands(
        backend_pids: list[int]) -> None:
    data_dir = paths.data_dir()
    plan = prepare(ConnectOptions(demo=True, oplog=False))
    app = DashboardApp(plan.connect, refresh_interval=0.5)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.store.loaded, "the first load", timeout=30)
        # The demo's snapshots are made after the backend starts answering: killed before they
        # are all made, the next backend makes them again, and the delete below may find none
        await wait_for(pilot, lambda: _demo_seeded(data_dir), "the demo's records", timeout=60)
        first = _backend_pid(data_dir)
        assert first is not None and _alive(first)
        backend_pids.append(first)
        header = app.screen.query_one(HeaderBar)
        assert "connected" in str(header.render())

        os.kill(first, signal.SIGKILL)
        killed_at = time.monotonic()
        # Noticed within about 2 s here; the bound is wide for a loaded CI machine (a link
        # that never noticed would wait forever)
        await wait_for(pilot, lambda: app.store.link_state == "reconnecting",
                       "the link to notice the backend is gone", timeout=15)
        print(f"reconnecting shown {time.monotonic() - killed_at:.2f} s after the SIGKILL")
        assert "RECONNECTING (try" in str(app.screen.query_one(HeaderBar).render())
        table = app.screen.query_one(RowTable)
        assert table.stale and all(line.startswith("  ? ") or line.startswith("? ")
                                   or not line.strip() for line in table_lines(app)[1:]
                                   if "sb-" in line)

        await wait_for(pilot, lambda: app.store.link_state == "connected", "the backend back",
                       timeout=30)
        second = _backend_pid(data_dir)
        assert second is not None and second != first and _alive(second)
        backend_pids.append(second)
        await wait_for(pilot, lambda: not app.store.stale, "a refresh on the new connection", 10)
        assert "connected" in str(app.screen.query_one(HeaderBar).render())

        # A delete made now goes to the restarted backend (same data directory).
        await pilot.press("2")
        # The new connection's listing may still be on its way: wait for its rows.
        await wait_for(pilot, lambda: isinstance(app.screen, SnapshotsScreen)
                       and app.screen.table.cursor_id is not None,
                       "the snapshots listed on the new connection", timeout=10)
        screen = app.screen
        assert isinstance(screen, SnapshotsScreen)
        target = screen.table.cursor_id
        assert target is not None
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: target not in app.store.snapshots, "the delete to land", 15)
        with pytest.raises(SnapshotNotFoundError):
            await app.client.get_snapshot(target)
    await app.client.close()
