"""What a key repaints, and that it is painted right.

* The compositor asks widgets only for the lines it paints and that no widget in front
  covers (`paint_changed_lines_only`), and paints them exactly as Textual's own
  `_render_chops` does: the same strips at the same cuts, on the snapshots view and with a
  dialog over it."""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from textual._compositor import Compositor
from textual.geometry import Region

from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen
from cwsandbox_tui.ui.textual_private import TEXTUAL_RENDER_CHOPS, _runs

from .conftest import AppFactory
from .flows_support import settle, to_snapshots_view, wait_for

WIDTH, HEIGHT = 120, 40
# the changed areas of one frame: a table line; the header and the status line (far apart);
# part of a few lines; two separate bands; the whole screen
CHANGES = [
    [Region(0, 6, WIDTH, 1)],
    [Region(0, 0, WIDTH, 1), Region(0, HEIGHT - 2, WIDTH, 1)],
    [Region(10, 10, 30, 3)],
    [Region(0, 3, WIDTH, 2), Region(50, 20, 40, 4)],
    [Region(0, 0, WIDTH, HEIGHT)],
]


def _painted(compositor: Compositor, changes: list[Region], render: Any) -> dict[int, Any]:
    """What a partial update of `changes` paints, line by line: (cut, segments) pairs."""
    crop = Region.from_union(changes).intersection(compositor.size.region)
    lines = {y for y, _, _ in compositor._regions_to_spans(changes)}
    chops = render(compositor, crop, lines.__contains__)
    return {y: [(cut, list(strip) if strip is not None else None)
                for cut, strip in chops[y].items()] for y in sorted(lines)}


def _assert_paints_as_textual(compositor: Compositor) -> None:
    for changes in CHANGES:
        ours = _painted(compositor, changes, Compositor._render_chops)
        textual = _painted(compositor, changes, TEXTUAL_RENDER_CHOPS)
        assert ours == textual, changes
        assert any(segments and any(isinstance(s, Segment) and s.text.strip() for s in segments)
                   for line in ours.values() for _, segments in line), "nothing was painted"


def test_runs_of_lines() -> None:
    assert list(_runs([])) == []
    assert list(_runs([4])) == [(4, 5)]
    assert list(_runs([0, 1, 2, 5, 7, 8])) == [(0, 3), (5, 6), (7, 9)]


async def test_the_lines_painted_are_those_textual_paints(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        await to_snapshots_view(pilot)
        await wait_for(pilot, lambda: app.store.loaded, "the listing")
        await settle(pilot)
        assert Compositor._render_chops is not TEXTUAL_RENDER_CHOPS
        _assert_paints_as_textual(app.screen._compositor)
        await pilot.press("space", "down", "space", "ctrl+d")  # a dialog over the table
        await settle(pilot)
        assert app.screen.__class__.__name__ != "SnapshotsScreen"
        _assert_paints_as_textual(app.screen._compositor)


async def test_a_cursor_key_asks_the_table_for_its_two_changed_lines(
        app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        await to_snapshots_view(pilot)
        await wait_for(pilot, lambda: app.store.loaded, "the listing")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SnapshotsScreen)
        table = screen.table
        asked: list[Region] = []
        render_lines = table.render_lines

        def counted(crop: Region) -> Any:
            asked.append(crop)
            return render_lines(crop)

        table.render_lines = counted  # type: ignore[method-assign]
        await pilot.press("down")
        await settle(pilot)
        assert table.cursor == 1
        # the row the cursor left and the row it is on; Textual's own asks for all its lines
        assert sum(crop.height for crop in asked) == 2, asked

