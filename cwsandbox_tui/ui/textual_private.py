"""Every use of Textual's private internals, in one place.

Textual has no public way to wait until a screen has mounted, to run a key's bindings at the
moment the key is read (its own dispatch runs them after the key has travelled to the focused
widget and back: see `typeahead`), to read the terminal with a parser of one's own
(`escape_keys`), to list a class's bindings merged with those it inherits (`keymap_check`), or
to say that a screen it is about to make for a mode is styled already (`app`: without it, a
mode's first switch re-parses the whole stylesheet twice), or to name the footer's key widget
(`widgets/footer`, which makes its keys compact before they mount).
Textual is pinned exactly (pyproject.toml), and tests/ui/test_textual_private.py checks each
name used here, with its signature and what it does, so an upgrade that changes one fails there
first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual._xterm_parser import XTermParser
from textual.app import App
from textual.binding import BindingsMap
from textual.dom import DOMNode
from textual.drivers import linux_driver
from textual.message_pump import MessagePump
from textual.screen import Screen
from textual.widgets._footer import FooterKey

__all__ = ["FooterKey", "XTermParser", "css_update_count", "make_modes_with", "mark_styled",
           "merged_bindings", "mounted_event", "run_key_bindings", "use_key_parser"]


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
