"""The log view follows across a dropped connection: every line once, and it says so."""

from __future__ import annotations

from textual.widgets import Log, Static

from cwsandbox_tui.backend.faults import Trigger
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client.models import SandboxSpec
from cwsandbox_tui.ui.screens.output import LogsScreen

from .conftest import AppFactory
from .flows_support import settle, wait_for

SCRIPT = ("-c", "for i in $(seq 1 40); do echo line-$i; done; sleep 0.5")


async def test_log_view_resumes_after_a_reconnect(app_factory: AppFactory,
                                                  backend: BackendServer) -> None:
    app = app_factory(seed=False, fake_clock=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        sandbox = await app.client.start_sandbox(SandboxSpec(args=SCRIPT))
        backend.faults.cut_after = 10
        backend.faults.set_fault("StreamLogs", "cut", Trigger(first=1))
        app.push_screen(LogsScreen(app.client, sandbox.id))
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        status = screen.query_one("#output-status", Static)
        await wait_for(pilot, lambda: "no more output" in str(status.render()),
                       "the log to end with the sandbox", timeout=20)
        lines = [line for line in screen.query_one(Log).lines if line]
        assert lines == [f"line-{i}" for i in range(1, 41)]
        assert screen.reconnects == 1
        assert backend.faults.calls("StreamLogs") == 2
