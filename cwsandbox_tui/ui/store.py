"""The dashboard's rows: fed by listings and by the client's events, with no Textual in it.

The store holds what the views show (sandboxes, snapshots, the bucket, the operations rows)
and the state of the data (loaded, last failure, the link, stale). It lists on request, paced
(`refresh`, `tick_due`), and folds every client event in at once (`apply`): a bulk delete's
end removes the rows it deleted, a stop, pause or resume changes the sandbox's state, a lost
connection marks the rows stale. It reads the events' typed fields (kind, item, ending,
outcome, state), never their labels. An operation's end it cannot show without a listing (a
failure, a cancel, a new sandbox or snapshot) asks for one (`What.RELIST`). Listeners are told
what changed with a `Change`; the app turns those into Textual messages for the screens.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from ..client import events as ev
from ..client.client import Client
from ..client.errors import CwsError
from ..client.models import BucketConfig, Sandbox, SandboxStatus, Snapshot
from .op_rows import OpRow, op_row

OPS_KEPT = 2000  # rows the operations view keeps in memory (the file keeps more, rotated)
LISTING_SHARE = 5  # snapshots are listed at most once per this many times a listing takes

# The operations whose end changes rows (a volume's does not: no view of the store shows one).
ROWS_CHANGED_BY = frozenset(ev.OpKind) - {ev.OpKind.OTHER, ev.OpKind.DELETE_VOLUME}
RESTATES = frozenset({ev.OpKind.STOP_SANDBOX, ev.OpKind.STOP_SANDBOX_WITH_SNAPSHOT,
                      ev.OpKind.PAUSE_SANDBOX, ev.OpKind.RESUME_SANDBOX})


class What(StrEnum):
    SANDBOXES = "sandboxes"
    SNAPSHOTS = "snapshots"
    BUCKET = "bucket"
    OPS = "ops"
    PAGE = "page"  # a page of the first snapshot listing, shown as it comes
    STATUS = "status"  # loaded / last failure: the header's counts
    STALE = "stale"  # the rows came from a connection that is gone, or are live again
    LINK = "link"  # the connection's state changed
    RELIST = "relist"  # an operation ended in a way the rows cannot show: list again


@dataclass(frozen=True)
class Change:
    what: What
    page: Sequence[Snapshot] = ()
    restarted: bool = False  # a page that starts a listing over
    refresh: bool = False  # the link is back, or an operation's end: list everything again


Listener = Callable[[Change], None]


class RowStore:
    def __init__(self, client: Client, *, interval: float,
                 measure: Callable[[], float] = time.monotonic) -> None:
        """`interval`: the refresh period; `measure`: the clock that times a listing (real
        time: what a listing costs is real whatever clock the client keeps)."""
        self.client = client
        self.clock = client.clock
        self.interval = interval
        self._measure = measure
        self.sandboxes: dict[str, Sandbox] = {}
        self.snapshots: dict[str, Snapshot] = {}
        self.bucket: BucketConfig | None = None
        self.op_rows: deque[OpRow] = deque(maxlen=OPS_KEPT)
        self._op_seq = itertools.count()
        self.loaded = False  # the snapshots have been listed once
        self.load_error: str | None = None  # why the last refresh failed, for the header
        # "connecting" until the endpoint first answers (a dashboard draws before it connects)
        self.link_state = client.link.state if client.link is not None else "connected"
        self.link_note = ""  # e.g. "try 3, next in 4s" while reconnecting
        self.stale = False
        self.refreshing = False
        self._again = False  # a refresh was asked for while one ran
        self._bucket_again = False
        self._snapshots_due = True
        self._next_snapshots = 0.0  # on the client's clock
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, change: Change) -> None:
        for listener in list(self._listeners):
            listener(change)

    def counts(self) -> tuple[int, int]:
        return len(self.sandboxes), len(self.snapshots)

    # listing
    def tick_due(self, *, modal_open: bool) -> bool:
        """May the periodic refresh run now? Not under a dialog (the rows under it must not
        move), not while one runs, not while the link is down (it retries on its own
        schedule; polling would only add failures)."""
        return not modal_open and not self.refreshing and self.link_state in ("connected",
                                                                              "connecting")

    def want_snapshots(self) -> None:
        """Asked for (ctrl+r, or after a change): the next refresh lists the snapshots
        whatever the pace."""
        self._snapshots_due = True

    async def refresh(self, *, first: bool = False, bucket: bool = False) -> None:
        """List sandboxes (and the bucket when `bucket`, on the first load or while none is
        known) every time, snapshots when due. A refresh asked for while one runs is run once
        more after it (that one may predate a change). A CwsError was told by the client's
        Failed event and ends the pass; any other error is raised for the caller to tell."""
        if self.refreshing:
            self._again = True
            self._bucket_again |= bucket
            return
        self.refreshing = True
        try:
            again = True
            while again:
                self._again = False
                try:
                    await self._refresh_once(first, bucket)
                except CwsError as error:
                    if not self.loaded:  # nothing to show yet: say why, not "loading"
                        self.load_error = str(error)
                first, bucket = False, self._bucket_again
                self._bucket_again = False
                again = self._again
        finally:
            self.refreshing = False
            self._emit(Change(What.STATUS))

    async def _refresh_once(self, first: bool, bucket: bool) -> None:
        sandboxes = await self.client.list_sandboxes(routine=True)
        self.load_error = None
        self.set_stale(False)
        self.sandboxes = {s.id: s for s in sandboxes}
        self._emit(Change(What.SANDBOXES))
        if self.bucket is None or first or bucket:
            self.bucket = await self.client.get_bucket(routine=True)
            self._emit(Change(What.BUCKET))
        if not (self._snapshots_due or self.clock.monotonic() >= self._next_snapshots):
            return
        self._snapshots_due = False  # a request from now on lists them once more
        started = self._measure()
        snapshots = await self.client.list_snapshots(
            on_page=self._page if not self.loaded else None, routine=True)
        self.snapshots = {s.id: s for s in snapshots}
        took = self._measure() - started
        # Listing is the costly part; keep it under a fifth of the time.
        self._next_snapshots = self.clock.monotonic() + max(self.interval, LISTING_SHARE * took)
        self.loaded = True
        self._emit(Change(What.SNAPSHOTS))

    def _page(self, page: list[Snapshot], restarted: bool) -> None:
        """Rows become visible page by page on the first load."""
        if restarted:
            self.snapshots.clear()
        for snap in page:
            self.snapshots[snap.id] = snap
        self._emit(Change(What.PAGE, page=page, restarted=restarted))

    def refresh_failed(self, message: str) -> None:
        """A refresh ended with an error that is not the client's (a bug): the header says
        so instead of "loading..." forever."""
        self.load_error = message
        self._emit(Change(What.STATUS))

    def set_bucket(self, config: BucketConfig) -> None:
        self.bucket = config
        self._emit(Change(What.BUCKET))

    # the connection
    def set_stale(self, stale: bool) -> None:
        if stale != self.stale:
            self.stale = stale
            self._emit(Change(What.STALE))

    def _link(self, event: ev.ConnectionChanged) -> None:
        was, self.link_state = self.link_state, event.state
        if event.state == "reconnecting":
            self.link_note = f"try {event.attempt}, next in {event.next_try_in or 0:g}s"
            self.set_stale(True)
        elif event.state in ("disconnected", "refused"):
            self.link_note = "ctrl+r retries"
            self.set_stale(True)
        else:
            self.link_note = ""
            self.want_snapshots()
        # The first answer ("connecting" before) came to a refresh that goes on.
        self._emit(Change(What.LINK, refresh=event.state == "connected" and was != "connecting"))

    # events
    def apply(self, event: ev.Event) -> None:
        """Fold one client event in."""
        if isinstance(event, ev.ConnectionChanged):
            self._link(event)
        if not isinstance(event, ev.Progress):
            self.op_rows.append(op_row(next(self._op_seq), event))
            self._emit(Change(What.OPS))
        if isinstance(event, (ev.Finished, ev.Failed)) and event.op_kind in ROWS_CHANGED_BY:
            folded = isinstance(event, ev.Finished) and self._fold(event)
            if not folded:
                self.want_snapshots()
                self._emit(Change(What.RELIST, refresh=True))

    def _fold(self, event: ev.Finished) -> bool:
        """Change the rows as `event` says; False when they cannot show it without a
        listing. A bulk delete's rows go at its end, in one change (a thousand changes would
        repaint the table a thousand times); the ones it left unsettled stay until listed."""
        kind, item = event.op_kind, event.item
        if kind.bulk:  # an id not found is not there either
            self._remove(kind.subject, set(event.targets) - set(event.unsettled))
            return not event.unsettled and event.ending is not ev.Ending.CANCELLED
        if kind is ev.OpKind.SET_BUCKET:
            return True  # the job that set it gives the store the new config (`set_bucket`)
        if item is None or event.ending is not ev.Ending.DONE:
            return False
        if kind is ev.OpKind.DELETE_SNAPSHOT and event.outcome is not None \
                and event.outcome.gone:
            self._remove(item.kind, {item.id})
            return True
        if kind is ev.OpKind.DELETE_SANDBOX and event.outcome is not None \
                and event.outcome.gone:
            sandbox = self.sandboxes.get(item.id)
            if sandbox is not None and self.client.api_version == "v1" \
                    and not sandbox.status.terminal:
                # v1: deleting a running sandbox ends it, and it stays listed ended
                self._restate(item.id, SandboxStatus.TERMINATED)
            else:
                self._remove(item.kind, {item.id})
            return True
        if kind in RESTATES and event.state is not None:
            made = event.made
            self._restate(item.id, event.state,
                          made.id if made and made.kind is ev.ItemKind.SNAPSHOT else None)
            return made is None  # a stop's snapshot is a row no listing has brought yet
        return False  # a new sandbox or snapshot: only a listing has its row

    def _remove(self, which: ev.ItemKind | None, ids: set[str]) -> None:
        rows: dict[str, Sandbox] | dict[str, Snapshot]
        if which is ev.ItemKind.SANDBOX:
            rows = self.sandboxes
        elif which is ev.ItemKind.SNAPSHOT:
            rows = self.snapshots
        else:
            return
        gone = [i for i in ids if i in rows]
        if not gone:
            return
        for row_id in gone:
            del rows[row_id]
        self._emit(Change(What.SANDBOXES if rows is self.sandboxes else What.SNAPSHOTS))

    def _restate(self, sandbox_id: str, status: SandboxStatus,
                 stop_snapshot_id: str | None = None) -> None:
        sandbox = self.sandboxes.get(sandbox_id)
        if sandbox is None:
            return
        changed = dataclasses.replace(
            sandbox, status=status,
            stop_snapshot_id=stop_snapshot_id or sandbox.stop_snapshot_id)
        if changed != sandbox:
            self.sandboxes[sandbox_id] = changed
            self._emit(Change(What.SANDBOXES))
