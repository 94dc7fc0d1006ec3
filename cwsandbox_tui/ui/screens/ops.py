"""The operations log: every operation with its attempts, retries, deadlines and outcome."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static

from ..messages import RowsChanged
from ..op_rows import OpRow
from ..widgets.header import HeaderBar
from ..widgets.rowtable import Column, RowTable
from ..widgets.tasks import TaskPanel

if TYPE_CHECKING:
    from ..app import DashboardApp


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(at))


OP_COLUMNS: list[Column[OpRow]] = [
    Column("at", "TIME", lambda r, now: _clock(r.at), 8, priority=90),
    Column("op", "OPERATION", lambda r, now: r.op, 22, priority=80),
    Column("kind", "EVENT", lambda r, now: r.kind, 16, priority=70),
    Column("targets", "ON", lambda r, now: r.targets, 16, priority=30),
    Column("detail", "DETAIL", lambda r, now: r.detail, 20, grow=1, priority=60),
]


def _status(row: OpRow) -> str:
    return {"Failed": "bad", "DeadlineExceeded": "bad", "Conflict": "bad",
            "RetryScheduled": "busy", "OperationWarning": "busy",
            "Finished": "good"}.get(row.kind, "idle")


class OpsScreen(Screen[None]):
    mode_name = "ops"

    @property
    def dashboard(self) -> DashboardApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield HeaderBar()
        yield Static("", id="ops-help", classes="panel-help", markup=False)
        yield RowTable(OP_COLUMNS, key=lambda r: str(r.seq), status_class=_status,
                       empty_text="No operations yet.", id="ops-table")
        yield TaskPanel()
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(RowTable).focus()
        self.load()

    def on_screen_resume(self) -> None:
        self.load()
        self.dashboard.screen_shown(self)

    def on_rows_changed(self, message: RowsChanged) -> None:
        if message.which == "ops":
            self.load()

    def load(self) -> None:
        table: RowTable[OpRow] = self.query_one(RowTable)
        table.replace_all(self.dashboard.store.op_rows)
        table.move_cursor(len(table.view) - 1)
        polls = sum(self.dashboard.client.bus.routine.values())
        self.query_one("#ops-help", Static).update(
            "Operations log (newest last). Progress events are not listed; "
            f"{polls} routine refreshes went fine and are only counted.")
