"""Quitting says what keeps running after the dashboard (its sandboxes) and how to end it."""

from __future__ import annotations

import asyncio

import pytest

from cwsandbox_tui.client.client import EndpointInfo
from cwsandbox_tui.ui.keeps_running import keeps_running
from cwsandbox_tui.ui.screens.dialogs import ConfirmDialog

from .conftest import AppFactory
from .flows_support import settle, texts, wait_for
from .test_typeahead import burst

EMBEDDED_LINE = ("2 sandboxes (1 running, 1 paused) keep running after you quit: the local "
                 "backend stays until they end. `cwsandbox-tui backend status` shows it; stop "
                 "them, or `cwsandbox-tui backend stop --force` ends it and them.")


@pytest.mark.parametrize("delivery", ["one_by_one", "burst"])
async def test_the_quit_dialog_says_which_sandboxes_keep_running_and_how_to_end_them(
        app_factory: AppFactory, delivery: str) -> None:
    app = app_factory()  # seeded: one RUNNING and one PAUSED sandbox, on the local backend
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        hold = asyncio.Event()
        app.run_job("Hold", lambda _: hold.wait())
        await wait_for(pilot, lambda: app.runner.jobs, "the job to run")
        if delivery == "one_by_one":
            await pilot.press("q")
        else:
            burst(app, "q")
        # (not keys_done: it waits for every worker, and the held job runs until the end)
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the quit dialog")
        shown = texts(app)
        assert "1 operation is still running:" in shown and "  Hold" in shown
        assert EMBEDDED_LINE in shown
        assert app.left_running() == EMBEDDED_LINE
        await pilot.press("y")
        await pilot.pause()
        hold.set()
    assert not app.is_running


def test_on_a_service_the_sandboxes_live_until_stopped() -> None:
    from cwsandbox_tui.client.models import Sandbox, SandboxStatus

    info = EndpointInfo(url="https://api.example.com", source="--endpoint", auth_mode="none",
                        read_only=False)
    rows = [Sandbox(id="sb-1", status=SandboxStatus.RUNNING),
            Sandbox(id="sb-2", status=SandboxStatus.COMPLETED)]
    assert keeps_running(rows, info) == ("1 sandbox (1 running, 0 paused) keeps running after "
                                         "you quit on https://api.example.com, until stopped "
                                         "or their lifetime ends.")
    assert keeps_running(rows[1:], info) == ""
