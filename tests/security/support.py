"""What the attack tests share: a latency probe and the server's resident memory."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from cwsandbox_tui.backend.faults import FaultPlan
from cwsandbox_tui.backend.server import BackendServer, ServerConfig
from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc, streaming_pb2_grpc


def rss_bytes() -> int:
    """Resident memory of this process (the backend runs in it)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


# The worst answer time allowed for another call while hostile work runs. Blocking work on
# the event loop stalls it for seconds (a FIFO's open until a writer comes: forever; the
# 170 MB log read whole: 4.25 s); a loaded 2-core CI machine can add a few hundred ms to an
# honest answer. The measured figure is printed (SECURITY FIGURE ...) for the record.
STALL_LIMIT_MS = 500


@dataclass
class Probe:
    """Times a cheap call over and over while something else runs, and samples memory."""

    call: Callable[[], Awaitable[Any]]
    latencies: list[float] = field(default_factory=list)
    peak_rss: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            await asyncio.wait_for(self.call(), 5)
            self.latencies.append(time.perf_counter() - started)
            self.peak_rss = max(self.peak_rss, rss_bytes())
            await asyncio.sleep(0)  # yield only: the loop runs the work under test meanwhile

    async def around(self, work: Awaitable[Any]) -> Any:
        """Run `work` while probing; returns its result."""
        prober = asyncio.ensure_future(self.run())
        try:
            return await work
        finally:
            self._stop.set()
            await prober

    @property
    def worst_ms(self) -> float:
        return max(self.latencies) * 1000 if self.latencies else 0.0

    @property
    def median_ms(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[len(ordered) // 2] * 1000 if ordered else 0.0


def report(name: str, **figures: object) -> None:
    """A line the lead can quote (visible with `pytest -s`, and kept in the captured output)."""
    shown = ", ".join(f"{key}={value}" for key, value in figures.items())
    print(f"\nSECURITY FIGURE {name}: {shown}")


HOST_SECRET = b"HOST SECRET: never to be seen by a sandbox"


@dataclass
class Guarded:
    """A backend hiding a host directory (outside /tmp, so the sandbox's root would show it)
    that holds a secret file: the target of every link the attacks make."""

    server: BackendServer
    channel: grpc.aio.Channel
    gateway: gateway_pb2_grpc.GatewayServiceStub
    streaming: streaming_pb2_grpc.GatewayStreamingServiceStub
    secret_dir: Path
    data_dir: Path

    def host_state(self) -> dict[str, bytes]:
        """Every file under the secret directory, with its contents."""
        return {str(p.relative_to(self.secret_dir)): p.read_bytes()
                for p in sorted(self.secret_dir.rglob("*")) if p.is_file()}


@pytest.fixture(name="guarded")
async def guarded_fixture(tmp_path: Path) -> AsyncIterator[Guarded]:
    secret_dir = Path(tempfile.mkdtemp(prefix="cwsandbox-secret-", dir="/var/tmp"))
    (secret_dir / "secret.txt").write_bytes(HOST_SECRET)
    data_dir = tmp_path / "backend"
    server = BackendServer(ServerConfig(data_dir=data_dir, port=0, faults=FaultPlan(seed=1),
                                        hidden=(secret_dir,)))
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        yield Guarded(server, channel, gateway_pb2_grpc.GatewayServiceStub(channel),
                      streaming_pb2_grpc.GatewayStreamingServiceStub(channel), secret_dir,
                      data_dir)
    finally:
        await channel.close()
        await server.stop(grace=0)
        shutil.rmtree(secret_dir, ignore_errors=True)
