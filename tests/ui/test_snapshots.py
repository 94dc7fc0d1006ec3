"""Screenshots of every view and dialog at 80x24, and at 120x40 where the layout differs
there (the views' tables show more columns, tall dialogs stop scrolling), compared with the
stored SVGs. A dialog whose box and text are the same at both sizes is taken at 80x24 only.

Data, clock and header are fixed (see conftest), so a difference is a real change. Review
`snapshot_report.html` before updating with `--snapshot-update`. Each screenshot is paired
with what must be visible on it, so a golden file cannot approve a broken screen.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot

from cwsandbox_tui.ui.app import DashboardApp

from .flows_support import screen_text

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
SMALL = [pytest.param((80, 24), id="80x24")]  # the same dialog at 120x40, on a wider table
Build = Callable[..., DashboardApp]


async def loaded(pilot: Pilot[None]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def keys(*presses: str, shows: tuple[str, ...] = (),
         hides: tuple[str, ...] = ()) -> Callable[[Pilot[None]], object]:
    """Press the keys, then check that every text in `shows` is on screen and none of
    `hides` is (the screenshot is compared afterwards)."""
    async def run(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        for key in presses:
            await pilot.press(key)
            await pilot.pause()
        await loaded(pilot)
        text = screen_text(pilot.app)  # type: ignore[arg-type]
        missing = [s for s in shows if s not in text]
        present = [s for s in hides if s in text]
        assert not missing and not present, \
            f"missing {missing}, unexpected {present} on screen:\n{text}"
    return run


@pytest.mark.parametrize("size", SIZES)
class TestViews:
    def test_sandboxes(self, snap_compare, snapshot_app: Build, size: tuple[int, int]) -> None:
        run = keys(shows=("sb-00000000aaaa", "RUNNING", "FAILED", "4 of 4 sandboxes"))
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=run)

    def test_snapshots(self, snap_compare, snapshot_app: Build, size: tuple[int, int]) -> None:
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=keys(
            "2", shows=("fss-000000000001", "READY", "30 of 30 snapshots")))

    def test_snapshots_filtered_and_marked(self, snap_compare, snapshot_app: Build,
                                           size: tuple[int, int]) -> None:
        run = keys("2", "slash", *"age>7d status=ready", "enter", "asterisk", "down", "space",
                   shows=("filter /", "age>7d status=ready", "marked",
                          "fss-000000000027"))  # the bar is one row: no row of the table lost
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=run)

    def test_bad_filter(self, snap_compare, snapshot_app: Build, size: tuple[int, int]) -> None:
        run = keys("2", "slash", *"age>7x",
                   shows=("filter /", "age>7x", "age wants a value like 7d", "30 of 30"))
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=run)

    def test_bucket(self, snap_compare, snapshot_app: Build, size: tuple[int, int]) -> None:
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=keys(
            "3", shows=("cwsandbox-managed",)))

    def test_operations_log(self, snap_compare, snapshot_app: Build,
                            size: tuple[int, int]) -> None:
        run = keys("colon", *"ops", "enter",
                   shows=("operations |", "No operations yet.", "routine", "newest last"),
                   hides=("^d Delete",))
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=run)

    def test_read_only(self, snap_compare, snapshot_app: Build, size: tuple[int, int]) -> None:
        run = keys(shows=("READ-ONLY",))
        assert snap_compare(snapshot_app(read_only=True), terminal_size=size, run_before=run)


class TestDialogs:
    @pytest.mark.parametrize("size", SMALL)
    def test_delete_confirmation(self, snap_compare, snapshot_app: Build,
                                 size: tuple[int, int]) -> None:
        run = keys("2", "slash", *"age>20d", "enter", "asterisk", "slash", "ctrl+u",
                   *"status=ready", "enter", "ctrl+d",
                   shows=("hidden by the current filter", "Cancel (n)", "Delete (y)"))
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=run)

    @pytest.mark.parametrize("size", SIZES)
    def test_new_sandbox_form(self, snap_compare, snapshot_app: Build,
                              size: tuple[int, int]) -> None:
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=keys(
            "n", shows=("New sandbox", "python:3.11", "sleep infinity", "Start (ctrl+s)")))

    @pytest.mark.parametrize("size", SIZES)
    def test_new_sandbox_form_errors(self, snap_compare, snapshot_app: Build,
                                     size: tuple[int, int]) -> None:
        run = keys("n", "tab", "tab", "tab", *"workspace", "tab", *"10GB", "ctrl+s",
                   shows=("workspace", "10GB"))
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=run)

    @pytest.mark.parametrize("size", SMALL)
    def test_stop_with_snapshot_form(self, snap_compare, snapshot_app: Build,
                                     size: tuple[int, int]) -> None:
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=keys(
            "S", shows=("Stop sb-00000000aaaa with a snapshot", "10")))

    @pytest.mark.parametrize("size", SIZES)
    def test_restore_form(self, snap_compare, snapshot_app: Build, size: tuple[int, int]) -> None:
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=keys(
            "2", "r", shows=("Restore fss-000000000001",)))

    @pytest.mark.parametrize("size", SMALL)
    def test_prune_form(self, snap_compare, snapshot_app: Build, size: tuple[int, int]) -> None:
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=keys(
            "2", "P", shows=("Prune snapshots", "Older than", "7d", "READY", "FAILED",
                             "CREATING"), hides=("(days)",)))

    @pytest.mark.parametrize("size", SMALL)
    def test_bucket_form_with_error(self, snap_compare, snapshot_app: Build,
                                    size: tuple[int, int]) -> None:
        run = keys("3", "e", *"My_Bucket", "ctrl+s", shows=("My_Bucket",))
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=run)

    @pytest.mark.parametrize("size", SMALL)
    def test_snapshot_details(self, snap_compare, snapshot_app: Build,
                              size: tuple[int, int]) -> None:
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=keys(
            "2", "enter", shows=("fss-000000000001", "Close (esc)")))

    @pytest.mark.parametrize("size", SIZES)
    def test_sandbox_details(self, snap_compare, snapshot_app: Build,
                             size: tuple[int, int]) -> None:
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=keys(
            "enter", shows=("Sandbox sb-00000000aaaa", "ghcr.io/acme/trainer:2.4")))

    @pytest.mark.parametrize("size", SIZES)
    def test_help(self, snap_compare, snapshot_app: Build, size: tuple[int, int]) -> None:
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=keys(
            "question_mark", shows=("Keys", "[table]", "Filter", "Clear/back", "^c ^q q",
                                    "Quit", "Usage"), hides=("^@",)))

    @pytest.mark.parametrize("size", SMALL)
    def test_command_bar(self, snap_compare, snapshot_app: Build, size: tuple[int, int]) -> None:
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=keys(
            "colon", *"sn", shows=("sn",)))


async def test_help_shows_every_key_and_whole_description(snapshot_app: Build) -> None:
    """At 120x40 the two-column help fits: no key or description is cut."""
    from cwsandbox_tui.ui.screens.dialogs import HelpDialog

    app = snapshot_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("question_mark")
        await loaded(pilot)
        assert isinstance(app.screen, HelpDialog)
        text = screen_text(app)
        missing = [f"{key} / {what}" for key, what in app.screen.rows
                   if key.strip() not in text or what.strip() not in text]
        assert not missing, f"cut or missing in help: {missing}\n{text}"
