"""What the views show of the data and the connection, as one value the app keeps reactive.

The header and the tables' status lines watch it (`watch(app, "facts", ...)`) instead of being
told to redraw: the app sets it from the store after every change, and only a value that
differs reaches them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .store import RowStore


@dataclass(frozen=True)
class Facts:
    url: str = ""
    embedded: bool = False
    isolation: str = ""
    sandboxes_refused: bool = False
    read_only: bool = False
    auth_mode: str = ""
    api: str = ""
    link_state: str = "connecting"
    link_note: str = ""
    loaded: bool = False
    load_error: str | None = None
    stale: bool = False
    sandboxes: int = 0
    snapshots: int = 0

    @classmethod
    def of(cls, store: RowStore) -> Facts:
        info = store.client.info
        sandboxes, snapshots = store.counts()
        return cls(url=info.url, embedded=info.embedded, isolation=info.isolation,
                   sandboxes_refused=info.sandboxes_refused, read_only=info.read_only,
                   auth_mode=info.auth_mode, api=store.client.api_version,
                   link_state=store.link_state, link_note=store.link_note, loaded=store.loaded,
                   load_error=store.load_error, stale=store.stale, sandboxes=sandboxes,
                   snapshots=snapshots)
