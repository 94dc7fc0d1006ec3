"""The CLI suite runs against each API generation: one backend each, serving only it.

The commands find the generation themselves (`--api` defaults to auto), so every test here
also checks that auto-detection lands on the one the backend speaks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cwsandbox_tui.backend.faults import FaultPlan
from cwsandbox_tui.backend.server import BackendServer, ServerConfig


@pytest.fixture(params=["v1beta2", "v1"])
def api(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def backend(data_dir: Path, api: str) -> AsyncIterator[BackendServer]:
    server = BackendServer(ServerConfig(data_dir=data_dir, port=0, faults=FaultPlan(seed=1),
                                        api=api))
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace=0)
