"""The header and the client agree on the connection: while the link waits to reconnect no
call retries or polls on its own, the pauses grow as the header counts them, and a refused
API key is never "connected" (said once, nothing polled until ctrl+r)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cwsandbox_tui.client import events as ev
from cwsandbox_tui.client.client import Client, EndpointInfo
from cwsandbox_tui.client.errors import UnavailableError
from cwsandbox_tui.client.generations import choose
from cwsandbox_tui.client.link import Link
from cwsandbox_tui.client.wire import open_channel
from cwsandbox_tui.ui.app import DashboardApp
from cwsandbox_tui.ui.widgets.header import HeaderBar
from tests.backend.serving import serving

from .conftest import make_client
from .flows_support import notes, settle, wait_for


class HeldSleeps:
    """The link's pauses: recorded, and each held until the test lets it end."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self._go: list[asyncio.Event] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        go = asyncio.Event()
        self._go.append(go)
        await go.wait()

    def release(self) -> None:
        self._go[-1].set()


def header(app: DashboardApp) -> str:
    return str(app.screen.query_one(HeaderBar).render())


def recorded(client: Client) -> list[ev.Event]:
    events: list[ev.Event] = []
    client.bus.subscribe(events.append)
    return events


def lists_started(events: list[ev.Event]) -> int:
    return sum(1 for e in events if isinstance(e, ev.OperationStarted) and e.op == "List sandboxes")


async def never(*_: Any) -> Any:
    raise UnavailableError("the backend is gone", code="UNAVAILABLE")


async def test_while_the_link_waits_nothing_retries_or_polls_and_pauses_grow(
        data_dir: Path) -> None:
    async with serving(data_dir) as server:
        client = make_client(server, fake_clock=False)
        sleeps = HeldSleeps()
        client.link = Link(client, never, sleep=sleeps)
        events = recorded(client)
        app = DashboardApp(client, refresh_interval=0)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert app.store.loaded and "connected" in header(app)
            await server.stop(grace=0)

            await pilot.press("ctrl+r")  # a refresh: its List fails, the link finds it gone
            await wait_for(pilot, lambda: sleeps.asked, "the link's first pause")
            assert sleeps.asked == [0.5]
            await wait_for(pilot, lambda: "RECONNECTING (try 1, next in 0.5s)" in header(app),
                           "the header's countdown")
            await wait_for(pilot, lambda: not app.store.refreshing,
                           "the refresh to end (its call stops retrying once the link is down)")
            down = next(i for i, e in enumerate(events) if isinstance(e, ev.ConnectionChanged)
                        and e.state == "reconnecting")
            assert not [e for e in events[down:] if isinstance(e, ev.RetryScheduled)]
            [failed] = [e for e in events if isinstance(e, ev.Failed)
                        and e.op == "List sandboxes"]
            assert failed.attempts <= 3, failed

            started = lists_started(events)
            for _ in range(5):  # what the refresh timer does every interval
                app.refresh_tick()
            await pilot.press("ctrl+r")  # asks the link, which is already trying
            await settle(pilot)
            assert lists_started(events) == started, "polled while the header said waiting"

            sleeps.release()  # the pause the header counted ends: one try, which fails
            await wait_for(pilot, lambda: len(sleeps.asked) == 2, "the second pause")
            assert sleeps.asked == [0.5, 1.0]
            await wait_for(pilot, lambda: "RECONNECTING (try 2, next in 1s)" in header(app),
                           "the header's second countdown")
            assert lists_started(events) == started
            sleeps.release()
        await client.close()


async def test_a_refused_key_is_never_connected_said_once_and_not_polled(
        data_dir: Path) -> None:
    async with serving(data_dir, api_key="the-right-key") as server:
        channel = open_channel(f"127.0.0.1:{server.port}", tls=False, root_certificates=None)
        adapter = choose("auto", channel, [("authorization", "Bearer a-wrong-key")])
        info = EndpointInfo(url=server.url, source="--endpoint",
                            auth_mode="API key ($CWSANDBOX_API_KEY)", read_only=False)
        client = Client(adapter, info)
        reopen: Callable[[], Awaitable[Any]] = never
        client.link = Link(client, reopen, connecting=True)
        events = recorded(client)
        app = DashboardApp(client, refresh_interval=0)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.store.link_state == "refused", "the key's refusal")
            await settle(pilot)
            shown = header(app)
            assert "KEY REFUSED (ctrl+r retries)" in shown, shown
            assert "connected" not in shown and "API v1 " not in shown
            refusals = [n for n in notes(app) if "refused the API key" in n.message]
            assert len(refusals) == 1 and refusals[0].severity == "error"
            assert "a-wrong-key" not in refusals[0].message
            assert not [n for n in notes(app) if n.title.endswith("failed")], notes(app)

            started = lists_started(events)
            for _ in range(5):  # the refresh timer's ticks: nothing is polled
                app.refresh_tick()
            await settle(pilot)
            assert lists_started(events) == started
            assert len([n for n in notes(app) if "refused the API key" in n.message]) == 1

            await pilot.press("ctrl+r")  # asks again, once: refused again, said once more
            await wait_for(pilot, lambda: lists_started(events) == started + 1
                           and app.store.link_state == "refused", "ctrl+r's one try")
            await settle(pilot)
            assert len([n for n in notes(app) if "refused the API key" in n.message]) == 2
            assert "KEY REFUSED" in header(app)
            assert not [e for e in events if isinstance(e, ev.ConnectionChanged)
                        and e.state == "connected"]
        await client.close()


async def test_a_refused_endpoint_at_start_is_said_once_and_waited_for_as_counted() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])  # nothing listens once it is closed
    channel = open_channel(f"127.0.0.1:{port}", tls=False, root_certificates=None)
    info = EndpointInfo(url=f"http://127.0.0.1:{port}", source="--endpoint", auth_mode="none",
                        read_only=False)
    client = Client(choose("auto", channel, []), info)
    sleeps = HeldSleeps()
    client.link = Link(client, never, sleep=sleeps, connecting=True)
    events = recorded(client)
    app = DashboardApp(client, refresh_interval=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: sleeps.asked, "the link's first pause")
        await wait_for(pilot, lambda: "RECONNECTING (try 1, next in 0.5s)" in header(app),
                       "the header's countdown")
        await wait_for(pilot, lambda: not app.store.refreshing, "the first refresh to end")
        await settle(pilot)
        assert not [n for n in notes(app) if n.title == "Retrying"], notes(app)
        assert len([n for n in notes(app) if n.title == "Connection"]) == 1, notes(app)
        down = next(i for i, e in enumerate(events) if isinstance(e, ev.ConnectionChanged))
        assert not [e for e in events[down:] if isinstance(e, ev.RetryScheduled)]
        started = lists_started(events)
        for _ in range(5):
            app.refresh_tick()
        await settle(pilot)
        assert lists_started(events) == started
        sleeps.release()
        await wait_for(pilot, lambda: len(sleeps.asked) == 2, "the second pause")
        assert sleeps.asked == [0.5, 1.0]
        sleeps.release()
    await client.close()
