"""The details of a sandbox show the limits the backend holds it to (issue 17)."""

from __future__ import annotations

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client.models import SandboxSpec
from cwsandbox_tui.ui.screens.dialogs import DetailsDialog

from .conftest import AppFactory, make_client
from .flows_support import settle, texts


async def test_the_details_view_shows_the_limits_applied(
        backend: BackendServer, app_factory: AppFactory) -> None:
    starter = make_client(backend)
    try:
        sandbox = await starter.start_sandbox(SandboxSpec(mount_path="/workspace", size="3Gi"))
    finally:
        await starter.close()
    app = app_factory(seed=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DetailsDialog)
        lines = texts(app)
        assert any(line.startswith("ID") and line.endswith(sandbox.id) for line in lines), lines
        enforced = [line for line in lines if line.startswith("Enforced ")]
        assert [line.split(None, 1)[1] for line in enforced] == [
            "4096 processes, memory 8.0 GiB, mount 3.0 GiB, log keeps 64.0 MiB"], lines
