"""Every failure is said: worker errors and read-only refusals, from keys and the palette."""

from __future__ import annotations

import pytest
from textual.command import CommandPalette

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.ui.screens.dialogs import FormDialog
from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen

from .conftest import AppFactory
from .flows_support import note_titled, server_snapshots, settle, wait_for


async def test_a_crash_in_the_first_refresh_is_told_not_left_loading(
        app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    app = app_factory()

    async def broken(*args: object, **kwargs: object) -> list[object]:
        raise RuntimeError("the listing blew up")

    monkeypatch.setattr(app.client, "list_sandboxes", broken)  # an injected bug
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: note_titled(app, "Refresh failed") is not None,
                       "the failure to be notified")
        note = note_titled(app, "Refresh failed")
        assert note is not None and "the listing blew up" in note.message
        assert any(r.op == "Refresh" and r.kind == "Failed" for r in app.store.op_rows)
        header = str(app.screen.query_one("HeaderBar").render())
        assert "load failed (see :ops)" in header and "loading..." not in header


async def test_read_only_palette_prune_is_refused_and_said(
        app_factory: AppFactory, backend: BackendServer) -> None:
    app = app_factory(read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await pilot.press(*"prune snap")
        palette = app.screen
        assert isinstance(palette, CommandPalette)
        await wait_for(pilot, lambda: palette._list_visible, "the palette's hits")
        await pilot.press("enter")
        await wait_for(pilot, lambda: note_titled(app, "Read-only") is not None,
                       "the refusal to be said")
        await settle(pilot)
        note = note_titled(app, "Read-only")
        assert note is not None and "Prune snapshots is refused" in note.message
        assert not isinstance(app.screen, FormDialog) and not app.runner.jobs
        assert len(server_snapshots(backend)) == 30


async def test_read_only_keys_say_they_are_refused(app_factory: AppFactory) -> None:
    app = app_factory(read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        assert isinstance(app.screen, SnapshotsScreen)
        await pilot.press("P")
        await pilot.pause()
        note = note_titled(app, "Read-only")
        assert note is not None and "Prune is refused" in note.message
        assert isinstance(app.screen, SnapshotsScreen)
