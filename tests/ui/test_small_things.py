"""The smaller faults found by hand, each pinned by a test that failed before its fix."""

from __future__ import annotations

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.faults import Trigger
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.backend.store import SnapshotRow
from cwsandbox_tui.client.models import SandboxSpec
from cwsandbox_tui.ui.app import DashboardApp
from cwsandbox_tui.ui.commands import DashboardCommands
from cwsandbox_tui.ui.screens.dialogs import ConfirmDialog, FormDialog, HelpDialog
from cwsandbox_tui.ui.screens.output import LogsScreen
from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen
from cwsandbox_tui.ui.widgets.header import HeaderBar
from tests.fake_clock import FakeClock

from .conftest import FIXED_NOW, AppFactory
from .flows_support import screen_text, settle, table_lines, wait_for


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
        assert "size<=500MB" not in screen_text(app)  # the last row: too tall for 24 rows
        await pilot.press("end")  # no Tab into the body first
        await pilot.pause()
        assert "size<=500MB" in screen_text(app)
        await pilot.press("home")
        await pilot.pause()
        assert "[table]" in screen_text(app)


async def test_ages_move_on_with_the_refresh_without_ctrl_r(app_factory: AppFactory) -> None:
    app = app_factory()
    clock = app.client.clock
    assert isinstance(clock, FakeClock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert "  4h " in _line_of(app, "sb-00000000aaaa")
        clock.advance(2 * 86400)
        app.refresh_tick()
        await settle(pilot)
        assert "  2d " in _line_of(app, "sb-00000000aaaa")


def _line_of(app: DashboardApp, row_id: str) -> str:
    return next(line for line in table_lines(app) if row_id in line)


async def test_the_sort_arrow_is_on_the_sorted_column_and_never_cut(
        app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        header = table_lines(app)[0]
        assert "CREATED v" in header
        await pilot.press("s")  # created -> age
        await pilot.pause()
        header = table_lines(app)[0]
        assert "AGEv" in header and "CREATED v" not in header and "~" not in header
        for _ in range(5):  # -> size, status, source, id, trigger
            await pilot.press("s")
        await pilot.pause()
        header = table_lines(app)[0]
        assert "TRIGGEv" in header and "~" not in header


async def test_restore_proposes_the_mount_path_of_the_source(
        app_factory: AppFactory, backend: BackendServer) -> None:
    app = app_factory()  # seeds; then one snapshot of sb-...bbbb, mounted at /home/jovyan/work
    assert backend.engine is not None
    backend.engine.store.insert_snapshots([SnapshotRow(
        id="fss-00000000jjjj", status=states.FSS_READY, created_at=FIXED_NOW - 3600,
        updated_at=FIXED_NOW - 3500, completed_at=FIXED_NOW - 3500,
        source_sandbox_id="sb-00000000bbbb", trigger=states.TRIGGER_MANUAL,
        idempotency_key="jovyan", object_bucket="cwsandbox-managed",
        archive="cwsandbox-managed/jovyan.tar", status_reason="", size_bytes=2**20)])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("slash", *"source=sb-00000000bbbb", "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SnapshotsScreen)
        assert screen.table.cursor_id == "fss-00000000jjjj"
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), "the restore form")
        form = app.screen
        assert isinstance(form, FormDialog)
        assert form.values()["mount_path"] == "/home/jovyan/work"


async def test_exec_and_logs_views_name_themselves_in_the_header(
        app_factory: AppFactory) -> None:
    app = app_factory(seed=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await app.client.start_sandbox(SandboxSpec())
        await pilot.press("ctrl+r")
        await settle(pilot)
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen), "the logs view")
        await pilot.pause()
        assert str(app.screen.query_one(HeaderBar).render()).startswith("cwsandbox-tui > logs |")


async def test_the_footer_keeps_help_and_quit_at_80_columns(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for view in ("1", "2"):
            await pilot.press(view)
            await settle(pilot)
            footer = screen_text(app).splitlines()[-1]
            assert "? Help" in footer and "q Quit" in footer, footer


async def test_prune_checkboxes_say_their_state_in_words(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("P")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), "the prune form")
        await pilot.pause()
        ready = next(line for line in screen_text(app).splitlines() if "│ READY" in line)
        assert "no" in ready.split() and "…" not in ready, ready
        await pilot.press("tab", "space")  # to READY, check it
        await pilot.pause()
        ready = next(line for line in screen_text(app).splitlines() if "│ READY" in line)
        assert "yes" in ready.split(), ready


async def test_the_palette_has_one_quit_and_one_keys(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        system = [command.title for command in app.get_system_commands(app.screen)]
        assert "Quit" not in system and "Keys" not in system  # Textual's quit would not ask
        ours = [title for title, _, _ in DashboardCommands(app.screen)._entries()]
        assert ours.count("Quit") == 1 and ours.count("Show the keys") == 1


async def test_a_form_the_server_refuses_comes_back_with_what_was_typed(
        app_factory: AppFactory, backend: BackendServer) -> None:
    app = app_factory()
    backend.faults.set_fault("Start", "unavailable", Trigger(first=1))  # not a field's fault
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), "the form")
        first = app.screen
        await pilot.press(*"alpine:3", "tab", *"sleep 5", "tab", *"team-z", "ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog)
                       and app.screen is not first, "the form to come back")
        form = app.screen
        assert isinstance(form, FormDialog)
        values = form.values()
        assert (values["image"], values["command"], values["tags"]) == \
            ("alpine:3", "sleep 5", "team-z")
        assert "The server did not start it" in screen_text(app)


async def test_a_filter_that_hides_every_row_says_so_not_that_there_are_none(
        app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        total = len(app.screen.query_one("RowTable").rows)  # type: ignore[attr-defined]
        assert total > 0
        await pilot.press(*"/status=ready", "enter")  # one burst: sandboxes are never READY
        await wait_for(pilot, lambda: any("matches the filter" in line
                                          for line in table_lines(app)), "the empty view")
        lines = [line.rstrip() for line in table_lines(app)]
        assert f"  None of the {total} matches the filter (esc clears it)." in lines
        assert not any("No sandboxes" in line for line in lines)
        await pilot.press("escape")
        await wait_for(pilot, lambda: any("sb-" in line for line in table_lines(app)),
                       "the rows back")


async def test_prune_form_reads_ages_as_the_cli_does_and_drops_a_fixed_error(
        app_factory: AppFactory) -> None:
    """`7d` was "not a number of days"; the error stayed after the value was fixed."""
    from .test_typeahead import burst, keys_done

    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        burst(app, "2P")
        await keys_done(pilot)
        assert isinstance(app.screen, FormDialog)
        burst(app, "7x\x13")  # ctrl+s: submit
        await keys_done(pilot)
        assert isinstance(app.screen, FormDialog)
        assert "'7x' is not an age like" in screen_text(app)
        burst(app, "\x7f")
        await keys_done(pilot)
        assert "'7x' is not an age like" in screen_text(app)  # '7' is no age either
        burst(app, "d")
        await keys_done(pilot)
        assert "is not an age" not in screen_text(app)
        burst(app, "\x13")
        await keys_done(pilot)
        screen = app.screen_stack[-2]  # under the confirmation of what the preview marked
        assert isinstance(screen, SnapshotsScreen)
        assert screen.filter_text == "age>=7d !status=deleting"  # a prune leaves those alone
        assert isinstance(app.screen, ConfirmDialog) and screen.table.marks


async def test_help_filter_section_is_aligned_and_names_every_command(
        app_factory: AppFactory) -> None:
    """At 80x24 the filter lines wrapped under the keys' column, and :volumes was missing;
    ctrl+space's NUL (^@) and ctrl+c are one row with the keys of the same action."""
    app = app_factory(seed=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await settle(pilot)
        await pilot.press("end")
        await pilot.pause()
        lines = screen_text(app).splitlines()
        assert ":volumes" in screen_text(app)
        starts = {line.index(what) - line.index(key) for key, what in (
            ("text", "rows containing it"), ("/regex/", "rows matching it"),
            ("status=ready", "also trigger="), ("age>7d", "also age<12h"))
            for line in lines if key in line and what in line}
        assert len(starts) == 1, lines  # every filter row found, descriptions in one column
        assert "^@" not in screen_text(app)
        await pilot.press("home")
        await pilot.pause()
        quit_row = next(line for line in screen_text(app).splitlines() if "Quit" in line)
        assert "^c" in quit_row and " q " in quit_row, quit_row


async def test_a_long_filter_error_wraps_at_80_columns(app_factory: AppFactory) -> None:
    """The bad-filter message was cut mid-sentence at 80x24."""
    from .test_typeahead import burst, keys_done

    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        burst(app, "2/colour=red")
        await keys_done(pilot)
        text = " ".join(screen_text(app).split())
        assert "unknown field 'colour' (known: age, bucket, id, sandbox, size, source, " \
               "status, trigger)" in text, screen_text(app)


async def test_new_sandbox_form_buttons_in_reach_at_60x15(app_factory: AppFactory) -> None:
    """At 60x15 the fields took every row and the buttons were out of reach."""
    from textual.widgets import Button

    from .test_typeahead import burst, keys_done

    app = app_factory()
    async with app.run_test(size=(60, 15)) as pilot:
        await settle(pilot)
        burst(app, "n")
        await keys_done(pilot)
        form = app.screen
        assert isinstance(form, FormDialog)
        assert "Start (ctrl+s)" in screen_text(app) and "Cancel (esc)" in screen_text(app)
        for _ in range(20):  # through every field (and the scrolled body), to a button
            burst(app, "\t")
            await keys_done(pilot)
            if isinstance(app.focused, Button):
                break
        assert isinstance(app.focused, Button), app.focused
        assert "Start (ctrl+s)" in screen_text(app)


async def test_toasts_stand_clear_of_the_status_line_and_the_task_panel(
        app_factory: AppFactory) -> None:
    """At 80x24 toasts covered the status line and the progress bar."""
    from textual.widgets._toast import Toast

    from cwsandbox_tui.client import events as ev
    from cwsandbox_tui.ui.widgets.tasks import TaskPanel

    app = app_factory()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await settle(pilot)
        bus = app.client.bus
        for n in range(2):
            bus.emit(ev.Progress(op_id=f"op-t{n}", op=f"Delete snapshots {n}", at=FIXED_NOW,
                                 done=3, total=10))
        app.notify("a notice that takes a few lines of the screen to say what happened, "
                   "as a failure's does", title="Notice")
        panel = app.screen.query_one(TaskPanel)
        status = app.screen.query_one("#status-line")
        await wait_for(pilot, lambda: panel.region.height == 2 and app.screen.query(Toast),
                       "two task rows and the toast")
        await pilot.pause()
        covered = [toast.region for toast in app.screen.query(Toast)
                   if toast.region.overlaps(status.region) or toast.region.overlaps(panel.region)]
        assert not covered, (covered, status.region, panel.region)
