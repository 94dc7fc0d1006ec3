"""Views ask, the app acts: a view posts what it wants done as a message and reads the store
it was made with, so it runs in any app that handles those messages (here a bare one, not the
dashboard) and does nothing on the server by itself."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import App
from textual.message import Message
from textual.reactive import var
from textual.screen import Screen

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client.models import SandboxStatus
from cwsandbox_tui.ui.facts import Facts
from cwsandbox_tui.ui.messages import (
    CopyText,
    DeleteSandbox,
    DeleteSnapshots,
    OpenShell,
    PauseSandbox,
    ShowSnapshotsOf,
    SnapshotSandbox,
    StopSandbox,
    ViewShown,
)
from cwsandbox_tui.ui.screens.sandboxes import SandboxesScreen
from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen
from cwsandbox_tui.ui.store import RowStore

from .conftest import make_client, seed_rows
from .flows_support import wait_for

RUNNING = "sb-00000000aaaa"  # seeded running (conftest.seed_rows)


class Host(App[None]):
    """Shows one view on a store (with the facts the views watch) and keeps what the view
    asks for."""

    facts: var[Facts] = var(Facts)

    def __init__(self, view: Screen[Any], store: RowStore) -> None:
        super().__init__()
        self.view = view
        self.facts = Facts.of(store)
        self.asked: list[Message] = []

    def get_default_screen(self) -> Screen[Any]:
        return self.view

    @on(ViewShown)
    @on(StopSandbox)
    @on(SnapshotSandbox)
    @on(PauseSandbox)
    @on(DeleteSandbox)
    @on(OpenShell)
    @on(ShowSnapshotsOf)
    @on(CopyText)
    @on(DeleteSnapshots)
    def keep(self, message: Message) -> None:
        self.asked.append(message)

    @property
    def intents(self) -> list[Message]:
        """What was asked, but that a view came to the front (each time a dialog closes)."""
        return [m for m in self.asked if not isinstance(m, ViewShown)]


def said(message: Message) -> tuple[Any, ...]:
    return (type(message).__name__, *(v for k, v in vars(message).items()
                                      if k in ("sandbox_id", "snapshot", "grace", "text", "ids")))


async def test_the_sandboxes_view_posts_its_intents_and_acts_on_nothing(
        backend: BackendServer) -> None:
    seed_rows(backend)
    client = make_client(backend)
    store = RowStore(client, interval=0)
    try:
        await store.refresh(first=True)
        host = Host(SandboxesScreen(store), store)
        async with host.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: host.asked, "the view to say it is shown")
            assert {said(m) for m in host.asked} == {("ViewShown",)}
            # filter to the running one, then act on it
            await pilot.press("slash", *RUNNING[-4:], "enter", "s", "y", "t", "p", "c", "x", "o")
            await wait_for(pilot, lambda: len(host.intents) >= 6, "the six intents")
            await pilot.press("ctrl+d", "y")
            await wait_for(pilot, lambda: len(host.intents) >= 7, "the delete's intent")
            assert [said(m) for m in host.intents] == [
                ("StopSandbox", RUNNING, False, 10),
                ("SnapshotSandbox", RUNNING),
                ("PauseSandbox", RUNNING),
                ("CopyText", RUNNING),
                ("OpenShell", RUNNING),
                ("ShowSnapshotsOf", RUNNING),
                ("DeleteSandbox", RUNNING),
            ]
        # Asked, not done: the server still runs it, and no snapshot was taken.
        server = await client.get_sandbox(RUNNING)
        assert server.status is SandboxStatus.RUNNING
        assert not [s for s in await client.list_snapshots() if s.source_sandbox_id == RUNNING
                    and s.id not in store.snapshots]
    finally:
        await client.close()


async def test_the_snapshots_view_asks_to_delete_the_marked_ones(backend: BackendServer) -> None:
    seed_rows(backend)
    client = make_client(backend)
    store = RowStore(client, interval=0)
    try:
        await store.refresh(first=True)
        before = {s.id for s in await client.list_snapshots()}
        host = Host(SnapshotsScreen(store), store)
        async with host.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: host.asked, "the view to say it is shown")
            await pilot.press("slash", *"fss-00000000001", "enter", "asterisk", "ctrl+d", "y")
            await wait_for(pilot, lambda: host.intents, "the delete's intent")
            [asked] = host.intents
            assert isinstance(asked, DeleteSnapshots)
            assert sorted(asked.ids) == [f"fss-{n:012d}" for n in range(10, 20)]
        assert {s.id for s in await client.list_snapshots()} == before  # nothing deleted
    finally:
        await client.close()
