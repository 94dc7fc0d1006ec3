"""Shared fixtures: a real embedded backend on loopback, and stubs talking to it."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from cwsandbox_tui.backend.server import BackendServer, read_state
from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc, streaming_pb2_grpc
from tests.backend.serving import serving


def _inherited_ignores_undone() -> None:
    """A run started in the background (`cmd &` ignores SIGINT and SIGQUIT) or under nohup
    (SIGHUP) passes those ignores on to every process the tests start, sandboxes included
    (exec keeps an ignored signal ignored): a ^C then never reached a sandbox's command, a
    hang-up never ended a client. A handler of this process's own is reset to the default
    in its children, as a terminal's processes have it."""
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
        if signal.getsignal(sig) == signal.SIG_IGN:
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT
                          else (lambda *_: None))


_inherited_ignores_undone()


def _xdist_sizes_undone() -> None:
    """pytest-xdist's workers start with COLUMNS=80 and LINES=24 in their environment, which
    outrank a terminal's own size for every program the tests start on a pty (the SDK's
    shell then said 24 80 on a 33×111 pty)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        for name in ("COLUMNS", "LINES"):
            os.environ.pop(name, None)


_xdist_sizes_undone()

@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep every test away from the user's real data, state and config directories; an
    embedded backend a test's commands started there is stopped with the test (it would
    otherwise linger after its last client)."""
    for name in ("DATA", "STATE", "CONFIG"):
        monkeypatch.setenv(f"CWSANDBOX_TUI_{name}_DIR", str(tmp_path / name.lower()))
    for name in ("CWSANDBOX_BASE_URL", "CWSANDBOX_API_KEY", "CWSANDBOX_AUTH", "WANDB_API_KEY",
                 "WANDB_ENTITY", "WANDB_PROJECT", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))  # never the user's `wandb login`
    yield
    stop_embedded_backend(tmp_path / "data")


def stop_embedded_backend(data_dir: Path, timeout: float = 15.0) -> None:
    state = read_state(data_dir)
    pid = state.get("pid") if state else None
    if not isinstance(pid, int):
        return
    try:  # a state file a killed backend left names a pid that may be anyone's now
        if str(data_dir).encode() not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return
    except OSError:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up:
            # A backend this process started (a test's Plan, a reconnect) stays a zombie, which
            # signal 0 still finds, until it is reaped here.
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            os.kill(pid, 0)  # ProcessLookupError once it is gone
            time.sleep(0.05)
        raise AssertionError(f"the embedded backend {pid} did not stop within {timeout} s")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "backend"


@pytest.fixture
async def backend(data_dir: Path) -> AsyncIterator[BackendServer]:
    """A running backend on a free loopback port; `backend.faults` can be changed live."""
    async with serving(data_dir) as server:
        yield server


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
