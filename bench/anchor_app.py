"""The start-up anchor: the least a Textual app costs to reach its first frame here, one
`Static` and a binding to quit, started the way the dashboard is (the venv's python, a pty).
`bench/startup.py` times it side by side with the dashboard."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Static


class Anchor(App[None]):
    BINDINGS = [("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Static("Filter")


if __name__ == "__main__":
    Anchor().run()
