"""The key footer, recomposed once for a burst of binding changes, its keys styled once."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

from ..textual_private import FooterKey


class KeysFooter(Footer):
    """Textual's Footer rebuilds all its keys for every binding change it is told of, each
    one queued: a view coming up (focus moving, the table mounting, the filter bar) told it
    a dozen times, each rebuild restyling every key, ~20% of the work between the key that
    brings the snapshots view up and its first rows. One rebuild pending at a time reads
    the bindings as they are when it runs, which covers every change told before."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rebuild_due = False

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if self._rebuild_due:
            return
        super().bindings_changed(screen)
        self._rebuild_due = bool(screen.app.app_focus and self.is_attached
                                 and screen is self.screen)

    async def recompose(self) -> None:
        self._rebuild_due = False
        await super().recompose()

    def compose(self) -> ComposeResult:
        """Textual's keys, made compact before they mount when the footer is: bound to the
        footer's `compact`, each key would turn compact just after mounting, and a class
        added to a mounted widget restyles it at once, a stylesheet pass per key per rebuild
        (a tenth of a dashboard test's CPU went there)."""
        for widget in super().compose():
            if self.compact and isinstance(widget, FooterKey):
                widget.add_class("-compact", update=False)
            yield widget
