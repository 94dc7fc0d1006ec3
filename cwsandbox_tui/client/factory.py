"""Building a ready client from flags, profiles and the environment."""

from __future__ import annotations

from dataclasses import dataclass

from .. import paths
from .adapter_v1beta2 import Adapter, open_channel
from .client import Client, ClientOptions, EndpointInfo
from .connection import choose_profile, resolve_credentials, resolve_endpoint
from .embedded import ensure_embedded
from .errors import ConfigError
from .events import EventBus, OperationsLog
from .profiles import load_settings


@dataclass(frozen=True)
class ConnectOptions:
    endpoint: str | None = None
    profile: str | None = None
    read_only: bool = False
    ca_cert: str | None = None
    oplog: bool = True
    demo: bool = False  # the embedded backend seeds example records


def connect(options: ConnectOptions, *, bus: EventBus | None = None,
            client_options: ClientOptions | None = None) -> Client:
    """Resolve where to connect (starting the embedded backend if need be) and build a client.

    Connecting is lazy in gRPC: nothing is sent until the first call.
    """
    settings = load_settings(paths.config_dir() / "config.toml")
    profile = choose_profile(settings, options.profile)
    endpoint = resolve_endpoint(options.endpoint, profile, options.ca_cert)
    credentials = resolve_credentials(profile)
    read_only = options.read_only or (profile.read_only if profile else False)
    embedded = None
    if options.demo and not endpoint.embedded:
        raise ConfigError("--demo fills the embedded backend; it cannot be used with an endpoint")
    if endpoint.embedded:
        embedded = ensure_embedded(paths.data_dir(),
                                   extra_args=("--demo",) if options.demo else ())
        url, target, tls, roots = embedded.url, embedded.url.removeprefix("http://"), False, None
    else:
        url, target, tls, roots = endpoint.url, endpoint.target, endpoint.tls, endpoint.root_certificates
    channel = open_channel(target, tls, roots)
    info = EndpointInfo(url=url, source=endpoint.source, auth_mode=credentials.mode,
                        read_only=read_only, embedded=embedded is not None,
                        isolation=embedded.isolation if embedded else "")
    bus = bus or EventBus()
    client = Client(Adapter(channel, credentials.metadata()), info, bus=bus,
                    options=client_options)
    if options.oplog:
        log = OperationsLog(paths.state_dir() / "operations.jsonl")
        unsubscribe = bus.subscribe(log)
        client.on_close(unsubscribe)  # a shared bus outlives this client and its log
        client.on_close(log.close)
    if embedded is not None:
        client.on_close(embedded.release)
    return client
