"""The v1 snapshot listing built from kept encoded v1 messages and kept pages (as v1beta2's):
pages whole and in order whatever changes between them, the `source_sandbox_id` filter as
before, budgets kept, and one store seen alike through both generations."""

from __future__ import annotations

import time

import grpc
import pytest

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.backend.store import SnapshotRow
from cwsandbox_tui.backend.v1 import convert
from cwsandbox_tui.backend.v1.sandbox_service import SandboxService
from cwsandbox_tui.backend.wire.listing import SnapshotWire
from cwsandbox_tui.proto.v1 import sandbox_pb2 as pb
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as beta
from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc

from .helpers import INVALID, expect_error, wire_listing
from .v1_helpers import V1, VOLUME, start, wait_snapshot

# the order v1beta2's numbers put them in (UNSPECIFIED, STOP, MANUAL), which seeds used to cycle
TRIGGERS = (states.SnapshotCause.NONE, states.TRIGGER_STOP, states.TRIGGER_MANUAL)


@pytest.fixture
def v1(channel: grpc.aio.Channel) -> V1:
    return V1.on(channel)


def seed(backend: BackendServer, count: int, prefix: str = "fss-v1",
         sources: tuple[str, ...] = ("sb-seed",)) -> list[str]:
    assert backend.engine is not None
    now = time.time()
    rows = [SnapshotRow(id=f"{prefix}-{n:04d}", status=states.FSS_READY, created_at=now + n / 7,
                        updated_at=now, completed_at=now + n * 1e-9, size_bytes=n,
                        source_sandbox_id=sources[n % len(sources)], trigger=TRIGGERS[n % 3],
                        idempotency_key=f"{prefix}-k{n}" if n % 2 else "",
                        object_bucket="cwsandbox-managed")
            for n in range(count)]
    backend.engine.store.insert_snapshots(rows)
    return [r.id for r in rows]


async def listing(v1: V1, size: int = 0, source: str = "", between: object = None
                  ) -> list[pb.FileSystemSnapshot]:
    rows: list[pb.FileSystemSnapshot] = []
    token = ""
    while True:
        page = await v1.sandboxes.ListFileSystemSnapshots(pb.ListFileSystemSnapshotsRequest(
            page_size=size, page_token=token, source_sandbox_id=source))
        rows += page.file_system_snapshots
        token = page.next_page_token
        if not token:
            return rows
        if callable(between):
            between(list(page.file_system_snapshots))


def built(backend: BackendServer, snapshot_id: str) -> pb.FileSystemSnapshot:
    """The message as GetFileSystemSnapshot builds it from the record (message by message)."""
    assert backend.engine is not None
    return convert.snapshot_message(backend.engine.get_snapshot(snapshot_id))


async def test_pages_are_the_records_messages_in_order(backend: BackendServer, v1: V1) -> None:
    ids = seed(backend, 23)
    for _ in range(2):  # encoded, then served from the kept pages
        rows = await listing(v1, size=5)
        assert [s.file_system_snapshot_id for s in rows] == ids
        assert rows == [built(backend, i) for i in ids]
    await expect_error(v1.sandboxes.ListFileSystemSnapshots(pb.ListFileSystemSnapshotsRequest(
        page_size=-1)), INVALID, field_name="page_size")
    await expect_error(v1.sandboxes.ListFileSystemSnapshots(pb.ListFileSystemSnapshotsRequest(
        page_token="garbage")), INVALID, field_name="page_token")


async def test_pages_stay_whole_and_ordered_under_changes_between_pages(
        backend: BackendServer, v1: V1) -> None:
    assert backend.engine is not None
    store = backend.engine.store
    ids = seed(backend, 60)
    await listing(v1, size=9)  # every row's bytes and every page now kept
    seen: list[str] = []
    added: list[str] = []

    def change(page: list[pb.FileSystemSnapshot]) -> None:
        seen.extend(s.file_system_snapshot_id for s in page)
        if len(seen) == 9:
            store.delete_snapshot(ids[30])  # ahead
            store.delete_snapshot(ids[8])  # just listed
            store.update_snapshot(ids[2], status=states.FSS_FAILED)
            store.update_snapshot(ids[50], status=states.FSS_FAILED,
                                  status_reason="disk full")
            added.extend(seed(backend, 3, prefix="fss-late"))

    rows = await listing(v1, size=9, between=change)
    listed = [s.file_system_snapshot_id for s in rows]
    assert listed == [i for i in ids if i != ids[30]] + added
    by_id = {s.file_system_snapshot_id: s for s in rows}
    assert by_id[ids[2]].state == pb.SNAPSHOT_STATE_READY  # listed before its change
    assert by_id[ids[50]].state == pb.SNAPSHOT_STATE_FAILED  # changed before its page came
    assert by_id[ids[50]].state_reason == "disk full"
    again = await listing(v1, size=9)
    assert [s.file_system_snapshot_id for s in again] == [
        i for i in ids if i not in (ids[8], ids[30])] + added
    assert again == [built(backend, s.file_system_snapshot_id) for s in again]


async def test_the_source_filter_keeps_each_unfiltered_pages_members_and_token(
        backend: BackendServer, v1: V1) -> None:
    ids = seed(backend, 20, sources=("sb-a", "sb-b", "sb-c", "sb-c"))
    for _ in range(2):
        pages = []
        token = ""
        while True:
            page = await v1.sandboxes.ListFileSystemSnapshots(pb.ListFileSystemSnapshotsRequest(
                page_size=4, page_token=token, source_sandbox_id="sb-a"))
            pages.append([s.file_system_snapshot_id for s in page.file_system_snapshots])
            token = page.next_page_token
            if not token:
                break
        # every 4th record is sb-a's: one per page of 4, and a token after each full page
        assert pages[:5] == [[ids[n]] for n in range(0, 20, 4)]
        assert pages[5:] in ([], [[]])
    unfiltered = await v1.sandboxes.ListFileSystemSnapshots(pb.ListFileSystemSnapshotsRequest(
        page_size=4))
    assert len(unfiltered.file_system_snapshots) == 4  # a filtered page is kept apart
    assert await listing(v1, source="sb-nobody") == []
    assert [s.file_system_snapshot_id for s in await listing(v1, size=3, source="sb-c")] == [
        i for n, i in enumerate(ids) if n % 4 >= 2]


async def test_v1_pages_stay_whole_when_the_kept_messages_fill_their_budget(
        backend: BackendServer) -> None:
    assert backend.engine is not None
    engine = backend.engine
    ids = seed(backend, 25)
    budget = 10 * (SnapshotWire.ENTRY_OVERHEAD + 150)
    wire = SnapshotWire(engine.store, SandboxService(engine)._encode_snapshot, budget=budget)

    first = wire_listing(engine, wire, pb.ListFileSystemSnapshotsResponse)
    assert [s.file_system_snapshot_id for s in first] == ids
    assert 0 < len(wire) < 25 and wire.size_bytes <= budget
    engine.store.update_snapshot(ids[0], size_bytes=99)  # a kept one
    engine.store.update_snapshot(ids[24], size_bytes=77)  # one never kept
    second = wire_listing(engine, wire, pb.ListFileSystemSnapshotsResponse)
    assert (second[0].size_bytes, second[-1].size_bytes) == (99, 77)
    assert second == [built(backend, i) for i in ids]
    assert wire.size_bytes <= budget


async def test_one_store_alike_through_both_generations(
        backend: BackendServer, v1: V1, channel: grpc.aio.Channel) -> None:
    gateway = gateway_pb2_grpc.GatewayServiceStub(channel)

    async def beta_ids() -> list[str]:
        reply = await gateway.ListFileSystemSnapshots(beta.ListFileSystemSnapshotsRequest())
        return [s.file_system_snapshot_id for s in reply.file_system_snapshots]

    async def v1_ids() -> list[str]:
        return [s.file_system_snapshot_id for s in await listing(v1)]

    sandbox_id = await start(v1)
    assert await beta_ids() == [] and await v1_ids() == []  # both listings' pages kept
    old = await gateway.CreateFileSystemSnapshot(beta.CreateFileSystemSnapshotRequest(
        sandbox_id=sandbox_id, wait_for_ready=True, idempotency_key="b"))
    listed = await listing(v1)
    assert [s.file_system_snapshot_id for s in listed] == [old.file_system_snapshot_id]
    assert (listed[0].state, listed[0].request_id, listed[0].source_volume_name) == (
        pb.SNAPSHOT_STATE_READY, "b", VOLUME)
    assert listed[0] == await v1.sandboxes.GetFileSystemSnapshot(
        pb.GetFileSystemSnapshotRequest(file_system_snapshot_id=old.file_system_snapshot_id))

    new = await v1.sandboxes.CreateFileSystemSnapshot(pb.CreateFileSystemSnapshotRequest(
        sandbox_id=sandbox_id, request_id="n", scratch_volume_name=VOLUME))
    await wait_snapshot(v1, new.file_system_snapshot_id)
    both = [old.file_system_snapshot_id, new.file_system_snapshot_id]
    assert await beta_ids() == both and await v1_ids() == both
    await gateway.DeleteFileSystemSnapshot(beta.DeleteFileSystemSnapshotRequest(
        file_system_snapshot_id=new.file_system_snapshot_id))
    assert await v1_ids() == both[:1]
    await v1.sandboxes.DeleteFileSystemSnapshot(pb.DeleteFileSystemSnapshotRequest(
        file_system_snapshot_id=old.file_system_snapshot_id))
    assert await beta_ids() == [] and await v1_ids() == []
