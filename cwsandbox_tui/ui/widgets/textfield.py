"""A text input whose "typing replaces the text" rule does not depend on event timing."""

from __future__ import annotations

from typing import Any

from textual import events
from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import Input
from textual.widgets.input import Selection


class TextField(Input):
    """An Input for forms and bars.

    Textual's own select-all-on-focus happens when the Focus event is handled, which may come
    after keys typed ahead in the same burst (then one key replaces what was just typed). Here
    the app decides it when a key is read (see `typeahead`): with `replace_on_entry`, the first
    key typed after the field takes the focus replaces its text, however fast it arrives.
    """

    # Input sets its scroll range to its text's width at every keystroke, and Textual's own
    # `virtual_size` asks for a layout of the whole screen when it changes: half of a filter
    # keystroke's time over a big table went into that layout (bench/profiles.md). The field's
    # own size does not follow its text (Input asks for a layout itself when its size is
    # `auto`), so the range is set without one.
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    def __init__(self, *args: Any, replace_on_entry: bool = False, **kwargs: Any) -> None:
        kwargs["select_on_focus"] = False
        super().__init__(*args, **kwargs)
        self.replace_on_entry = replace_on_entry

    def on_focus(self, event: events.Focus) -> None:
        # Input's own handler runs too (Textual calls both; with select_on_focus off, it
        # leaves the selection alone). Show the selection that the first key will replace,
        # unless keys typed ahead in the same burst have already gone in (the app records the
        # field it last typed into).
        if self.replace_on_entry and getattr(self.app, "_typing_into", None) is not self:
            self.selection = Selection(0, len(self.value))
