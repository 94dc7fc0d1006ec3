"""Running the embedded backend: one grpc.aio server for both services on one port."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import json
import logging
import os
import resource
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from ..proto.v1beta2 import discovery_pb2_grpc, streaming_pb2_grpc
from .engine import RUNNER_ID, Engine, owner_token
from .faults import FaultPlan
from .holds import HoldFile
from .isolation import detect
from .lifetime import STATE_FILE, watch, write_state
from .quotas import Quotas
from .seeding import seed_bulk
from .v1beta2.discovery_service import V1beta2DiscoveryService
from .v1beta2.service import GatewayService
from .v1beta2.service import register as register_gateway
from .v1beta2.streaming import StreamingService
from .volumes import VolumeRegistry
from .wire.gate import Gate

log = logging.getLogger("cwsandbox_tui.backend")

MAX_MESSAGE_BYTES = 100 * 2**20
LOCK_FILE = "backend.lock"
DEMO_ARCHIVE_RATE = 8 * 2**20
HANDSHAKE_TIMEOUT = 10.0
IDLE_CONNECTION_MS = 15 * 60_000
KEEPALIVE_MS = 60_000
KEEPALIVE_TIMEOUT_MS = 20_000
MAX_CONNECTIONS = 4096
STOP_DEADLINE = 4.0  # seconds from SIGTERM to the end of the process, whatever runs
FDS_PER_CONNECTION = 2  # what a connection may hold beside the files, pipes and sandboxes


class BackendConfigError(ValueError):
    pass


class DataDirBusy(RuntimeError):
    """Another backend already serves this data directory."""

    def __init__(self, data_dir: Path, info: dict[str, object]) -> None:
        self.info = info
        super().__init__(f"the data directory {data_dir} is in use by the backend at "
                         f"{info.get('url', '?')} (pid {info.get('pid', '?')})")


@dataclass
class ServerConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 50051
    api_key: str | None = None
    faults: FaultPlan = field(default_factory=FaultPlan)
    isolate: bool = True
    # where sandboxes cannot be isolated: run them unisolated (True) or refuse them (False)
    allow_unisolated: bool = False
    hidden: tuple[Path, ...] = ()
    archive_rate: float | None = None  # bytes per second for snapshot archives
    hold_archives_while: Path | None = None  # archives wait while this path exists (tests)
    demo: bool = False
    seed_snapshots: int = 0
    seed_sandboxes: int = 0
    api: str = "both"  # which API generations to serve: "v1", "v1beta2" or "both"
    handshake_timeout: float = HANDSHAKE_TIMEOUT  # seconds a new connection has to speak HTTP/2
    max_connections: int | None = None  # connections held at once (None: from the fd limit)

    limits: Quotas = field(default_factory=Quotas)  # what each sandbox may use


def connection_options(config: ServerConfig) -> list[tuple[str, int]]:
    """What closes connections that hold the backend without using it (grpc core's channel
    arguments). A connection that does not finish the HTTP/2 handshake (preface and
    SETTINGS) in `handshake_timeout` is closed (gRPC's default waits 120 s, so 20,000 silent
    sockets held every fd); connections beyond the cap are closed as they are accepted, so the
    fds the backend needs for its files stay free; a connection with no call for 15 minutes is
    closed (clients reconnect by themselves); one whose peer stops answering pings (a machine
    that vanished without a FIN) is closed with its calls within about 80 s."""
    cap = config.max_connections or default_max_connections()
    return [("grpc.server_handshake_timeout_ms", max(1, int(config.handshake_timeout * 1000))),
            ("grpc.max_allowed_incoming_connections", cap),
            ("grpc.max_connection_idle_ms", IDLE_CONNECTION_MS),
            ("grpc.keepalive_time_ms", KEEPALIVE_MS),
            ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
            ("grpc.http2.max_pings_without_data", 0),  # also on a quiet followed log
            # the clients ping every 30 s during calls (adapter_v1beta2): not a ping flood
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000)]


def default_max_connections() -> int:
    """Half the fds this process may open, at most `MAX_CONNECTIONS`, after raising the soft
    limit as far as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
    limit = 65536 if soft == resource.RLIM_INFINITY else soft
    return max(16, min(MAX_CONNECTIONS, limit // 2 // FDS_PER_CONNECTION))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_state(data_dir: Path) -> dict[str, object] | None:
    """What a running backend wrote about itself, if anything."""
    try:
        return json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


API_CHOICES = ("both", "v1", "v1beta2")


def _add_v1(server: grpc.aio.Server, engine: Engine, volumes: VolumeRegistry) -> None:
    from ..proto.v1 import (
        discovery_pb2_grpc,
        settings_pb2_grpc,
        volume_pb2_grpc,
    )
    from .v1.discovery_service import V1DiscoveryService
    from .v1.sandbox_service import SandboxService
    from .v1.sandbox_service import register as register_sandboxes
    from .v1.settings_service import SettingsService
    from .v1.unoffered import register as register_unoffered
    from .v1.volume_service import VolumeService

    register_sandboxes(SandboxService(engine), server)
    settings_pb2_grpc.add_SettingsServiceServicer_to_server(SettingsService(engine), server)
    volume_pb2_grpc.add_VolumeServiceServicer_to_server(VolumeService(volumes), server)
    discovery_pb2_grpc.add_DiscoveryServiceServicer_to_server(V1DiscoveryService(engine), server)
    register_unoffered(server)


class BackendServer:
    def __init__(self, config: ServerConfig) -> None:
        if config.api not in API_CHOICES:
            raise BackendConfigError(f"api: {config.api!r} is not one of {', '.join(API_CHOICES)}")
        if not is_loopback(config.host) and not config.api_key:
            raise BackendConfigError(
                f"--host {config.host} is not a loopback address: configure an API key "
                "(--api-key-env VAR) before serving beyond this machine")
        self.config = config
        self.faults = config.faults
        self.engine: Engine | None = None
        self.streaming: StreamingService | None = None
        self.port = 0
        self._server: grpc.aio.Server | None = None
        self._lock_fd: int | None = None
        self.state: dict[str, object] = {}  # what the state file says about this backend

    @property
    def url(self) -> str:
        host = self.config.host
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return f"http://{host}:{self.port}"

    def _lock(self) -> None:
        data_dir = self.config.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirBusy(data_dir, read_state(data_dir) or {}) from None
        self._lock_fd = fd

    async def start(self) -> int:
        self._lock()
        isolation = detect(disable=not self.config.isolate,
                           label=owner_token(self.config.data_dir),
                           allow_unisolated=self.config.allow_unisolated)
        self.engine = Engine(self.config.data_dir, isolation, self.faults,
                             hidden=self.config.hidden, limits=self.config.limits)
        self.engine.recover()
        self.engine.archive_rate = self.config.archive_rate
        if self.config.hold_archives_while is not None:
            self.engine.archive_hold = HoldFile(self.config.hold_archives_while)
        if self.config.seed_snapshots or self.config.seed_sandboxes:
            seed_bulk(self.engine, snapshots=self.config.seed_snapshots,
                      sandboxes=self.config.seed_sandboxes)
        options = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.so_reuseport", 0), *connection_options(self.config)]
        server = grpc.aio.server(interceptors=[Gate(self.faults, self.config.api_key)],
                                 options=options)
        api = self.config.api
        if api in ("both", "v1beta2"):
            register_gateway(GatewayService(self.engine), server)
            self.streaming = StreamingService(self.engine)
            streaming_pb2_grpc.add_GatewayStreamingServiceServicer_to_server(self.streaming,
                                                                             server)
            discovery_pb2_grpc.add_DiscoveryServiceServicer_to_server(
                V1beta2DiscoveryService(self.engine), server)
        if api in ("both", "v1"):
            volumes = VolumeRegistry(self.config.data_dir / "volumes", RUNNER_ID)
            _add_v1(server, self.engine, volumes)
        host = self.config.host
        bind_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        self.port = server.add_insecure_port(f"{bind_host}:{self.config.port}")
        if self.port == 0:
            raise BackendConfigError(f"cannot bind {host}:{self.config.port} (is it in use?)")
        await server.start()
        self._server = server
        self.state = {"pid": os.getpid(), "url": self.url, "port": self.port,
                      "isolation": isolation.kind, "isolation_detail": isolation.detail,
                      "auth": bool(self.config.api_key), "api": api,
                      "data_dir": str(self.config.data_dir.resolve()),
                      "started_at": time.time()}
        write_state(self.config.data_dir, self.state)
        served = {"both": "coreweave.sandbox.v1 and v1beta2"}.get(api, f"coreweave.sandbox.{api}")
        log.info("serving %s on %s (data: %s)", served, self.url, self.config.data_dir)
        (log.info if isolation.isolated else log.error if isolation.refused else log.warning)(
            "isolation: %s", isolation.detail)
        log.info("authentication: %s", "API key required" if self.config.api_key else "none")
        return self.port

    async def stop(self, grace: float = 1.0) -> None:
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        if self.engine is not None:
            await self.engine.close()
            self.engine.isolation.close()
            self.engine = None
        with contextlib.suppress(OSError):
            (self.config.data_dir / STATE_FILE).unlink()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def __aenter__(self) -> BackendServer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()


# Signals a parent may have left ignored (`cmd &` ignores SIGINT and SIGQUIT, nohup SIGHUP):
# an ignored signal stays ignored across exec, so every sandbox would inherit the ignore
# (a ^C in its shell, a stop's SIGINT, a hang-up would not reach its processes). Handled here
# (and so still ignored by this process), they are at their defaults in the sandboxes.
INHERITABLE_IGNORES = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM,
                       signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM)


def _ignored(signum: int, frame: object) -> None:
    return None


def undo_inherited_ignores() -> None:
    for sig in INHERITABLE_IGNORES:
        if signal.getsignal(sig) == signal.SIG_IGN:
            signal.signal(sig, _ignored)


async def serve_forever(config: ServerConfig, exit_when_unused: float | None = None) -> None:
    """Serve until SIGINT or SIGTERM, or, given `exit_when_unused` (a backend started for
    clients), once no client, live sandbox or operation has kept it for that many seconds.
    Such a backend also ignores SIGHUP: it runs detached, and a terminal's hang-up is not the
    end of its sandboxes."""
    undo_inherited_ignores()
    server = BackendServer(config)
    await server.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    if exit_when_unused is not None:
        loop.add_signal_handler(signal.SIGHUP, log.info, "SIGHUP ignored (running detached)")
    engine = server.engine
    assert engine is not None
    seeding_lock = asyncio.Lock()

    async def demo() -> None:
        from .demo import seed_demo

        async with seeding_lock:
            if engine.archive_rate is None:
                engine.archive_rate = DEMO_ARCHIVE_RATE  # so a big snapshot is seen CREATING
            try:
                await seed_demo(engine)
            except Exception as exc:  # noqa: BLE001 - a failed demo must not end the backend
                log.error("seeding the demo failed: %s", exc)

    async def lifetime() -> None:
        await watch(engine, config.data_dir, server.state, linger=exit_when_unused,
                    seed_demo=demo, clock=loop.time)
        stopping.set()

    watcher = asyncio.ensure_future(lifetime())
    seeding = asyncio.ensure_future(demo()) if config.demo else None
    try:
        await stopping.wait()
    finally:
        watcher.cancel()
        if seeding is not None:
            seeding.cancel()
        log.info("stopping")
        exit_if_stuck(STOP_DEADLINE)
        await server.stop()


def exit_if_stuck(seconds: float) -> None:
    """End this process `seconds` from now if it has not ended by then.

    Calls are cancelled and sandboxes ended within a second or two, but a thread cannot be
    interrupted: an archive written at a set rate, or any long job in a thread, would keep
    the process alive (asyncio.run and the interpreter wait for their threads). What the
    exit leaves is what a kill leaves, and the next start cleans that up (an archive being
    written ends FAILED with the reason, partial files are removed).
    """
    def exit_now() -> None:
        busy = [t for t in threading.enumerate()
                if t is not threading.main_thread() and not t.daemon]
        log.warning("stopping took longer than %g s; exiting without waiting for %d "
                    "thread(s)", seconds, len(busy))
        logging.shutdown()
        os._exit(0)

    timer = threading.Timer(seconds, exit_now)
    timer.daemon = True
    timer.start()
