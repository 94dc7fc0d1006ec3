"""The pipelined listing: the next page is asked for while this one is converted, and the
rows come back exactly once each, in the server's order, whatever changes between pages
(the server keeps encoded rows between listings and must never serve one past a change)."""

from __future__ import annotations

from typing import Any

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.store import SnapshotRow
from cwsandbox_tui.client import adapter_v1
from cwsandbox_tui.client.client import Client, ClientOptions, EndpointInfo
from cwsandbox_tui.client.generation import Page
from cwsandbox_tui.client.models import Snapshot, SnapshotStatus
from cwsandbox_tui.client.wire import open_channel
from tests.fake_clock import FakeClock

from .helpers import Harness, engine, seed_snapshots


async def test_the_next_page_is_asked_for_before_this_one_is_converted(
        harness: Harness, backend: Any) -> None:
    c, _ = harness.make(clock=FakeClock(), options=ClientOptions(page_size=300))
    ids = seed_snapshots(backend, 1000)
    log: list[str] = []
    fetch_page = c.adapter.list_snapshots_page
    fetched = 0

    async def logged_fetch(token: str, timeout: float, page_size: int = 0) -> Page[Snapshot]:
        nonlocal fetched
        number = fetched = fetched + 1
        log.append(f"fetch {number}")
        page = await fetch_page(token, timeout, page_size)

        def convert(item: Any) -> Snapshot:
            row = page.convert(item)
            log.append(f"convert {number}")
            return row

        return Page(page.next_token, page.items, convert)

    c.adapter.list_snapshots_page = logged_fetch  # type: ignore[method-assign]
    rows = await c.list_snapshots()
    assert [s.id for s in rows] == ids
    assert log.count("fetch 4") == 1 and "fetch 5" not in log  # 300 + 300 + 300 + 100
    for number in (1, 2, 3):
        last_conversion = len(log) - 1 - log[::-1].index(f"convert {number}")
        assert log.index(f"fetch {number + 1}") < last_conversion, (
            f"page {number + 1} was asked for only after page {number} was converted")


async def test_rows_come_once_each_in_order_across_changes_between_pages(
        harness: Harness, backend: Any) -> None:
    c, _ = harness.make(clock=FakeClock(), options=ClientOptions(page_size=40))
    ids = seed_snapshots(backend, 250)
    store = engine(backend).store
    assert [s.id for s in await c.list_snapshots()] == ids  # every row's bytes now kept
    pages: list[list[str]] = []

    def on_page(page: list[Snapshot], restart: bool) -> None:
        pages.append([s.id for s in page])
        if len(pages) == 1:
            change_between_pages(store, ids)

    rows = await c.list_snapshots(on_page=on_page)
    listed = [s.id for s in rows]
    expected = [i for i in ids if i != ids[130]] + [f"fss-late-{n}" for n in range(3)]
    assert listed == expected
    assert len(set(listed)) == len(listed)
    assert [i for page in pages for i in page] == listed
    by_id = {s.id: s for s in rows}
    assert by_id[ids[5]].status is SnapshotStatus.READY  # listed before its change
    assert by_id[ids[200]].status is SnapshotStatus.FAILED  # changed before its page came
    assert by_id[ids[200]].status_reason == "disk full"
    again = {s.id: s for s in await c.list_snapshots()}
    assert again[ids[5]].status is SnapshotStatus.FAILED  # the kept bytes were not served
    assert list(again) == [i for i in ids if i != ids[130]] + [f"fss-late-{n}" for n in range(3)]


def change_between_pages(store: Any, ids: list[str]) -> None:
    """Between two pages: delete and change rows already listed and rows still to come, and
    add rows at the end."""
    store.delete_snapshot(ids[130])
    store.update_snapshot(ids[5], status=states.FSS_FAILED)
    store.update_snapshot(ids[200], status=states.FSS_FAILED, status_reason="disk full")
    store.insert_snapshots([
        SnapshotRow(id=f"fss-late-{n}", status=states.FSS_READY, created_at=1.0,
                    updated_at=1.0, object_bucket="cwsandbox-managed")
        for n in range(3)])


async def test_through_v1_rows_come_once_each_in_order_across_changes_between_pages(
        harness: Harness, backend: Any) -> None:
    """The same through the v1 adapter (the CLI's path on a server serving v1), whose pages
    the server also builds from kept bytes; both generations then list the same rows."""
    channel = open_channel(f"127.0.0.1:{backend.port}", tls=False, root_certificates=None)
    c = Client(adapter_v1.V1Adapter(channel, []),
               EndpointInfo(url=backend.url, source="test", auth_mode="none", read_only=False),
               clock=FakeClock(), options=ClientOptions(page_size=40))
    try:
        ids = seed_snapshots(backend, 250)
        store = engine(backend).store
        assert [s.id for s in await c.list_snapshots()] == ids  # every row's bytes kept
        pages: list[list[str]] = []

        def on_page(page: list[Snapshot], restart: bool) -> None:
            pages.append([s.id for s in page])
            if len(pages) == 1:
                change_between_pages(store, ids)

        rows = await c.list_snapshots(on_page=on_page)
        expected = [i for i in ids if i != ids[130]] + [f"fss-late-{n}" for n in range(3)]
        assert [s.id for s in rows] == expected
        assert [i for page in pages for i in page] == expected
        by_id = {s.id: s for s in rows}
        assert by_id[ids[5]].status is SnapshotStatus.READY  # listed before its change
        assert (by_id[ids[200]].status, by_id[ids[200]].status_reason) == (
            SnapshotStatus.FAILED, "disk full")
        again = await c.list_snapshots()
        assert {s.id: s for s in again}[ids[5]].status is SnapshotStatus.FAILED
        beta, _ = harness.make(options=ClientOptions(page_size=40))
        assert [(s.id, s.status, s.status_reason) for s in await beta.list_snapshots()] == [
            (s.id, s.status, s.status_reason) for s in again]
    finally:
        await c.close()
