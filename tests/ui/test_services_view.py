"""A sandbox's service address and ports in the details, and `c` there copies the address;
on each API generation alone (the v1beta2 record's service_address, v1's status.services)."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.backend.store import StoredSpec
from cwsandbox_tui.ui.screens.dialogs import DetailsDialog

from .conftest import AppFactory
from .flows_support import settle, wait_for

SLEEP = ["-c", 'trap "exit 0" TERM INT; sleep infinity & wait']


@pytest.mark.parametrize("api", ["v1beta2", "v1"])
async def test_details_show_the_service_address_and_c_copies_it(
        app_factory: AppFactory, backend: BackendServer) -> None:
    assert backend.engine is not None
    row = backend.engine.start(StoredSpec(
        command="/bin/sh", args=SLEEP, container_image="python:3.11", services=[
            {"port": 8000, "name": "web", "protocol": "TCP"},
            {"port": 9000, "name": "", "protocol": "TCP"}]))
    host = row.spec.service_address
    app = app_factory(seed=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: row.id in app.store.sandboxes, "the sandbox's row")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsDialog), "the details")
        shown = "\n".join(str(s.render()) for s in app.screen.query(Static))
        assert f"Service        {host}:8000 (c copies it)" in shown
        assert f"Ports          8000 (web) at {host}:8000, 9000 at {host}:9000" in shown
        await pilot.press("c")
        await pilot.pause()
        assert app.clipboard == f"{host}:8000"
