"""Which endpoint to talk to, how, and with which key.

Order: --endpoint, else the chosen (or default) profile, else CWSANDBOX_BASE_URL, else the
embedded backend. `http://` is plaintext, `https://` is TLS (never downgraded). Which key is
sent, and how, is credentials.py's: only ever as a header.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .credentials import Credentials, resolve_credentials
from .errors import ConfigError
from .profiles import ConnectionProfile, Settings

__all__ = ["Credentials", "Endpoint", "EndpointInfo", "choose_profile", "parse_url",
           "resolve_credentials", "resolve_endpoint"]


@dataclass(frozen=True)
class Endpoint:
    url: str  # empty for the embedded backend (filled in once it runs)
    target: str  # host:port
    tls: bool
    source: str  # "--endpoint", "profile NAME", "CWSANDBOX_BASE_URL", "embedded"
    root_certificates: bytes | None = None

    @property
    def embedded(self) -> bool:
        return self.source == "embedded"


@dataclass(frozen=True)
class EndpointInfo:
    """What the header shows about the connection (never the key)."""

    url: str
    source: str
    auth_mode: str
    read_only: bool
    embedded: bool = False
    isolation: str = ""  # the embedded backend's: "bubblewrap", "none" or "unavailable"
    isolation_detail: str = ""

    @property
    def sandboxes_refused(self) -> bool:
        """The embedded backend cannot isolate sandboxes, so it refuses to start any."""
        return self.isolation == "unavailable"


def parse_url(url: str, source: str, ca_cert: str = "", ca_source: str = "--ca-cert") -> Endpoint:
    parts = urlsplit(url.strip().rstrip("/"))
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"{source}: {url!r} must start with http:// or https://")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"{source}: {url!r} must not have a path (gRPC has none)")
    if not parts.hostname:
        raise ConfigError(f"{source}: {url!r} has no host name")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ConfigError(f"{source}: {url!r} has an invalid port") from None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    roots = None
    if ca_cert:
        if parts.scheme != "https":
            raise ConfigError(f"{source}: a CA certificate needs an https:// endpoint")
        try:
            roots = Path(ca_cert).expanduser().read_bytes()
        except OSError as exc:
            raise ConfigError(f"{ca_source}: cannot read {ca_cert}: {exc.strerror}") from None
    return Endpoint(url=url.strip().rstrip("/"), target=f"{host}:{port}",
                    tls=parts.scheme == "https", source=source, root_certificates=roots)


def choose_profile(settings: Settings, name: str | None) -> ConnectionProfile | None:
    if name:
        if name not in settings.profiles:
            known = ", ".join(sorted(settings.profiles)) or "none are defined"
            raise ConfigError(f"--profile: no profile {name!r} ({known})")
        return settings.profiles[name]
    return settings.profiles.get(settings.default_profile) if settings.default_profile else None


def resolve_endpoint(endpoint: str | None, profile: ConnectionProfile | None,
                     ca_cert: str | None = None) -> Endpoint:
    if endpoint:
        return parse_url(endpoint, "--endpoint", ca_cert or "")
    if profile is not None and profile.endpoint:
        if ca_cert or not profile.ca_cert:
            return parse_url(profile.endpoint, f"profile {profile.name}", ca_cert or "")
        return parse_url(profile.endpoint, f"profile {profile.name}", profile.ca_cert,
                         ca_source=f"profile {profile.name}: ca_cert")
    env = os.environ.get("CWSANDBOX_BASE_URL")
    if env:
        return parse_url(env, "CWSANDBOX_BASE_URL", ca_cert or "")
    return Endpoint(url="", target="", tls=False, source="embedded")
