"""List and ListFileSystemSnapshots: filters, page sizes, opaque tokens, stable pages."""

from __future__ import annotations

import time
import uuid

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.backend.store import SnapshotRow
from cwsandbox_tui.backend.v1beta2.service import encode_snapshot
from cwsandbox_tui.backend.wire.listing import PageBytes, SnapshotWire
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb

from .helpers import (
    COMPLETED,
    INVALID,
    RUNNING,
    Gateway,
    expect_error,
    start_sandbox,
    stop,
    wait_status,
    wire_listing,
)


def seed_snapshots(backend: BackendServer, count: int) -> list[str]:
    assert backend.engine is not None
    now = time.time()
    rows = [SnapshotRow(id=f"fss-seed-{uuid.uuid4().hex[:12]}", status=states.FSS_READY,
                        created_at=now, updated_at=now, completed_at=now, size_bytes=1,
                        source_sandbox_id="sb-seed", trigger=states.TRIGGER_MANUAL,
                        object_bucket="cwsandbox-managed")
            for _ in range(count)]
    backend.engine.store.insert_snapshots(rows)
    return [r.id for r in rows]


async def list_snapshots(gateway: Gateway, token: str = "", size: int = 0
                         ) -> pb.ListFileSystemSnapshotsResponse:
    return await gateway.ListFileSystemSnapshots(pb.ListFileSystemSnapshotsRequest(
        page_token=token, page_size=size))


async def all_snapshot_ids(gateway: Gateway) -> list[str]:
    ids: list[str] = []
    token = ""
    while True:
        page = await list_snapshots(gateway, token)
        ids += [s.file_system_snapshot_id for s in page.file_system_snapshots]
        token = page.next_page_token
        if not token:
            return ids


async def test_snapshot_pages_default_and_maximum_size(backend: BackendServer, gateway: Gateway
                                                       ) -> None:
    seeded = seed_snapshots(backend, MAX_PAGE_SIZE + 50)
    first = await list_snapshots(gateway)
    assert len(first.file_system_snapshots) == DEFAULT_PAGE_SIZE
    assert first.next_page_token
    clamped = await list_snapshots(gateway, size=MAX_PAGE_SIZE * 5)
    assert len(clamped.file_system_snapshots) == MAX_PAGE_SIZE
    rest = await list_snapshots(gateway, clamped.next_page_token, size=MAX_PAGE_SIZE * 5)
    assert len(rest.file_system_snapshots) == 50 and rest.next_page_token == ""
    ids = [s.file_system_snapshot_id for s in clamped.file_system_snapshots] + \
        [s.file_system_snapshot_id for s in rest.file_system_snapshots]
    assert ids == seeded, "pages follow a stable order: oldest first"
    # the SDK way: no page size, follow tokens until empty
    assert await all_snapshot_ids(gateway) == seeded
    exact = await list_snapshots(gateway, size=MAX_PAGE_SIZE + 50)
    assert len(exact.file_system_snapshots) == MAX_PAGE_SIZE


async def test_snapshot_last_page_has_no_token(backend: BackendServer, gateway: Gateway) -> None:
    seed_snapshots(backend, 6)
    page = await list_snapshots(gateway, size=3)
    assert page.next_page_token
    last = await list_snapshots(gateway, page.next_page_token, size=3)
    assert len(last.file_system_snapshots) == 3
    # a full last page may hand out one more token, which then gives an empty last page
    if last.next_page_token:
        empty = await list_snapshots(gateway, last.next_page_token, size=3)
        assert not empty.file_system_snapshots and not empty.next_page_token
    assert not (await list_snapshots(gateway, size=100)).next_page_token


async def test_snapshot_pages_have_no_duplicates_or_gaps_under_change(
        backend: BackendServer, gateway: Gateway) -> None:
    original = seed_snapshots(backend, 40)
    seen: list[str] = []
    deleted: set[str] = set()
    added: list[str] = []
    token = ""
    while True:
        page = await list_snapshots(gateway, token, size=7)
        ids = [s.file_system_snapshot_id for s in page.file_system_snapshots]
        seen += ids
        # between pages: delete the last row seen, a row not yet reached, and add new rows
        ahead = [i for i in original if i not in seen and i not in deleted]
        for victim in [ids[-1], *ahead[:1]] if ids else []:
            await gateway.DeleteFileSystemSnapshot(pb.DeleteFileSystemSnapshotRequest(
                file_system_snapshot_id=victim))
            deleted.add(victim)
        added += seed_snapshots(backend, 2)
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)), "no row may appear twice"
    order = original + added
    assert seen == sorted(seen, key=order.index), "rows come in one stable order"
    assert all(i in seen for i in original if i not in deleted), "no row may be skipped"
    # rows added while listing come after the old ones, so they are reached too
    assert set(added[:-2]) <= set(seen)


async def test_snapshot_bad_tokens_and_sizes(backend: BackendServer, gateway: Gateway) -> None:
    seed_snapshots(backend, 3)
    for token in ("garbage", "!!!", "c25hcHNob3RzOng6eQ", "c2FuZGJveGVzOjE6YWJj"):
        await expect_error(list_snapshots(gateway, token), INVALID, field_name="page_token")
    await expect_error(list_snapshots(gateway, size=-1), INVALID, field_name="page_size")
    sandboxes_token = (await gateway.List(pb.ListSandboxesRequest(page_size=1))).next_page_token
    if sandboxes_token:
        await expect_error(list_snapshots(gateway, sandboxes_token), INVALID,
                           field_name="page_token")


async def test_empty_listings(gateway: Gateway) -> None:
    snaps = await list_snapshots(gateway)
    assert not snaps.file_system_snapshots and not snaps.next_page_token
    boxes = await gateway.List(pb.ListSandboxesRequest(include_stopped=True))
    assert not boxes.sandboxes and not boxes.next_page_token


# ---------------------------------------------------------------------------------------------
# sandboxes


async def test_list_filters(gateway: Gateway) -> None:
    a = await start_sandbox(gateway, tags=["team", "a"], mount_path=None)
    b = await start_sandbox(gateway, tags=["team", "b"], mount_path=None)
    done = await start_sandbox(gateway, tags=["team"], args=["-c", "exit 0"], mount_path=None,
                               wait=False)
    await wait_status(gateway, done, COMPLETED)

    async def ids(**request: object) -> list[str]:
        response = await gateway.List(pb.ListSandboxesRequest(**request))  # type: ignore[arg-type]
        return [s.sandbox_id for s in response.sandboxes]

    assert await ids() == [a, b], "stopped sandboxes are hidden by default"
    assert await ids(include_stopped=True) == [a, b, done]
    assert await ids(tags=["team"]) == [a, b]
    assert await ids(tags=["team", "a"]) == [a], "every tag must match"
    assert await ids(tags=["nobody"]) == []
    assert await ids(status=RUNNING) == [a, b]
    assert await ids(status=COMPLETED) == [done], "a terminal status filter includes stopped ones"
    assert await ids(runner_ids=["local-runner"]) == [a, b]
    assert await ids(runner_ids=["elsewhere"]) == []
    assert await ids(profile_names=["gpu"]) == []
    listed = (await gateway.List(pb.ListSandboxesRequest(tags=["a"]))).sandboxes[0]
    assert listed.sandbox_status == RUNNING and listed.runner_id == "local-runner"
    assert listed.started_at_time.seconds > 0
    assert list(listed.local_details.tags) == ["team", "a"]
    await expect_error(gateway.List(pb.ListSandboxesRequest(status=8)),  # type: ignore[arg-type]
                       INVALID,
                       field_name="status")


async def test_sandbox_pages_have_no_duplicates_or_gaps_under_change(gateway: Gateway) -> None:
    cheap = {"args": ["-c", "exit 0"], "mount_path": None, "wait": False}
    original = [await start_sandbox(gateway, **cheap) for _ in range(9)]  # type: ignore[arg-type]
    for sid in original:
        await wait_status(gateway, sid, COMPLETED)
    seen: list[str] = []
    deleted: set[str] = set()
    token = ""
    while True:
        page = await gateway.List(pb.ListSandboxesRequest(include_stopped=True, page_size=2,
                                                          page_token=token))
        ids = [s.sandbox_id for s in page.sandboxes]
        seen += ids
        if ids:
            await gateway.Delete(pb.DeleteSandboxRequest(sandbox_id=ids[-1]))
            deleted.add(ids[-1])
            ahead = [i for i in original if i not in seen and i not in deleted]
            if ahead:
                await gateway.Delete(pb.DeleteSandboxRequest(sandbox_id=ahead[-1]))
                deleted.add(ahead[-1])
        await start_sandbox(gateway, **cheap)  # type: ignore[arg-type]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen))
    assert all(i in seen for i in original if i not in deleted)
    assert [i for i in seen if i in original] == [i for i in original if i in seen]


async def test_sandbox_page_sizes_and_tokens(gateway: Gateway) -> None:
    for _ in range(3):
        await start_sandbox(gateway, mount_path=None, wait=False)
    page = await gateway.List(pb.ListSandboxesRequest(page_size=2))
    assert len(page.sandboxes) == 2 and page.next_page_token
    rest = await gateway.List(pb.ListSandboxesRequest(page_size=2, page_token=page.next_page_token))
    assert len(rest.sandboxes) == 1 and not rest.next_page_token
    everything = await gateway.List(pb.ListSandboxesRequest(page_size=MAX_PAGE_SIZE * 10))
    assert len(everything.sandboxes) == 3
    await expect_error(gateway.List(pb.ListSandboxesRequest(page_token="nonsense")), INVALID,
                       field_name="page_token")
    await expect_error(gateway.List(pb.ListSandboxesRequest(page_size=-5)), INVALID,
                       field_name="page_size")
    # a token is bound to the filters it was issued for
    await expect_error(gateway.List(pb.ListSandboxesRequest(
        page_size=2, page_token=page.next_page_token, tags=["x"])), INVALID,
        field_name="page_token")
    snapshot_token_like = (await gateway.List(pb.ListSandboxesRequest(page_size=1))).next_page_token
    await expect_error(gateway.ListFileSystemSnapshots(pb.ListFileSystemSnapshotsRequest(
        page_token=snapshot_token_like)), INVALID, field_name="page_token")
    for sandbox in everything.sandboxes:
        await stop(gateway, sandbox.sandbox_id)


async def test_a_page_served_again_reflects_every_change(backend: BackendServer,
                                                         gateway: Gateway) -> None:
    """Pages are kept between identical requests, but never past a change to a record."""
    ids = seed_snapshots(backend, 5)

    async def first_page() -> dict[str, int]:
        reply = await gateway.ListFileSystemSnapshots(pb.ListFileSystemSnapshotsRequest(
            page_size=3))
        return {s.file_system_snapshot_id: s.status for s in reply.file_system_snapshots}

    assert list(await first_page()) == ids[:3]
    assert list(await first_page()) == ids[:3]  # served again
    await gateway.DeleteFileSystemSnapshot(pb.DeleteFileSystemSnapshotRequest(
        file_system_snapshot_id=ids[1]))
    assert list(await first_page()) == [ids[0], ids[2], ids[3]]
    assert backend.engine is not None
    backend.engine.store.update_snapshot(ids[0], status=states.FSS_FAILED)
    assert (await first_page())[ids[0]] == pb.FILE_SYSTEM_SNAPSHOT_STATUS_FAILED


async def test_pages_stay_whole_when_the_kept_messages_fill_their_budget(
        backend: BackendServer) -> None:
    """Past its budget the cache keeps what it has and encodes the rest on each listing."""
    assert backend.engine is not None
    store = backend.engine.store
    ids = seed_snapshots(backend, 25)
    wire = SnapshotWire(store, encode_snapshot, budget=10 * (SnapshotWire.ENTRY_OVERHEAD + 200))

    first = wire_listing(backend.engine, wire, pb.ListFileSystemSnapshotsResponse)
    assert [s.file_system_snapshot_id for s in first] == ids
    assert 0 < len(wire) < 25 and wire.size_bytes <= 10 * (SnapshotWire.ENTRY_OVERHEAD + 200)
    store.update_snapshot(ids[0], status=states.FSS_FAILED)  # a kept one
    store.update_snapshot(ids[24], size_bytes=77)  # one never kept
    store.delete_snapshot(ids[3])
    second = wire_listing(backend.engine, wire, pb.ListFileSystemSnapshotsResponse)
    assert [s.file_system_snapshot_id for s in second] == [i for i in ids if i != ids[3]]
    assert second[0].status == pb.FILE_SYSTEM_SNAPSHOT_STATUS_FAILED
    assert second[-1].size_bytes == 77
    assert [s.SerializeToString() for s in second[1:3]] == [
        s.SerializeToString() for s in first[1:3]]


async def test_kept_pages_stay_within_budget_and_go_at_any_change(
        backend: BackendServer) -> None:
    assert backend.engine is not None
    store = backend.engine.store
    ids = seed_snapshots(backend, 2)
    pages = PageBytes(store, budget=250)
    pages.put("", 100, b"a" * 200)
    pages.put("t2", 100, b"b" * 100)  # over the budget: not kept, the first page stays
    assert pages.get("", 100) == b"a" * 200 and pages.get("t2", 100) is None
    assert pages.get("", 50) is None  # another page size is another page
    store.update_snapshot(ids[0], size_bytes=5)
    assert len(pages) == 0
    pages.put("t2", 100, b"b" * 100)
    store.insert_snapshot(SnapshotRow(id="fss-new", status=states.FSS_READY, created_at=1.0,
                                      updated_at=1.0))
    assert pages.get("t2", 100) is None


async def test_kept_pages_are_of_the_last_few_page_sizes_only(backend: BackendServer) -> None:
    assert backend.engine is not None
    pages = PageBytes(backend.engine.store, shapes=2)
    pages.put("", 10, b"a" * 10)
    pages.put("t", 10, b"b" * 10)
    pages.put("", 20, b"c" * 20)
    assert pages.get("", 10) == b"a" * 10  # two sizes are kept
    pages.put("", 30, b"d" * 30)  # a third size drops the least recently used one's pages
    assert pages.get("", 20) is None and pages.get("", 30) == b"d" * 30
    assert pages.get("", 10) == b"a" * 10 and pages.get("t", 10) == b"b" * 10
    assert len(pages) == 3
    pages.put("", 20, b"c" * 20, "sb-1")  # a filter is another shape
    assert pages.get("", 30) is None and pages.get("", 20, "sb-1") == b"c" * 20
    pages.put("x", 10, b"e" * (32 * 2**20))  # the byte budget still holds, counting drops
    assert pages.get("x", 10) is None
