"""Running `python -m cwsandbox_tui serve` as a real subprocess for the CLI and crash tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc

from cwsandbox_tui.backend.faults import FaultPlan
from cwsandbox_tui.backend.server import BackendServer, ServerConfig, read_state
from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc, streaming_pb2_grpc

REPO_ROOT = Path(__file__).resolve().parents[2]


class ServeProcess:
    """One `serve` process; its stderr goes to a file so that it can never block on a pipe."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None,
                 log: Path | None = None, ignoring: tuple[str, ...] = ()) -> None:
        self.data_dir = data_dir
        self.log = log or data_dir.parent / f"serve-{data_dir.name}-{time.monotonic_ns()}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "cwsandbox_tui", "serve", "--data-dir", str(data_dir),
                   *args]
        if "--port" not in args:
            command += ["--port", "0"]
        if ignoring:  # started as `cmd &` or nohup start it: with these signals ignored
            command = ["/bin/sh", "-c", f'trap "" {" ".join(ignoring)}; exec "$@"', "sh",
                       *command]
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(command, cwd=REPO_ROOT, stdin=subprocess.DEVNULL,
                                            stdout=out, stderr=out,
                                            env={**os.environ, **(env or {})})
        self.port = 0
        self.channel: grpc.aio.Channel | None = None

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def ready(self, timeout: float = 20.0) -> ServeProcess:
        """Poll for the state file this very process writes once it serves."""
        deadline = time.monotonic() + timeout
        while True:
            state = read_state(self.data_dir)
            if state is not None and state.get("pid") == self.process.pid:
                self.port = int(state["port"])  # type: ignore[call-overload]
                return self
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited with {self.process.returncode}:\n{self.output}")
            if time.monotonic() > deadline:
                raise AssertionError(f"serve did not come up in {timeout} s:\n{self.output}")
            await asyncio.sleep(0.02)

    async def exited(self, timeout: float = 20.0) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"serve did not exit in {timeout} s:\n{self.output}")
            await asyncio.sleep(0.02)
        return self.process.returncode

    def stubs(self) -> tuple[gateway_pb2_grpc.GatewayServiceStub,
                             streaming_pb2_grpc.GatewayStreamingServiceStub]:
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.port}")
        return (gateway_pb2_grpc.GatewayServiceStub(self.channel),
                streaming_pb2_grpc.GatewayStreamingServiceStub(self.channel))

    async def close(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.channel is not None:
            await self.channel.close()
            self.channel = None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return await self.exited()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=20)


def run_serve(data_dir: Path, *args: str, env: dict[str, str] | None = None,
              timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run a `serve` that is expected to refuse to start; returns its exit status and output."""
    command = [sys.executable, "-m", "cwsandbox_tui", "serve", "--data-dir", str(data_dir),
               "--port", "0", *args]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})},
                          stdin=subprocess.DEVNULL)


def processes_with(marker: str) -> list[int]:
    """Pids of live processes whose command line holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != b"Z":
            found.append(int(entry.name))
    return found


@contextlib.asynccontextmanager
async def serving(data_dir: Path, **config: Any) -> AsyncIterator[BackendServer]:
    """A backend running in this process on a free loopback port (seeded faults, none set),
    stopped at once afterwards; `config` sets any other ServerConfig field.

    It opts in to unisolated sandboxes where this machine cannot isolate them, so that the
    tests of everything else run there too; the security tests demand isolation
    (tests/security/conftest.py) and test the refusal (test_isolation_fails_closed.py)."""
    config.setdefault("allow_unisolated", True)
    server = BackendServer(ServerConfig(data_dir=data_dir, port=0, faults=FaultPlan(seed=1),
                                        **config))
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace=0)
