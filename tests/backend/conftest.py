"""Fixtures of the backend tests beyond the shared ones in tests/conftest.py."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from cwsandbox_tui.backend.faults import FaultPlan
from cwsandbox_tui.backend.server import BackendServer, ServerConfig
from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc, streaming_pb2_grpc


@dataclass
class Connected:
    """A backend of a test's own, with stubs on a channel to it."""

    server: BackendServer
    channel: grpc.aio.Channel
    gateway: gateway_pb2_grpc.GatewayServiceStub
    streaming: streaming_pb2_grpc.GatewayStreamingServiceStub


StartBackend = Callable[..., Awaitable[Connected]]


@pytest.fixture
async def start_backend(tmp_path: Path) -> AsyncIterator[StartBackend]:
    """Start extra backends: `await start_backend(data_dir=..., api_key=..., isolate=...)`.

    Each is stopped (and its channel closed) at the end of the test unless the test stopped it.
    """
    running: list[Connected] = []

    async def start(*, metadata: tuple[tuple[str, str], ...] = (), **config: Any) -> Connected:
        config.setdefault("data_dir", tmp_path / f"backend-{len(running)}")
        config.setdefault("port", 0)
        config.setdefault("faults", FaultPlan(seed=1))
        server = BackendServer(ServerConfig(**config))
        await server.start()
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
        connected = Connected(server, channel, gateway_pb2_grpc.GatewayServiceStub(channel),
                              streaming_pb2_grpc.GatewayStreamingServiceStub(channel))
        running.append(connected)
        return connected

    try:
        yield start
    finally:
        for connected in running:
            await connected.channel.close()
            if connected.server.engine is not None:  # not stopped by the test itself
                await connected.server.stop(grace=0)


class ExecutorHold:
    """Keeps the event loop's one-worker default executor busy, so that work the backend
    hands to a thread (archiving, restoring, removing) waits in the queue until `release()`.

    This delays real work deterministically; it replaces nothing of the backend.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._gate = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="held")
        loop.set_default_executor(self._executor)

    def hold(self) -> None:
        self._gate = threading.Event()
        self._executor.submit(self._gate.wait)

    def release(self) -> None:
        self._gate.set()


@pytest.fixture
async def held_executor() -> AsyncIterator[ExecutorHold]:
    """The executor held from the start of the test (call `release()`, then `hold()` again)."""
    hold = ExecutorHold(asyncio.get_running_loop())
    hold.hold()
    try:
        yield hold
    finally:
        hold.release()
