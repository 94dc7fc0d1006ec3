"""The usage view: what fills the bucket, grouped, biggest first, and a key away from cleanup.

The grouping is `client.usage` (the CLI's `snapshots usage` uses the same), run on a thread
of its own: pages are folded in as they arrive, deleted rows taken out as they go, and the
UI thread only draws the few groups that come back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Static

from ...client.models import Sandbox, Snapshot
from ...client.usage import Group, Grouping, Hint, Usage, bar
from ...formatting import human_size
from ...textsafe import inert
from ..messages import RowsChanged, SnapshotPage, ViewShown
from ..store import RowStore
from ..typeahead import TypeAheadApp
from ..widgets.footer import KeysFooter
from ..widgets.header import HeaderBar
from ..widgets.rowtable import Column, RowTable
from ..widgets.tasks import TaskPanel
from .snapshots import SnapshotsScreen

BAR = 12


def _note(group: Group) -> str:
    parts = []
    if group.exists is False:
        parts.append("GONE")
    if group.safe:
        parts.append(f"safe: {group.safe}" if group.exists is not False else "safe")
    if group.tags:
        parts.append(",".join(group.tags))
    return inert("  ".join(parts)) or "-"


USAGE_COLUMNS: list[Column[Group]] = [
    Column("group", "GROUP", lambda g, now: inert(g.label), 16, grow=1, priority=100),
    Column("count", "COUNT", lambda g, now: str(g.count), 7, align="right", priority=90),
    Column("size", "SIZE", lambda g, now: human_size(g.size_bytes), 9, align="right",
           priority=95),
    Column("share", "SHARE", lambda g, now: f"{bar(g.share, BAR)} {g.share:4.0%}", BAR + 5,
           priority=80),
    Column("note", "NOTE", lambda g, now: _note(g), 12, grow=2, priority=60, styled=True),
]


@dataclass(frozen=True)
class Tally:
    """What one pass of the grouping thread hands back to the screen."""

    by: Grouping
    groups: list[Group]
    hints: list[Hint]
    count: int
    size_bytes: int


class UsageScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "regroup", "Group by", id="usage.regroup"),
        Binding("enter", "open", "Show", id="usage.open"),
        Binding("ctrl+d", "delete", "Delete group", id="usage.delete"),
    ]
    MUTATING: ClassVar[frozenset[str]] = frozenset({"delete"})
    mode_name = "usage"

    def __init__(self, store: RowStore) -> None:
        super().__init__()
        self.store = store
        self.by = Grouping.SOURCE
        self.tally: Tally | None = None
        self._usage: Usage | None = None
        self._said: dict[str, str] = {}
        self._asked = 0  # folds asked for; one that is not the last skips reading the groups
        self._shown = asyncio.Event()  # set when the groups asked for are on the screen
        # One thread, so the folds run in the order they were asked for.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="usage")

    def compose(self) -> ComposeResult:
        yield HeaderBar()
        yield Static("", id="usage-title", classes="panel-title", markup=False)
        yield RowTable(USAGE_COLUMNS, key=lambda g: g.key,
                       status_class=lambda g: "busy" if g.safe else "idle",
                       empty_text="Loading snapshots...", id="usage-table")
        yield Static("", id="usage-hints", classes="panel-help", markup=False)
        yield TaskPanel()
        yield KeysFooter(compact=True)

    @property
    def table(self) -> RowTable[Group]:
        return self.query_one(RowTable)

    def on_mount(self) -> None:
        self.set_focus(self.table)

    def on_screen_resume(self) -> None:
        self.sync()
        if self.tally is None and self.store.loaded:
            self._hold_keys()
        self.app.post_message(ViewShown())

    def _hold_keys(self) -> None:
        """Keys typed on (a burst: `5`, `tab`, `j`, `ctrl+d`) wait for the groups they act on,
        which come within a second once the rows are loaded."""
        self._shown.clear()
        if isinstance(self.app, TypeAheadApp):
            self.app.hold_keys_until(self._shown)

    def on_unmount(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)

    # folding rows in, off the UI thread
    def sync(self) -> None:
        store = self.store
        now = self.store.clock.time()
        # the store's dict is copied on the thread, in one step (see Usage.sync)
        self._fold(lambda usage: usage.sync(store.snapshots, now))

    def on_rows_changed(self, message: RowsChanged) -> None:
        if message.which == "snapshots":
            self.sync()
        elif message.which == "sandboxes":
            self._fold(lambda usage: None)  # the same groups; which sandboxes are gone may not be

    def on_snapshot_page(self, message: SnapshotPage) -> None:
        page: list[Snapshot] = message.page
        if message.restarted:
            self._fold(lambda usage: usage.clear())
        self._fold(lambda usage: usage.add(page))

    def _fold(self, change: Callable[[Usage], None]) -> None:
        sandboxes = dict(self.store.sandboxes)
        by = self.by
        loaded = self.store.loaded
        self._asked += 1
        self.run_worker(self._run(change, by, sandboxes, loaded, self._asked), group="usage",
                        exit_on_error=False)

    async def _run(self, change: Callable[[Usage], None], by: Grouping,
                   sandboxes: Mapping[str, Sandbox], loaded: bool, number: int) -> None:
        loop = asyncio.get_running_loop()
        tally = await loop.run_in_executor(self._thread, self._apply, change, by, sandboxes,
                                           number)
        if tally is not None and by is self.by:
            self.show(tally, loaded)
            if number == self._asked:
                self._shown.set()

    def _apply(self, change: Callable[[Usage], None], by: Grouping,
               sandboxes: Mapping[str, Sandbox], number: int) -> Tally | None:
        """On the grouping thread: every use of `_usage` is here. While pages stream in,
        folds queue up: only the last one reads the groups (with thousands of sources a
        read costs more than folding a page)."""
        if self._usage is None:
            self._usage = Usage(self.store.clock.time())
        change(self._usage)
        if number != self._asked:
            return None
        count, size = self._usage.total
        return Tally(by, self._usage.groups(by, sandboxes), self._usage.hints(sandboxes),
                     count, size)

    # drawing
    def show(self, tally: Tally, loaded: bool) -> None:
        self.tally = tally
        table = self.table
        table.empty_text = "No snapshots." if loaded else "Loading snapshots..."
        key = table.cursor_id
        table.replace_all(tally.groups)
        if key is not None and key in table.rows:
            table.move_cursor(table.view.index(key))
        following = Grouping(tally.by).next()
        self._say("#usage-title", f"Usage by {tally.by.value}: {tally.count} snapshots, "
                                  f"{human_size(tally.size_bytes)}  (tab: by {following.value})")
        parts = [f"{h.reason} {h.count} ({human_size(h.size_bytes)})" for h in tally.hints]
        self._say("#usage-hints", "Usually safe to drop: " + " · ".join(parts))

    def _say(self, where: str, text: str) -> None:
        """Update a line only when its text changes (an update repaints it)."""
        if self._said.get(where) != text:
            self._said[where] = text
            self.query_one(where, Static).update(text)

    def action_regroup(self) -> None:
        self.by = self.by.next()
        self.table.replace_all([])
        self._fold(lambda usage: None)
        if self.store.loaded:
            self._hold_keys()

    # from a group to a cleanup
    def _chosen(self) -> Group | None:
        group = self.table.cursor_row
        if group is None:
            self.notify("No group under the cursor.")
            return None
        if not group.filter:
            self.notify(f"No filter shows exactly {inert(group.label)}.", severity="warning")
            return None
        return group

    def action_open(self) -> None:
        group = self._chosen()
        if group is not None:
            self._in_snapshots(lambda screen: screen.set_filter_text(group.filter))

    def action_delete(self) -> None:
        group = self._chosen()
        if group is not None:
            self._in_snapshots(lambda screen: screen.delete_matching(group.filter))

    def _in_snapshots(self, then: Callable[[SnapshotsScreen], object]) -> None:
        app = self.app

        def ready() -> None:
            screen = app.screen
            if isinstance(screen, SnapshotsScreen):
                then(screen)

        app.switch_mode("snapshots")
        app.call_after_refresh(ready)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.MUTATING and self.store.client.read_only:
            return None  # greyed out in the footer
        return True

