"""What k9s-class tools have: copy the id (OSC 52), export the shown rows, range marks."""

from __future__ import annotations

import base64
import csv
import json
from pathlib import Path

import pytest

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.backend.store import SandboxRow, StoredSpec
from cwsandbox_tui.ui.clipboard import OSC52_MAX, TooLong, inside_gnu_screen, osc52
from cwsandbox_tui.ui.screens.dialogs import ConfirmDialog, FormDialog
from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen

from .conftest import FIXED_NOW, AppFactory
from .flows_support import note_titled, screen_text, settle, wait_for


def test_osc52_is_plain_but_in_gnu_screen_and_capped() -> None:
    plain = osc52("fss-1")
    assert plain == "\x1b]52;c;" + base64.b64encode(b"fss-1").decode() + "\a"
    assert osc52("fss-1", screen=True) == "\x1bP" + plain + "\x1b\\"
    assert inside_gnu_screen({"STY": "1.pts-0"})
    assert not inside_gnu_screen({"STY": "1.pts-0", "TMUX": "/tmp/tmux-0/default,1,0"})
    try:
        osc52("x" * OSC52_MAX)
    except TooLong:
        pass
    else:
        raise AssertionError("a payload over the cap was accepted")


async def test_c_copies_the_id_under_the_cursor(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down", "c")
        await pilot.pause()
        assert app.clipboard == "sb-00000000bbbb"
        note = note_titled(app, "Copied")
        assert note is not None and "sb-00000000bbbb" in note.message


async def test_export_writes_the_shown_rows_in_screen_order(
        app_factory: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # short relative paths: every typed key costs a frame
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SnapshotsScreen)
        await pilot.press("slash", *"status=failed", "enter")
        await pilot.pause()
        shown = list(screen.table.view)
        assert len(shown) == 4

        json_path = tmp_path / "out" / "failed.json"
        json_path.parent.mkdir()  # a directory is never created (test_export_refuses_...)
        await pilot.press("X")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), "the export form")
        await pilot.press(*"out/failed.json", "enter")
        await wait_for(pilot, lambda: json_path.exists(), "the JSON file")
        records = json.loads(json_path.read_text())
        assert [r["id"] for r in records] == shown
        assert {r["status"] for r in records} == {"failed"}

        csv_path = tmp_path / "failed.csv"
        await pilot.press("X")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog), "the export form")
        await pilot.press(*"failed.csv", "enter")
        await wait_for(pilot, lambda: csv_path.exists(), "the CSV file")
        with open(csv_path, newline="") as f:
            rows = list(csv.DictReader(f))
        assert [r["id"] for r in rows] == shown and rows[0]["status"] == "failed"
        note = note_titled(app, "Exported")
        assert note is not None and "4 snapshots" in note.message


async def test_range_mark_from_the_last_marked_row_to_the_cursor(
        app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SnapshotsScreen)
        view = list(screen.table.view)
        await pilot.press("V")  # nothing marked yet: said, nothing marked
        await pilot.pause()
        assert not screen.table.marks
        await pilot.press("down", "space", "down", "down", "down", "V")
        await pilot.pause()
        assert screen.table.marks == set(view[1:6])
        await pilot.press("up", "up", "up", "up", "up", "up", "down", "V")  # from row 5 back to 1
        await pilot.pause()
        assert screen.table.marks == set(view[1:6])


async def test_export_refuses_a_missing_directory_asks_before_overwriting_and_is_safe(
        app_factory: AppFactory, backend: BackendServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`/nonexistent/x.json` made the directory; a file was overwritten without asking;
    times were epoch floats; a tag like `=HYPERLINK(...)` went into the CSV as a formula."""
    from .test_typeahead import burst, keys_done

    monkeypatch.chdir(tmp_path)
    app = app_factory()
    assert backend.engine is not None
    backend.engine.store.insert_sandbox(SandboxRow(
        id="sb-0000000eeeee", status=states.RUNNING, created_at=FIXED_NOW - 60,
        started_at=FIXED_NOW - 58, spec=StoredSpec(
            command="/bin/sh", container_image="alpine", tags=["=HYPERLINK(\"x\")", "@sum"])))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        burst(app, "/eeeee\rX")
        await keys_done(pilot)
        assert isinstance(app.screen, FormDialog)
        burst(app, "nowhere/x.csv\r")
        await keys_done(pilot)
        assert isinstance(app.screen, FormDialog)
        assert "no directory nowhere" in screen_text(app)
        assert not (tmp_path / "nowhere").exists()

        burst(app, "\x1b")
        await keys_done(pilot)
        target = tmp_path / "x.csv"
        target.write_text("keep me\n")
        burst(app, "Xx.csv\r")
        await keys_done(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        burst(app, "n")
        await keys_done(pilot)
        assert target.read_text() == "keep me\n"
        burst(app, "Xx.csv\ry")
        await keys_done(pilot)
        await wait_for(pilot, lambda: target.read_text() != "keep me\n", "the file replaced")
        with open(target, newline="") as f:
            rows = list(csv.DictReader(f))
        assert [r["id"] for r in rows] == ["sb-0000000eeeee"]
        assert rows[0]["tags"] == "'=HYPERLINK(\"x\"),@sum"
        assert rows[0]["created_at"] == "2026-11-26T11:59:00Z"
