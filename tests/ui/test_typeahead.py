"""Keys typed in a burst go where the person is typing, through the terminal driver's path.

Pilot's `press` waits for the app to go idle after every key, which hides the bug these
tests are about; here a whole string is parsed by Textual's own xterm parser and every key is
handed to the app's driver in one go, as one read from a terminal is (ssh and tmux deliver
keys like that).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from textual import events
from textual.drivers import linux_driver
from textual.pilot import Pilot
from textual.widgets import Input

from cwsandbox_tui.ui.app import DashboardApp
from cwsandbox_tui.ui.screens.dialogs import ConfirmDialog, FormDialog, HelpDialog
from cwsandbox_tui.ui.screens.sandboxes import SandboxesScreen
from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen

from .conftest import AppFactory
from .flows_support import WAIT, screen_text, settle, wait_for


def burst(app: DashboardApp, text: str) -> None:
    """Parse `text` as one terminal read, with the parser the terminal driver makes, and post
    every key without a pause between them (then the end of input, as the parser's timeout
    would: a lone ESC waits for it)."""
    driver = app._driver
    assert driver is not None
    parser = linux_driver.XTermParser()
    for message in [*parser.feed(text), *parser.feed("")]:
        driver.process_message(message)


async def keys_done(pilot: Pilot[None]) -> None:
    """Until the app has taken every key (none held, nothing queued) and gone quiet.

    The driver hands each key to the app's queue from a task of its own, so right after
    `burst` the keys may not be queued yet, and Pilot's idle check (process time against wall
    time) passes early on a loaded machine. A callback sent the same way queues behind them.
    """
    app = pilot.app
    assert isinstance(app, DashboardApp)
    driver = app._driver
    assert driver is not None
    read = asyncio.Event()
    driver.send_message(events.Callback(callback=read.set))
    await wait_for(pilot, read.is_set, "the app to read every key of the burst")
    await wait_for(pilot, lambda: app.keys_held == 0, "held keys to be delivered")
    await settle(pilot)


def op_names(app: DashboardApp) -> list[str]:
    return [row.op for row in app.store.op_rows]


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
        assert not app.runner.jobs


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
        assert shown and all(app.store.snapshots[i].status.value == "failed" for i in shown)
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


async def test_keys_wait_for_a_view_switched_to_after_enter_to_mount(
        app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """`:snap` switches views from the command bar's result callback, which Textual runs after
    the enter key; the keys read after it wait until the new view has mounted. They used to
    reach it half-built: the `/` landed in its filter field (focused by Textual's auto-focus
    before the view's own on_mount) or in nothing, and the rest went to the table."""
    slash_read = asyncio.Event()

    async def mounts_once_the_slash_is_read(self: SnapshotsScreen) -> None:
        await asyncio.wait_for(slash_read.wait(), WAIT)

    # (subclass first: TableScreen.on_mount, which focuses the table, runs after this)
    monkeypatch.setattr(SnapshotsScreen, "on_mount", mounts_once_the_slash_is_read,
                        raising=False)
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        reads = app.on_event

        async def on_event(event: events.Event) -> None:
            if isinstance(event, events.Key) and event.key == "slash":
                slash_read.set()
            await reads(event)

        monkeypatch.setattr(app, "on_event", on_event)
        burst(app, ":snap\r/fss-0000000000")
        await keys_done(pilot)

        screen = app.screen
        assert isinstance(screen, SnapshotsScreen) and slash_read.is_set()
        field = screen.query_one("#filter-input", Input)
        assert field.value == "fss-0000000000" and app.focused is field
        assert screen.filter_text == "fss-0000000000"
        assert screen.table.sort_column == "created"  # `s` (sort) never reached the table


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
        assert not app.runner.jobs


async def test_keys_still_arriving_while_the_app_closes_are_dropped(
        app_factory: AppFactory) -> None:
    """The tail of a burst read after quitting began has no screen to go to: it is dropped,
    where it used to fail the app with ScreenStackError (no screens on the stack)."""
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        burst(app, ":snap\r/fss-0000000000" * 3)
    # Leaving `run_test` closed the screens while those keys were still being read; it
    # re-raises an error of the app's, as it did here before the fix.
    assert app._exception is None


async def test_escape_then_a_key_in_one_burst_is_both_keys(app_factory: AppFactory) -> None:
    """ESC and a character in one read were alt+character (the key lost) or, for ESC 2,
    a "™"; they are Esc and then the key, wherever the Esc leaves the focus."""
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        burst(app, "?")
        await keys_done(pilot)
        assert isinstance(app.screen, HelpDialog)
        burst(app, "\x1b2")  # close the help, then Snapshots
        await keys_done(pilot)
        screen = app.screen
        assert isinstance(screen, SnapshotsScreen)

        burst(app, "/zzz")
        await keys_done(pilot)
        assert screen.filter_text == "zzz"
        burst(app, "\x1bj\x1b/ready")  # clear the filter, move down; Esc, then a new filter
        await keys_done(pilot)
        assert screen.table.cursor_id == "fss-000000000002"  # one down from the first
        assert screen.filter_text == "ready"
        assert app.focused is screen.query_one("#filter-input", Input)


async def test_ctrl_space_as_terminals_send_it_marks_a_range(app_factory: AppFactory) -> None:
    """xterm and tmux send ctrl+space as NUL, which Textual names ctrl+@."""
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        burst(app, "2")
        await keys_done(pilot)
        screen = app.screen
        assert isinstance(screen, SnapshotsScreen)
        view = list(screen.table.view)
        burst(app, " jj\x00")
        await keys_done(pilot)
        assert screen.table.marks == set(view[0:4])


async def test_ctrl_c_quits_asking_while_operations_run(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        hold = asyncio.Event()

        async def held(_: asyncio.Event) -> None:
            await hold.wait()

        app.run_job("Held work", held)
        burst(app, "\x03")  # (no keys_done: it waits for every worker, the held one too)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question")
        await wait_for(pilot, lambda: "Held work" in screen_text(app), "the running work named")
        burst(app, "n")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmDialog), "the answer")
        hold.set()
        await settle(pilot)
        assert not app._exit
        burst(app, "\x03")
        give_up = time.monotonic() + WAIT
        while not app._exit:  # set by App.exit; the app is closing, so no Pilot waits here
            assert time.monotonic() < give_up, "ctrl+c did not quit"
            await asyncio.sleep(0.02)
