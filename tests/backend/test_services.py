"""A sandbox's ports, published as the service publishes them: at its service address, for as
long as it runs, from the host's loopback only (v1beta2: `ports`, `network.exposed_ports`,
`ingress_mode`; the record's `service_address`, `exposed_ports`, `applied_ingress_mode`)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import urllib.error
import urllib.request

import grpc

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.proto.v1beta2 import discovery_pb2 as dpb
from cwsandbox_tui.proto.v1beta2 import discovery_pb2_grpc
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb
from tests.backend.helpers import (
    COMPLETED,
    INVALID,
    RUNNING,
    Gateway,
    expect_error,
    get,
    poll,
    start_request,
    stop,
    wait_status,
)

# Serves its own mount on port 8000 of the sandbox's loopback, once it has written the page.
SERVER = ["-c", "echo served-from-the-sandbox > index.html && "
                "exec python3 -m http.server 8000 --bind 127.0.0.1"]


async def fetch(url: str) -> bytes | None:
    """The page, or None while nothing answers there."""
    def read() -> bytes | None:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                data: bytes = response.read()
                return data
        except (urllib.error.URLError, ConnectionError, OSError):
            return None
    return await asyncio.to_thread(read)


def refused(address: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex((address, port)) != 0


async def start_server(gateway: Gateway, **network: object) -> pb.StartSandboxResponse:
    request = start_request(args=SERVER)
    request.ports.add(container_port=8000, name="web", protocol="TCP")
    for key, value in network.items():
        setattr(request.network, key, value)
    return await gateway.Start(request)


async def test_a_published_port_is_reached_at_the_service_address_while_it_runs(
        backend: BackendServer, gateway: Gateway) -> None:
    started = await start_server(gateway, ingress_mode="public")
    address, _, port = started.service_address.rpartition(":")
    assert ipaddress.ip_address(address).is_loopback and port == "8000"
    assert [(p.container_port, p.name) for p in started.exposed_ports] == [(8000, "web")]
    assert started.applied_ingress_mode == "public"
    await wait_status(gateway, started.sandbox_id, RUNNING)
    page = await poll(lambda: fetch(f"http://{started.service_address}/index.html"), timeout=20,
                      what="the sandbox's page at its service address")
    assert page == b"served-from-the-sandbox\n"
    info = await get(gateway, started.sandbox_id)
    assert info.service_address == started.service_address
    assert [p.container_port for p in info.exposed_ports] == [8000]
    listed = await gateway.List(pb.ListSandboxesRequest())
    assert [s.service_address for s in listed.sandboxes] == [started.service_address]

    await stop(gateway, started.sandbox_id)
    await wait_status(gateway, started.sandbox_id, COMPLETED)
    await poll(lambda: asyncio.to_thread(refused, address, 8000), timeout=10,
               what="the forward to end with the sandbox")
    assert (await get(gateway, started.sandbox_id)).service_address == ""


async def test_exposed_ports_without_a_mode_are_public_and_two_sandboxes_share_a_port(
        backend: BackendServer, gateway: Gateway) -> None:
    first = await start_server(gateway)
    second = await start_server(gateway)
    assert first.applied_ingress_mode == second.applied_ingress_mode == "public"
    assert first.service_address != second.service_address
    for started in (first, second):
        page = await poll(lambda s=started: fetch(f"http://{s.service_address}/"),
                          timeout=20, what="both sandboxes' pages")
        assert page == b"served-from-the-sandbox\n"


async def test_ports_with_ingress_none_are_refused_naming_the_field(gateway: Gateway) -> None:
    error = await expect_error(start_server(gateway, ingress_mode="none"), INVALID,
                               field_name="network.ingress_mode")
    assert "publishes no ports" in error.message


async def test_a_udp_port_is_refused_in_the_services_words(gateway: Gateway) -> None:
    request = start_request()
    request.ports.add(container_port=53, protocol="UDP")
    error = await expect_error(gateway.Start(request), grpc.StatusCode.UNIMPLEMENTED,
                               field_name="ports[0].protocol")
    assert error.reason == "CWSANDBOX_NOT_IMPLEMENTED"


async def test_the_profile_advertises_the_exposure_modes_it_keeps(
        backend: BackendServer, channel: grpc.aio.Channel) -> None:
    discovery = discovery_pb2_grpc.DiscoveryServiceStub(channel)
    profiles = (await discovery.ListProfiles(dpb.ListProfilesRequest())).profiles
    assert {m.name for m in profiles[0].service_exposure_modes} >= {"public", "private"}
