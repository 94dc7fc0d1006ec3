"""Screenshots of every view and dialog at 80x24 and 120x40, compared with the stored SVGs.

Data, clock and header are fixed (see conftest), so a difference is a real change. Review
`snapshot_report.html` before updating with `--snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot

from cwsandbox_tui.ui.app import DashboardApp

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
Build = Callable[..., DashboardApp]


async def loaded(pilot: Pilot[None]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def keys(*presses: str) -> Callable[[Pilot[None]], object]:
    async def run(pilot: Pilot[None]) -> None:
        await loaded(pilot)
        for key in presses:
            await pilot.press(key)
            await pilot.pause()
        await loaded(pilot)
    return run


@pytest.mark.parametrize("size", SIZES)
class TestViews:
    def test_sandboxes(self, snap_compare, snapshot_app: Build, size: tuple[int, int]) -> None:
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=loaded)

    def test_snapshots(self, snap_compare, snapshot_app: Build, size: tuple[int, int]) -> None:
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=keys("2"))

    def test_snapshots_filtered_and_marked(self, snap_compare, snapshot_app: Build,
                                           size: tuple[int, int]) -> None:
        run = keys("2", "slash", *"age>7d status=ready", "enter", "asterisk", "down", "space")
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=run)

    def test_bad_filter(self, snap_compare, snapshot_app: Build, size: tuple[int, int]) -> None:
        run = keys("2", "slash", *"age>7x")
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=run)

    def test_bucket(self, snap_compare, snapshot_app: Build, size: tuple[int, int]) -> None:
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=keys("3"))

    def test_operations_log(self, snap_compare, snapshot_app: Build,
                            size: tuple[int, int]) -> None:
        run = keys("colon", *"ops", "enter")
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=run)

    def test_read_only(self, snap_compare, snapshot_app: Build, size: tuple[int, int]) -> None:
        assert snap_compare(snapshot_app(read_only=True), terminal_size=size, run_before=loaded)


@pytest.mark.parametrize("size", SIZES)
class TestDialogs:
    def test_delete_confirmation(self, snap_compare, snapshot_app: Build,
                                 size: tuple[int, int]) -> None:
        run = keys("2", "slash", *"age>20d", "enter", "asterisk", "slash", "ctrl+u",
                   *"status=ready", "enter", "ctrl+d")
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=run)

    def test_new_sandbox_form(self, snap_compare, snapshot_app: Build,
                              size: tuple[int, int]) -> None:
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=keys("n"))

    def test_new_sandbox_form_errors(self, snap_compare, snapshot_app: Build,
                                     size: tuple[int, int]) -> None:
        run = keys("n", "tab", "tab", "tab", *"workspace", "tab", *"10GB", "ctrl+s")
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=run)

    def test_stop_with_snapshot_form(self, snap_compare, snapshot_app: Build,
                                     size: tuple[int, int]) -> None:
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=keys("S"))

    def test_restore_form(self, snap_compare, snapshot_app: Build, size: tuple[int, int]) -> None:
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=keys("2", "r"))

    def test_prune_form(self, snap_compare, snapshot_app: Build, size: tuple[int, int]) -> None:
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=keys("2", "P"))

    def test_bucket_form_with_error(self, snap_compare, snapshot_app: Build,
                                    size: tuple[int, int]) -> None:
        run = keys("3", "e", *"My_Bucket", "ctrl+s")
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=run)

    def test_snapshot_details(self, snap_compare, snapshot_app: Build,
                              size: tuple[int, int]) -> None:
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=keys("2", "enter"))

    def test_sandbox_details(self, snap_compare, snapshot_app: Build,
                             size: tuple[int, int]) -> None:
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=keys("enter"))

    def test_help(self, snap_compare, snapshot_app: Build, size: tuple[int, int]) -> None:
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=keys("question_mark"))

    def test_command_bar(self, snap_compare, snapshot_app: Build, size: tuple[int, int]) -> None:
        assert snap_compare(snapshot_app(), terminal_size=size, run_before=keys("colon", *"sn"))
