"""The first snapshot rows show at once: a page of the first listing goes straight into the
table of the snapshots view in front (not queued behind the view's own work), and the key
that brings a view up for the first time re-parses no stylesheet, while a theme change still
restyles the views made after it."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from cwsandbox_tui.client.client import ClientOptions
from cwsandbox_tui.ui.screens.sandboxes import SandboxesScreen
from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen
from cwsandbox_tui.ui.store import Change, What

from .conftest import AppFactory
from .flows_support import settle, to_snapshots_view, wait_for

PAGE = 10  # the seeded 30 snapshots come in three pages


async def test_each_page_is_in_the_table_as_soon_as_the_store_has_it(
        app_factory: AppFactory) -> None:
    app = app_factory(options=ClientOptions(page_size=PAGE))
    listing = asyncio.Event()  # the listing is held until the snapshots view is in front
    fetch = app.client.adapter.list_snapshots_page

    async def held(token: str, timeout: float, page_size: int = 0) -> Any:
        await listing.wait()
        return await fetch(token, timeout, page_size)

    app.client.adapter.list_snapshots_page = held  # type: ignore[method-assign]
    in_table: list[tuple[int, int]] = []  # (rows the store holds, rows the table holds)

    def after_the_app(change: Change) -> None:
        screen = app.screen
        if change.what is What.PAGE and isinstance(screen, SnapshotsScreen):
            in_table.append((len(app.store.snapshots), len(screen.table.rows)))

    async with app.run_test(size=(120, 40)) as pilot:
        await to_snapshots_view(pilot)
        app.store.subscribe(after_the_app)  # after the app's own listener
        listing.set()
        await wait_for(pilot, lambda: app.store.loaded, "the listing")
        await settle(pilot)
        assert in_table == [(PAGE, PAGE), (2 * PAGE, 2 * PAGE), (3 * PAGE, 3 * PAGE)]
        assert len(app.screen.table.view) == 3 * PAGE  # type: ignore[attr-defined]


async def test_a_view_brought_up_for_the_first_time_parses_no_stylesheet(
        app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SandboxesScreen)
                       and app.screen.is_mounted, "the sandboxes view")
        await settle(pilot)
        reparse = app.stylesheet.reparse
        parsed: list[str] = []

        def counted() -> None:
            parsed.append(type(app.screen).__name__)
            reparse()

        app.stylesheet.reparse = counted  # type: ignore[method-assign]
        await pilot.press("2")
        await wait_for(pilot, lambda: isinstance(app.screen, SnapshotsScreen)
                       and app.screen.is_mounted, "the snapshots view")
        await settle(pilot)
        assert parsed == []

        # a theme change restyles the views there are and the ones made after it
        before = app.screen.styles.background
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await wait_for(pilot, lambda: app.screen.styles.background != before,
                       "the new theme on the snapshots view")
        await pilot.press("5")  # the usage view, made now
        await wait_for(pilot, lambda: type(app.screen).__name__ == "UsageScreen"
                       and app.screen.is_mounted, "the usage view")
        await settle(pilot)
        assert app.screen.styles.background == app.get_screen_stack("snapshots")[0] \
            .styles.background
        await pilot.press("1")
        await settle(pilot)
        assert app.screen.styles.background != before


async def test_the_footer_is_rebuilt_once_for_a_burst_of_binding_changes(
        app_factory: AppFactory) -> None:
    app = app_factory()
    rebuilt: list[str] = []
    original = Footer.recompose

    async def counted(footer: Footer) -> None:
        rebuilt.append(type(footer.screen).__name__)
        await original(footer)

    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SandboxesScreen)
                       and app.screen.is_mounted, "the sandboxes view")
        await settle(pilot)
        Footer.recompose = counted  # type: ignore[method-assign]
        try:
            await pilot.press("2")
            await wait_for(pilot, lambda: isinstance(app.screen, SnapshotsScreen)
                           and app.screen.is_mounted, "the snapshots view")
            await settle(pilot)
            assert 1 <= rebuilt.count("SnapshotsScreen") <= 2, rebuilt
            shown = " ".join(str(key.render()) for key in app.screen.query(FooterKey))
            assert "Prune" in shown and "Restore" in shown  # the view's own keys are there
            rebuilt.clear()
            await pilot.press("slash")  # the filter bar takes the focus: the keys change
            await settle(pilot)
            assert 1 <= rebuilt.count("SnapshotsScreen") <= 2, rebuilt
        finally:
            Footer.recompose = original  # type: ignore[method-assign]
