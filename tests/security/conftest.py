"""Fixtures of the security tests: a backend whose sandboxes must really be isolated."""

from __future__ import annotations

import os

import pytest

from cwsandbox_tui.backend.server import BackendServer


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
