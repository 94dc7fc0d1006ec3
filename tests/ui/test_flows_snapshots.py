"""Flows of the snapshots view, keyboard only, against the real backend (faults injected)."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input, Label, ProgressBar, Static

from cwsandbox_tui.backend.faults import Trigger
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client.client import ClientOptions
from cwsandbox_tui.formatting import human_size
from cwsandbox_tui.ui.screens.dialogs import ConfirmDialog
from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen
from cwsandbox_tui.ui.widgets.tasks import TaskPanel, TaskRow

from .conftest import DAY, FIXED_NOW, AppFactory
from .flows_support import (
    note_titled,
    notes,
    server_snapshots,
    settle,
    table_lines,
    texts,
    wait_for,
)

SEEDED = {f"fss-{n:012d}": FIXED_NOW - n * 1.3 * DAY for n in range(1, 31)}
OLD = {i for i, created in SEEDED.items() if FIXED_NOW - created > 7 * DAY}  # fss-...06 to 30
NEW = set(SEEDED) - OLD


def test_seed_split() -> None:
    assert len(OLD) == 25 and len(NEW) == 5


async def _mark_old(pilot: Pilot[None]) -> SnapshotsScreen:
    """2, /, age>7d, enter, * : the old snapshots shown and all marked."""
    app = pilot.app
    await settle(pilot)
    await pilot.press("2")
    await settle(pilot)
    await pilot.press("slash", *"age>7d", "enter")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, SnapshotsScreen)
    assert set(screen.table.view) == OLD
    await pilot.press("asterisk")
    assert screen.table.marks == OLD
    assert "25 marked" in str(screen.query_one("#status-line", Static).render())
    return screen


async def test_delete_old_snapshots_with_confirmation_and_progress(
        app_factory: AppFactory, backend: BackendServer) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _mark_old(pilot)

        # The confirmation says how many, how big, which; Cancel has the focus.
        await pilot.press("ctrl+d")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        body = texts(app)
        total = sum(app.store.snapshots[i].size_bytes for i in OLD)
        assert f"Delete 25 snapshots ({human_size(total)})?" in body
        oldest_first = sorted(OLD, key=lambda i: SEEDED[i])
        assert [line.strip() for line in body if line.startswith("  fss-")] == oldest_first[:8]
        assert "  ... and 17 more" in body
        assert isinstance(app.focused, Button) and app.focused.id == "cancel"

        await pilot.press("enter")  # on Cancel: nothing is deleted
        await settle(pilot)
        assert app.screen is screen
        assert set(server_snapshots(backend)) == set(SEEDED)
        assert screen.table.marks == OLD  # marks survive a cancelled confirmation

        # Confirm, with every delete slow enough to watch the progress bar.
        backend.faults.set_latency("DeleteFileSystemSnapshot", 1.0)  # a window a loaded
        # machine cannot miss between two polls
        await pilot.press("ctrl+d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await wait_for(pilot, lambda: app.task_model.tasks, "the bulk delete to report progress")
        panel = screen.query_one(TaskPanel)
        await wait_for(pilot, lambda: panel.query(TaskRow), "a task row")
        assert panel.has_class("-active")
        row = panel.query_one(TaskRow)
        assert row.query_one(ProgressBar).total == 25
        assert "Delete file-system snapshots" in str(row.query_one(Label).render())
        assert "(ctrl+k cancels)" in str(row.query_one(Label).render())

        await settle(pilot)
        assert set(server_snapshots(backend)) == NEW  # exactly the old ones are gone
        assert set(app.store.snapshots) == NEW
        assert not panel.query(TaskRow) and not panel.has_class("-active")
        done = note_titled(app, "Delete file-system snapshots")
        assert done is not None and done.message == "25 deleted"
        assert done.severity == "information"


async def test_retry_notification_while_throttled(
        app_factory: AppFactory, backend: BackendServer) -> None:
    backend.faults.retry_delay = 0.05
    backend.faults.set_fault("DeleteFileSystemSnapshot", "throttle", Trigger(first=3))
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("slash", *"012", "enter")
        await pilot.pause()
        assert app.screen.table.view == ["fss-000000000012"]  # type: ignore[attr-defined]
        await pilot.press("ctrl+d")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        retry = note_titled(app, "Retrying")
        assert retry is not None, [n.title for n in notes(app)]
        assert retry.severity == "warning"
        assert "Delete file-system snapshots fss-000000000012: attempt 1 failed with " \
               "CWSANDBOX_FSS_BACKEND_THROTTLED; retrying in" in retry.message
        # the next two retries come within the quiet gap: one notice, not three
        assert len([n for n in notes(app) if n.title == "Retrying"]) == 1
        assert backend.faults.calls("DeleteFileSystemSnapshot") == 4
        assert "fss-000000000012" not in server_snapshots(backend)
        done = note_titled(app, "Delete file-system snapshots")
        assert done is not None and done.message == "1 deleted"


async def test_bad_filter_shows_error_and_keeps_previous_filter(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("slash", *"age>7d", "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SnapshotsScreen)
        assert set(screen.table.view) == OLD
        error = screen.query_one("#filter-error", Static)
        field = screen.query_one("#filter-input", Input)

        await pilot.press("slash", "end", "backspace", "x")  # age>7x
        await pilot.pause()
        assert field.value == "age>7x"
        assert "age wants a value like 7d" in str(error.render())
        assert field.has_class("-invalid")
        assert screen.filter_text == "age>7d" and set(screen.table.view) == OLD
        await pilot.press("enter")  # submitting a bad filter changes nothing either
        await pilot.pause()
        assert set(screen.table.view) == OLD
        assert "filter: age>7d" in str(screen.query_one("#status-line", Static).render())

        # An unclosed regular expression: an error, never a crash.
        await pilot.press("slash", *"/[unclosed/")  # the old text is selected: replaced
        await pilot.pause()
        assert "not a valid regular expression" in str(error.render())
        assert field.has_class("-invalid")
        assert screen.filter_text == "/[unclosed"  # the last expression that compiled
        await pilot.press("backspace", "backspace", "backspace")  # /[unclos: plain text again
        await pilot.pause()
        assert str(error.render()) == "" and not field.has_class("-invalid")
        await pilot.press("escape")  # clears the filter
        await pilot.pause()
        assert len(screen.table.view) == 30 and app.is_running


async def test_cancel_running_bulk_delete_and_quit_asks_first(
        app_factory: AppFactory, backend: BackendServer) -> None:
    app = app_factory(options=ClientOptions(bulk_concurrency=2))
    async with app.run_test(size=(120, 40)) as pilot:
        await _mark_old(pilot)
        backend.faults.set_latency("DeleteFileSystemSnapshot", 0.5)
        await pilot.press("ctrl+d")
        await pilot.pause()
        await pilot.press("y")
        await wait_for(pilot, lambda: app.task_model.tasks, "the bulk delete to start")

        # q while it runs asks first; n keeps the app and the job.
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert "1 operation is still running:" in texts(app)
        assert "  Delete snapshots (25)" in texts(app)
        await pilot.press("n")
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, SnapshotsScreen)
        assert app.runner.jobs and app.runner.jobs[0].worker.is_running

        await pilot.press("ctrl+k")
        await settle(pilot)
        left = set(server_snapshots(backend))
        gone = OLD - left
        assert NEW <= left
        assert 0 < len(gone) < 25, "only the deletes already started may finish"
        assert len(OLD & left) >= 15
        done = note_titled(app, "Delete file-system snapshots")
        assert done is not None and done.message.endswith("untouched (cancelled)")
        assert f"{len(OLD & left)} untouched" in done.message
        assert set(app.store.snapshots) == left  # the table was refreshed afterwards
        assert any(n.message == "Cancelling: Delete snapshots (25)" for n in notes(app))

        await pilot.press("q")  # nothing runs now: quits at once
        await pilot.pause()
    assert not app.is_running


@pytest.mark.parametrize("api", ["v1beta2", "v1"])  # a backend serving one generation
async def test_delete_flow_at_80x24(app_factory: AppFactory, backend: BackendServer) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _mark_old(pilot)
        header = table_lines(app)[0]
        for label in ("ID", "STATUS", "SIZE"):
            assert label in header
        assert "READY" in "".join(table_lines(app)[1:])
        await pilot.press("ctrl+d")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        for button in dialog.query(Button):  # both answers are on screen
            region = button.region
            assert region.width > 0 and region.bottom <= 24 and region.right <= 80
        await pilot.press("y")
        await settle(pilot)
        assert set(server_snapshots(backend)) == NEW
        assert len(screen.table.view) == 0
        assert "0 of 5 snapshots" in str(screen.query_one("#status-line", Static).render())
