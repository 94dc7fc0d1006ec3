"""Fixtures of the security tests: a backend whose sandboxes must really be isolated."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cwsandbox_tui.backend.server import BackendServer
from tests.backend.serving import ServeProcess


def require_isolation(backend: BackendServer) -> None:
    """Skip where this machine cannot isolate, unless CI demands that it can (then fail)."""
    assert backend.engine is not None
    isolation = backend.engine.isolation
    if isolation.isolated:
        return
    if os.environ.get("CWSANDBOX_TUI_REQUIRE_ISOLATION"):
        pytest.fail(f"sandboxes are not isolated here: {isolation.detail}")
    pytest.skip(f"sandboxes are not isolated here: {isolation.detail}")


@pytest.fixture
def isolated(backend: BackendServer) -> BackendServer:
    require_isolation(backend)
    return backend


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[ServeProcess]:
    """`cwsandbox-tui serve` as its own process (SIGTERM, then SIGKILL when it ends)."""
    server = await ServeProcess(tmp_path / "backend").ready()
    try:
        yield server
    finally:
        try:
            await server.close()
        finally:
            server.kill()  # also when it did not stop on SIGTERM
