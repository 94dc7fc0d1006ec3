"""`bench/proxy.py`, the benchmarks' latency and fault proxy, relays calls faithfully: the
caller's authorization, the server's error details (ErrorInfo reason, RetryInfo), streams;
and its own throttling carries a RetryInfo the client honours."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client.adapter_v1beta2 import V1beta2Adapter
from cwsandbox_tui.client.client import Client, ClientOptions, EndpointInfo
from cwsandbox_tui.client.errors import AuthenticationError, CwsError, SnapshotNotFoundError
from cwsandbox_tui.client.models import SandboxSpec
from cwsandbox_tui.client.retry import RetryPolicy
from cwsandbox_tui.client.wire import open_channel
from tests.backend.serving import serving

NO_RETRY = RetryPolicy(budget=0.0)  # one attempt

REPO = Path(__file__).resolve().parents[1]
KEY = "proxy-test-key"


@pytest.fixture
async def backend(data_dir: Path) -> AsyncIterator[BackendServer]:
    async with serving(data_dir, api_key=KEY) as server:
        yield server


@pytest.fixture
async def start_proxy(backend: BackendServer) -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Starts `python -m bench.proxy ARGS...` in front of the backend; returns its target."""
    processes: list[asyncio.subprocess.Process] = []

    async def start(*args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.proxy", "--upstream", f"127.0.0.1:{backend.port}",
            *args, cwd=REPO, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL)
        processes.append(process)
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        return f"127.0.0.1:{json.loads(line)['port']}"

    try:
        yield start
    finally:
        for process in processes:
            if process.returncode is None:
                process.terminate()
            await asyncio.wait_for(process.wait(), 10)


def client_for(target: str, key: str | None, options: ClientOptions | None = None) -> Client:
    metadata = [("authorization", f"Bearer {key}")] if key else []
    info = EndpointInfo(url=f"http://{target}", source="test", auth_mode="api key",
                        read_only=False)
    return Client(V1beta2Adapter(open_channel(target, tls=False, root_certificates=None), metadata),
                  info, options=options or ClientOptions(retry=NO_RETRY))


async def test_the_proxy_relays_authorization_details_and_streams(
        backend: BackendServer, start_proxy: Callable[..., Awaitable[str]]) -> None:
    target = await start_proxy("--latency", "1ms")
    anonymous = client_for(target, None)
    client = client_for(target, KEY)
    try:
        with pytest.raises(AuthenticationError):
            await anonymous.list_snapshots()  # the key is what lets a call through
        assert await client.list_snapshots() == []
        with pytest.raises(SnapshotNotFoundError) as missing:
            await client.get_snapshot("fss-missing")
        assert missing.value.reason == "CWSANDBOX_FSS_NOT_FOUND"  # ErrorInfo survived
        sandbox = await client.start_sandbox(SandboxSpec(mount_path="/workspace"))
        result = await client.exec(sandbox.id, ["sh", "-c", "echo out; echo err >&2; exit 3"])
        assert (result.exit_code, result.stdout, result.stderr) == (3, b"out\n", b"err\n")
    finally:
        await anonymous.close()
        await client.close()


async def test_the_proxys_throttling_carries_a_retry_hint(
        backend: BackendServer, start_proxy: Callable[..., Awaitable[str]]) -> None:
    target = await start_proxy("--throttle", "1", "--retry-delay", "250ms",
                               "--methods", "GetFileSystemSnapshotBucketConfig")
    client = client_for(target, KEY)
    try:
        with pytest.raises(CwsError) as refused:
            await client.get_bucket()
        assert refused.value.code == "RESOURCE_EXHAUSTED"
        assert refused.value.retry_delay == pytest.approx(0.25)
        assert await client.list_snapshots() == []  # other methods pass
    finally:
        await client.close()
