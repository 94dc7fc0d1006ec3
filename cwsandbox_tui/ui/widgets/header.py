"""The header: where we are connected, how, and what is loaded (never the key)."""

from __future__ import annotations

from textual.widgets import Static

from ...textsafe import inert
from ..facts import Facts

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
        self._facts = Facts()

    def on_mount(self) -> None:
        # The app's `facts` (see facts.py): shown now, and again whenever they change.
        self.watch(self.app, "facts", self._show_facts)

    def _show_facts(self, facts: Facts) -> None:
        self._facts = facts
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
        facts = self._facts
        view = VIEW_NAMES.get(getattr(self.screen, "mode_name", ""), "")
        access = "READ-ONLY" if facts.read_only else "rw"
        auth = "no auth" if facts.auth_mode == "no authentication" else facts.auth_mode
        where = (facts.url or "starting...").removeprefix("http://")
        if facts.embedded and not facts.url:
            # Its port and isolation are not known yet.
            where = ("local backend not started" if facts.link_state == "disconnected"
                     else "local backend starting...")
        elif facts.embedded:
            isolated = ("isolated" if facts.isolation == "bubblewrap"
                        else "CANNOT isolate" if facts.sandboxes_refused
                        else "NOT isolated")
            where = f"local :{where.rpartition(':')[2]} {isolated}"
        if facts.api != "v1beta2":  # v1beta2 is the embedded backend's default; others named
            where = f"{where} API {facts.api}"
        if facts.link_state == "connecting":
            if facts.url:
                where = f"{where}, connecting..."
        elif facts.link_state != "connected":
            state = "KEY REFUSED" if facts.link_state == "refused" else facts.link_state.upper()
            where = f"{where}, {state}" + (f" ({facts.link_note})" if facts.link_note else "")
        elif facts.embedded or facts.url:
            where = f"{where}, connected"
        sandboxes, snapshots = facts.sandboxes, facts.snapshots
        width = self.size.width - 2
        # The widest form that fits, so 80 columns still show every fact.
        for name, counts in ((f"cwsandbox-tui > {view}",
                              f"{sandboxes} sandboxes, {snapshots} snapshots"),
                             (view, f"{sandboxes} sandboxes, {snapshots} snapshots"),
                             (view, f"{sandboxes} sb / {snapshots} snap")):
            if not facts.loaded:
                counts = "load failed (see :ops)" if facts.load_error else "loading..."
            elif facts.load_error:
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
