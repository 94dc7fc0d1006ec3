"""Type-ahead: keys act in the order they arrive, each where the keys before it left focus.

Textual routes a key to the focused widget when the app reads it, but runs the bindings of a
key only after the key has travelled to that widget and bubbled back. ssh and tmux deliver
keys in bursts, so in `/tp` the `t` and `p` were routed to the table before `/` had moved the
focus to the filter, and ran as table commands. Here a key that the focused widget does not
consume itself (every key but text typed into an input) runs its binding at once, when it is
read; actions that move the focus do it at once too (`Screen.set_focus`, never the deferred
`Widget.focus`); and while a newly shown screen is still being built, keys wait and are then
delivered to it in order.
"""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from textual import events
from textual.app import App
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input
from textual.widgets.input import Selection

from .escape_keys import install as read_escape_then_key
from .textual_private import mounted_event, run_key_bindings
from .widgets.textfield import TextField

ReturnType = TypeVar("ReturnType")

# Seconds keys may wait for a screen that never finishes mounting: a safety net only, wide
# enough for a loaded machine, where a screen can take seconds and must not get keys half-built.
HOLD_LIMIT = 10.0


class TypeAheadApp(App[ReturnType]):
    """An App whose key routing holds up under bursts (see the module's docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        read_escape_then_key()
        self._held_keys: list[events.Key] | None = None
        self._hold_token = 0
        self._hold_tasks: set[asyncio.Task[None]] = set()
        self._typing_into: Widget | None = None  # the field text was last typed into

    def _watch_screens(self) -> None:
        """Call once the app runs: hold keys whenever a screen comes up unmounted."""
        # At once: by default Textual calls back after the message being handled, and a view
        # switched to from a callback run after a key (the command bar's result) would then
        # get the next key before its hold began, half-built.
        self.screen_change_signal.subscribe(self, self._screen_changed, immediate=True)

    def _screen_changed(self, screen: Screen[Any]) -> None:
        self._typing_into = None
        if not screen.is_mounted:
            self.hold_keys_until_mounted(screen)

    def hold_keys_until_mounted(self, screen: Screen[Any]) -> None:
        """Keys read from now on wait until `screen` has mounted and taken the focus."""
        self.hold_keys_until(mounted_event(screen))

    def hold_keys_until(self, ready: asyncio.Event) -> None:
        """Keys read from now on wait until `ready` is set (at most HOLD_LIMIT seconds)."""
        if self._held_keys is None:
            self._held_keys = []
        self._hold_token += 1
        token = self._hold_token

        async def wait() -> None:
            try:
                await asyncio.wait_for(ready.wait(), HOLD_LIMIT)
            except TimeoutError:
                pass
            if token == self._hold_token:
                # Queued behind the focus changes the screen's on_mount asked for.
                self.call_later(self._release_next_key, token)

        task = asyncio.get_running_loop().create_task(wait())
        self._hold_tasks.add(task)
        task.add_done_callback(self._hold_tasks.discard)

    async def _release_next_key(self, token: int) -> None:
        """Deliver the first held key, and the next one as a message of its own, so that what
        this key started after it was handled (a screen's result callback switching views)
        happens before the next key is read, as if the keys had come one by one."""
        if token != self._hold_token or self._held_keys is None:
            return  # a screen brought up since holds them until it has mounted
        if not self._held_keys:
            self._held_keys = None
            return
        await self._deliver_key(self._held_keys.pop(0))
        self.call_later(self._release_next_key, token)

    def key_refused(self, key: str) -> bool:
        """Whether a key bound to a disabled action was reported (the app decides how)."""
        return False

    @property
    def keys_held(self) -> int:
        return len(self._held_keys or [])

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            if self._held_keys is not None:
                self._held_keys.append(event)
                return
            await self._deliver_key(event)
            return
        await super().on_event(event)

    async def _deliver_key(self, event: events.Key) -> None:
        if not self.is_running:
            # Shutting down (Textual's timers stop here too): the screens are being closed,
            # and a key read now, the tail of a burst, has nowhere to go.
            return
        focused: Widget | None = self.focused
        if isinstance(focused, TextField) and focused is not self._typing_into:
            # The first key since the field took the focus: its text is selected first, as
            # Textual's select-on-focus would, but at a moment that does not depend on timing.
            self._typing_into = focused
            if focused.replace_on_entry:
                focused.selection = Selection(0, len(focused.value))
        await self._act_on_key(focused, event)
        if self.focused is not focused:
            self._typing_into = None

    async def _act_on_key(self, focused: Widget | None, event: events.Key) -> None:
        if focused is None or not focused.check_consume_key(event.key, event.character):
            if not self.app_focus:
                self.app_focus = True
            if await run_key_bindings(self, event.key, priority=True):
                return
            if await run_key_bindings(self, event.key, priority=False):
                return
            if self.key_refused(event.key):
                return
        elif isinstance(focused, Input):
            # Typed now, so a key read after it (enter, tab) sees the text complete: what
            # Input does with a key it consumes (a printable character), by its public methods.
            character = event.character or ""
            if focused.selection.is_empty:
                focused.insert_text_at_cursor(character)
            else:
                focused.replace(character, *focused.selection)
            return
        await super().on_event(event)
