"""Which credentials to send, chosen as the official SDK 1.22.0 chooses (`cwsandbox/_auth.py`
and its CLI's `--auth` / `CWSANDBOX_AUTH`), and the headers it sends for them.

The choice, first match wins:
1. the profile's `auth = "api_key" | "wandb"` (the SDK's explicit `auth=`), else
   `CWSANDBOX_AUTH=coreweave_api_key | wandb` (the SDK CLI's variable);
2. with no choice made, the SDK's default: a CoreWeave API key if there is one (the profile's
   `api_key_env` / `api_key_file`, else `CWSANDBOX_API_KEY`), else nothing. Like the SDK, W&B
   credentials are never used unless chosen.

API key: `authorization: Bearer <key>`; chosen but missing is an error (as in the SDK).
W&B (the SDK's `WandbAuth`, which asks wandb 0.31): the key from the profile's key source,
else `WANDB_API_KEY`, else the `password` in the netrc `wandb login` writes (`$NETRC`, else
`~/.netrc`), for the `machine` of `WANDB_BASE_URL` (default api.wandb.ai), else, as wandb
looks, the W&B host behind a CoreWeave Forge host (wandb 0.31 defaults to and writes
api.forge.coreweave.com); the entity from the profile, else `WANDB_ENTITY`; the project from
the profile, else `WANDB_PROJECT`. Sent as `x-wandb-api-key`, `x-entity-id` and
`x-project-name` (the last two only when known), plus `x-wandb-host` for a W&B server that is
neither wandb.ai's nor a Forge host. (wandb's settings files and its `x-wandb-sdk-version` are
not read or sent: this is not wandb.)
"""

from __future__ import annotations

import netrc
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ConfigError
from .profiles import ConnectionProfile

WANDB_DEFAULT_URL = "https://api.wandb.ai"
# wandb 0.31's `urls.FORGE_HOSTS`: a CoreWeave Forge host and the W&B API host behind it
FORGE_HOSTS = {"forge.coreweave.com": "api.wandb.ai", "qa.forge.coreweave.com": "api.qa.wandb.ai"}


class AuthKind(StrEnum):
    API_KEY = "api_key"
    WANDB = "wandb"


# CWSANDBOX_AUTH takes the SDK CLI's names
_ENV_CHOICES = {"coreweave_api_key": AuthKind.API_KEY, "wandb": AuthKind.WANDB}


@dataclass(frozen=True, repr=False)
class Credentials:
    api_key: str | None  # the secret: a CoreWeave API key or a W&B API key
    source: str  # where it came from, for display (never the key itself)
    kind: AuthKind = AuthKind.API_KEY
    entity: str = ""
    project: str = ""
    wandb_host: str = ""  # a W&B server other than wandb.ai's (x-wandb-host)

    @property
    def mode(self) -> str:
        """What the header and the CLI show: the kind and where the key came from."""
        if not self.api_key:
            return "no authentication"
        if self.kind is AuthKind.API_KEY:
            return f"API key ({self.source})"
        facts = [self.source, *(f"{name} {value}" for name, value in (
            ("entity", self.entity), ("project", self.project), ("host", self.wandb_host))
            if value)]
        return f"W&B ({', '.join(facts)})"

    def metadata(self) -> list[tuple[str, str]]:
        if not self.api_key:
            return []
        if self.kind is AuthKind.API_KEY:
            return [("authorization", f"Bearer {self.api_key}")]
        headers = [("x-wandb-api-key", self.api_key)]
        if self.wandb_host:
            headers.append(("x-wandb-host", self.wandb_host))
        if self.entity:
            headers.append(("x-entity-id", self.entity))
        if self.project:
            headers.append(("x-project-name", self.project))
        return headers

    def __repr__(self) -> str:
        return f"Credentials(mode={self.mode!r})"


def resolve_credentials(profile: ConnectionProfile | None) -> Credentials:
    kind = _chosen_kind(profile)
    if kind is AuthKind.WANDB:
        return _wandb(profile)
    key = _profile_key(profile)
    if key is None:
        env = os.environ.get("CWSANDBOX_API_KEY", "").strip()
        key = Credentials(env or None, "$CWSANDBOX_API_KEY" if env else "none")
    if kind is AuthKind.API_KEY and not key.api_key:
        raise ConfigError(f"{_chooser(profile)}: API-key authentication needs "
                          "CWSANDBOX_API_KEY (or the profile's api_key_env / api_key_file)")
    return key


def _chosen_kind(profile: ConnectionProfile | None) -> AuthKind | None:
    if profile is not None and profile.auth:
        return AuthKind(profile.auth)  # checked when the config was loaded
    chosen = os.environ.get("CWSANDBOX_AUTH", "").strip().lower()
    if not chosen:
        return None
    if chosen not in _ENV_CHOICES:
        raise ConfigError(f"CWSANDBOX_AUTH: {chosen!r} must be one of "
                          f"{', '.join(_ENV_CHOICES)}")
    return _ENV_CHOICES[chosen]


def _chooser(profile: ConnectionProfile | None) -> str:
    return f"profile {profile.name}: auth" if profile is not None and profile.auth \
        else "CWSANDBOX_AUTH"


def _profile_key(profile: ConnectionProfile | None) -> Credentials | None:
    """The key of the profile's own key source, or None when it names none."""
    if profile is not None and profile.api_key_env:
        key = os.environ.get(profile.api_key_env, "").strip()
        if not key:
            raise ConfigError(f"profile {profile.name}: "
                              f"the variable {profile.api_key_env} is empty")
        return Credentials(key, f"${profile.api_key_env}")
    if profile is not None and profile.api_key_file:
        path = Path(profile.api_key_file).expanduser()
        try:
            key = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"profile {profile.name}: cannot read its key file {path}: "
                              f"{exc.strerror}") from None
        if not key:
            raise ConfigError(f"profile {profile.name}: its key file {path} is empty")
        return Credentials(key, f"file {path.name}")
    return None


def _wandb(profile: ConnectionProfile | None) -> Credentials:
    base = os.environ.get("WANDB_BASE_URL", "").strip() or WANDB_DEFAULT_URL
    parts = urlsplit(base if "://" in base else f"https://{base}")
    if not parts.hostname:
        raise ConfigError(f"WANDB_BASE_URL: {base!r} has no host name")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"WANDB_BASE_URL: {base!r} has an invalid port") from None
    host = parts.hostname.lower()
    machines = [parts.netloc.lower(), host]
    forge = next((f for f, api in FORGE_HOSTS.items() if host in (f, f"api.{f}", api)), None)
    if forge is not None:
        machines.append(FORGE_HOSTS[forge])
    if not os.environ.get("WANDB_BASE_URL", "").strip():
        machines.append("api.forge.coreweave.com")  # where wandb 0.31's `wandb login` writes
    key = _profile_key(profile)
    if key is None:
        env = os.environ.get("WANDB_API_KEY", "").strip()
        key = Credentials(env, "$WANDB_API_KEY") if env else _netrc_key(machines)
    if key is None:
        raise ConfigError(f"{_chooser(profile)}: W&B authentication found no key: set "
                          "WANDB_API_KEY or run `wandb login`")
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    official = host == "wandb.ai" or host.endswith(".wandb.ai") or forge is not None
    wandb_host = "" if official else (
        f"{host}:{port}" if port is not None and port != default_port else host)
    entity = (profile.entity if profile is not None else "") or \
        os.environ.get("WANDB_ENTITY", "").strip()
    project = (profile.project if profile is not None else "") or \
        os.environ.get("WANDB_PROJECT", "").strip()
    return Credentials(key.api_key, key.source, AuthKind.WANDB, entity, project, wandb_host)


def _netrc_key(machines: list[str]) -> Credentials | None:
    """The password `wandb login` stored for the first of `machines` the netrc has."""
    env = os.environ.get("NETRC", "").strip()
    path = Path(env).expanduser() if env else Path.home() / ".netrc"
    if not path.is_file():
        return None
    try:
        # an explicit file: no ownership check here (wandb itself does none either)
        entries = netrc.netrc(str(path))
    except netrc.NetrcParseError as exc:
        # not its message: that quotes the token it stumbled on, which may be a key
        raise ConfigError(f"netrc {path}: line {exc.lineno} cannot be parsed") from None
    except OSError as exc:
        raise ConfigError(f"netrc {path}: cannot read it: {exc.strerror}") from None
    for machine in dict.fromkeys(machines):
        found = entries.authenticators(machine)
        if found and found[2]:
            return Credentials(found[2].strip(), f"netrc {path.name} ({machine})")
    return None
