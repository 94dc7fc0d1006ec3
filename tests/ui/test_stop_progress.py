"""A stop with a snapshot shows its task while it archives: phase, elapsed time, and an
indeterminate bar above the footer (no API reports how much of an archive is written)."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Footer, Label, ProgressBar

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client.models import SandboxSpec
from cwsandbox_tui.ui.widgets.tasks import TaskPanel, TaskRow
from tests.fake_clock import FakeClock

from .conftest import AppFactory
from .flows_support import note_titled, screen_text, settle, wait_for


def tasks_classes(app: object) -> list[int]:
    screen = app.screen  # type: ignore[attr-defined]
    return [n for n in range(1, 5) if screen.has_class(f"-tasks-{n}")]


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_a_stop_with_snapshot_shows_its_phase_until_the_snapshot_id(
        app_factory: AppFactory, backend: BackendServer, size: tuple[int, int]) -> None:
    """At 80 columns the words were cut after `archiving`: they wrap onto a second row."""
    assert backend.engine is not None
    release = asyncio.Event()  # the archive waits for it: the phase stays on screen till then
    backend.engine.archive_hold = release
    app = app_factory(seed=False)
    clock = app.client.clock
    assert isinstance(clock, FakeClock)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        sandbox = await app.client.start_sandbox(SandboxSpec(mount_path="/workspace"))
        await app.client.add_file(sandbox.id, "/workspace/notes.txt", b"keep me\n")
        await pilot.press("ctrl+r")
        await settle(pilot)

        await pilot.press("S")  # the stop-with-snapshot form; grace 10 s, ctrl+s sends it
        await pilot.pause()
        await pilot.press("ctrl+s")
        panel = app.screen.query_one(TaskPanel)
        await wait_for(pilot, lambda: "archiving fss-" in " ".join(
            str(label.render()) for label in panel.query(Label)), "the archiving phase")
        await pilot.pause()
        row = panel.query_one(TaskRow)
        label = str(row.query_one(Label).render())
        assert label.startswith("Stop sandbox with snapshot: archiving fss-")
        assert "(deadline 645s)" in label
        assert row.query_one(ProgressBar).total is None  # indeterminate: no made-up fraction
        # On screen, above the footer (docked, the panel used to lie under it, unseen).
        footer = app.screen.query_one(Footer)
        assert panel.region.height >= 1 and panel.region.bottom <= footer.region.y
        shown = screen_text(app).splitlines()
        assert any(line.startswith(" Stop sandbox with snapshot: archiving")
                   for line in shown[panel.region.y:panel.region.bottom])
        words = " ".join(" ".join(shown[panel.region.y:panel.region.bottom]).split())
        snapshot_id = label.split("archiving ")[1].split()[0]
        assert snapshot_id in words and "(deadline 645s)" in words, words  # none of it cut
        # toasts stand above the panel's rows: the screen says how many (app.tcss)
        assert tasks_classes(app) == [panel.region.height]

        clock.advance(12)  # the elapsed time moves on (the client's clock)
        await wait_for(pilot, lambda: "archiving" in str(row.query_one(Label).render())
                       and " 12s (deadline" in str(row.query_one(Label).render()),
                       "the elapsed time to be shown")

        release.set()
        await settle(pilot)
        done = note_titled(app, "Stop sandbox with snapshot")
        assert done is not None
        snap_id = app.store.sandboxes[sandbox.id].stop_snapshot_id
        assert snap_id.startswith("fss-")
        assert done.message == f"{sandbox.id} completed, snapshot {snap_id}"
        assert label.split("archiving ")[1].startswith(snap_id)  # the phase named it
        assert not panel.query(TaskRow) and not panel.has_class("-active")
        assert tasks_classes(app) == []


async def test_a_stop_with_snapshot_that_fails_ends_its_task_with_the_error(
        app_factory: AppFactory) -> None:
    app = app_factory(seed=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        sandbox = await app.client.start_sandbox(SandboxSpec(mount_path=""))  # nothing to archive
        await pilot.press("ctrl+r")
        await settle(pilot)
        await pilot.press("S")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot)
        failed = note_titled(app, "Stop sandbox with snapshot failed")
        assert failed is not None and "no file-system mount" in failed.message
        assert sandbox.id in failed.message
        panel = app.screen.query_one(TaskPanel)
        assert not panel.query(TaskRow) and not app.task_model.tasks
