"""The smaller faults found by hand, each pinned by a test that failed before its fix."""

from __future__ import annotations

from cwsandbox_tui.ui.screens.dialogs import HelpDialog

from .conftest import AppFactory
from .flows_support import screen_text, settle


async def test_help_is_whole_when_it_fits_and_scrolls_without_tab(
        app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpDialog)
        text = screen_text(app)
        for line in ("[table]", "[sandboxes]", "Quit", "[everywhere]", "[filter]"):
            assert line in text, f"{line!r} missing from the help at 120x40:\n{text}"

    app = app_factory(seed=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        assert "[filter]" not in screen_text(app)  # too tall for 24 rows
        await pilot.press("end")  # no Tab into the body first
        await pilot.pause()
        assert "[filter]" in screen_text(app)
        await pilot.press("home")
        await pilot.pause()
        assert "[table]" in screen_text(app)
