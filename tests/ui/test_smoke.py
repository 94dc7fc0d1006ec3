from __future__ import annotations

from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen

from .conftest import AppFactory, settle


async def test_views_load_and_switch(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert len(app.store.sandboxes) == 4
        assert len(app.store.snapshots) == 30
        await pilot.press("2")
        await settle(pilot)
        assert isinstance(app.screen, SnapshotsScreen)
        table = app.screen.table
        assert len(table.view) == 30
        await pilot.press("slash")
        await pilot.press(*"age>7d")
        await pilot.pause()
        assert all(app.store.snapshots[i].created_at < 1_795_694_400.0 - 7 * 86400
                   for i in table.view)
        assert 0 < len(table.view) < 30
