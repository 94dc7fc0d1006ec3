"""The key footer: rebuilt once for a burst of binding changes, and only when what it shows
changed; its keys styled once."""

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
    the bindings as they are when it runs, which covers every change told before; and a
    rebuild that would show the same keys (focus moving between widgets of the same keys,
    a dialog closing) is skipped: a dashboard test asked for ~19 rebuilds, ~8 ms each."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rebuild_due = False
        self._shown: tuple[object, ...] | None = None  # what the keys on show were built from

    def _showing(self) -> tuple[object, ...]:
        """Everything the keys are built from: the screen's active bindings (shown or not: the
        command palette's is shown apart; a binding holds its key, action, description, group
        and how its key is displayed), whether each is enabled, their tooltips, and the
        footer's own options. The bindings are the same objects from one call to the next,
        so comparing two of these is mostly identity checks."""
        return (self.compact, self.show_command_palette, tuple(
            (binding, enabled, tooltip)
            for _node, binding, enabled, tooltip in self.screen.active_bindings.values()))

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if self._rebuild_due:
            return
        super().bindings_changed(screen)
        self._rebuild_due = bool(screen.app.app_focus and self.is_attached
                                 and screen is self.screen)

    async def recompose(self) -> None:
        self._rebuild_due = False
        if self._shown is not None and self.is_attached and self._showing() == self._shown:
            return
        await super().recompose()

    def compose(self) -> ComposeResult:
        """Textual's keys, made compact before they mount when the footer is: bound to the
        footer's `compact`, each key would turn compact just after mounting, and a class
        added to a mounted widget restyles it at once, a stylesheet pass per key per rebuild
        (a tenth of a dashboard test's CPU went there)."""
        shown = None
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                shown = self._showing()  # the bindings were ready: keys are being built
                if self.compact:
                    widget.add_class("-compact", update=False)
            yield widget
        self._shown = shown
