"""What a key repaints, and that it is painted right.

* The compositor asks widgets only for the lines it paints and that no widget in front
  covers (`paint_changed_lines_only`), and paints them exactly as Textual's own
  `_render_chops` does: the same strips at the same cuts, on the snapshots view and with a
  dialog over it.
* The table keeps its rows' styled lines by row (`RowTable.render_lines`): a scroll by one row
  styles only the row that came into view, and every line is what Textual's own styling
  gives, after scrolls, marks, a cursor move, a change of focus and of theme.
* The scrollbar repaints only when its thumb is drawn differently, and always then.
* Typing into the filter field lays nothing out; the field still follows its text."""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from textual._compositor import Compositor
from textual._styles_cache import StylesCache
from textual.geometry import Region
from textual.scroll_view import ScrollView
from textual.widgets import Input

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.backend.store import SnapshotRow
from cwsandbox_tui.ui.app import DashboardApp
from cwsandbox_tui.ui.line_runs import runs
from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen
from cwsandbox_tui.ui.textual_private import TEXTUAL_RENDER_CHOPS
from cwsandbox_tui.ui.widgets.rowtable import RowTable

from .conftest import FIXED_NOW, AppFactory
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
    assert list(runs([])) == []
    assert list(runs([4])) == [(4, 5)]
    assert list(runs([0, 1, 2, 5, 7, 8])) == [(0, 3), (5, 6), (7, 9)]


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


MANY = 2_000  # rows enough that a scroll of one moves the scrollbar's thumb by less than a step


def _many_snapshots(backend: BackendServer) -> None:
    assert backend.engine is not None
    backend.engine.store.insert_snapshots([SnapshotRow(
        id=f"fss-many{n:08d}", status=states.FSS_READY, created_at=FIXED_NOW - n * 60,
        updated_at=FIXED_NOW - n * 60 + 40, completed_at=FIXED_NOW - n * 60 + 40,
        source_sandbox_id="sb-00000000aaaa", trigger=states.TRIGGER_MANUAL,
        idempotency_key=f"many-{n}", object_bucket="cwsandbox-managed",
        archive=f"cwsandbox-managed/many-{n}.tar", status_reason="",
        size_bytes=2**20 + n) for n in range(MANY)])


async def _table_of_many(app: DashboardApp, pilot: Any) -> RowTable[Any]:
    await to_snapshots_view(pilot)
    await wait_for(pilot, lambda: len(app.store.snapshots) >= MANY, "the listing")
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, SnapshotsScreen)
    await wait_for(pilot, lambda: len(screen.table.view) >= MANY, "every row shown")
    return screen.table


def _texts(strips: list[Any]) -> list[list[tuple[str, Any]]]:
    return [[(segment.text, segment.style) for segment in strip] for strip in strips]


def _assert_styled_as_textual(table: RowTable[Any]) -> None:
    """The table's lines, as it gives them now, against Textual's own styling of its lines
    from scratch (no line kept, by row or by place)."""
    whole = Region(0, 0, table.region.width, table.region.height)
    ours = table.render_lines(whole)
    table._styled.clear()
    table._styles_cache.clear()
    textual = ScrollView.render_lines(table, whole)
    assert _texts(ours) == _texts(textual)
    part = Region(3, 2, 40, 5)  # a part of the table, as when a dialog covers the rest
    assert _texts(table.render_lines(part)) == _texts(ScrollView.render_lines(table, part))


async def test_the_tables_kept_lines_are_those_textual_styles(
        app_factory: AppFactory, backend: BackendServer) -> None:
    _many_snapshots(backend)
    app = app_factory()
    async with app.run_test(size=(100, 20)) as pilot:
        table = await _table_of_many(app, pilot)
        for keys in (["down"] * 25, ["space", "space"], ["pagedown"], ["up"] * 3, ["*"],
                     ["u"], ["end"], ["home"]):
            await pilot.press(*keys)
            await settle(pilot)
            _assert_styled_as_textual(table)
        table.blur()
        await settle(pilot)
        assert not table.has_focus
        _assert_styled_as_textual(table)  # the cursor's line drawn for a table without focus
        table.focus()
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await settle(pilot)
        _assert_styled_as_textual(table)


async def test_a_scroll_of_one_row_styles_only_the_row_that_came_into_view(
        app_factory: AppFactory, backend: BackendServer) -> None:
    _many_snapshots(backend)
    app = app_factory()
    async with app.run_test(size=(100, 20)) as pilot:
        table = await _table_of_many(app, pilot)
        body = table.size.height - 1
        await pilot.press(*["down"] * (body - 1))  # the cursor on the last line in sight
        await settle(pilot)
        assert table.scroll_offset.y == 0
        styled: list[int] = []
        render_line = StylesCache.render_line

        def counted(cache: StylesCache, styles: Any, y: int, *args: Any) -> Any:
            if cache is table._styles_cache:
                styled.append(y)
            return render_line(cache, styles, y, *args)

        StylesCache.render_line = counted  # type: ignore[method-assign,assignment]
        try:
            await pilot.press("down")
            await settle(pilot)
        finally:
            StylesCache.render_line = render_line  # type: ignore[method-assign]
        assert table.scroll_offset.y == 1
        # the header (styled afresh whenever the table repaints), the row the cursor left and
        # the row that came in, the cursor's; Textual's own styles every line again
        assert sorted(styled) == [0, body - 1, body], styled


def _drawn(app: DashboardApp, bar: Any) -> list[Any]:
    """The scrollbar as Textual draws it now, through its own `render`."""
    options = app.console.options.update_dimensions(bar.size.width, bar.size.height)
    return [[(s.text, s.style) for s in line]
            for line in app.console.render_lines(bar.render(), options, pad=False)]


async def test_the_scrollbar_repaints_when_its_thumb_moves_and_only_then(
        app_factory: AppFactory, backend: BackendServer) -> None:
    _many_snapshots(backend)
    app = app_factory()
    async with app.run_test(size=(100, 20)) as pilot:
        table = await _table_of_many(app, pilot)
        bar = table.vertical_scrollbar
        await pilot.press(*["down"] * (table.size.height - 2))
        await settle(pilot)
        repaints: list[int] = []
        refresh = bar.refresh

        def counted(*args: Any, **kwargs: Any) -> Any:
            repaints.append(1)
            return refresh(*args, **kwargs)

        bar.refresh = counted  # type: ignore[method-assign]
        moved = kept = 0
        for _ in range(120):
            before = _drawn(app, bar)
            repaints.clear()
            await pilot.press("down")
            await settle(pilot)
            assert bar.position == bar.validate_position(table.scroll_offset.y)
            if _drawn(app, bar) != before:
                assert repaints, "the thumb moved and the bar was not repainted"
                moved += 1
            else:
                assert not repaints, "the bar was repainted with nothing changed"
                kept += 1
        assert moved and kept > moved  # both happened, the thumb moving the rarer


async def test_typing_a_filter_lays_nothing_out_and_the_field_follows_the_text(
        app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await to_snapshots_view(pilot)
        await wait_for(pilot, lambda: app.store.loaded, "the listing")
        await settle(pilot)
        await pilot.press("slash")
        await settle(pilot)
        field = app.screen.query_one(Input)
        assert field.has_focus
        layouts: list[int] = []
        refresh = field.refresh

        def counted(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("layout"):
                layouts.append(1)
            return refresh(*args, **kwargs)

        field.refresh = counted  # type: ignore[method-assign]
        for key in "abcdefghij":  # one by one
            await pilot.press(key)
            await settle(pilot)
        await pilot.press(*"klmnopqrst" * 8, "X", "Y", "Z")  # and in a burst
        await settle(pilot)
        assert field.value == "abcdefghij" + "klmnopqrst" * 8 + "XYZ"
        assert layouts == []
        # longer than the field: it scrolled to keep the end of the text and the cursor shown
        assert field.scroll_offset.x > 0
        line = field.render_lines(Region(0, 0, field.size.width, 1))[0].text
        assert line.rstrip().endswith("qrstXYZ"), line
