"""Connections that never speak HTTP/2 do not hold the backend: they are closed after the
handshake limit, connections past the cap are closed as they come, and List keeps answering.

The backend runs as a `serve` subprocess with a short handshake limit (`--handshake-timeout`,
hidden; 10 s by default against gRPC's 120 s) so that its fds are its own to count.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import grpc

from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb
from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc
from tests.backend.serving import ServeProcess

from .support import report

HALF_OPEN = 2000
HANDSHAKE_LIMIT = 2.0
CLOSE_BOUND = 20.0  # beyond the limit: a loaded machine's timers, and reading 2,000 sockets


def open_fds(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def room_for(count: int) -> int:
    """Raise this process's open-file limit (the backend it starts inherits it) so that
    `count` sockets fit, as far as the hard limit allows; how many do."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count * 2 + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return min(count, (soft - 256) // 2)


@contextlib.contextmanager
def silent_connections(port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` TCP connections to the backend that never send a byte."""
    opened: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.setblocking(False)
            opened.append(sock)
        yield opened
    finally:
        for sock in opened:
            sock.close()


async def closed_by_server(sockets: list[socket.socket], bound: float) -> list[float]:
    """Wait (at most `bound` s) until the server has closed each socket; the seconds each took
    (the server's SETTINGS frame is read and dropped on the way)."""
    started = time.perf_counter()
    closed: list[float] = []
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            selector.register(sock, selectors.EVENT_READ)
        while len(closed) < len(sockets) and time.perf_counter() - started < bound:
            for key, _ in selector.select(timeout=0):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""  # reset: closed too
                if not data:
                    selector.unregister(sock)
                    closed.append(time.perf_counter() - started)
            await asyncio.sleep(0.05)  # poll interval of the selector (others run meanwhile)
    return closed


async def test_half_open_connections_are_closed_and_list_answers(tmp_path: Path) -> None:
    count = room_for(HALF_OPEN)
    assert count >= 100, f"only {count} sockets fit under this machine's open-file limit"
    serve = await ServeProcess(tmp_path / "backend",
                               "--handshake-timeout", str(HANDSHAKE_LIMIT)).ready()
    try:
        gateway, _ = serve.stubs()
        await gateway.List(pb.ListSandboxesRequest(), timeout=10)
        idle_fds = open_fds(serve.process.pid)
        with silent_connections(serve.port, count) as sockets:
            opened_at = time.perf_counter()
            held_fds = open_fds(serve.process.pid)
            # a new client meanwhile: its connection is accepted and answered
            async with grpc.aio.insecure_channel(f"127.0.0.1:{serve.port}") as channel:
                began = time.perf_counter()
                await gateway_pb2_grpc.GatewayServiceStub(channel).List(
                    pb.ListSandboxesRequest(), timeout=10)
                list_ms = (time.perf_counter() - began) * 1000
            closed = await closed_by_server(sockets, HANDSHAKE_LIMIT + CLOSE_BOUND)
            last = time.perf_counter() - opened_at
            after_fds = open_fds(serve.process.pid)
            await gateway.List(pb.ListSandboxesRequest(), timeout=10)
    finally:
        try:
            await serve.close()
        finally:
            serve.kill()  # also when it did not stop on SIGTERM
    report("half-open connections", opened=count, closed=len(closed),
           handshake_limit_s=HANDSHAKE_LIMIT, last_closed_after_s=f"{last:.1f}",
           backend_fds_idle=idle_fds, backend_fds_held=held_fds, backend_fds_after=after_fds,
           list_during_ms=f"{list_ms:.1f}")
    assert len(closed) == count, f"{count - len(closed)} of {count} still open after {last:.1f} s"
    assert after_fds < idle_fds + 50


async def test_connections_past_the_cap_are_closed_at_once(tmp_path: Path) -> None:
    cap = 50
    serve = await ServeProcess(tmp_path / "backend", "--max-connections", str(cap)).ready()
    try:
        gateway, _ = serve.stubs()
        await gateway.List(pb.ListSandboxesRequest(), timeout=10)  # holds one of the cap
        with silent_connections(serve.port, cap * 3) as sockets:
            # the handshake limit is 10 s: what closes before is the cap's doing
            closed = await closed_by_server(sockets, 5.0)
            await gateway.List(pb.ListSandboxesRequest(), timeout=10)
            held_fds = open_fds(serve.process.pid)
    finally:
        try:
            await serve.close()
        finally:
            serve.kill()  # also when it did not stop on SIGTERM
    report("connection cap", cap=cap, opened=cap * 3, closed_at_once=len(closed),
           backend_fds=held_fds)
    assert len(closed) >= cap * 3 - cap, f"only {len(closed)} of {cap * 3} closed"
