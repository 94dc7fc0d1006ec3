"""Every use of Textual's private internals, in one place.

Textual has no public way to wait until a screen has mounted, to run a key's bindings at the
moment the key is read (its own dispatch runs them after the key has travelled to the focused
widget and back: see `typeahead`), to read the terminal with a parser of one's own
(`escape_keys`), to list a class's bindings merged with those it inherits (`keymap_check`), or
to say that a screen it is about to make for a mode is styled already (`app`: without it, a
mode's first switch re-parses the whole stylesheet twice), or to name the footer's key widget
(`widgets/footer`, which makes its keys compact before they mount), or to paint only the lines
that changed (`paint_changed_lines_only`).
Textual is pinned exactly (pyproject.toml), and tests/ui/test_textual_private.py checks each
name used here, with its signature and what it does, so an upgrade that changes one fails there
first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from textual._compositor import Compositor
from textual._xterm_parser import XTermParser
from textual.app import App
from textual.binding import BindingsMap
from textual.dom import DOMNode
from textual.drivers import linux_driver
from textual.geometry import Region
from textual.message_pump import MessagePump
from textual.screen import Screen
from textual.strip import Strip
from textual.widgets._footer import FooterKey

from .line_runs import runs

__all__ = ["FooterKey", "XTermParser", "css_update_count", "make_modes_with", "mark_styled",
           "merged_bindings", "mounted_event", "paint_changed_lines_only", "run_key_bindings",
           "use_key_parser"]


def mounted_event(node: MessagePump) -> asyncio.Event:
    """Set once `node` has mounted (its Mount handlers have run)."""
    return node._mounted_event


async def run_key_bindings(app: App[Any], key: str, *, priority: bool) -> bool:
    """Run `key`'s bindings now, as Textual would (priority ones from the app down, the others
    from the focused widget up); whether one ran."""
    return await app._check_bindings(key, priority=priority)


def use_key_parser(parser: type[XTermParser]) -> None:
    """Make the terminal driver read keys with `parser` (it names the class at the moment its
    input thread starts)."""
    linux_driver.XTermParser = parser  # type: ignore[misc]


def merged_bindings(node: type[DOMNode]) -> BindingsMap:
    """A widget class's bindings, with those it inherits."""
    return node._merge_bindings()


def css_update_count(app: App[Any]) -> int:
    """How many times the app's CSS has been invalidated (a theme change counts one up)."""
    return app._css_update_count


def mark_styled(screen: Screen[Any], count: int) -> None:
    """`screen` is styled as of the app's CSS update `count`: a switch to its mode refreshes
    the CSS only when the app's count has moved past it (a new screen counts -1, never)."""
    screen._css_update_count = count


def make_modes_with(app: App[Any], wrap: Callable[[Any], Callable[[], Screen[Any]]]) -> None:
    """Make each mode's screen (a class or factory of MODES) through `wrap(view)`."""
    app._modes = {name: wrap(view) for name, view in app._modes.items()}


def _changed_line_chops(compositor: Compositor, crop: Region,
                        is_rendered_line: Callable[[int], bool]) -> Sequence[Mapping[int, Strip]]:
    """Textual's `Compositor._render_chops`, asking each widget only for the lines that are
    painted and on which it is not wholly covered by widgets in front of it. Textual asks
    every widget that overlaps the changed area for all its visible lines and then drops
    what is not painted or covered: a cursor key (two table lines) had the table render all
    its lines, and the screen behind it all of its own (bench/profiles.md, cursor)."""
    cuts = compositor.cuts
    chops: list[dict[int, Strip | None]] = [dict.fromkeys(cut_set[:-1]) for cut_set in cuts]
    painted = [y for y in crop.line_range if is_rendered_line(y)]
    overlaps = crop.overlaps
    # front to back: the first strip given for a cut is the one seen
    for widget, (region, clip) in compositor.visible_widgets.items():
        if not overlaps(clip):
            continue
        shown = region.intersection(clip)
        x, width = shown.x, shown.width
        first_cut, last_cut = shown.column_span
        top, bottom = shown.y, shown.bottom
        uncovered = [y for y in painted if top <= y < bottom and any(
            chops[y][cut] is None for cut in cuts[y] if last_cut > cut >= first_cut)]
        for start, end in runs(uncovered):
            strips = widget.render_lines(Region(x - region.x, start - region.y, width,
                                                end - start))
            for y, strip in zip(range(start, end), strips, strict=True):
                line = chops[y]
                line_cuts = [cut for cut in cuts[y] if last_cut >= cut >= first_cut]
                pieces = strip.divide([cut - x for cut in line_cuts[1:]])
                for cut, piece in zip(line_cuts, pieces, strict=False):  # the last cut ends it
                    if line.get(cut) is None:
                        line[cut] = piece
    return chops  # type: ignore[return-value]  # every painted cut has its strip


TEXTUAL_RENDER_CHOPS = Compositor._render_chops  # Textual's own, for the tests to compare


def paint_changed_lines_only() -> None:
    """Make every compositor render only the lines it paints (see `_changed_line_chops`)."""
    Compositor._render_chops = _changed_line_chops  # type: ignore[method-assign,assignment]
