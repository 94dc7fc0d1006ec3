"""The header: where we are connected, how, and what is loaded (never the key)."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

VIEW_NAMES = {"sandboxes": "sandboxes", "snapshots": "snapshots", "bucket": "bucket",
              "ops": "operations"}


class HeaderBar(Static):
    DEFAULT_CSS = """
    HeaderBar { dock: top; height: 1; background: $primary-background; color: $text; padding: 0 1; }
    """

    def render(self) -> str:
        app: Any = self.app
        info = app.client.info
        where = (info.url or "starting...").removeprefix("http://")
        if info.embedded:
            where = f"local {where} " + ("isolated" if info.isolation == "bubblewrap"
                                         else "NOT isolated")
        view = VIEW_NAMES.get(getattr(self.screen, "mode_name", ""), "")
        auth = "no auth" if info.auth_mode == "no authentication" else info.auth_mode
        parts = [f"cwsandbox-tui{' > ' + view if view else ''}", app.counts_text(),
                 "READ-ONLY" if info.read_only else "rw", auth, where]
        return " | ".join(p for p in parts if p)
