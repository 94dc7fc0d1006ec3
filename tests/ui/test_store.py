"""The row store on its own (no app, no Textual): listings paced on a fake clock, rows
changed at once by the client's events, staleness from the connection's events."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client import events as ev
from cwsandbox_tui.client.bulk import Outcome
from cwsandbox_tui.client.client import Client
from cwsandbox_tui.client.models import (
    Sandbox,
    SandboxSpec,
    SandboxStatus,
    Snapshot,
    SnapshotStatus,
)
from cwsandbox_tui.ui.store import Change, RowStore, What
from tests.fake_clock import FakeClock

from .conftest import make_client, seed_rows

LIST_SNAPSHOTS = "List file-system snapshots"
OLD = ["fss-000000000021", "fss-000000000022", "fss-000000000023"]


class ListingTime:
    """Real time as the store measures it: each snapshot listing 'takes' `took` seconds (the
    store reads this clock once before a listing and once after it)."""

    def __init__(self, took: float) -> None:
        self.took = took
        self.now = 0.0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        if self.reads % 2 == 0:
            self.now += self.took
        return self.now


@pytest.fixture
async def client(backend: BackendServer) -> AsyncIterator[Client]:
    seed_rows(backend)
    client = make_client(backend)
    yield client
    await client.close()


def _store(client: Client, *, interval: float = 2.0, took: float = 0.1
           ) -> tuple[RowStore, list[Change], ListingTime]:
    timer = ListingTime(took)
    store = RowStore(client, interval=interval, measure=timer)
    changes: list[Change] = []
    store.subscribe(changes.append)
    client.bus.subscribe(store.apply)
    return store, changes, timer


def _snapshot(snapshot_id: str) -> Snapshot:
    return Snapshot(id=snapshot_id, status=SnapshotStatus.READY)


def _sandbox(sandbox_id: str) -> Sandbox:
    return Sandbox(id=sandbox_id, status=SandboxStatus.RUNNING)


def _clock(client: Client) -> FakeClock:
    assert isinstance(client.clock, FakeClock)
    return client.clock


async def test_snapshots_are_listed_at_most_every_five_listing_times(client: Client) -> None:
    store, changes, timer = _store(client, interval=2.0, took=3.0)
    clock = _clock(client)
    listed = client.bus.routine
    await store.refresh(first=True)
    assert store.loaded and len(store.snapshots) == 30 and len(store.sandboxes) == 4
    assert store.bucket is not None
    assert listed[LIST_SNAPSHOTS] == 1
    assert [c.what for c in changes if c.what is not What.PAGE] == [
        What.SANDBOXES, What.BUCKET, What.SNAPSHOTS, What.STATUS]
    assert any(c.what is What.PAGE and c.page for c in changes)  # the first load streams

    # A listing took 3 s: the next one waits 15 s (5 x 3), not the 2 s interval.
    changes.clear()
    clock.advance(14.9)
    await store.refresh()
    assert listed[LIST_SNAPSHOTS] == 1 and listed["List sandboxes"] == 2
    clock.advance(0.2)
    await store.refresh()
    assert listed[LIST_SNAPSHOTS] == 2

    # A fast listing: the interval rules.
    timer.took = 0.1
    await store.refresh(bucket=True)  # not due yet (that listing also took 3 s)
    clock.advance(15.1)
    await store.refresh()
    assert listed[LIST_SNAPSHOTS] == 3
    clock.advance(1.9)
    await store.refresh()
    assert listed[LIST_SNAPSHOTS] == 3
    clock.advance(0.2)
    await store.refresh()
    assert listed[LIST_SNAPSHOTS] == 4

    # Asked for (ctrl+r, or after a change): listed whatever the pace, once.
    store.want_snapshots()
    await store.refresh()
    await store.refresh()
    assert listed[LIST_SNAPSHOTS] == 5
    assert What.PAGE not in [c.what for c in changes], "only the first load streams pages"


async def test_no_refresh_is_due_under_a_dialog_while_refreshing_or_with_the_link_down(
        client: Client) -> None:
    store, changes, _ = _store(client)
    await store.refresh(first=True)
    assert store.tick_due(modal_open=False)
    assert not store.tick_due(modal_open=True)

    client.bus.emit(ev.ConnectionChanged(op_id="link-1", op="Connection", state="reconnecting",
                                         attempt=2, next_try_in=4.0, reason="UNAVAILABLE"))
    assert store.link_state == "reconnecting" and store.link_note == "try 2, next in 4s"
    assert store.stale and not store.tick_due(modal_open=False)
    assert [c.what for c in changes[-3:]] == [What.STALE, What.LINK, What.OPS]
    client.bus.emit(ev.ConnectionChanged(op_id="link-1", op="Connection", state="disconnected",
                                         attempt=20, reason="UNAVAILABLE"))
    assert store.link_note == "ctrl+r retries" and not store.tick_due(modal_open=False)

    changes.clear()
    client.bus.emit(ev.ConnectionChanged(op_id="link-1", op="Connection", state="connected"))
    [link] = [c for c in changes if c.what is What.LINK]
    assert link.refresh, "the link back asks for a refresh"
    assert store.stale, "rows stay stale until a listing on the new connection"
    listed = client.bus.routine[LIST_SNAPSHOTS]
    await store.refresh()
    assert not store.stale and client.bus.routine[LIST_SNAPSHOTS] == listed + 1
    assert store.tick_due(modal_open=False)
    assert any(c.what is What.STALE for c in changes)


async def test_refreshes_asked_for_during_one_run_once_after_it(client: Client) -> None:
    store, changes, _ = _store(client)
    await store.refresh(first=True)
    changes.clear()
    sandboxes = client.bus.routine["List sandboxes"]
    # The first lists; the two asked for meanwhile (a ctrl+r, a job's end) make one more.
    await asyncio.gather(store.refresh(), store.refresh(), store.refresh())
    assert client.bus.routine["List sandboxes"] == sandboxes + 2
    assert not store.refreshing
    assert [c.what for c in changes].count(What.STATUS) == 1


async def test_a_bulk_delete_removes_its_rows_at_its_end_in_one_change(
        client: Client) -> None:
    store, changes, _ = _store(client)
    await store.refresh(first=True)
    changes.clear()
    result = await client.delete_snapshots([*OLD, "fss-unknown00000"], missing_ok=False)
    assert result.count(Outcome.DELETED) == 3 and result.count(Outcome.NOT_FOUND) == 1
    # No listing since: the client's events removed them.
    assert not set(OLD) & set(store.snapshots) and len(store.snapshots) == 27
    assert [c.what for c in changes if c.what is not What.OPS] == [What.SNAPSHOTS]

    snap_id = next(iter(store.snapshots))
    await client.delete_snapshot(snap_id)
    assert snap_id not in store.snapshots and len(store.snapshots) == 26


async def test_stop_pause_resume_and_delete_change_the_sandbox_at_once(
        client: Client) -> None:
    store, changes, _ = _store(client)
    sandbox = await client.start_sandbox(SandboxSpec(mount_path="/workspace"))
    other = await client.start_sandbox(SandboxSpec())
    await store.refresh(first=True)
    assert store.sandboxes[sandbox.id].status is SandboxStatus.RUNNING
    listings = client.bus.routine["List sandboxes"]

    await client.pause_sandbox(sandbox.id)
    assert store.sandboxes[sandbox.id].status is SandboxStatus.PAUSED
    await client.resume_sandbox(sandbox.id)
    assert store.sandboxes[sandbox.id].status is SandboxStatus.RUNNING

    changes.clear()
    result = await client.stop_sandbox(sandbox.id, snapshot=True, grace=0)
    stopped = store.sandboxes[sandbox.id]
    assert stopped.status is result.final_status and stopped.status.terminal
    assert stopped.stop_snapshot_id == result.snapshot_id and result.snapshot_id
    assert What.SANDBOXES in [c.what for c in changes]

    await client.delete_sandbox(other.id)
    assert other.id not in store.sandboxes and sandbox.id in store.sandboxes
    assert client.bus.routine["List sandboxes"] == listings, "no listing was needed"


async def test_renamed_labels_change_nothing_the_store_does(
        client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every label the client gives is renamed (as a wording change would): a real bulk
    delete, a stop and a delete still change the rows at once, with no listing."""
    store, changes, _ = _store(client)
    sandbox = await client.start_sandbox(SandboxSpec())
    await store.refresh(first=True)
    listings = client.bus.routine["List sandboxes"]
    original = client._op
    monkeypatch.setattr(client, "_op", lambda label, *targets, **kw: original(
        f"Renamed {label.lower()}", *targets, **kw))

    changes.clear()
    await client.delete_snapshots(OLD)
    assert not set(OLD) & set(store.snapshots) and len(store.snapshots) == 27
    assert all(row.op.startswith("Renamed ") for row in list(store.op_rows)[-2:])
    await client.stop_sandbox(sandbox.id, grace=0)
    assert store.sandboxes[sandbox.id].status.terminal
    await client.delete_sandbox(sandbox.id)
    assert sandbox.id not in store.sandboxes
    assert What.RELIST not in [c.what for c in changes]
    assert client.bus.routine["List sandboxes"] == listings


async def test_the_store_folds_an_event_by_its_kind_whatever_its_label(client: Client) -> None:
    """A label the store has never seen, on events it folds; a known label on an event of
    another kind changes nothing."""
    store, changes, _ = _store(client)
    store.snapshots = {i: _snapshot(i) for i in OLD}
    store.sandboxes = {"sb-1": _sandbox("sb-1")}
    client.bus.emit(ev.Finished(op_id="op-a", op="Delete file-system snapshots",
                                targets=(OLD[0],), summary="a look-alike"))
    assert set(store.snapshots) == set(OLD)
    client.bus.emit(ev.Finished(
        op_id="op-b", op="Vaporise a heap of things", op_kind=ev.OpKind.DELETE_SNAPSHOTS,
        targets=tuple(OLD), summary="2 deleted", ending=ev.Ending.PARTIAL,
        unsettled=(OLD[2],)))
    assert set(store.snapshots) == {OLD[2]}
    assert [c.what for c in changes if c.what is not What.OPS] == [What.SNAPSHOTS,
                                                                   What.RELIST]
    changes.clear()
    client.bus.emit(ev.Finished(
        op_id="op-c", op="Zap", op_kind=ev.OpKind.DELETE_SNAPSHOT,
        item=ev.Item(ev.ItemKind.SNAPSHOT, OLD[2]), summary="zapped", outcome=Outcome.DELETED))
    client.bus.emit(ev.Finished(
        op_id="op-d", op="Halt and keep", op_kind=ev.OpKind.STOP_SANDBOX_WITH_SNAPSHOT,
        item=ev.Item(ev.ItemKind.SANDBOX, "sb-1"), summary="halted",
        state=SandboxStatus.COMPLETED, made=ev.Item(ev.ItemKind.SNAPSHOT, "fss-made")))
    assert not store.snapshots
    assert store.sandboxes["sb-1"].status is SandboxStatus.COMPLETED
    assert store.sandboxes["sb-1"].stop_snapshot_id == "fss-made"
    # the snapshot the stop made is a row only a listing has
    assert [c.what for c in changes if c.what is not What.OPS] == [
        What.SNAPSHOTS, What.SANDBOXES, What.RELIST]


async def test_a_refresh_failure_that_is_not_the_clients_is_kept_for_the_header(
        client: Client) -> None:
    store, changes, _ = _store(client)
    store.refresh_failed("RuntimeError: the listing blew up")
    assert store.load_error == "RuntimeError: the listing blew up" and not store.loaded
    assert changes[-1].what is What.STATUS
    await store.refresh(first=True)
    assert store.load_error is None and store.loaded


def test_the_store_loads_without_textual() -> None:
    """Headless: importing the store brings no Textual module in (import-linter holds this
    for the code; this holds it for what is imported at run time)."""
    code = ("import sys, cwsandbox_tui.ui.store; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'textual'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"
