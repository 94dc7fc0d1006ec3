"""The cursor row stays readable on an 8/16-colour terminal (TERM=screen) and under NO_COLOR."""

from __future__ import annotations

import re

import pytest
from rich.color import ColorSystem
from textual import constants
from textual.strip import Strip

from cwsandbox_tui.ui.widgets.rowtable import RowTable

from .conftest import AppFactory
from .flows_support import screen_text, settle, wait_for

RED_BACKGROUNDS = {"41", "101"}  # ANSI red and bright red


def _text(line: Strip) -> str:
    return "".join(segment.text for segment in line)


def _sgr_codes(line: Strip, system: ColorSystem) -> list[set[str]]:
    """The SGR parameters each visible segment is written with on a terminal of `system`."""
    codes = []
    for segment in line:
        if not segment.text.strip() or segment.style is None:
            continue
        ansi = Strip.render_ansi(segment.style, system)
        codes.append(set(re.sub(r"[^0-9;]", "", ansi).split(";")))
    return codes


async def test_the_cursor_row_is_reverse_video_not_red_on_sixteen_colours(
        app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # What Rich picks for TERM=screen; forced, as the test terminal is headless.
    monkeypatch.setattr(constants, "COLOR_SYSTEM", "standard")
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.console.color_system == "standard" and app.has_class("-few-colours")
        table = app.screen.query_one(RowTable)
        assert table.cursor_id == "sb-00000000aaaa"
        codes = _sgr_codes(table.render_line(1), ColorSystem.STANDARD)
        assert codes, "the cursor row shows text"
        for segment in codes:
            assert not segment & RED_BACKGROUNDS, f"a red cursor row: {segment}"
            assert "7" in segment, f"the cursor row is not reverse video: {segment}"
        other = _sgr_codes(table.render_line(2), ColorSystem.STANDARD)
        assert all("7" not in segment for segment in other), "only the cursor row is reversed"
        # PAUSED (busy, the theme's warning colour) is yellow, not the red of FAILED.
        paused = next(y for y in range(2, 6) if "PAUSED" in _text(table.render_line(y)))
        [word] = [s for s in table.render_line(paused) if "PAUSED" in s.text]
        assert word.style is not None
        assert "93" in set(re.sub(r"[^0-9;]", "", Strip.render_ansi(
            word.style, ColorSystem.STANDARD)).split(";"))
        await pilot.press("slash")  # the table loses focus: the cursor stays visible
        await pilot.pause()
        blurred = _sgr_codes(table.render_line(1), ColorSystem.STANDARD)
        assert blurred and all("7" in s and not s & RED_BACKGROUNDS for s in blurred)


async def test_a_truecolor_terminal_keeps_the_accent_cursor(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert not app.has_class("-few-colours")
        table = app.screen.query_one(RowTable)
        styles = [s.style for s in table.render_line(1) if s.text.strip() and s.style]
        assert styles and all(not s.reverse and s.bgcolor is not None for s in styles)
        accent = app.theme_variables["accent"].lower()
        assert all(s.bgcolor is not None and s.bgcolor.triplet is not None
                   and s.bgcolor.triplet.hex == accent for s in styles)


async def test_the_palette_says_each_entry_once(app_factory: AppFactory) -> None:
    """Each view's help line repeated its title, which read as every view listed twice."""
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: "Show snapshots" in screen_text(app), "the palette")
        lines = [line.strip() for line in screen_text(app).splitlines()]
        assert lines.count("Show snapshots") == 1
        assert "command :snap or :snapshots" in lines
        repeated = [a for a, b in zip(lines, lines[1:], strict=False) if a and a == b]
        assert not repeated, repeated
