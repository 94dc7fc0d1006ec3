"""Flows on real sandboxes: snapshot, stop with a snapshot, restore, and what is notified."""

from __future__ import annotations

import asyncio

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Label, ProgressBar

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.faults import Trigger
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client.models import Sandbox, SandboxSpec, SandboxStatus, SnapshotStatus
from cwsandbox_tui.ui.app import DashboardApp
from cwsandbox_tui.ui.screens.dialogs import ConfirmDialog, FormDialog
from cwsandbox_tui.ui.screens.sandboxes import SandboxesScreen
from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen
from cwsandbox_tui.ui.widgets.tasks import TaskPanel, TaskRow

from .conftest import AppFactory
from .flows_support import (
    note_titled,
    notes,
    server_snapshots,
    settle,
    table_lines,
    wait_for,
)

MIB = 2**20


async def _start(app: DashboardApp, pilot: Pilot[None], *, mount: bool = True,
                 files: dict[str, bytes] | None = None) -> Sandbox:
    """A real sandbox started through the client, then shown (ctrl+r) under the cursor."""
    sandbox = await app.client.start_sandbox(SandboxSpec(mount_path="/workspace" if mount else ""))
    for path, data in (files or {}).items():
        await app.client.add_file(sandbox.id, path, data)
    await pilot.press("ctrl+r")
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, SandboxesScreen)
    assert screen.table.cursor_id == sandbox.id
    assert app.store.sandboxes[sandbox.id].status is SandboxStatus.RUNNING
    return sandbox


async def test_snapshot_is_seen_creating_then_ready(
        app_factory: AppFactory, backend: BackendServer) -> None:
    assert backend.engine is not None
    # The archive waits for this (set only in the backend's process, no request can) so the
    # snapshot is CREATING for as long as the checks below take, however loaded the machine.
    release = asyncio.Event()
    backend.engine.archive_hold = release
    app = app_factory(seed=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        sandbox = await _start(app, pilot, files={"/workspace/data.bin": bytes(6 * MIB)})

        await pilot.press("t")
        await wait_for(pilot, lambda: app.task_model.tasks, "the snapshot to report progress")
        await pilot.press("2")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SnapshotsScreen)
        panel = screen.query_one(TaskPanel)
        await wait_for(pilot, lambda: panel.query(TaskRow), "the task row on the snapshots view")
        label = str(panel.query_one(TaskRow).query_one(Label).render())
        assert label.startswith("Create file-system snapshot: archiving")
        assert "of 605s deadline" in label
        assert panel.query_one(TaskRow).query_one(ProgressBar).total == 605

        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: any(s.status is SnapshotStatus.CREATING
                                          for s in app.store.snapshots.values()),
                       "the snapshot to be listed CREATING")
        await pilot.pause()
        [snap_id] = app.store.snapshots
        assert screen.table.cursor_id == snap_id
        assert "CREATING" in table_lines(app)[1]
        assert server_snapshots(backend)[snap_id].status == states.FSS_CREATING

        release.set()
        await settle(pilot)  # the job ends and refreshes
        assert app.store.snapshots[snap_id].status is SnapshotStatus.READY
        line = table_lines(app)[1]
        assert snap_id in line and "READY" in line and "manual" in line and sandbox.id in line
        assert not panel.query(TaskRow)
        done = note_titled(app, "Create file-system snapshot")
        assert done is not None and done.message == f"{snap_id} ready"
        row = server_snapshots(backend)[snap_id]
        assert row.status == states.FSS_READY and row.size_bytes >= 3 * MIB


async def test_stop_with_snapshot(app_factory: AppFactory, backend: BackendServer) -> None:
    app = app_factory(seed=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        sandbox = await _start(app, pilot, files={"/workspace/notes.txt": b"keep me\n"})

        await pilot.press("S")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, FormDialog)
        grace = form.query_one("#field-grace", Input)
        assert app.focused is grace and grace.value == "10"
        await pilot.press("2")  # the value is selected on focus: typing replaces it
        assert grace.value == "2"
        await pilot.press("ctrl+s")
        await settle(pilot)

        stopped = app.store.sandboxes[sandbox.id]
        assert stopped.status is SandboxStatus.COMPLETED
        snap_id = stopped.stop_snapshot_id
        assert snap_id.startswith("fss-")
        line = next(line for line in table_lines(app) if sandbox.id in line)
        assert "COMPLETED" in line and snap_id in line  # the SNAPSHOT column
        done = note_titled(app, "Stop sandbox with snapshot")
        assert done is not None and done.message == f"{sandbox.id} completed, snapshot {snap_id}"
        row = server_snapshots(backend)[snap_id]
        assert row.status == states.FSS_READY and row.trigger == states.TRIGGER_STOP
        assert app.store.snapshots[snap_id].status is SnapshotStatus.READY


@pytest.mark.parametrize("api", ["v1beta2", "v1"])  # a backend serving one generation
async def test_restore_snapshot_into_new_sandbox(
        app_factory: AppFactory, backend: BackendServer) -> None:
    app = app_factory(seed=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        original = await app.client.start_sandbox(SandboxSpec(mount_path="/workspace"))
        await app.client.add_file(original.id, "/workspace/hello.txt", b"hello from the original\n")
        stop = await app.client.stop_sandbox(original.id, snapshot=True, grace=1)
        await pilot.press("2")
        await pilot.press("ctrl+r")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SnapshotsScreen)
        assert screen.table.cursor_id == stop.snapshot_id

        await pilot.press("r")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, FormDialog)
        assert form.title_text == f"Restore {stop.snapshot_id} into a new sandbox"
        values = form.values()
        assert values["restore_from"] == stop.snapshot_id
        assert values["mount_path"] == "/workspace"
        await pilot.press("ctrl+s")
        await settle(pilot)

        [restored] = [s for s in app.store.sandboxes.values() if s.id != original.id]
        assert restored.status is SandboxStatus.RUNNING
        assert restored.restored_from == stop.snapshot_id
        data = await app.client.retrieve_file(restored.id, "/workspace/hello.txt")
        assert data == b"hello from the original\n"
        done = note_titled(app, "Start sandbox")
        assert done is not None
        assert done.message == f"restored {stop.snapshot_id} into {restored.id} at /workspace " \
                               "(running)"
        await pilot.press("1")
        await pilot.pause()
        assert any(restored.id in line and "RUNNING" in line for line in table_lines(app))


async def test_deadline_exceeded_is_notified(
        app_factory: AppFactory, backend: BackendServer) -> None:
    # The real deadlines are minutes long; the server answering DEADLINE_EXCEEDED is the
    # quick way to the same path (the client treats it as its own deadline: not retried).
    backend.faults.set_fault("CreateFileSystemSnapshot", "deadline", Trigger(first=1))
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SandboxesScreen)
        assert screen.table.cursor_id == "sb-00000000aaaa"  # the seeded RUNNING one
        await pilot.press("t")
        await settle(pilot)
        late = note_titled(app, "Create file-system snapshot: deadline exceeded")
        assert late is not None, [n.title for n in notes(app)]
        assert late.severity == "error"
        assert "the snapshot may still complete" in late.message
        failed = note_titled(app, "Create file-system snapshot failed")
        assert failed is not None and failed.severity == "error"
        assert backend.faults.calls("CreateFileSystemSnapshot") == 1  # a deadline is final


async def test_snapshot_without_mount_fails_with_one_line(
        app_factory: AppFactory, backend: BackendServer) -> None:
    app = app_factory(seed=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        sandbox = await _start(app, pilot, mount=False)
        await pilot.press("t")
        await settle(pilot)
        failed = note_titled(app, "Create file-system snapshot failed")
        assert failed is not None, [n.title for n in notes(app)]
        assert failed.severity == "error"
        assert "\n" not in failed.message
        assert f"sandbox '{sandbox.id}' has no file-system mount to snapshot" in failed.message
        assert not server_snapshots(backend)


@pytest.mark.parametrize("api", ["v1beta2", "v1"])  # a backend serving one generation
async def test_stop_conflict_then_plain_stop_succeeds(
        app_factory: AppFactory, backend: BackendServer, api: str) -> None:
    app = app_factory(seed=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        sandbox = await _start(app, pilot)
        # The plain stop's call is held, so it is still in flight when S is pressed.
        held = backend.faults.hold("DeleteSandbox" if api == "v1" else "Stop")

        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await wait_for(pilot, lambda: any(t.label == "Stop sandbox"
                                          for t in app.task_model.tasks.values()),
                       "the plain stop to be under way")
        await pilot.press("S")
        await pilot.pause()
        assert isinstance(app.screen, FormDialog)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: note_titled(app, "Stop conflict"), "the conflict notice")
        conflict = note_titled(app, "Stop conflict")
        assert conflict is not None and conflict.severity == "error"
        assert conflict.message.startswith(  # not "already stopped": the stop is still slow
            "Cannot snapshot on stop: a plain stop is already in progress for this sandbox.")
        # said once: the operation's failure is in the operations log, not a second toast
        assert note_titled(app, "Stop sandbox with snapshot failed") is None
        assert any(r.op == "Stop sandbox with snapshot" and r.kind == "Failed"
                   for r in app.store.op_rows)

        held.set()
        await wait_for(pilot, lambda: note_titled(app, "Stop sandbox"), "the plain stop")
        await settle(pilot)
        stopped = app.store.sandboxes[sandbox.id]
        assert stopped.status is SandboxStatus.COMPLETED and not stopped.stop_snapshot_id
        assert not server_snapshots(backend)
        done = note_titled(app, "Stop sandbox")
        assert done is not None and done.severity == "information"
        assert done.message == f"{sandbox.id} completed"
