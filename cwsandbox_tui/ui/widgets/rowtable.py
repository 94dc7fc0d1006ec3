"""A virtualised table: the drawing of a `RowModel` (rows, order, filter, sort, marks and
cursor live there, without Textual); only visible lines render.

Textual's DataTable keeps per-cell renderables and recomputes layout in O(rows); this table
draws a line only when it is visible and has changed: refreshing with unchanged data repaints
nothing; a changed row repaints its own line. Each change of the model (one `Changed`) is
drawn here and posted as `RowTable.Changed` for the screens.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass
from math import ceil
from typing import Any, ClassVar, Generic, Literal, TypeVar, cast

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.scrollbar import ScrollBar
from textual.strip import Strip
from textual.timer import Timer

from ...textsafe import inert
from ..filter_expr import RowFilter
from ..gcpolicy import made_to_last
from ..line_runs import runs
from . import row_model
from .row_model import RowModel

R = TypeVar("R")

GUTTER = 2  # "* " for a marked row
RESORT_DELAY = 0.25
_CURSOR_ONLY = row_model.Changed(cursor=True)
_DONE = object()


@dataclass(frozen=True)
class Column(Generic[R]):
    key: str
    label: str
    cell: Callable[[R, float], str]  # (row, now) -> text
    width: int
    grow: int = 0  # share of spare width
    align: Literal["left", "right"] = "left"
    priority: int = 0  # columns with the lowest priority are hidden first on narrow screens
    sort_key: Callable[[R], Any] | None = None
    styled: bool = False  # the cell is a status word and takes its status style


class RowTable(ScrollView, Generic[R], can_focus=True):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "rowtable--header", "rowtable--cursor", "rowtable--cursor-blur", "rowtable--marked",
        "rowtable--good", "rowtable--bad", "rowtable--busy", "rowtable--idle", "rowtable--empty",
        "rowtable--stale",
    }
    DEFAULT_CSS = """
    RowTable { height: 1fr; background: $surface; }
    RowTable > .rowtable--header { text-style: bold; background: $panel; color: $text; }
    RowTable > .rowtable--cursor { background: $accent; color: $text; text-style: bold; }
    RowTable:nocolor > .rowtable--cursor { text-style: bold reverse; }
    RowTable > .rowtable--cursor-blur { background: $panel-lighten-1; }
    RowTable > .rowtable--marked { color: $warning; text-style: bold; }
    RowTable > .rowtable--good { color: $success; }
    RowTable > .rowtable--bad { color: $error; text-style: bold; }
    RowTable > .rowtable--busy { color: $warning; }
    RowTable > .rowtable--idle { color: $text-muted; }
    RowTable > .rowtable--empty { color: $text-muted; text-style: italic; }
    RowTable > .rowtable--stale { color: $text-muted; text-style: dim; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "Top", show=False),
        Binding("end,G", "jump(-1)", "Bottom", show=False),
    ]

    class Changed(Message):
        """The table's rows, order, marks or cursor changed (what changed: `change`)."""

        def __init__(self, table: RowTable[Any], change: row_model.Changed) -> None:
            super().__init__()
            self.table = table
            self.change = change

    class CursorMoved(Message):
        def __init__(self, table: RowTable[Any], row_id: str | None) -> None:
            super().__init__()
            self.table = table
            self.row_id = row_id

    def __init__(self, columns: list[Column[R]], key: Callable[[R], str], *,
                 status_class: Callable[[R], str] | None = None, empty_text: str = "No rows.",
                 now: float = 0.0, text: Callable[[R], str] | None = None,
                 numbers: dict[str, Callable[[R], float | None]] | None = None,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns = columns
        self.model: RowModel[R] = RowModel(
            key, sort_keys={c.key: c.sort_key for c in columns if c.sort_key is not None},
            text=text, numbers=numbers, on_change=self._changed)
        self.status_class = status_class
        self.empty_text = empty_text
        self.now = now
        self._drawn_cursor = 0  # where the cursor was last drawn
        self._cells: dict[str, tuple[R, tuple[str, ...]]] = {}
        self._layout: tuple[int, list[tuple[Column[R], int]]] = (-1, [])
        self._resort: Timer | None = None
        self._resort_delay = RESORT_DELAY
        self._parts: dict[str, Style] = {}
        self._base_style: Style | None = None
        self._width_for: tuple[Any, ...] = ()
        self._width = 0
        # finished lines of rows, by id, with what they were drawn from
        self._strips: dict[str, tuple[tuple[Any, ...], Strip]] = {}
        # those lines as Textual styled them, by the line's identity (see `render_lines`)
        self._styled: dict[int, tuple[Strip, Strip]] = {}
        self._styled_for: tuple[Any, ...] = ()
        self._column_index = {column.key: n for n, column in enumerate(columns)}
        self.stale = False  # rows from a connection that is gone: shown dim, with "?"

    def set_stale(self, stale: bool) -> None:
        if stale != self.stale:
            self.stale = stale
            self.refresh()

    # the model, as the screens read it
    @property
    def rows(self) -> dict[str, R]:
        return self.model.rows

    @property
    def view(self) -> list[str]:
        return self.model.view

    @property
    def marks(self) -> set[str]:
        return self.model.marks

    @property
    def cursor(self) -> int:
        return self.model.cursor

    @property
    def cursor_id(self) -> str | None:
        return self.model.cursor_id

    @property
    def cursor_row(self) -> R | None:
        return self.model.cursor_row

    @property
    def sort_column(self) -> str | None:
        return self.model.sort_column

    @sort_column.setter
    def sort_column(self, key: str | None) -> None:
        self.model.sort_column = key

    @property
    def sort_reverse(self) -> bool:
        return self.model.sort_reverse

    @sort_reverse.setter
    def sort_reverse(self, reverse: bool) -> None:
        self.model.sort_reverse = reverse

    def hidden_marks(self) -> set[str]:
        return self.model.hidden_marks()

    # changing the model
    def replace_all(self, rows: Iterable[R]) -> bool:
        """Make the table hold exactly `rows`; returns whether anything changed."""
        waiting = self._resort is not None
        if not isinstance(rows, Sized):
            rows = list(rows)
        with made_to_last(max(len(rows), len(self.model.rows))):
            changed = self.model.replace_all(rows)
        if not self.model.pending:  # a listing is complete: every row is shown now
            self._stop_resort()
            if waiting:  # and its filter inputs are laid out before the next keystroke
                self.call_after_refresh(self._pack_in_steps, self.model.pack_steps())
        return changed

    def append(self, rows: Iterable[R]) -> None:
        """Add rows at the end (a page streaming in); existing ids are updated in place.
        While sorted, later pages are merged in batches, at most a few times a second."""
        self.model.append(rows)
        if self.model.pending and self._resort is None:
            self._resort = self.set_timer(self._resort_delay, self._resort_now)

    def _stop_resort(self) -> None:
        if self._resort is not None:
            self._resort.stop()
            self._resort = None

    def _resort_now(self) -> None:
        self._resort = None
        started = time.perf_counter()
        with made_to_last(len(self.model.rows)):
            self.model.settle()
        # a batch costs O(rows): keep it under a fifth of the time while a listing streams
        # (a third was 23% of a million-row load: 63 merges of ~105 ms)
        self._resort_delay = max(RESORT_DELAY, 4 * (time.perf_counter() - started))

    def set_filter(self, row_filter: RowFilter[R] | None, narrowing: bool = False) -> None:
        """Apply a filter; `narrowing` says it can only drop rows of the current view."""
        with made_to_last(len(self.model.rows)):
            self.model.set_filter(row_filter, narrowing)

    def set_sort(self, column_key: str | None, reverse: bool = False) -> None:
        with made_to_last(len(self.model.rows)):
            self.model.set_sort(column_key, reverse)

    def _pack_in_steps(self, steps: Iterator[None]) -> None:
        """One step of `RowModel.pack_steps`, the next one queued behind what came meanwhile
        (keys are handled between steps: at a million rows the whole is ~6 s)."""
        with made_to_last(len(self.model.rows)):
            more = next(steps, _DONE) is not _DONE
        if more:
            self.call_later(self._pack_in_steps, steps)

    def toggle_mark(self) -> None:
        self.model.toggle_mark()

    def mark_range(self) -> int:
        """Mark every shown row from the last marked one to the cursor (both included);
        the number marked, or -1 when no marked row is shown to start from."""
        return self.model.mark_range()

    def mark_visible(self) -> int:
        return self.model.mark_visible()

    def clear_marks(self) -> None:
        self.model.clear_marks()

    def set_marks(self, ids: Iterable[str]) -> None:
        self.model.set_marks(ids)

    def unmark(self, ids: Iterable[str]) -> None:
        self.model.unmark(ids)

    def move_cursor(self, index: int) -> None:
        self.model.move_cursor(index)

    def _changed(self, change: row_model.Changed) -> None:
        """Draw what the model says changed, and tell the screen."""
        for row_id in change.rows:
            self._cells.pop(row_id, None)
        if change.rows and not change.view:  # repaint the lines of those in sight
            top = int(self.scroll_offset.y)
            visible = self.view[top:top + max(0, self.size.height - 1)]
            for index, row_id in enumerate(visible, start=top):
                if row_id in change.rows:
                    self._refresh_row(index)
        if change.view:
            self._resize()
            self.refresh()
        elif change.appended is not None:
            self._resize()
            self.refresh_lines(change.appended + 1, len(self.view) - change.appended)
        elif change.every_row:
            self.refresh()
        if change.cursor and not change.view:
            self._refresh_row(self._drawn_cursor)
            self._refresh_row(self.cursor)
            self._follow_cursor()
        self._drawn_cursor = self.cursor
        if change.view or change.cursor:
            self.post_message(self.CursorMoved(self, self.cursor_id))
        if change != _CURSOR_ONLY:  # a cursor key posts one message, not two
            self.post_message(self.Changed(self, change))

    @property
    def line_width(self) -> int:
        """The width rows are drawn at: the widget less its vertical scrollbar (looked up once
        per size and scrollbar state: it is read for every line drawn)."""
        key = (self._size, self.show_vertical_scrollbar, self.show_horizontal_scrollbar)
        if key != self._width_for:
            self._width_for = key
            self._width = self.scrollable_content_region.width
        return self._width

    def _resize(self) -> None:
        size = Size(self.line_width, len(self.view) + 1)
        if size == self.virtual_size:
            return
        if not self._size:
            self.virtual_size = size
            return
        # Only this table's scroll range changed: set its scrollbars as a layout would, but
        # without a layout of the whole screen, which repaints every widget on it (a new
        # batch of rows streaming in, a keystroke of a filter). Showing or hiding a
        # scrollbar still asks for a layout.
        self.set_reactive(RowTable.virtual_size, size)
        self._scroll_update(size)
        self.refresh()

    def on_resize(self) -> None:
        self._resize()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """ScrollView's, but the scrollbar repaints only when its thumb would be drawn
        differently: over many rows a scroll of one row moves it by less than its smallest
        step, and repainting all of its lines was most of what a cursor key still cost
        after the rows' lines were kept (bench/profiles.md)."""
        if self.show_vertical_scrollbar:
            bar = self.vertical_scrollbar
            position = bar.validate_position(new_value)
            if _bar_drawing(bar, position) == _bar_drawing(bar, bar.position):
                bar.set_reactive(ScrollBar.position, position)
            else:
                bar.position = position
        if round(old_value) != round(new_value):
            self.refresh(self.size.region)

    # time
    def tick(self, now: float) -> None:
        """Move the clock; repaint only visible lines whose text changed (ages)."""
        self.now = now
        top = int(self.scroll_offset.y)
        visible = self.view[top:top + max(0, self.size.height - 1)]
        kept = {i: self._cells[i] for i in visible if i in self._cells}
        self._cells = kept  # rows off screen are rendered afresh, at the new time
        for index, row_id in enumerate(visible, start=top):
            cached = kept.get(row_id)
            if cached is not None and self._texts(cached[0]) != cached[1]:
                self._cells.pop(row_id)
                self._refresh_row(index)

    # cursor
    def action_cursor(self, delta: int) -> None:
        self.move_cursor(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor + direction * max(1, self.size.height - 2))

    def action_jump(self, where: int) -> None:
        self.move_cursor(0 if where == 0 else len(self.view) - 1)

    def _follow_cursor(self) -> None:
        body = max(1, self.size.height - 1)
        top = int(self.scroll_offset.y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + body:
            self.scroll_to(y=self.cursor - body + 1, animate=False, immediate=True)

    def _refresh_row(self, index: int) -> None:
        line = index - int(self.scroll_offset.y) + 1
        if 1 <= line < self.size.height:
            self.refresh(Region(0, line, self.line_width, 1))

    def on_focus(self) -> None:
        self._refresh_row(self.cursor)

    def on_blur(self) -> None:
        self._refresh_row(self.cursor)

    # rendering
    def _texts(self, row: R) -> tuple[str, ...]:
        """A row's cells as drawn: what a server or a sandbox put in them is made inert here,
        the last step before the terminal (segments reach it as they are)."""
        now = self.now
        return tuple(inert(column.cell(row, now)) for column in self.columns)

    def _cells_for(self, row_id: str) -> tuple[str, ...]:
        row = self.rows[row_id]
        cached = self._cells.get(row_id)
        if cached is None or cached[0] is not row:
            cached = (row, self._texts(row))
            self._cells[row_id] = cached
        return cached[1]

    def visible_columns(self) -> list[tuple[Column[R], int]]:
        """Columns that fit the width, each with its width (lowest priority dropped first)."""
        width = self.line_width
        if self._layout[0] == width:
            return self._layout[1]
        chosen = list(self.columns)
        room = width - GUTTER

        def needed(cols: list[Column[R]]) -> int:
            return sum(c.width for c in cols) + max(0, len(cols) - 1)

        while len(chosen) > 1 and needed(chosen) > room:
            chosen.remove(min(chosen, key=lambda c: c.priority))
        spare = max(0, room - needed(chosen))
        grow_total = sum(c.grow for c in chosen)
        widths = []
        for column in chosen:
            extra = spare * column.grow // grow_total if grow_total else 0
            widths.append((column, column.width + extra))
        self._layout = (width, widths)
        return widths

    def _part(self, name: str) -> Style:
        """A component style to lay over a line; looked up once, not once per line."""
        style = self._parts.get(name)
        if style is None:
            style = self._parts[name] = self.get_component_rich_style(name, partial=True)
        return style

    def notify_style_update(self) -> None:
        self._parts.clear()  # the theme or the CSS changed
        self._strips.clear()
        self._styled.clear()
        self._base_style = None
        self._width_for = ()
        super().notify_style_update()

    def render_lines(self, crop: Region) -> list[Strip]:
        """Textual keeps a widget's styled lines by their place on screen, so scrolling by
        one row has every line styled again (the styles, the line filters, new strips: most
        of a cursor key's time, bench/profiles.md). Here a row's line, styled, is kept by the
        line it was styled from, which `render_line` hands back unchanged while the row
        looks the same wherever it stands: a scroll styles only the row that came into view.
        Only where the table has no border, padding or outline (a row's line is then styled
        the same on any screen line)."""
        styles = self.styles
        width = self.region.width
        if styles.gutter or any(edge for edge, _ in styles.outline) or not width:
            return super().render_lines(crop)
        made_for = (width, self.background_colors, tuple(self.get_line_filters()),
                    styles.text_opacity, self.opacity)
        if made_for != self._styled_for or len(self._styled) > 4096:
            self._styled.clear()
            self._styled_for = made_for
        styled = self._styled
        lines: list[Strip | None] = []
        missing: list[int] = []
        top = int(self.scroll_offset.y)
        rows = len(self.view) - top + 1  # lines holding rows
        line_width, base, focused = self.line_width, self._line_base(), self.has_focus
        for y in crop.line_range:
            # the header and the lines below the rows are styled afresh
            line = self._row_strip(top + y - 1, line_width, base, focused) \
                if 0 < y < rows else None
            kept = styled.get(id(line)) if line is not None else None
            if kept is not None and kept[0] is line:
                lines.append(kept[1])
            else:
                lines.append(line)
                missing.append(y)
        for start, end in runs(missing):
            made = super().render_lines(Region(0, start, width, end - start))
            for y, strip in zip(range(start, end), made, strict=True):
                line = lines[y - crop.y]
                if line is not None:
                    styled[id(line)] = (line, strip)
                lines[y - crop.y] = strip
        x1, x2 = crop.column_span
        done = cast("list[Strip]", lines)
        return done if (x1, x2) == (0, width) else [line.crop(x1, x2) for line in done]

    def _line_base(self) -> Style:
        base = self._base_style
        if base is None:
            base = self._base_style = self.rich_style
        return base

    def render_line(self, y: int) -> Strip:
        width = self.line_width
        base = self._line_base()
        if y == 0:
            return self._header(width, base)
        index = int(self.scroll_offset.y) + y - 1
        if index >= len(self.view):
            if index == 0:
                style = base + self.get_component_rich_style("rowtable--empty")
                said = (f"None of the {len(self.rows)} matches the filter (esc clears it)."
                        if self.rows else self.empty_text)
                return Strip([Segment(set_cell_size(f"  {said}", width), style)], width)
            return Strip.blank(width, base)
        return self._row_strip(index, width, base, self.has_focus)

    def _header(self, width: int, base: Style) -> Strip:
        style = base + self.get_component_rich_style("rowtable--header")
        parts = [" " * GUTTER]
        for column, size in self.visible_columns():
            label = column.label
            if column.key == self.sort_column:
                label = _with_arrow(label, "v" if self.sort_reverse else "^", size)
            parts.append(_fit(label, size, column.align) + " ")
        return Strip([Segment(set_cell_size("".join(parts), width), style)], width)

    def _row_strip(self, index: int, width: int, base: Style, focused: bool) -> Strip:
        model = self.model
        row_id = model.view[index]
        texts = self._cells_for(row_id)
        marked = row_id in model.marks
        cursor = index == model.cursor
        made_of = (texts, width, marked, cursor and focused, cursor, self.stale, base)
        cached = self._strips.get(row_id)
        if cached is not None and _same(cached[0], made_of):
            return cached[1]
        if len(self._strips) > 4096:
            self._strips.clear()  # lines scrolled past long ago
        strip = self._draw_row(row_id, texts, marked, cursor, width, base)
        self._strips[row_id] = (made_of, strip)
        return strip

    def _draw_row(self, row_id: str, texts: tuple[str, ...], marked: bool, cursor: bool,
                  width: int, base: Style) -> Strip:
        style = base
        if marked:
            style += self._part("rowtable--marked")
        if cursor:  # last, so a marked row under the cursor stays readable
            style += self._part("rowtable--cursor" if self.has_focus else "rowtable--cursor-blur")
        if self.stale:
            style += self._part("rowtable--stale")
        segments = [Segment("* " if marked else "? " if self.stale else "  ", style)]
        used = GUTTER
        status = None
        if self.status_class is not None and not cursor and not self.stale:
            status = self._part(f"rowtable--{self.status_class(self.rows[row_id])}")
        positions = self._column_index
        for column, size in self.visible_columns():
            text = _fit(texts[positions[column.key]], size, column.align) + " "
            cell_style = style + status if (column.styled and status is not None) else style
            segments.append(Segment(text, cell_style))
            used += size + 1
        if used < width:
            segments.append(Segment(" " * (width - used), style))
        return Strip(segments).crop(0, width)


def _bar_drawing(bar: ScrollBar, position: float) -> list[Segment]:
    """What the vertical scrollbar `bar` draws with its thumb at `position` (Textual's own
    drawing, with the arguments its `render` passes)."""
    window = bar.window_size if bar.window_size < bar.window_virtual_size else 0
    return bar.renderer.render_bar(
        size=bar.size.height, virtual_size=ceil(bar.window_virtual_size),
        window_size=ceil(window), position=position, thickness=bar.size.width,
        vertical=True).segments


def _same(old: tuple[Any, ...], new: tuple[Any, ...]) -> bool:
    """Whether a line drawn from `old` is the line `new` would draw (texts by identity: a
    row's texts are made afresh whenever they may have changed)."""
    return old[0] is new[0] and old[1:] == new[1:]


def _fit(text: str, width: int, align: str) -> str:
    if len(text) > width:
        return set_cell_size(text, width - 1) + "~" if width > 1 else text[:width]
    return set_cell_size(text, width) if align == "left" else text.rjust(width)


def _with_arrow(label: str, arrow: str, width: int) -> str:
    """The sort arrow always shows: after a space if there is room, else in place of the
    label's last letter (never cut off as `AGE~`)."""
    if len(label) + 2 <= width:
        return f"{label} {arrow}"
    if len(label) + 1 <= width:
        return label + arrow
    return label[:max(0, width - 1)] + arrow
