"""The snapshots view: filter, sort, mark, delete, prune, restore, details."""

from __future__ import annotations

from dataclasses import replace
from operator import attrgetter
from typing import ClassVar

from textual.binding import Binding, BindingType

from ...client.models import Snapshot
from ...client.selection import PruneRule, select
from ...formatting import human_size, iso
from ..filter_expr import Fields
from ..messages import DeleteSnapshots
from ..widgets.rowtable import RowTable
from .columns import SNAPSHOT_COLUMNS, SNAPSHOT_FIELDS, snapshot_status_class
from .dialogs import ConfirmDialog, DetailsDialog, FormResult
from .forms import prune_filter, prune_form, prune_rule
from .new_sandbox import ask_new_sandbox
from .table_screen import TableScreen

SORTABLE = ["created", "age", "size", "status", "source", "id", "trigger", "completed", "bucket"]


class SnapshotsScreen(TableScreen[Snapshot]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "sort", "Sort", show=False, id="snapshots.sort"),
        Binding("S", "reverse", "Reverse", show=False, id="snapshots.reverse"),
        Binding("P", "prune", "Prune", id="snapshots.prune"),
        Binding("r", "restore", "Restore", id="snapshots.restore"),
    ]
    MUTATING = frozenset({"delete", "prune", "restore"})
    kind = "snapshots"
    mode_name = "snapshots"

    def make_table(self) -> RowTable[Snapshot]:
        table = RowTable(SNAPSHOT_COLUMNS, key=lambda s: s.id, status_class=snapshot_status_class,
                         empty_text="No snapshots.", now=self.store.clock.time(),
                         text=SNAPSHOT_FIELDS.text,
                         numbers={"created": SNAPSHOT_FIELDS.created,
                                  "size": attrgetter("size_bytes")},
                         id="snapshots-table")
        table.sort_column, table.sort_reverse = "created", True  # newest first
        return table

    def fields(self) -> Fields[Snapshot]:
        # `sandbox=gone`: the source sandbox is no longer listed (read when the filter runs)
        store = self.store
        return replace(SNAPSHOT_FIELDS, values={
            **SNAPSHOT_FIELDS.values,
            "sandbox": lambda s: "listed" if s.source_sandbox_id in store.sandboxes
            else "gone" if s.source_sandbox_id else "none"})

    def load(self) -> None:
        self.table.tick(self.store.clock.time())  # ages move on even if no row changed
        self.table.replace_all(self.store.snapshots.values())

    def action_sort(self) -> None:
        current = self.table.sort_column
        nxt = SORTABLE[(SORTABLE.index(current) + 1) % len(SORTABLE)] if current in SORTABLE \
            else SORTABLE[0]
        self.table.set_sort(nxt, self.table.sort_reverse)

    def action_reverse(self) -> None:
        self.table.set_sort(self.table.sort_column or SORTABLE[0], not self.table.sort_reverse)

    def action_details(self) -> None:
        snap = self.table.cursor_row
        if snap is None:
            return
        self.app.push_screen(DetailsDialog(f"Snapshot {snap.id}", [
            ("ID", snap.id), ("Status", snap.status.value.upper()),
            ("Reason", snap.status_reason or "-"), ("Trigger", snap.trigger.value),
            ("Size", f"{human_size(snap.size_bytes)} ({snap.size_bytes} bytes)"),
            ("Source sandbox", snap.source_sandbox_id or "-"),
            ("Created", iso(snap.created_at)), ("Updated", iso(snap.updated_at)),
            ("Completed", iso(snap.completed_at)), ("Bucket", snap.object_bucket or "-"),
            ("Idempotency key", snap.idempotency_key or "-"),
        ]))

    def action_delete(self) -> None:
        chosen = self.targets()
        if not chosen:
            self.notify("Nothing to delete: no row under the cursor and nothing marked.")
            return
        self.confirm_delete(chosen)

    def confirm_delete(self, chosen: list[Snapshot]) -> None:
        total = sum(s.size_bytes for s in chosen)
        hidden = len(self.table.hidden_marks()) if self.table.marks else 0
        ids = [s.id for s in sorted(chosen, key=lambda s: s.created_at or 0.0)]
        lines = [f"Delete {len(chosen)} snapshot{'s' if len(chosen) != 1 else ''} "
                 f"({human_size(total)})?"]
        if hidden:
            lines.append(f"{hidden} of them are marked but hidden by the current filter.")
        lines.append("")
        lines += [f"  {i}" for i in ids[:8]]
        if len(ids) > 8:
            lines.append(f"  ... and {len(ids) - 8} more")
        lines += ["", "Their archives are removed; this cannot be undone."]

        def answered(yes: bool | None) -> None:
            if yes:
                self.table.unmark(ids)
                self.app.post_message(DeleteSnapshots(ids))

        self.app.push_screen(ConfirmDialog("Delete snapshots", lines), answered)

    def action_prune(self) -> None:
        def chosen(result: FormResult | None) -> None:
            if result is None:
                return
            rule = prune_rule(result.values)
            if rule.empty:
                self.notify("Choose an age, a status or a source sandbox to prune by.",
                            severity="warning")
                return
            self.prune(rule)

        self.app.push_screen(prune_form(), chosen)

    def prune(self, rule: PruneRule) -> None:
        """Show what `rule` selects, mark exactly the snapshots `snapshots prune` would delete
        by it, and ask to delete them."""
        if not self.set_filter_text(prune_filter(rule)):
            return
        chosen = select(self.table.rows.values(), rule, self.store.clock.time())
        self.table.set_marks(s.id for s in chosen)
        if not chosen:
            self.notify("No snapshot matches; nothing to prune.")
            return
        self.confirm_delete(chosen)

    def delete_matching(self, expression: str) -> None:
        """Show what `expression` matches, mark exactly that, and ask to delete it (the
        prune form's path, and the usage view's ctrl+d)."""
        if not self.set_filter_text(expression):
            return
        self.table.clear_marks()
        count = self.table.mark_visible()
        if count == 0:
            self.notify("No snapshot matches; nothing to prune.")
            return
        self.confirm_delete([self.table.rows[i] for i in self.table.view])

    def action_restore(self) -> None:
        snap = self.table.cursor_row
        if snap is None:
            return
        source = self.store.sandboxes.get(snap.source_sandbox_id)
        # Where the source had its mount, so paths inside the snapshot stay valid.
        mount = source.mount_path if source is not None and source.mount_path else ""
        ask_new_sandbox(self.app, self.store.client.info, restore_from=snap.id,
                        mount_path=mount)
