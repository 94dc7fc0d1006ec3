"""The header: where we are connected, how, and what is loaded (never the key)."""

from __future__ import annotations

from typing import Any

from textual.widgets import Static

from ...textsafe import inert

VIEW_NAMES = {"sandboxes": "sandboxes", "snapshots": "snapshots", "bucket": "bucket",
              "ops": "operations", "volumes": "volumes", "exec": "exec", "logs": "logs",
              "runners": "runners", "usage": "usage"}


class HeaderBar(Static):
    DEFAULT_CSS = """
    HeaderBar { dock: top; height: 1; background: $primary-background; color: $text; padding: 0 1; }
    """

    _shown = ""

    def __init__(self) -> None:
        super().__init__(markup=False)  # endpoints like [::1] are not markup

    def on_mount(self) -> None:
        self.sync()

    def on_resize(self) -> None:
        self.sync()

    def sync(self) -> None:
        """Repaint only when the text changed (a refresh with nothing new writes nothing)."""
        text = inert(self.text())  # the endpoint and the reason a link went down: a server's
        if text != self._shown:
            self._shown = text
            self.update(text)

    def text(self) -> str:
        app: Any = self.app
        info = app.client.info
        view = VIEW_NAMES.get(getattr(self.screen, "mode_name", ""), "")
        access = "READ-ONLY" if info.read_only else "rw"
        auth = "no auth" if info.auth_mode == "no authentication" else info.auth_mode
        where = (info.url or "starting...").removeprefix("http://")
        if info.embedded and not info.url:
            # Its port and isolation are not known yet.
            where = ("local backend not started" if app.store.link_state == "disconnected"
                     else "local backend starting...")
        elif info.embedded:
            isolated = ("isolated" if info.isolation == "bubblewrap"
                        else "CANNOT isolate" if info.sandboxes_refused
                        else "NOT isolated")
            where = f"local :{where.rpartition(':')[2]} {isolated}"
        api = app.client.api_version
        if api != "v1beta2":  # v1beta2 is the embedded backend's default; others are named
            where = f"{where} API {api}"
        store = app.store
        if store.link_state == "connecting":
            if info.url:
                where = f"{where}, connecting..."
        elif store.link_state != "connected":
            state = "KEY REFUSED" if store.link_state == "refused" else store.link_state.upper()
            where = f"{where}, {state}" + (f" ({store.link_note})" if store.link_note else "")
        elif info.embedded or info.url:
            where = f"{where}, connected"
        sandboxes, snapshots = store.counts()
        width = self.size.width - 2
        # The widest form that fits, so 80 columns still show every fact.
        for name, counts in ((f"cwsandbox-tui > {view}",
                              f"{sandboxes} sandboxes, {snapshots} snapshots"),
                             (view, f"{sandboxes} sandboxes, {snapshots} snapshots"),
                             (view, f"{sandboxes} sb / {snapshots} snap")):
            if not store.loaded:
                counts = "load failed (see :ops)" if store.load_error else "loading..."
            elif store.load_error:
                counts += " | refresh failed (see :ops)"
            text = " | ".join(p for p in (name, counts, access, auth, where) if p)
            if len(text) <= width:
                return text
        # Narrower still: the connection's state outranks the auth mode, then the view name.
        for parts in ((view, counts, access, where), (counts, access, where)):
            text = " | ".join(p for p in parts if p)
            if len(text) <= width:
                break
        return text
