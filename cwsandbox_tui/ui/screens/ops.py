"""The operations log: every operation with its attempts, retries, deadlines and outcome;
filtered with `/` as the other tables, and `enter` shows an entry whole (DETAIL is cut to the
column in the table)."""

from __future__ import annotations

import time

from ..filter_expr import Fields
from ..op_rows import OpRow
from ..widgets.rowtable import Column, RowTable
from .dialogs import DetailsDialog
from .table_screen import TableScreen


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(at))


OP_COLUMNS: list[Column[OpRow]] = [
    Column("at", "TIME", lambda r, now: _clock(r.at), 8, priority=90),
    Column("op", "OPERATION", lambda r, now: r.op, 22, priority=80),
    Column("kind", "EVENT", lambda r, now: r.kind, 16, priority=70),
    Column("targets", "ON", lambda r, now: r.targets, 16, priority=30),
    Column("detail", "DETAIL", lambda r, now: r.detail, 20, grow=1, priority=60),
]

OP_FIELDS: Fields[OpRow] = Fields(
    text=lambda r: f"{r.op} {r.kind} {r.targets} {r.detail}".lower(),
    values={"op": lambda r: r.op, "event": lambda r: r.kind, "on": lambda r: r.targets},
    created=lambda r: r.at,
)


def _status(row: OpRow) -> str:
    return {"Failed": "bad", "DeadlineExceeded": "bad", "Conflict": "bad",
            "RetryScheduled": "busy", "OperationWarning": "busy",
            "Finished": "good"}.get(row.kind, "idle")


class OpsScreen(TableScreen[OpRow]):
    mode_name = "ops"
    kind = "operations"

    def make_table(self) -> RowTable[OpRow]:
        return RowTable(OP_COLUMNS, key=lambda r: str(r.seq), status_class=_status,
                        empty_text="No operations yet.", text=OP_FIELDS.text, id="ops-table")

    def fields(self) -> Fields[OpRow]:
        return OP_FIELDS

    def load(self) -> None:
        table = self.table
        at_end = table.cursor >= len(table.view) - 1
        table.replace_all(self.store.op_rows)
        if at_end:  # newest last, followed unless the cursor was moved up to read one
            table.move_cursor(len(table.view) - 1)
        # the routine refreshes the line counts are no rows of the table: it says nothing
        self.update_status()

    def status_text(self) -> str:
        polls = sum(self.store.client.bus.routine.values())
        return f"{super().status_text()}  (newest last; {polls} routine refreshes went fine " \
               "and are only counted)"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "delete":
            return False  # an entry of the log is not deleted (hidden from the footer too)
        return super().check_action(action, parameters)

    def action_details(self) -> None:
        row = self.table.cursor_row
        if row is None:
            return
        self.app.push_screen(DetailsDialog(f"{row.op}: {row.kind}", [
            ("Time", time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(row.at))),
            ("Operation", row.op), ("Event", row.kind), ("On", row.targets or "-"),
            ("Detail", row.detail or "-"),
        ]))
