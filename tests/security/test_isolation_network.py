"""A sandbox's network: its own namespace with only a loopback of its own, the modes asked
for refused when this machine cannot honour them, and the modes applied reported."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import grpc
import pytest

from cwsandbox_tui.backend.server import BackendServer, ServerConfig
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb
from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc
from tests.backend.helpers import (
    INVALID,
    Gateway,
    Streaming,
    expect_error,
    get,
    sh,
    sh_ok,
    start_request,
    start_sandbox,
)

CONNECT = """
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
with socket.socket(family, socket.SOCK_STREAM) as s:
    s.settimeout(3)
    try:
        s.connect((host, port))
    except OSError as exc:
        print(type(exc).__name__, exc.errno)
        sys.exit(1)
print("connected")
"""


def host_addresses() -> list[str]:
    """This machine's own interface addresses (connected to from inside only, where no
    packet can leave: the sandbox has no route)."""
    found = {"127.0.0.1"}
    ip = shutil.which("ip")
    if ip is not None:
        out = subprocess.run([ip, "-o", "addr", "show"], capture_output=True, text=True,
                             timeout=10).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) > 3 and parts[2] in ("inet", "inet6"):
                address = parts[3].split("/")[0]
                if not address.startswith("fe80"):  # link-local needs a scope id
                    found.add(address)
    return sorted(found)


async def connect_from(streaming: Streaming, sid: str, host: str, port: int) -> bytes:
    result = await sh(streaming, sid, f"python3 -c '{CONNECT}' {host} {port}")
    return result.stdout


async def test_the_backends_port_and_the_hosts_interfaces_are_out_of_reach(
        isolated: BackendServer, gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    port = isolated.port
    # the port answers from the host (so a refusal inside is the sandbox's doing) ...
    with socket.create_connection(("127.0.0.1", port), timeout=3):
        pass
    # ... but from inside, 127.0.0.1 is the sandbox's own loopback, where nothing listens
    assert (await connect_from(streaming, sid, "127.0.0.1", port)).startswith(
        b"ConnectionRefusedError")
    for address in host_addresses():
        outcome = await connect_from(streaming, sid, address, port)
        assert not outcome.startswith(b"connected"), (address, outcome)
    # the namespace holds a loopback interface and no route anywhere
    devices = await sh_ok(streaming, sid, "cat /proc/net/dev")
    assert [line.split(b":")[0].strip() for line in devices.splitlines()[2:]] == [b"lo"]
    routes = await sh_ok(streaming, sid, "cat /proc/net/route")
    assert routes.splitlines()[1:] == []
    info = await get(gateway, sid)
    assert (info.applied_ingress_mode, info.applied_egress_mode) == ("none", "none")


async def test_modes_this_backend_cannot_honour_are_refused_by_field(
        isolated: BackendServer, gateway: Gateway) -> None:
    for field, mode in (("egress_mode", "internet"), ("egress_mode", "host"),
                        ("ingress_mode", "internet"), ("ingress_mode", "host")):
        request = start_request()
        setattr(request.network, field, mode)
        found = await expect_error(gateway.Start(request), INVALID,
                                   field_name=f"network.{field}")
        assert repr(mode) in found.message and "'none'" in found.message
    # ports are published (from the host's loopback), but never with ingress 'none'
    request = start_request()
    request.network.exposed_ports.append(8080)
    request.network.ingress_mode = "none"
    await expect_error(gateway.Start(request), INVALID, field_name="network.ingress_mode")
    listing = await gateway.List(pb.ListSandboxesRequest(include_stopped=True))
    assert list(listing.sandboxes) == [], "a refused start leaves nothing behind"


async def test_the_applied_modes_are_reported_everywhere(isolated: BackendServer,
                                                         gateway: Gateway) -> None:
    asked = start_request()
    asked.network.egress_mode = "none"
    asked.network.ingress_mode = "none"
    for request in (start_request(), asked):
        started = await gateway.Start(request)
        assert (started.applied_ingress_mode, started.applied_egress_mode) == ("none", "none")
        got = await get(gateway, started.sandbox_id)
        assert (got.applied_ingress_mode, got.applied_egress_mode) == ("none", "none")
    listing = await gateway.List(pb.ListSandboxesRequest())
    assert len(listing.sandboxes) == 2
    assert {(s.applied_ingress_mode, s.applied_egress_mode) for s in listing.sandboxes} == \
        {("none", "none")}


async def test_unisolated_sandboxes_say_host_and_refuse_isolation_they_cannot_give(
        tmp_path: Path) -> None:
    server = BackendServer(ServerConfig(data_dir=tmp_path / "plain", port=0, isolate=False))
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            gateway = gateway_pb2_grpc.GatewayServiceStub(channel)
            started = await gateway.Start(start_request())
            assert (started.applied_ingress_mode, started.applied_egress_mode) == \
                ("host", "host")
            request = start_request()
            request.network.egress_mode = "none"
            found = await expect_error(gateway.Start(request), INVALID,
                                       field_name="network.egress_mode")
            assert "'host'" in found.message
    finally:
        await server.stop(grace=0)


@pytest.mark.parametrize("port", [0, 70000])
async def test_exposed_ports_out_of_range_name_the_field(tmp_path: Path, port: int) -> None:
    server = BackendServer(ServerConfig(data_dir=tmp_path / "plain", port=0, isolate=False))
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            request = start_request()
            request.network.exposed_ports.append(port)
            await expect_error(gateway_pb2_grpc.GatewayServiceStub(channel).Start(request),
                               INVALID, field_name="network.exposed_ports")
    finally:
        await server.stop(grace=0)
