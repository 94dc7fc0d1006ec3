"""The header names the kind of credentials in use (API key or W&B, and where from), never the
key, against a real backend that requires that key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cwsandbox_tui.backend.server import BackendServer, ServerConfig
from cwsandbox_tui.client.factory import ConnectOptions, prepare
from cwsandbox_tui.ui.app import DashboardApp

from .flows_support import wait_for
from .test_startup import header_text

KEY = "5a69788796a5b4c3d2e1f0a9b8c70f1e2d3c3c4b"


@pytest.fixture
async def keyed(tmp_path: Path) -> AsyncIterator[BackendServer]:
    server = BackendServer(ServerConfig(data_dir=tmp_path / "keyed", port=0, api_key=KEY))
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace=0)


@pytest.mark.parametrize(("env", "shown"), [
    ({"CWSANDBOX_API_KEY": KEY}, "API key ($CWSANDBOX_API_KEY)"),
    ({"CWSANDBOX_AUTH": "wandb", "WANDB_API_KEY": KEY, "WANDB_ENTITY": "team-a"},
     "W&B ($WANDB_API_KEY, entity team-a)"),
], ids=["api key", "wandb"])
async def test_the_header_names_the_kind_of_key(keyed: BackendServer,
                                                monkeypatch: pytest.MonkeyPatch,
                                                env: dict[str, str], shown: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    plan = prepare(ConnectOptions(endpoint=keyed.url, oplog=False))
    app = DashboardApp(lambda: plan.connect(defer=True), refresh_interval=0)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: app.store.loaded, "the first load through the key gate",
                       timeout=20)
        assert app.store.link_state == "connected" and not app.store.load_error
        text = header_text(app)
        assert f"| {shown} |" in text and "connected" in text, text
        assert KEY not in app.export_screenshot()
    await app.client.close()
