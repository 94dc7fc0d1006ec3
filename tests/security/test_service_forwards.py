"""A published port opens nothing of the host: its listener is on the host's loopback only, the
connector that reaches into the sandbox's network namespace is invisible from inside and
runs with no more than the sandbox's own uid, and all of it ends with the sandbox."""

from __future__ import annotations

import asyncio
import ipaddress
import os
from pathlib import Path

from cwsandbox_tui.backend.isolation import SANDBOX_UID
from tests.backend.helpers import (
    COMPLETED,
    own_processes,
    poll,
    sh_ok,
    start_request,
    stop,
    wait_status,
)
from tests.backend.test_services import SERVER, fetch

from .support import Guarded, guarded_fixture, report  # noqa: F401


def listeners(port: int) -> list[str]:
    """Local addresses of the host's listening TCP sockets on `port` (IPv4)."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, _, state = line.split()[1:4]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.append(str(ipaddress.IPv4Address(int(address, 16).to_bytes(4, "little"))))
    return found


def connectors() -> dict[int, int]:
    """pid -> real uid of this backend's connectors (found by what they run)."""
    found = {}
    ours = own_processes()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) not in ours:
            continue
        try:
            cmdline = Path(entry.path, "cmdline").read_bytes()
            status = Path(entry.path, "status").read_text()
        except OSError:
            continue
        if b"/ns/net" in cmdline and b"send_fds" in cmdline:
            uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
            found[int(entry.name)] = int(uid_line.split()[1])
    return found


async def test_a_published_port_reaches_nothing_of_the_host(guarded: Guarded) -> None:
    gateway, streaming = guarded.gateway, guarded.streaming
    request = start_request(args=SERVER)
    request.ports.add(container_port=8000)
    started = await gateway.Start(request)
    page = await poll(lambda: fetch(f"http://{started.service_address}/"), timeout=20,
                      what="the published page")
    assert page == b"served-from-the-sandbox\n"
    bound = listeners(8000)
    ours = started.service_address.rsplit(":", 1)[0]
    assert ours in bound, (ours, bound)
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network("127.64.0.0/10")
               for a in bound), bound
    running = connectors()
    assert len(running) == 1
    expected_uid = SANDBOX_UID if os.geteuid() == 0 else os.geteuid()
    assert set(running.values()) == {expected_uid}
    # from inside: no process of the connector, and no route to the host's loopback
    seen = await sh_ok(streaming, started.sandbox_id,
                       "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '; echo; "
                       "python3 -c \"import socket; s = socket.socket(); s.settimeout(2); "
                       f"print(s.connect_ex(('{started.service_address.split(':')[0]}', "
                       f"{guarded.server.port})))\"")
    assert b"send_fds" not in seen
    assert seen.split()[-1] != b"0"

    await stop(guarded.gateway, started.sandbox_id)
    await wait_status(gateway, started.sandbox_id, COMPLETED)
    await poll(lambda: asyncio.to_thread(lambda: not connectors() and ours not in listeners(8000)),
               timeout=10, what="the connector and listener to end with the sandbox")
    report("service forward", listeners=bound, connector_uid=expected_uid)
