"""The CLI's flows run against each API generation: one backend each, serving only it.

The commands find the generation themselves (`--api` defaults to auto), so those tests also
check that auto-detection lands on the one the backend speaks. Tests that never reach the
backend (usage errors, the embedded backend) run once, against the default (both).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cwsandbox_tui.backend.server import BackendServer
from tests.backend.serving import serving

PER_GENERATION = {"test_commands", "test_generations", "test_bulk_round_trips", "test_shell"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "api" in metafunc.fixturenames:
        module = metafunc.module.__name__.rpartition(".")[2]
        metafunc.parametrize("api", ["v1beta2", "v1"] if module in PER_GENERATION else ["both"])


@pytest.fixture
async def backend(data_dir: Path, api: str) -> AsyncIterator[BackendServer]:
    async with serving(data_dir, api=api) as server:
        yield server
