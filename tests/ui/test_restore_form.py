"""A restore always restores: the mount path it needs is proposed, an empty one is refused at
the field (one key at a time and in a burst), and the notice names the snapshot restored."""

from __future__ import annotations

import pytest
from textual.notifications import Notification
from textual.pilot import Pilot
from textual.widgets import Input, Static

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client.models import SandboxSpec, SandboxStatus
from cwsandbox_tui.ui.app import DashboardApp
from cwsandbox_tui.ui.screens.dialogs import FormDialog
from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen

from .conftest import AppFactory
from .flows_support import notes, settle, wait_for
from .test_typeahead import burst, keys_done


def restore_notes(app: DashboardApp) -> list[Notification]:
    return [n for n in notes(app) if n.title == "Start sandbox" and "restore" in n.message]


def engine_ids(backend: BackendServer) -> list[str]:
    assert backend.engine is not None
    return [row.id for row in backend.engine.store.sandboxes_after(0)]


async def _stopped_with_snapshot(app: DashboardApp, pilot: Pilot[None]) -> tuple[str, str]:
    original = await app.client.start_sandbox(SandboxSpec(mount_path="/data/work"))
    await app.client.add_file(original.id, "/data/work/hello.txt", b"kept\n")
    stop = await app.client.stop_sandbox(original.id, snapshot=True, grace=1)
    await pilot.press("2")
    await pilot.press("ctrl+r")
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, SnapshotsScreen)
    assert screen.table.cursor_id == stop.snapshot_id
    return original.id, stop.snapshot_id


@pytest.mark.parametrize("delivery", ["one_by_one", "burst"])
async def test_restore_with_the_mount_path_cleared_is_refused_at_the_field(
        app_factory: AppFactory, backend: BackendServer, delivery: str) -> None:
    app = app_factory(seed=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        original, snap_id = await _stopped_with_snapshot(app, pilot)
        # r opens the form (the source's mount proposed), three tabs reach the mount path,
        # end + ctrl+u clear it, ctrl+s submits.
        if delivery == "one_by_one":
            await pilot.press("r")
            await settle(pilot)
            form = app.screen
            assert isinstance(form, FormDialog)
            assert form.values()["mount_path"] == "/data/work"
            for key in ("tab", "tab", "tab", "end", "ctrl+u", "ctrl+s"):
                await pilot.press(key)
        else:
            burst(app, "r\t\t\t\x1b[F\x15\x13")
            await keys_done(pilot)
        await settle(pilot)

        form = app.screen
        assert isinstance(form, FormDialog), "the form must stay open"
        assert form.values()["mount_path"] == ""
        assert form.values()["restore_from"] == snap_id
        error = str(form.query_one("#error-mount_path", Static).render())
        assert "is required to restore a snapshot" in error
        assert "error" in " ".join(form.query_one("#error-mount_path", Static).classes)
        assert app.focused is form.query_one("#field-mount_path", Input)
        assert restore_notes(app) == [], [n.message for n in notes(app)]
        assert engine_ids(backend) == [original]  # nothing was asked of the server

        # Filled in again, the restore happens and its notice names the snapshot.
        await pilot.press(*"/data/work", "ctrl+s")
        await wait_for(pilot, lambda: restore_notes(app), "the restore's notice")
        [done] = restore_notes(app)
        [restored] = [s for s in await app.client.list_sandboxes() if s.id != original]
        assert done.message == f"restored {snap_id} into {restored.id} at /data/work (running)"
        assert restored.status is SandboxStatus.RUNNING and restored.restored_from == snap_id
        assert await app.client.retrieve_file(restored.id, "/data/work/hello.txt") == b"kept\n"
