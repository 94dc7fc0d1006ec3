"""Where to connect, how, and with which key: URLs, profiles, credentials, TLS and auth."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from cwsandbox_tui import paths
from cwsandbox_tui.backend.faults import FaultPlan
from cwsandbox_tui.backend.server import BackendServer, ServerConfig
from cwsandbox_tui.backend.v1beta2.service import GatewayService
from cwsandbox_tui.client import events as ev
from cwsandbox_tui.client.client import ClientOptions
from cwsandbox_tui.client.connection import (
    Credentials,
    choose_profile,
    parse_url,
    resolve_credentials,
    resolve_endpoint,
)
from cwsandbox_tui.client.errors import AuthenticationError, ConfigError, UnavailableError
from cwsandbox_tui.client.factory import ConnectOptions, connect
from cwsandbox_tui.client.profiles import ConnectionProfile, Settings, load_settings
from cwsandbox_tui.client.retry import RetryPolicy
from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc

NO_RETRY = RetryPolicy(budget=0.0)  # one attempt

KEY = "sk-test-0123456789abcdef"

# ---------------------------------------------------------------------------------------------
# URLs


@pytest.mark.parametrize(("url", "target", "tls"), [
    ("http://localhost", "localhost:80", False),
    ("https://api.example.com", "api.example.com:443", True),
    ("http://127.0.0.1:50051", "127.0.0.1:50051", False),
    ("https://api.example.com:8443/", "api.example.com:8443", True),
    ("http://[::1]:7000", "[::1]:7000", False),
    ("  http://host:1  ", "host:1", False),
])
def test_parse_url(url: str, target: str, tls: bool) -> None:
    endpoint = parse_url(url, "--endpoint")
    assert (endpoint.target, endpoint.tls, endpoint.source) == (target, tls, "--endpoint")
    assert endpoint.url == url.strip().rstrip("/")
    assert not endpoint.embedded


@pytest.mark.parametrize(("url", "complaint"), [
    ("ftp://host", "must start with http:// or https://"),
    ("host:50051", "must start with http:// or https://"),
    ("grpc://host:1", "must start with http:// or https://"),
    ("http://host/v1", "must not have a path"),
    ("https://host:1?x=1", "must not have a path"),
    ("http://", "has no host name"),
    ("http://host:99999", "has an invalid port"),
    ("http://host:port", "has an invalid port"),
])
@pytest.mark.parametrize("source", ["--endpoint", "profile prod", "CWSANDBOX_BASE_URL"])
def test_bad_urls_name_their_source(url: str, complaint: str, source: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_url(url, source)
    assert str(raised.value).startswith(f"{source}: ")
    assert complaint in str(raised.value)


def test_precedence_endpoint_then_profile_then_env_then_embedded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    profile = ConnectionProfile(name="prod", endpoint="https://profile.example.com")
    monkeypatch.setenv("CWSANDBOX_BASE_URL", "http://env.example.com:9")
    chosen = resolve_endpoint("http://flag.example.com:1", profile)
    assert (chosen.source, chosen.target) == ("--endpoint", "flag.example.com:1")
    chosen = resolve_endpoint(None, profile)
    assert (chosen.source, chosen.target, chosen.tls) == ("profile prod",
                                                          "profile.example.com:443", True)
    chosen = resolve_endpoint(None, ConnectionProfile(name="keyonly", api_key_env="X"))
    assert (chosen.source, chosen.target) == ("CWSANDBOX_BASE_URL", "env.example.com:9")
    chosen = resolve_endpoint(None, None)
    assert chosen.source == "CWSANDBOX_BASE_URL"
    monkeypatch.delenv("CWSANDBOX_BASE_URL")
    chosen = resolve_endpoint(None, None)
    assert chosen.embedded and chosen.source == "embedded"
    monkeypatch.setenv("CWSANDBOX_BASE_URL", "")
    assert resolve_endpoint(None, None).embedded


def test_bad_env_url_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CWSANDBOX_BASE_URL", "localhost:50051")
    with pytest.raises(ConfigError, match="^CWSANDBOX_BASE_URL: "):
        resolve_endpoint(None, None)


def test_ca_certificates(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    endpoint = parse_url("https://host", "--endpoint", str(ca))
    assert endpoint.root_certificates == ca.read_bytes()
    with pytest.raises(ConfigError, match="needs an https:// endpoint"):
        parse_url("http://host", "--endpoint", str(ca))
    with pytest.raises(ConfigError, match="^--ca-cert: cannot read"):
        resolve_endpoint("https://host", None, str(tmp_path / "missing.pem"))
    profile = ConnectionProfile(name="prod", endpoint="https://host",
                                ca_cert=str(tmp_path / "gone.pem"))
    with pytest.raises(ConfigError, match="^profile prod: ca_cert: cannot read"):
        resolve_endpoint(None, profile)


# ---------------------------------------------------------------------------------------------
# profiles


def write_config(text: str) -> Path:
    path = paths.config_dir() / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_profiles_parse() -> None:
    path = write_config('''
default_profile = "prod"

[profiles.prod]
endpoint = "https://api.example.com"
api_key_env = "PROD_KEY"
read_only = true
ca_cert = "/etc/ssl/ca.pem"

[profiles.dev]
endpoint = "http://127.0.0.1:50051"
api_key_file = "~/dev.key"

[keys]
"snapshots.delete" = "ctrl+x"
''')
    settings = load_settings(path)
    assert settings.default_profile == "prod" and settings.path == path
    assert settings.profiles["prod"] == ConnectionProfile(name="prod", endpoint="https://api.example.com",
                                                api_key_env="PROD_KEY", read_only=True,
                                                ca_cert="/etc/ssl/ca.pem")
    assert settings.profiles["dev"].api_key_file == "~/dev.key"
    assert not settings.profiles["dev"].read_only
    assert settings.keys == {"snapshots.delete": "ctrl+x"}
    assert choose_profile(settings, None) is settings.profiles["prod"]
    assert choose_profile(settings, "dev") is settings.profiles["dev"]


def test_a_missing_config_file_is_empty_settings(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "nope.toml")
    assert settings.profiles == {} and settings.default_profile == ""
    assert choose_profile(settings, None) is None


@pytest.mark.parametrize(("text", "complaint"), [
    ("[profiles.prod\nendpoint = 1", "config.toml: "),
    ("profiles = 3", "[profiles] must be a table"),
    ("[profiles]\nprod = 3", "profiles.prod must be a table"),
    ("[profiles.prod]\nendpont = 'http://x'", "profiles.prod: unknown key(s) endpont"),
    ("[profiles.prod]\napi_key = 'sk-secret'", "profiles.prod: keep keys out of the config file"),
    ("[profiles.prod]\nendpoint = 5", "profiles.prod.endpoint must be a string"),
    ("[profiles.prod]\napi_key_env = ['A']", "profiles.prod.api_key_env must be a string"),
    ("[profiles.prod]\nread_only = 'yes'", "profiles.prod.read_only must be true or false"),
    ("default_profile = 'prod'\n[profiles.dev]\n", "default_profile 'prod' is not a profile"),
    ("keys = 3", "[keys] must be a table"),
])
def test_profile_errors(text: str, complaint: str) -> None:
    path = write_config(text)
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    assert str(path) in str(raised.value) and complaint in str(raised.value)
    assert "sk-secret" not in str(raised.value)


def test_an_unknown_profile_lists_the_known_ones() -> None:
    settings = Settings(profiles={"a": ConnectionProfile("a"), "b": ConnectionProfile("b")})
    with pytest.raises(ConfigError, match=r"^--profile: no profile 'c' \(a, b\)"):
        choose_profile(settings, "c")
    with pytest.raises(ConfigError, match="none are defined"):
        choose_profile(Settings(), "c")


# ---------------------------------------------------------------------------------------------
# credentials


def test_credentials_never_show_the_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CWSANDBOX_API_KEY", KEY)
    credentials = resolve_credentials(None)
    assert credentials.api_key == KEY and credentials.source == "$CWSANDBOX_API_KEY"
    for text in (repr(credentials), str(credentials), f"{credentials}", credentials.mode,
                 repr([credentials]), repr({"c": credentials})):
        assert KEY not in text
    assert credentials.metadata() == [("authorization", f"Bearer {KEY}")]


def test_no_key_sends_no_header(monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = resolve_credentials(None)
    assert credentials.api_key is None and credentials.metadata() == []
    assert credentials.mode == "no authentication"
    monkeypatch.setenv("CWSANDBOX_API_KEY", "   ")
    assert resolve_credentials(None).metadata() == []


def test_profile_key_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CWSANDBOX_API_KEY", "ignored-when-the-profile-has-a-source")
    monkeypatch.setenv("PROD_KEY", f" {KEY}\n")
    from_env = resolve_credentials(ConnectionProfile("prod", api_key_env="PROD_KEY"))
    assert from_env.api_key == KEY and from_env.source == "$PROD_KEY"
    key_file = tmp_path / "dev.key"
    key_file.write_text(KEY + "\n")
    from_file = resolve_credentials(ConnectionProfile("dev", api_key_file=str(key_file)))
    assert from_file.api_key == KEY and from_file.source == "file dev.key"
    assert KEY not in repr(from_file) and KEY not in from_file.mode
    # a profile with no key source falls back to the environment
    assert resolve_credentials(ConnectionProfile("plain")).source == "$CWSANDBOX_API_KEY"


def test_profile_key_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EMPTY_KEY", "")
    with pytest.raises(ConfigError, match="profile prod: the variable EMPTY_KEY is empty"):
        resolve_credentials(ConnectionProfile("prod", api_key_env="EMPTY_KEY"))
    with pytest.raises(ConfigError, match="profile dev: cannot read its key file"):
        resolve_credentials(ConnectionProfile("dev", api_key_file=str(tmp_path / "missing.key")))
    (tmp_path / "blank.key").write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        resolve_credentials(ConnectionProfile("dev", api_key_file=str(tmp_path / "blank.key")))


def test_credentials_are_built_with_repr_hidden() -> None:
    credentials = Credentials(KEY, "test")
    assert KEY not in repr(credentials) and KEY not in str(credentials)


# ---------------------------------------------------------------------------------------------
# against a backend that requires a key


@pytest.fixture
async def keyed_backend(tmp_path: Path) -> AsyncIterator[BackendServer]:
    server = BackendServer(ServerConfig(data_dir=tmp_path / "keyed", port=0, api_key=KEY,
                                        faults=FaultPlan(seed=1)))
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace=0)


async def test_the_key_is_sent_as_a_bearer_token(keyed_backend: BackendServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CWSANDBOX_BASE_URL", keyed_backend.url)
    monkeypatch.setenv("CWSANDBOX_API_KEY", KEY)
    client = connect(ConnectOptions())
    try:
        assert client.info.source == "CWSANDBOX_BASE_URL"
        assert client.info.auth_mode == "API key ($CWSANDBOX_API_KEY)"
        assert KEY not in repr(client.info)
        assert (await client.get_bucket()).mode.value == "cw_managed"
        assert await client.list_snapshots() == []
    finally:
        await client.close()
    log_text = (paths.state_dir() / "operations.jsonl").read_text()
    assert "Get bucket config" in log_text and KEY not in log_text


@pytest.mark.parametrize("key", ["wrong-key", None])
async def test_a_wrong_or_missing_key_is_an_authentication_error_not_retried(
        keyed_backend: BackendServer, monkeypatch: pytest.MonkeyPatch, key: str | None) -> None:
    if key:
        monkeypatch.setenv("CWSANDBOX_API_KEY", key)
    recorded: list[ev.Event] = []
    client = connect(ConnectOptions(endpoint=keyed_backend.url, oplog=False))
    client.bus.subscribe(recorded.append)
    try:
        with pytest.raises(AuthenticationError, match="^Authentication failed: "):
            await client.list_snapshots()
    finally:
        await client.close()
    assert not [e for e in recorded if isinstance(e, ev.RetryScheduled)]


async def test_a_profile_supplies_endpoint_key_and_read_only(
        keyed_backend: BackendServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROD_KEY", KEY)
    write_config(f'''
default_profile = "prod"
[profiles.prod]
endpoint = "{keyed_backend.url}"
api_key_env = "PROD_KEY"
read_only = true
''')
    client = connect(ConnectOptions(oplog=False))
    try:
        assert client.info.source == "profile prod" and client.read_only
        assert client.info.auth_mode == "API key ($PROD_KEY)"
        assert await client.list_snapshots() == []
    finally:
        await client.close()


# ---------------------------------------------------------------------------------------------
# TLS


def _make_certificate(directory: Path) -> tuple[bytes, bytes]:
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True)
    return key.read_bytes(), cert.read_bytes()


@pytest.fixture
async def tls_port(backend: BackendServer, tmp_path: Path) -> AsyncIterator[tuple[int, Path]]:
    """The backend's gateway served again over TLS with a self-signed certificate."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    key, cert = _make_certificate(tmp_path)
    server = grpc.aio.server()
    assert backend.engine is not None
    gateway_pb2_grpc.add_GatewayServiceServicer_to_server(GatewayService(backend.engine), server)
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key, cert)]))
    await server.start()
    try:
        yield port, tmp_path / "cert.pem"
    finally:
        await server.stop(0)


async def test_https_speaks_tls_with_the_given_ca(tls_port: tuple[int, Path]) -> None:
    port, cert = tls_port
    client = connect(ConnectOptions(endpoint=f"https://localhost:{port}", ca_cert=str(cert),
                                    oplog=False))
    try:
        assert (await client.get_bucket()).mode.value == "cw_managed"
    finally:
        await client.close()


async def test_https_refuses_an_untrusted_certificate(tls_port: tuple[int, Path]) -> None:
    port, _ = tls_port
    client = connect(ConnectOptions(endpoint=f"https://localhost:{port}", oplog=False),
                     client_options=ClientOptions(retry=NO_RETRY))
    try:
        with pytest.raises(UnavailableError):
            await asyncio.wait_for(client.get_bucket(), 10)
    finally:
        await client.close()


async def test_https_is_never_downgraded_to_plaintext(backend: BackendServer) -> None:
    client = connect(ConnectOptions(endpoint=f"https://127.0.0.1:{backend.port}", oplog=False),
                     client_options=ClientOptions(retry=NO_RETRY))
    try:
        with pytest.raises(UnavailableError):
            await asyncio.wait_for(client.get_bucket(), 10)
    finally:
        await client.close()
    assert client.info.url.startswith("https://")
