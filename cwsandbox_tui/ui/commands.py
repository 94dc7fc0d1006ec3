"""The `:` command bar and the command palette: every action by name."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.screen import ModalScreen
from textual.widgets import Input

from .widgets.textfield import TextField

# command -> (description, action on the app)
COMMANDS: dict[str, tuple[str, str]] = {
    "sb": ("Show sandboxes", "switch_mode('sandboxes')"),
    "sandboxes": ("Show sandboxes", "switch_mode('sandboxes')"),
    "snap": ("Show snapshots", "switch_mode('snapshots')"),
    "snapshots": ("Show snapshots", "switch_mode('snapshots')"),
    "bucket": ("Show the snapshot bucket settings", "switch_mode('bucket')"),
    "runners": ("Show runners, their capacity and profiles", "switch_mode('runners')"),
    "usage": ("Show what fills the bucket: snapshots grouped by size",
              "switch_mode('usage')"),
    "ops": ("Show the operations log", "switch_mode('ops')"),
    "volumes": ("Show registered volumes (API v1)", "switch_mode('volumes')"),
    "vol": ("Show registered volumes (API v1)", "switch_mode('volumes')"),
    "help": ("Show the keys", "help"),
    "refresh": ("Refresh now", "refresh_now"),
    "q": ("Quit", "quit_app"),
    "quit": ("Quit", "quit_app"),
}


class CommandBar(ModalScreen[str | None]):
    """A one-line prompt at the bottom, like k9s's `:`."""

    # Acting when read, so the keys typed after enter or esc go to the view beneath.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", show=False, priority=True),
        Binding("enter", "submit", "Run", show=False, priority=True),
    ]
    DEFAULT_CSS = """
    CommandBar { align: left bottom; background: $background 30%; }
    CommandBar Input { dock: bottom; width: 100%; border: tall $accent; }
    """

    def compose(self) -> ComposeResult:
        yield TextField(placeholder=":sb  :snap  :bucket  :runners  :ops  :q", id="command-input")

    def on_mount(self) -> None:
        self.set_focus(self.query_one(Input))

    def action_submit(self) -> None:
        self.dismiss(self.query_one(Input).value.strip().lstrip(":").strip().lower())

    def action_cancel(self) -> None:
        self.dismiss(None)


class DashboardCommands(Provider):
    """Command palette entries (ctrl+p): views and global actions."""

    def _entries(self) -> list[tuple[str, str, str]]:
        names: dict[tuple[str, str], list[str]] = {}
        for name, (title, action) in COMMANDS.items():
            names.setdefault((title, action), []).append(f":{name}")
        # The line under a title says how else to get there (the title itself said twice
        # read as every entry listed twice).
        entries = [(title, action, "command " + " or ".join(aliases))
                   for (title, action), aliases in names.items()]
        entries += [
            ("New sandbox", "open_new_sandbox", "Start a sandbox (optionally from a snapshot)"),
            ("Prune snapshots", "prune", "Delete snapshots by age, status or source"),
            ("Cancel the latest running operation", "cancel_task", "Stops a bulk delete or wait"),
        ]
        return entries

    def _run(self, action: str, title: str) -> Callable[[], Awaitable[bool]]:
        """The entry's action, through the checks its key has (the app's `run_checked`)."""
        return partial(self.app.run_action, f"run_checked({action!r}, {title!r})")

    async def discover(self) -> Hits:
        for title, action, help_text in self._entries():
            yield DiscoveryHit(title, self._run(action, title), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action, help_text in self._entries():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), self._run(action, title),
                          help=help_text)
