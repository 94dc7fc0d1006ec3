"""The table repaints what changed, and only that."""

from __future__ import annotations

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen

from .conftest import AppFactory, settle


def line_of(screen: SnapshotsScreen, row_id: str) -> str:
    table = screen.table
    index = table.view.index(row_id)
    return table.render_line(index - int(table.scroll_offset.y) + 1).text


async def test_a_row_changed_under_a_filter_is_repainted(app_factory: AppFactory,
                                                         backend: BackendServer) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("2", "slash", *"fss-00000000000", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SnapshotsScreen)
        assert "fss-000000000001" in screen.table.view
        assert "READY" in line_of(screen, "fss-000000000001")
        assert backend.engine is not None
        backend.engine.store.update_snapshot("fss-000000000001", status=states.FSS_FAILED)
        view_before = list(screen.table.view)
        app.action_refresh_now()
        await settle(pilot)
        assert screen.table.view == view_before  # the same rows are shown...
        assert "FAILED" in line_of(screen, "fss-000000000001")  # ...and the changed one anew


async def test_a_keystroke_that_hides_nothing_keeps_the_view(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("2", "slash", "f")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SnapshotsScreen)
        view = screen.table.view
        await pilot.press("s")  # "fs" still matches every row
        await settle(pilot)
        assert screen.table.view is view  # not rebuilt, so not repainted
        await pilot.press("s", "-", *"0" * 10, "1")  # "fss-00000000001": ids 10 to 19
        await settle(pilot)
        assert screen.table.view == [f"fss-{n:012d}" for n in range(10, 20)]  # newest first
