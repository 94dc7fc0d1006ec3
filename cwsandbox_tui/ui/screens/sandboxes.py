"""The sandboxes view: start, stop (with a snapshot), pause, delete, exec, logs."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.binding import Binding, BindingType

from ...client.models import PublishedPort, Sandbox, SandboxStatus
from ...formatting import iso
from ..filter_expr import Fields
from ..messages import (
    CopyText,
    DeleteSandbox,
    OpenShell,
    PauseSandbox,
    ResumeSandbox,
    ShowSnapshotsOf,
    SnapshotSandbox,
    StopSandbox,
)
from ..widgets.rowtable import RowTable
from .columns import SANDBOX_COLUMNS, SANDBOX_FIELDS, sandbox_status_class
from .dialogs import ConfirmDialog, DetailsDialog, FormResult
from .forms import exec_form, stop_snapshot_form
from .new_sandbox import ask_new_sandbox
from .output import ExecScreen, LogsScreen
from .table_screen import TableScreen


class SandboxesScreen(TableScreen[Sandbox]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new", "New", id="sandboxes.new"),
        Binding("s", "stop", "Stop", id="sandboxes.stop"),
        Binding("S", "stop_snapshot", "Stop+snap", show=False, id="sandboxes.stop_snapshot"),
        Binding("t", "snapshot", "Snap now", show=False, id="sandboxes.snapshot"),
        Binding("p", "pause", "Pause/resume", show=False, id="sandboxes.pause"),
        Binding("e", "exec", "Exec", show=False, id="sandboxes.exec"),
        # `x` is a shell here (issue 9, as k9s shells into a pod); exporting moves to `X`
        Binding("x", "shell", "Shell", show=False, id="sandboxes.shell"),
        Binding("l", "logs", "Logs", show=False, id="sandboxes.logs"),
        Binding("o", "open_snapshots", "Its snapshots", show=False,
                id="sandboxes.open_snapshots"),
    ]
    MUTATING = frozenset({"delete", "new", "stop", "stop_snapshot", "snapshot", "pause", "exec",
                          "shell"})
    kind = "sandboxes"
    mode_name = "sandboxes"

    def make_table(self) -> RowTable[Sandbox]:
        return RowTable(SANDBOX_COLUMNS, key=lambda s: s.id, status_class=sandbox_status_class,
                        empty_text="No sandboxes. Press n to start one.",
                        now=self.store.clock.time(), text=SANDBOX_FIELDS.text,
                        numbers={"created": SANDBOX_FIELDS.created},
                        id="sandboxes-table")

    def fields(self) -> Fields[Sandbox]:
        return SANDBOX_FIELDS

    def load(self) -> None:
        self.table.tick(self.store.clock.time())  # ages move on even if no row changed
        self.table.replace_all(self.store.sandboxes.values())

    def _current(self) -> Sandbox | None:
        sandbox = self.table.cursor_row
        if sandbox is None:
            self.notify("No sandbox under the cursor.")
        return sandbox

    def action_details(self) -> None:
        s = self._current()
        if s is None:
            return
        self.app.push_screen(DetailsDialog(f"Sandbox {s.id}", [
            ("ID", s.id), ("Status", s.status.value.upper()), ("Reason", s.status_reason or "-"),
            ("Image", s.image or "-"), ("Command", " ".join(s.command) or "-"),
            ("Tags", ", ".join(s.tags) or "-"), ("Mount", s.mount_path or "-"),
            ("Size", s.mount_size or "-"), ("Restored from", s.restored_from or "-"),
            ("Stop snapshot", s.stop_snapshot_id or "-"), ("Created", iso(s.created_at)),
            ("Started", iso(s.started_at)), ("Ended", iso(s.ended_at)),
            ("Exit code", "-" if s.exit_code is None else str(s.exit_code)),
            ("Runner", f"{s.runner_id or '-'} (group {s.runner_group_id or '-'})"),
            ("Profile", s.profile_id or "-"),
            ("Requests", str(s.requests) if s.requests else "-"),
            ("Limits", str(s.limits) if s.limits else "-"),
            ("Enforced", str(s.enforced) if s.enforced else "-"),
            ("Network", f"ingress {s.ingress_mode or '-'}, egress {s.egress_mode or '-'}"),
            ("Service", f"{s.service_address} (c copies it)" if s.service_address else "-"),
            ("Ports", ", ".join(_port_text(p) for p in s.ports) or "-"),
            ("Runtime", s.runtime or "-"),
            ("Isolation", s.isolation or "-"),
        ], on_copy=self._copier(s.service_address)))

    def _copier(self, address: str) -> Callable[[], None] | None:
        if not address:
            return None

        def copy() -> None:
            self.app.post_message(CopyText(address))

        return copy

    def action_new(self) -> None:
        ask_new_sandbox(self.app, self.store.client.info)

    def action_stop(self) -> None:
        chosen = [s for s in self.targets() if not s.status.terminal]
        if not chosen:
            self.notify("Nothing to stop: the chosen sandboxes have already stopped.")
            return
        lines = [f"Stop {len(chosen)} sandbox{'es' if len(chosen) != 1 else ''} (grace 10 s)?", ""]
        lines += [f"  {s.id}  {s.status.value.upper()}" for s in chosen[:8]]

        def answered(yes: bool | None) -> None:
            if yes:
                for s in chosen:
                    self.app.post_message(StopSandbox(s.id, snapshot=False, grace=10))

        self.app.push_screen(ConfirmDialog("Stop sandboxes", lines, confirm="Stop"), answered)

    def action_stop_snapshot(self) -> None:
        s = self._current()
        if s is None:
            return

        def chosen(result: FormResult | None) -> None:
            if result is not None:
                self.app.post_message(StopSandbox(s.id, snapshot=True,
                                                  grace=float(result.values["grace"])))

        self.app.push_screen(stop_snapshot_form(s.id), chosen)

    def action_snapshot(self) -> None:
        s = self._current()
        if s is not None:
            self.app.post_message(SnapshotSandbox(s.id))

    def action_pause(self) -> None:
        s = self._current()
        if s is None:
            return
        if not self.store.client.has_pause:
            self.notify("Pause and resume are not offered by the API v1 this connection "
                        "speaks.", severity="warning")
            return
        if s.status is SandboxStatus.PAUSED:
            self.app.post_message(ResumeSandbox(s.id))
        else:
            self.app.post_message(PauseSandbox(s.id))

    def action_delete(self) -> None:
        chosen = self.targets()
        if not chosen:
            self.notify("Nothing to delete.")
            return
        hidden = len(self.table.hidden_marks()) if self.table.marks else 0
        running = sum(1 for s in chosen if not s.status.terminal)
        lines = [f"Delete {len(chosen)} sandbox{'es' if len(chosen) != 1 else ''}?"]
        if running:
            lines.append(f"{running} still running will be killed at once (no grace).")
        if hidden:
            lines.append(f"{hidden} of them are marked but hidden by the current filter.")
        lines.append("")
        lines += [f"  {s.id}  {s.status.value.upper()}" for s in chosen[:8]]
        if len(chosen) > 8:
            lines.append(f"  ... and {len(chosen) - 8} more")
        lines += ["", "Their mounts are removed; snapshots are kept."]

        def answered(yes: bool | None) -> None:
            if yes:
                self.table.clear_marks()
                for s in chosen:
                    self.app.post_message(DeleteSandbox(s.id))

        self.app.push_screen(ConfirmDialog("Delete sandboxes", lines), answered)

    def action_exec(self) -> None:
        s = self._current()
        if s is None or not self._can_run(s, "a command"):
            return

        def chosen(result: FormResult | None) -> None:
            if result is not None:
                self.app.push_screen(ExecScreen(self.store.client, s.id,
                                                result.values["command"]))

        self.app.push_screen(exec_form(s.id), chosen)

    def action_shell(self) -> None:
        s = self._current()
        if s is not None and self._can_run(s, "a shell"):
            self.app.post_message(OpenShell(s.id))

    def _can_run(self, s: Sandbox, what: str) -> bool:
        """Whether `s` can run `what`; says why not (a form would be typed for nothing)."""
        if s.status.running:
            return True
        self.notify(f"{s.id} is {s.status.value}: {what} needs a running sandbox.",
                    severity="warning", markup=False)
        return False

    def action_logs(self) -> None:
        s = self._current()
        if s is not None:
            self.app.push_screen(LogsScreen(self.store.client, s.id))

    def action_open_snapshots(self) -> None:
        s = self._current()
        if s is not None:
            self.app.post_message(ShowSnapshotsOf(s.id))


def _port_text(port: PublishedPort) -> str:
    named = f"{port.port} ({port.name})" if port.name else str(port.port)
    return f"{named} at {port.address}" if port.address else named
