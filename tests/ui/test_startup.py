"""Starting the dashboard: it draws before the connection is open, and says so honestly.

The header says the embedded backend is starting, then "connecting", until the endpoint has
answered; it never shows rows or "connected" before. Quitting while the backend still boots
does not hang and gives the lease up. Real backends, real gRPC; waits are on conditions.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from textual.widgets import Static

from cwsandbox_tui import paths
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client.connection import Endpoint
from cwsandbox_tui.client.embedded import LEASES, StartingBackend, start_embedded
from cwsandbox_tui.client.factory import ConnectOptions, Plan, prepare
from cwsandbox_tui.ui.app import DashboardApp
from cwsandbox_tui.ui.widgets.header import HeaderBar

from .conftest import seed_rows
from .flows_support import note_titled, notes, table_lines, wait_for


def opening(app: DashboardApp) -> bool:
    """The dashboard has asked for its connection, which is not open yet."""
    return app.client.opening


def header_text(app: DashboardApp) -> str:
    return str(app.screen.query_one(HeaderBar).render())


def assert_nothing_claimed(app: DashboardApp) -> None:
    """No rows, and no "No sandboxes" either: nothing is known yet."""
    body = "\n".join(table_lines(app))
    assert "Loading sandboxes..." in body and "No sandboxes" not in body and "sb-" not in body
    status = str(app.screen.query_one("#status-line", Static).render())
    assert status.startswith("loading sandboxes...")


async def test_header_says_connecting_until_the_endpoint_answers(
        backend: BackendServer) -> None:
    seed_rows(backend)
    plan = prepare(ConnectOptions(endpoint=f"http://127.0.0.1:{backend.port}", api="v1beta2",
                                  oplog=False))
    backend.faults.set_latency("List", 3.0)  # the first refresh's first call answers late
    app = DashboardApp(lambda: plan.connect(defer=True), refresh_interval=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: backend.faults.calls("List") >= 1,
                       "the first listing to reach the backend")
        # The call is on its way and cannot have been answered: nothing is claimed yet.
        assert app.store.link_state == "connecting"
        text = header_text(app)
        assert f"127.0.0.1:{backend.port}, connecting..." in text
        assert "connected" not in text and "loading..." in text
        assert_nothing_claimed(app)

        await wait_for(pilot, lambda: app.store.loaded, "the first load", timeout=20)
        assert app.store.link_state == "connected"
        text = header_text(app)
        assert f"127.0.0.1:{backend.port}, connected" in text and "4 sandboxes" in text
        assert any("sb-00000000aaaa" in line for line in table_lines(app))
        # The first answer is not a reconnection: no "Connected again" notice.
        assert not any("Connected again" in str(n.message) for n in app._notifications)
    await app.client.close()


def waiting_plan(data_dir: Path, *, demo: bool = False) -> Plan:
    """The dashboard's plan for the embedded backend, one that is not up yet (it is started,
    or not, by the test): the dashboard waits for whichever backend serves `data_dir`."""
    plan = prepare(ConnectOptions(endpoint="http://127.0.0.1:1", oplog=False, demo=demo))
    leases = data_dir / LEASES
    leases.mkdir(parents=True, exist_ok=True)
    lease = leases / str(os.getpid())
    lease.write_text(str(os.getpid()))
    return dataclasses.replace(
        plan, endpoint=Endpoint(url="", target="", tls=False, source="embedded"),
        starting=StartingBackend(data_dir, lease, None, None), data_dir=data_dir)


async def test_header_says_the_backend_is_starting_then_shows_where_it_runs() -> None:
    data_dir = paths.data_dir()  # the backend started there is stopped with the test
    plan = waiting_plan(data_dir)
    assert plan.starting is not None
    lease = plan.starting.lease
    app = DashboardApp(lambda: plan.connect(defer=True), refresh_interval=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: opening(app),
                       "the first call to wait for the backend")
        text = header_text(app)
        assert "local backend starting..." in text and "loading..." in text
        assert "isolated" not in text and "connected" not in text  # not known yet
        assert_nothing_claimed(app)

        start_embedded(data_dir)  # now it comes up (empty); stopped with the test
        await wait_for(pilot, lambda: app.store.loaded, "the first load", timeout=30)
        state = json.loads((data_dir / "backend.json").read_text())
        text = header_text(app)
        assert f"local :{str(state['url']).rpartition(':')[2]} " in text
        isolated = "NOT isolated" if state.get("isolation") != "bubblewrap" else "isolated"
        assert isolated in text and text.rstrip().endswith(", connected")
        assert "0 sandboxes, 0 snapshots" in text
        # Now that the backend has said so, the empty table says there are none.
        await wait_for(pilot, lambda: any("No sandboxes. Press n to start one." in line
                                          for line in table_lines(app)), "the empty state")
        status = str(app.screen.query_one("#status-line", Static).render())
        assert status.startswith("0 of 0 sandboxes")
    await app.client.close()
    assert not lease.exists()


async def test_quitting_before_the_backend_is_up_gives_the_lease_up() -> None:
    plan = waiting_plan(paths.data_dir())  # and no backend ever comes
    starting = plan.starting
    assert starting is not None
    app = DashboardApp(lambda: plan.connect(defer=True), refresh_interval=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: opening(app),
                       "the first call to wait for the backend")
        assert "local backend starting..." in header_text(app)
        await pilot.press("q")
    await app.client.close()  # as the launcher does after the app
    assert starting.abandoned.is_set()  # the waiting thread stops (asyncio.run waits for it)
    assert not starting.lease.exists()


async def test_a_backend_that_fails_to_start_is_said_once_and_ctrl_r_retries() -> None:
    data_dir = paths.data_dir()  # a backend started there is stopped with the test
    (data_dir / "state.sqlite3").mkdir(parents=True)  # its database cannot be opened
    plan = prepare(ConnectOptions(oplog=False))
    app = DashboardApp(lambda: plan.connect(defer=True), refresh_interval=0)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.store.link_state == "disconnected",
                       "the failed start to be said", timeout=30)
        text = header_text(app)
        assert "local backend not started, DISCONNECTED (ctrl+r retries)" in text
        assert "load failed (see :ops)" in text
        await wait_for(pilot, lambda: any("Could not load sandboxes" in line
                                          for line in table_lines(app)), "the table's reason")
        note = note_titled(app, "Connection")
        assert note is not None and "Could not connect" in note.message
        assert "unable to open database file" in note.message
        # A link that is down is not polled (each poll would be one more failure notice).
        assert not app.store.tick_due(modal_open=False)

        (data_dir / "state.sqlite3").rmdir()  # the cause is fixed; the person asks again
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.store.loaded, "the load after ctrl+r", timeout=30)
        assert header_text(app).rstrip().endswith(", connected")
        await wait_for(pilot, lambda: any("No sandboxes. Press n to start one." in line
                                          for line in table_lines(app)), "the empty state")
    await app.client.close()


async def test_a_backend_that_cannot_isolate_says_so_up_front_and_n_opens_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The embedded backend finds a bwrap that fails as where user namespaces are forbidden.
    tools = tmp_path / "no-userns"
    tools.mkdir(mode=0o755)
    tools.chmod(0o755)
    (tools / "bwrap").write_text("#!/bin/sh\necho 'bwrap: No permissions to create a new "
                                 "namespace' >&2\nexit 1\n")
    (tools / "bwrap").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    data_dir = paths.data_dir()  # the backend started there is stopped with the test
    plan = waiting_plan(data_dir)
    app = DashboardApp(lambda: plan.connect(defer=True), refresh_interval=0)
    title = "No sandboxes can start"
    async with app.run_test(size=(120, 40)) as pilot:
        start_embedded(data_dir)
        await wait_for(pilot, lambda: app.store.loaded, "the first load", timeout=30)
        # said before anything is asked: in the header and in a notice with the fix
        assert "CANNOT isolate" in header_text(app)
        await wait_for(pilot, lambda: note_titled(app, title) is not None, "the notice")
        notice = note_titled(app, title)
        assert notice is not None
        for words in ("user namespaces", "sysctl", "--no-isolation",
                      "allow_unisolated_sandboxes"):
            assert words in notice.message, words
        shown = len(notes(app))
        # `n`, one at a time and in a burst: no form to fill in for nothing, the reason again
        screen = app.screen
        await pilot.press("n")
        await pilot.press("n", "n", "n")
        await wait_for(pilot, lambda: len(notes(app)) > shown, "the refusal")
        assert app.screen is screen, "no new-sandbox form was opened"
        assert all(n.title == title for n in notes(app)[shown:])
    await app.client.close()
