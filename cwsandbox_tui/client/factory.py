"""Building a ready client from flags, profiles and the environment."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from .client import Client, ClientOptions
from .connection import (
    Credentials,
    Endpoint,
    EndpointInfo,
    choose_profile,
    resolve_credentials,
    resolve_endpoint,
)
from .embedded import EmbeddedBackend, StartingBackend, start_embedded
from .errors import ConfigError
from .events import EventBus, OperationsLog
from .generation import Choice
from .generations import check_api, choose
from .link import Link
from .pending import Opening
from .profiles import load_settings


@dataclass(frozen=True)
class ConnectOptions:
    endpoint: str | None = None
    profile: str | None = None
    read_only: bool = False
    ca_cert: str | None = None
    oplog: bool = True
    demo: bool = False  # the embedded backend seeds example records
    api: str | None = None  # "auto", "v1", "v1beta2"; None takes the profile's (else auto)


@dataclass
class Plan:
    """Where and how to connect, decided before any event loop runs."""

    options: ConnectOptions
    endpoint: Endpoint
    credentials: Credentials
    read_only: bool
    starting: StartingBackend | None = None
    api: str = "auto"
    data_dir: Path | None = None

    def _open(self, embedded: EmbeddedBackend | None) -> tuple[Choice, EndpointInfo]:
        endpoint = self.endpoint
        if embedded is not None:
            url, target, tls, roots = (embedded.url, embedded.url.removeprefix("http://"),
                                       False, None)
        else:
            url, target, tls, roots = (endpoint.url, endpoint.target, endpoint.tls,
                                       endpoint.root_certificates)
        from .wire import open_channel  # grpc: not before the dashboard's first frame

        channel = open_channel(target, tls, roots)
        info = EndpointInfo(url=url, source=endpoint.source, auth_mode=self.credentials.mode,
                            read_only=self.read_only, embedded=embedded is not None,
                            isolation=embedded.isolation if embedded else "",
                            isolation_detail=embedded.isolation_detail if embedded else "")
        choice = choose(self.api, channel, self.credentials.metadata(),
                        embedded=embedded is not None)
        return choice, info

    async def reopen(self) -> tuple[Choice, EndpointInfo]:
        """A fresh connection; the embedded backend is started again if it is gone (on the
        same data directory, so nothing is lost)."""
        embedded = None
        if self.endpoint.embedded and self.data_dir is not None:
            # Not --demo again: the records are there, and its live sandboxes would double.
            starting = start_embedded(self.data_dir)
            embedded = await asyncio.to_thread(starting.wait)  # its lease is this pid's again
        return self._open(embedded)

    async def _open_started(self) -> tuple[Choice, EndpointInfo]:
        """The first opening: wait (in a thread) for the backend `prepare` started."""
        embedded = None
        if self.starting is not None:
            starting = self.starting
            try:
                embedded = await asyncio.to_thread(starting.wait)
            except asyncio.CancelledError:
                starting.abandon()  # or the thread would hold the loop's shutdown up
                raise
        return self._open(embedded)

    def _planned_info(self) -> EndpointInfo:
        """What is known before the connection is open (the embedded backend's address and
        isolation are not: the header says it is starting)."""
        endpoint = self.endpoint
        return EndpointInfo(url="" if endpoint.embedded else endpoint.url,
                            source=endpoint.source, auth_mode=self.credentials.mode,
                            read_only=self.read_only, embedded=endpoint.embedded)

    def _planned_api(self) -> str:
        return "v1beta2" if self.api == "auto" and self.endpoint.embedded else self.api

    def connect(self, *, bus: EventBus | None = None,
                client_options: ClientOptions | None = None, defer: bool = False) -> Client:
        """Build the client; call this on the event loop it will be used on.

        `defer`: return at once, and open the connection (wait for the embedded backend,
        load grpc) when `client.open()` is called; calls made before wait for it, and the
        link says "connecting" until the endpoint has answered one.
        """
        bus = bus or EventBus()
        lease = self.starting.lease if self.starting is not None else None
        if defer:
            pending = Opening(self._open_started, self.reopen, api=self._planned_api())
            client = Client(pending, self._planned_info(), bus=bus, options=client_options)
            pending.on_open = client.adopt
        else:
            embedded = self.starting.wait() if self.starting is not None else None
            choice, info = self._open(embedded)
            client = Client(choice, info, bus=bus, options=client_options)
        if self.options.oplog:
            log = OperationsLog(paths.state_dir() / "operations.jsonl")
            unsubscribe = bus.subscribe(log)
            client.on_close(unsubscribe)  # a shared bus outlives this client and its log
            client.on_close(log.close)
        if lease is not None:
            client.on_close(lambda: lease.unlink(missing_ok=True))  # the backend's lease
        client.link = Link(client, self.reopen, connecting=defer)
        if defer:
            pending.on_failed = client.link.opening_failed
        return client


def prepare(options: ConnectOptions) -> Plan:
    """Resolve flags, profile and environment; start the embedded backend if it is the one.

    The backend boots in its own process while the caller goes on.
    """
    settings = load_settings(paths.config_dir() / "config.toml")
    profile = choose_profile(settings, options.profile)
    endpoint = resolve_endpoint(options.endpoint, profile, options.ca_cert)
    credentials = resolve_credentials(profile)
    read_only = options.read_only or (profile.read_only if profile else False)
    if options.demo and not endpoint.embedded:
        raise ConfigError("--demo fills the embedded backend; it cannot be used with an endpoint")
    api = check_api(options.api, "--api") if options.api else (
        profile.api if profile is not None else "auto")
    starting = None
    data_dir = paths.data_dir() if endpoint.embedded else None
    if data_dir is not None:
        starting = start_embedded(data_dir, ("--demo",) if options.demo else ())
    return Plan(options, endpoint, credentials, read_only, starting, api, data_dir)


def connect(options: ConnectOptions, *, bus: EventBus | None = None,
            client_options: ClientOptions | None = None) -> Client:
    """Resolve and build in one go (connecting is lazy in gRPC: nothing is sent yet)."""
    return prepare(options).connect(bus=bus, client_options=client_options)
