"""Fixtures of the client tests: a real `Client` over loopback gRPC to the in-process backend.

Nothing of the project is mocked. Timing rules use `FakeClock` (its sleeps are instant and
recorded); the backend's fault plan (`backend.faults`) injects failures on the wire.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client.client import Client
from tests.fake_clock import FakeClock

from .helpers import Harness, Recorder


@pytest.fixture
async def harness(backend: BackendServer) -> AsyncIterator[Harness]:
    made = Harness(backend)
    try:
        yield made
    finally:
        for client in made.clients:
            await client.close()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def client(harness: Harness) -> tuple[Client, Recorder]:
    """A client on the system clock (for flows whose waits are real, like stops)."""
    return harness.make()


@pytest.fixture
async def fclient(harness: Harness, fake_clock: FakeClock) -> tuple[Client, Recorder]:
    """A client on a fake clock: retry sleeps are instant and recorded in `fake_clock.sleeps`."""
    return harness.make(clock=fake_clock)


