"""Keys typed in a burst go where the person is typing, through the terminal driver's path.

Pilot's `press` waits for the app to go idle after every key, which hides the bug these
tests are about; here a whole string is parsed by Textual's own xterm parser and every key is
handed to the app's driver in one go, as one read from a terminal is (ssh and tmux deliver
keys like that).
"""

from __future__ import annotations

from textual._xterm_parser import XTermParser
from textual.pilot import Pilot
from textual.widgets import Input

from cwsandbox_tui.ui.app import DashboardApp
from cwsandbox_tui.ui.screens.dialogs import FormDialog
from cwsandbox_tui.ui.screens.sandboxes import SandboxesScreen
from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen

from .conftest import AppFactory
from .flows_support import settle, wait_for


def burst(app: DashboardApp, text: str) -> None:
    """Parse `text` as one terminal read and post every key without a pause between them."""
    driver = app._driver
    assert driver is not None
    for message in XTermParser().feed(text):
        driver.process_message(message)


async def keys_done(pilot: Pilot[None]) -> None:
    """Until the app has taken every key (none held, nothing queued) and gone quiet."""
    app = pilot.app
    assert isinstance(app, DashboardApp)
    await wait_for(pilot, lambda: app.keys_held == 0, "held keys to be delivered")
    await settle(pilot)


def op_names(app: DashboardApp) -> list[str]:
    return [row.op for row in app.op_rows]


async def test_burst_after_slash_types_into_the_filter(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SandboxesScreen)
        assert screen.table.cursor_id == "sb-00000000aaaa"  # RUNNING: t and p would act on it
        ops_before = op_names(app)

        burst(app, "/tp")
        await keys_done(pilot)

        field = screen.query_one("#filter-input", Input)
        assert field.value == "tp"
        assert app.focused is field
        assert screen.filter_text == "tp"
        assert op_names(app) == ops_before  # no snapshot, no pause
        assert not app.jobs


async def test_burst_filter_and_enter_on_snapshots(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SnapshotsScreen)
        sort_before = (screen.table.sort_column, screen.table.sort_reverse)

        burst(app, "/status=failed\rj")
        await keys_done(pilot)

        assert screen.filter_text == "status=failed"
        assert (screen.table.sort_column, screen.table.sort_reverse) == sort_before
        assert app.focused is screen.table  # enter left the bar; `j` moved the cursor
        shown = list(screen.table.view)
        assert shown and all(app.snapshots[i].status.value == "failed" for i in shown)
        assert screen.table.cursor_id == shown[1]


async def test_burst_through_the_command_bar_into_a_new_view(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        burst(app, ":snap\r/fss-0000000000")
        await keys_done(pilot)

        screen = app.screen
        assert isinstance(screen, SnapshotsScreen)
        assert screen.query_one("#filter-input", Input).value == "fss-0000000000"
        assert screen.filter_text == "fss-0000000000"


async def test_burst_with_tab_fills_each_field_of_a_form(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        burst(app, "n-slim\t; echo hi\tteam-a")
        await keys_done(pilot)

        form = app.screen
        assert isinstance(form, FormDialog)
        values = form.values()
        # As typed slowly: the first key typed into a field replaces what it held.
        assert values["image"] == "-slim"
        assert values["command"] == "; echo hi"
        assert values["tags"] == "team-a"
        assert not app.jobs
