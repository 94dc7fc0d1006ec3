"""Helpers for the Pilot flow tests: bounded waits, notifications, what the server holds."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from textual.notifications import Notification
from textual.pilot import Pilot
from textual.widgets import Static
from textual.worker import WorkerCancelled

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.backend.store import SnapshotRow
from cwsandbox_tui.ui.app import DashboardApp
from cwsandbox_tui.ui.screens.sandboxes import SandboxesScreen
from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen
from cwsandbox_tui.ui.widgets.rowtable import RowTable

WAIT = 20.0  # seconds a condition may take before a test gives up (a loaded 2-core CI box)


async def wait_for(pilot: Pilot[None], condition: Callable[[], object], what: str,
                   timeout: float = WAIT) -> None:
    """Poll `condition` between short pauses; fail with `what` when it never holds."""
    give_up = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > give_up:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await pilot.pause(0.02)


async def to_snapshots_view(pilot: Pilot[None]) -> SnapshotsScreen:
    """From the start (the sandboxes view, once mounted), `2`: the snapshots view, mounted."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, SandboxesScreen)
                   and app.screen.is_mounted, "the sandboxes view")
    await pilot.press("2")
    await wait_for(pilot, lambda: isinstance(app.screen, SnapshotsScreen)
                   and app.screen.is_mounted, "the snapshots view")
    screen = app.screen
    assert isinstance(screen, SnapshotsScreen)
    return screen


async def settle(pilot: Pilot[None], timeout: float = WAIT) -> None:
    """Wait until no worker runs, including the ones started while waiting (a job ends by
    starting a refresh, which conftest's one-pass `settle` may not wait for)."""
    app = pilot.app
    give_up = time.monotonic() + timeout
    while True:
        # a worker an exclusive one replaced (r r in a burst) ends cancelled: that is done too
        with contextlib.suppress(WorkerCancelled):
            await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(worker.is_running for worker in app.workers):
            return
        if time.monotonic() > give_up:
            raise AssertionError(f"workers still running after {timeout:g} s: "
                                 f"{[w.name for w in app.workers if w.is_running]}")


def notes(app: DashboardApp) -> list[Notification]:
    """The notifications currently shown (Textual keeps them in `App._notifications`)."""
    return list(app._notifications)


def note_titled(app: DashboardApp, title: str) -> Notification | None:
    """The latest notification with this title."""
    return next((n for n in reversed(notes(app)) if n.title == title), None)


def server_snapshots(backend: BackendServer) -> dict[str, SnapshotRow]:
    assert backend.engine is not None
    return {row.id: row for row in backend.engine.store.snapshots_page(0, 10_000)}


def texts(app: DashboardApp) -> list[str]:
    """Every Static's text on the active screen (dialogs included)."""
    return [str(s.render()) for s in app.screen.query(Static)]


def table_lines(app: DashboardApp) -> list[str]:
    """The visible lines of the current screen's table, as plain text."""
    table = app.screen.query_one(RowTable)
    return ["".join(seg.text for seg in table.render_line(y)) for y in range(table.size.height)]


def screen_text(app: DashboardApp) -> str:
    """What the terminal shows for the active screen, as plain lines of text."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())
