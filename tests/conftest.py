"""Shared fixtures: a real embedded backend on loopback, and stubs talking to it."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from cwsandbox_tui.backend.faults import FaultPlan
from cwsandbox_tui.backend.server import BackendServer, ServerConfig
from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc, streaming_pb2_grpc


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep every test away from the user's real data, state and config directories."""
    for name in ("DATA", "STATE", "CONFIG"):
        monkeypatch.setenv(f"CWSANDBOX_TUI_{name}_DIR", str(tmp_path / name.lower()))
    for name in ("CWSANDBOX_BASE_URL", "CWSANDBOX_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "backend"


@pytest.fixture
async def backend(data_dir: Path) -> AsyncIterator[BackendServer]:
    """A running backend on a free loopback port; `backend.faults` can be changed live."""
    server = BackendServer(ServerConfig(data_dir=data_dir, port=0, faults=FaultPlan(seed=1)))
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace=0)


@pytest.fixture
async def channel(backend: BackendServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{backend.port}") as chan:
        yield chan


@pytest.fixture
def gateway(channel: grpc.aio.Channel) -> gateway_pb2_grpc.GatewayServiceStub:
    return gateway_pb2_grpc.GatewayServiceStub(channel)


@pytest.fixture
def streaming(channel: grpc.aio.Channel) -> streaming_pb2_grpc.GatewayStreamingServiceStub:
    return streaming_pb2_grpc.GatewayStreamingServiceStub(channel)


def bwrap_available() -> bool:
    return any(os.access(os.path.join(p, "bwrap"), os.X_OK)
               for p in os.environ.get("PATH", "").split(os.pathsep))
