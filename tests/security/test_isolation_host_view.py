"""Attacks from inside a sandbox on the host of the account that runs the backend.

CI runs them as root, as uid 65534 and as a normal user account with a home, a
supplementary group and a runtime directory (.ci/run). What a sandbox must not reach: a
mode-600 file of that account outside its home, a file readable only through its
supplementary group (user namespaces keep supplementary groups), a socket listening in its
runtime directory or in the abstract namespace, the host's top-level directories beyond the
allow-list, the backend's data directory and working directory.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import socket
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from cwsandbox_tui.backend.server import BackendServer, ServerConfig
from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc, streaming_pb2_grpc
from tests.backend.helpers import MOUNT, Gateway, Streaming, read_file, sh, start_sandbox

from .conftest import require_isolation
from .support import report

SECRET = "THE ACCOUNT'S SECRET"
# A file readable only through a supplementary group of the account running the tests
# (.ci/run makes one for its normal-user run): root and uid 65534 have no such group.
GROUP_SECRET_ENV = "CWSANDBOX_TUI_GROUP_SECRET"
ALLOWED_TOP = {"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "tmp", "proc",
               "dev", ".cwsandbox"}
HOST_TOP = ("home", "root", "srv", "mnt", "media", "opt", "run", "var", "boot", "sys")


@dataclass
class Listener:
    """A unix socket listening on the host, counting who connects."""

    address: str
    sock: socket.socket
    accepted: list[bytes] = field(default_factory=list)
    first: threading.Event = field(default_factory=threading.Event)

    def serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                peer, _ = self.sock.accept()
                self.accepted.append(b"connected")
                self.first.set()
                peer.close()


@contextlib.contextmanager
def listening(address: str) -> Iterator[Listener]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(address)
    sock.listen(8)
    listener = Listener(address, sock)
    thread = threading.Thread(target=listener.serve, daemon=True)
    thread.start()
    try:
        # the host itself reaches it: the sandbox's failure is not a broken socket
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.connect(address)
        assert listener.first.wait(20), "the host's own connection was never accepted"
        yield listener
    finally:
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        thread.join(timeout=20)


@contextlib.contextmanager
def runtime_dir() -> Iterator[Path]:
    """The account's runtime directory ($XDG_RUNTIME_DIR, as a desktop session has it), or
    one made like it where the account has none (root, uid 65534 in CI)."""
    given = os.environ.get("XDG_RUNTIME_DIR", "")
    if given and os.access(given, os.W_OK):
        yield Path(given)
        return
    base = "/run/user" if os.access("/run/user", os.W_OK) else "/var/tmp"
    made = Path(tempfile.mkdtemp(prefix="cwsandbox-runtime-", dir=base))
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)


@contextlib.contextmanager
def private_file() -> Iterator[Path]:
    """A mode-600 file of this account outside its home (and outside /tmp)."""
    directory = Path(tempfile.mkdtemp(prefix="cwsandbox-private-", dir="/var/tmp"))
    path = directory / "secret"
    path.write_text(SECRET)
    path.chmod(0o600)
    try:
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Host:
    server: BackendServer
    gateway: Gateway
    streaming: Streaming


@pytest.fixture
async def host() -> AsyncIterator[Host]:
    """A backend whose data directory is outside /tmp (where a sandbox has its own)."""
    data_dir = Path(tempfile.mkdtemp(prefix="cwsandbox-data-", dir="/var/tmp"))
    server = BackendServer(ServerConfig(data_dir=data_dir, port=0))
    await server.start()
    try:
        require_isolation(server)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield Host(server, gateway_pb2_grpc.GatewayServiceStub(channel),
                       streaming_pb2_grpc.GatewayStreamingServiceStub(channel))
    finally:
        await server.stop(grace=0)
        shutil.rmtree(data_dir, ignore_errors=True)


def connect(address: str) -> str:
    """A python3 line that connects to a unix socket (abstract when it starts with NUL)."""
    code = (f"import socket; s = socket.socket(socket.AF_UNIX); s.settimeout(3); "
            f"s.connect({address!r}); print('CONNECTED')")
    return f"python3 -c {shlex.quote(code)}"


async def test_nothing_of_the_accounts_host_is_reached(host: Host) -> None:
    gateway, streaming = host.gateway, host.streaming
    sid = await start_sandbox(gateway)
    tried: list[str] = []
    reached: list[str] = []

    async def attempt(name: str, command: str, leak: bytes = b"") -> None:
        tried.append(name)
        result = await sh(streaming, sid, command)
        if result.exit_code == 0 or (leak and leak in result.stdout + result.stderr):
            reached.append(f"{name}: {result.stdout[:200]!r}")

    top = (await sh(streaming, sid, "ls -A /")).stdout.decode().split()
    mount_top = MOUNT.strip("/").split("/")[0]
    beyond = sorted(set(top) - ALLOWED_TOP - {mount_top})
    if beyond:
        reached.append(f"top-level entries beyond the allow-list: {beyond}")
    for name in HOST_TOP:
        await attempt(f"/{name}", f"ls -A /{name}")

    with private_file() as secret:
        await attempt("a mode-600 file outside the home", f"cat {secret}", SECRET.encode())
        await attempt("its directory", f"ls -A {secret.parent}")
        tried.append("its RetrieveFile")
        try:
            await read_file(gateway, sid, str(secret))
            reached.append("a mode-600 file through RetrieveFile")
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:  # it is there, to be tried
                reached.append(f"a mode-600 file seen by RetrieveFile: {error.details()}")

    home = Path.home()
    if home != Path("/"):
        await attempt("the home directory", f"ls -A {home}")

    data_dir = host.server.config.data_dir.resolve()
    await attempt("the data directory", f"ls -A {data_dir}")
    await attempt("the data directory's database", f"head -c 16 {data_dir}/state.sqlite3")
    working = Path.cwd().resolve()
    await attempt("the working directory", f"ls -A {working}")

    with runtime_dir() as runtime:
        address = str(runtime / f"cwsandbox-attack-{uuid.uuid4().hex[:8]}.sock")
        abstract = f"\0cwsandbox-attack-{uuid.uuid4().hex[:8]}"
        with listening(address) as in_runtime, listening(abstract) as in_abstract:
            before = len(in_runtime.accepted), len(in_abstract.accepted)
            await attempt("the runtime directory", f"ls -A {runtime}")
            await attempt("a socket in the runtime directory", connect(address), b"CONNECTED")
            await attempt("an abstract socket", connect(abstract), b"CONNECTED")
            if (len(in_runtime.accepted), len(in_abstract.accepted)) != before:
                reached.append("a host socket accepted a connection from the sandbox")

    group_secret = os.environ.get(GROUP_SECRET_ENV, "")
    if group_secret:
        # the host account reads it only through its supplementary group; the sandbox not
        contents = Path(group_secret).read_bytes()
        await attempt("a file readable through a supplementary group", f"cat {group_secret}",
                      contents)
        await attempt("its directory", f"ls -A {Path(group_secret).parent}")

    groups = (await sh(streaming, sid, "grep ^Groups: /proc/self/status")).stdout
    report("host view", account=os.geteuid(), supplementary_groups=len(os.getgroups()),
           sandbox_top=" ".join(sorted(top)), attempts=len(tried), reached=len(reached),
           sandbox_groups=groups.decode().strip())
    assert reached == [], reached


def test_the_normal_user_run_has_what_it_attacks() -> None:
    """The normal-user run of CI must set the scene (else the attacks above prove less)."""
    if not os.environ.get("CWSANDBOX_TUI_ACCOUNT_RUN"):
        pytest.skip("not the normal-user run")
    assert os.geteuid() != 0 and os.geteuid() != 65534
    assert os.environ.get("XDG_RUNTIME_DIR") and os.access(os.environ["XDG_RUNTIME_DIR"],
                                                           os.W_OK)
    assert Path.home() != Path("/") and Path.home().is_dir()
    group_secret = Path(os.environ[GROUP_SECRET_ENV])
    info = group_secret.stat()
    assert info.st_uid != os.geteuid() and info.st_mode & 0o044 == 0o040
    assert info.st_gid in os.getgroups() and info.st_gid != os.getegid()
    assert group_secret.read_bytes(), "readable here, through the supplementary group only"
