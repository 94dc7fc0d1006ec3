"""Profiles: named endpoints with their key source, in `config.toml` under the config dir.

    default_profile = "prod"

    [profiles.prod]
    endpoint = "https://api.cwsandbox.com"
    api_key_file = "~/.config/cwsandbox-tui/prod.key"   # or api_key_env = "MY_KEY_VAR"
    read_only = true
    ca_cert = "/etc/ssl/my-ca.pem"                        # optional
    api = "auto"                                          # or "v1" / "v1beta2"

    [profiles.team]                                       # W&B credentials (credentials.py)
    auth = "wandb"                                        # or "api_key"; unset: as the SDK
    entity = "my-team"                                    # else $WANDB_ENTITY
    project = "my-project"                                # else $WANDB_PROJECT

    [keys]                                                # optional key remapping
    "snapshots.delete" = "ctrl+x"

    # The local backend refuses sandboxes where it cannot isolate them (no bubblewrap, or
    # user namespaces forbidden); this runs them there as plain processes with all of your
    # rights instead.
    allow_unisolated_sandboxes = true
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True)
class ConnectionProfile:
    name: str
    endpoint: str = ""
    api_key_env: str = ""
    api_key_file: str = ""
    read_only: bool = False
    ca_cert: str = ""
    api: str = "auto"  # API generation: "auto", "v1" or "v1beta2"
    auth: str = ""  # "api_key" or "wandb" forces a kind; "" chooses as the SDK does
    entity: str = ""  # W&B entity (x-entity-id)
    project: str = ""  # W&B project (x-project-name)


@dataclass(frozen=True)
class Settings:
    profiles: dict[str, ConnectionProfile] = field(default_factory=dict)
    default_profile: str = ""
    keys: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    allow_unisolated_sandboxes: bool = False


_PROFILE_KEYS = {"endpoint", "api_key_env", "api_key_file", "read_only", "ca_cert", "api",
                 "auth", "entity", "project"}
_API_CHOICES = ("auto", "v1", "v1beta2")
_AUTH_CHOICES = ("api_key", "wandb")


def load_settings(path: Path) -> Settings:
    if not path.exists():
        return Settings(path=path)
    import tomllib  # only with a file to read: about 1% of a dashboard start otherwise

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    profiles: dict[str, ConnectionProfile] = {}
    for name, raw in _table(data, "profiles", path).items():
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: profiles.{name} must be a table")
        if "api_key" in raw:  # before the unknown-key check, which would also catch it
            raise ConfigError(f"{path}: profiles.{name}: keep keys out of the config file")
        unknown = set(raw) - _PROFILE_KEYS
        if unknown:
            raise ConfigError(f"{path}: profiles.{name}: unknown key(s) "
                              f"{', '.join(sorted(unknown))}")
        if raw.get("api", "auto") not in _API_CHOICES:
            raise ConfigError(f"{path}: profiles.{name}.api must be one of "
                              f"{', '.join(_API_CHOICES)}")
        if raw.get("auth", "api_key") not in _AUTH_CHOICES:
            raise ConfigError(f"{path}: profiles.{name}.auth must be one of "
                              f"{', '.join(_AUTH_CHOICES)}")
        for key in ("endpoint", "api_key_env", "api_key_file", "ca_cert", "entity", "project"):
            if not isinstance(raw.get(key, ""), str):
                raise ConfigError(f"{path}: profiles.{name}.{key} must be a string")
        if not isinstance(raw.get("read_only", False), bool):
            raise ConfigError(f"{path}: profiles.{name}.read_only must be true or false")
        profiles[name] = ConnectionProfile(name=name, **raw)
    default = data.get("default_profile", "")
    if default and default not in profiles:
        raise ConfigError(f"{path}: default_profile {default!r} is not a profile")
    keys = {str(k): str(v) for k, v in _table(data, "keys", path).items()}
    unisolated = data.get("allow_unisolated_sandboxes", False)
    if not isinstance(unisolated, bool):
        raise ConfigError(f"{path}: allow_unisolated_sandboxes must be true or false")
    return Settings(profiles=profiles, default_profile=default, keys=keys, path=path,
                    allow_unisolated_sandboxes=unisolated)


def _table(data: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    return table
