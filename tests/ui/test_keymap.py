"""Keys are remappable through the config file's [keys] table (Textual's keymap)."""

from __future__ import annotations

from cwsandbox_tui.ui.screens.dialogs import ConfirmDialog
from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen

from .conftest import AppFactory, settle


async def test_a_remapped_key_replaces_the_default(app_factory: AppFactory) -> None:
    app = app_factory(keymap={"table.delete": "ctrl+x"})  # as launch passes config's [keys]
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        assert isinstance(app.screen, SnapshotsScreen)
        await pilot.press("ctrl+d")  # no longer bound
        await pilot.pause()
        assert isinstance(app.screen, SnapshotsScreen)
        await pilot.press("ctrl+x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
