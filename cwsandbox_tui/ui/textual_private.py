"""Every use of Textual's private internals, in one place.

Textual has no public way to wait until a screen has mounted, to run a key's bindings at the
moment the key is read (its own dispatch runs them after the key has travelled to the focused
widget and back: see `typeahead`), to read the terminal with a parser of one's own
(`escape_keys`), or to list a class's bindings merged with those it inherits (`keymap_check`).
Textual is pinned exactly (pyproject.toml), and tests/ui/test_textual_private.py checks each
name used here, with its signature and what it does, so an upgrade that changes one fails there
first.
"""

from __future__ import annotations

import asyncio
from typing import Any

from textual._xterm_parser import XTermParser
from textual.app import App
from textual.binding import BindingsMap
from textual.dom import DOMNode
from textual.drivers import linux_driver
from textual.message_pump import MessagePump

__all__ = ["XTermParser", "merged_bindings", "mounted_event", "run_key_bindings",
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
