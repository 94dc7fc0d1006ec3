"""A sandbox's services: TCP ports forwarded from an address of the host's loopback into the
sandbox's own network namespace, as the service publishes a sandbox's ports at its address.

Each sandbox with ports gets its own loopback address (127.64.0.0/10), so its ports keep their
numbers there (`http://<service address>:8080` reaches the sandbox's port 8080) and two
sandboxes may serve the same port. Nothing listens beyond loopback, and the sandbox itself
gets no route out: its namespace still holds only its own loopback.

A connection accepted on the host is joined to one made inside the namespace by a connector:
a small process the backend starts, which enters the sandbox's network namespace (and first
the user namespace owning it, when the backend is not root) and nothing else. It only ever
connects to 127.0.0.1 inside the namespace, on the ports the backend asks for, and hands each
connected socket back over a socket pair. It is not in the sandbox's pid namespace (the
sandbox cannot see or signal it), and a root backend's connector drops to the sandbox's uid
before it reads a byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import hashlib
import ipaddress
import logging
import os
import socket
import struct
import sys
import threading
from dataclasses import dataclass, field

log = logging.getLogger("cwsandbox_tui.backend")

_NETWORK = ipaddress.ip_network("127.64.0.0/10")
_ASK = struct.Struct("!H")
_CONNECT_TIMEOUT = 5.0
_CHUNK = 1 << 16

# Run by the backend's interpreter with -I -S: argv[1] its end of the socket pair, argv[2] a
# process in the sandbox's network namespace, then the uid and gid a root backend drops to.
# An unprivileged backend cannot enter that namespace from its own user namespace: it first
# enters the user namespace owning it (NS_GET_USERNS of the namespace itself: the one
# bubblewrap made, which this uid owns), where it may.
_CONNECTOR = r"""
import ctypes, fcntl, os, socket, struct, sys
ctl = socket.socket(fileno=int(sys.argv[1]))
libc = ctypes.CDLL(None, use_errno=True)
net = os.open("/proc/%d/ns/net" % int(sys.argv[2]), os.O_RDONLY | os.O_CLOEXEC)
if len(sys.argv) < 5 and libc.setns(fcntl.ioctl(net, 0xB701), 0x10000000) != 0:
    raise OSError(ctypes.get_errno(), "entering the namespace's user namespace")
if libc.setns(net, 0x40000000) != 0:
    raise OSError(ctypes.get_errno(), "entering the network namespace")
os.close(net)
if len(sys.argv) >= 5:
    os.setgroups([])
    os.setresgid(int(sys.argv[4]), int(sys.argv[4]), int(sys.argv[4]))
    os.setresuid(int(sys.argv[3]), int(sys.argv[3]), int(sys.argv[3]))
while True:
    ask = ctl.recv(2, socket.MSG_WAITALL)
    if len(ask) < 2:
        break
    conn = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    conn.settimeout(5)
    try:  # bytes: a str host would load the idna codec, which the dropped uid may not reach
        conn.connect((b"127.0.0.1", struct.unpack("!H", ask)[0]))
    except OSError as exc:
        conn.close()
        ctl.sendall(bytes([min(exc.errno or 1, 255)]))
        continue
    socket.send_fds(ctl, [b"\0"], [conn.fileno()])
    conn.close()
"""


class ForwardError(Exception):
    """The sandbox's ports could not be published; the message says why."""


@dataclass(frozen=True)
class ServicePort:
    """One port a sandbox publishes, as asked for."""

    port: int
    name: str = ""
    protocol: str = ""  # as asked ("TCP", "HTTP", ...); forwarding is TCP either way
    visibility: str = "public"


def address_for(sandbox_id: str, taken: set[str]) -> str:
    """A loopback address of the sandbox's own, stable for its id where it is free."""
    size = _NETWORK.num_addresses - 2
    start = int.from_bytes(hashlib.sha256(sandbox_id.encode()).digest()[:4], "big") % size
    for step in range(size):
        candidate = str(_NETWORK.network_address + 1 + (start + step) % size)
        if candidate not in taken:
            return candidate
    raise ForwardError("no loopback address is free for the sandbox's services")


@dataclass
class Forward:
    """The listeners of one sandbox's ports and the connector in its network namespace."""

    sandbox_id: str
    address: str
    ports: tuple[ServicePort, ...]
    _servers: list[asyncio.Server] = field(default_factory=list)
    _connector: asyncio.subprocess.Process | None = None
    _control: socket.socket | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _conns: set[asyncio.Task[None]] = field(default_factory=set)

    async def open(self, namespace_pid: int, drop_to: tuple[int, int] | None) -> None:
        """Start the connector in the network namespace of `namespace_pid` and listen."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        argv = [sys.executable, "-I", "-S", "-c", _CONNECTOR, str(theirs.fileno()),
                str(namespace_pid)]
        if drop_to is not None:
            argv += [str(drop_to[0]), str(drop_to[1])]
        try:
            self._connector = await asyncio.create_subprocess_exec(
                *argv, pass_fds=(theirs.fileno(),), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                start_new_session=True)
        finally:
            theirs.close()
        self._control = ours
        try:
            for service in self.ports:
                self._servers.append(await asyncio.start_server(
                    functools.partial(self._accepted, port=service.port),
                    host=self.address, port=service.port, reuse_address=True))
        except OSError as exc:
            await self.close()
            why = exc.strerror or str(exc)
            if exc.errno == errno.EACCES:
                why += " (ports below 1024 need a root backend)"
            raise ForwardError(f"port {service.port} could not be published at "
                               f"{self.address}: {why}") from exc

    def _connect_inside(self, port: int) -> socket.socket:
        """A socket connected to `port` inside the namespace (one ask at a time)."""
        assert self._control is not None
        with self._lock:
            self._control.sendall(_ASK.pack(port))
            message, fds, _, _ = socket.recv_fds(self._control, 1, 1)
        if not message:
            raise ConnectionError("the sandbox's connector is gone")
        if not fds:
            raise ConnectionRefusedError(message[0], os.strerror(message[0]))
        return socket.socket(fileno=fds[0])

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        port: int) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            inside = await asyncio.wait_for(asyncio.to_thread(self._connect_inside, port),
                                            _CONNECT_TIMEOUT)
            in_reader, in_writer = await asyncio.open_connection(sock=inside)
            try:
                await asyncio.gather(_pump(reader, in_writer), _pump(in_reader, writer))
            finally:
                in_writer.close()
        except (TimeoutError, OSError):
            pass  # nothing listens there (yet): the client sees its connection closed
        except asyncio.CancelledError:
            pass  # the sandbox's services closed: so does this connection
        finally:
            writer.close()
            self._conns.discard(task)

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._conns):
            task.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)
        if self._control is not None:
            self._control.close()  # the connector reads EOF and ends
            self._control = None
        if self._connector is not None and self._connector.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._connector.kill()
            await self._connector.wait()
        self._servers.clear()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.close()
