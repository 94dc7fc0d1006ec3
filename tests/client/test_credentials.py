"""The SDK's two kinds of credentials: which is chosen (the SDK 1.22.0's precedence), where W&B's
key comes from (environment, the netrc `wandb login` writes), the headers sent, and that a
backend requiring a key lets either form through and refuses a wrong one."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cwsandbox_tui import paths
from cwsandbox_tui.backend.server import BackendServer, ServerConfig
from cwsandbox_tui.client.credentials import AuthKind, Credentials, resolve_credentials
from cwsandbox_tui.client.errors import AuthenticationError, ConfigError
from cwsandbox_tui.client.factory import ConnectOptions, connect
from cwsandbox_tui.client.profiles import ConnectionProfile, load_settings
from tests.cli.helpers import cli

KEY = "sk-cw-0123456789abcdef"
WANDB_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6"  # 40 hex, like a W&B user key


def netrc_as_wandb_login_writes(path: Path, key: str, machine: str = "api.wandb.ai") -> Path:
    path.write_text(f"machine {machine}\n  login user\n  password {key}\n")
    path.chmod(0o600)
    return path


def shown(credentials: Credentials) -> str:
    return " ".join([repr(credentials), str(credentials), credentials.mode,
                     repr([credentials])])


# ---------------------------------------------------------------------------------------------
# which kind: as the SDK chooses


def test_nothing_chosen_is_the_sdks_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a choice the SDK sends CWSANDBOX_API_KEY or nothing, never W&B's key."""
    monkeypatch.setenv("WANDB_API_KEY", WANDB_KEY)
    assert resolve_credentials(None).metadata() == []
    assert resolve_credentials(None).mode == "no authentication"
    monkeypatch.setenv("CWSANDBOX_API_KEY", KEY)
    chosen = resolve_credentials(None)
    assert chosen.kind is AuthKind.API_KEY
    assert chosen.metadata() == [("authorization", f"Bearer {KEY}")]


def test_cwsandbox_auth_chooses_as_the_sdk_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CWSANDBOX_API_KEY", KEY)
    monkeypatch.setenv("WANDB_API_KEY", WANDB_KEY)
    monkeypatch.setenv("WANDB_ENTITY", "team-a")
    monkeypatch.setenv("CWSANDBOX_AUTH", "WandB")  # case-insensitive, as click's Choice
    wandb = resolve_credentials(None)
    assert wandb.kind is AuthKind.WANDB
    assert wandb.metadata() == [("x-wandb-api-key", WANDB_KEY), ("x-entity-id", "team-a")]
    assert wandb.mode == "W&B ($WANDB_API_KEY, entity team-a)"
    monkeypatch.setenv("CWSANDBOX_AUTH", "coreweave_api_key")
    assert resolve_credentials(None).metadata() == [("authorization", f"Bearer {KEY}")]
    monkeypatch.delenv("CWSANDBOX_API_KEY")
    with pytest.raises(ConfigError, match=r"^CWSANDBOX_AUTH: API-key authentication needs "
                                          r"CWSANDBOX_API_KEY"):
        resolve_credentials(None)
    monkeypatch.setenv("CWSANDBOX_AUTH", "oauth")
    with pytest.raises(ConfigError, match=r"^CWSANDBOX_AUTH: 'oauth' must be one of "
                                          r"coreweave_api_key, wandb$"):
        resolve_credentials(None)


def test_a_profiles_auth_beats_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CWSANDBOX_API_KEY", KEY)
    monkeypatch.setenv("WANDB_API_KEY", WANDB_KEY)
    monkeypatch.setenv("WANDB_ENTITY", "from-env")
    monkeypatch.setenv("WANDB_PROJECT", "env-project")
    monkeypatch.setenv("CWSANDBOX_AUTH", "coreweave_api_key")
    team = resolve_credentials(ConnectionProfile("team", auth="wandb", entity="from-profile"))
    assert team.metadata() == [("x-wandb-api-key", WANDB_KEY), ("x-entity-id", "from-profile"),
                               ("x-project-name", "env-project")]
    monkeypatch.setenv("CWSANDBOX_AUTH", "wandb")
    assert resolve_credentials(ConnectionProfile("prod", auth="api_key")).metadata() == [
        ("authorization", f"Bearer {KEY}")]
    with pytest.raises(ConfigError, match=r"^profile bare: auth: W&B authentication found no "
                                          r"key: set WANDB_API_KEY or run `wandb login`$"):
        monkeypatch.delenv("WANDB_API_KEY")
        resolve_credentials(ConnectionProfile("bare", auth="wandb"))


def test_a_profiles_key_source_serves_the_kind_it_chose(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    key_file = tmp_path / "wandb.key"
    key_file.write_text(WANDB_KEY + "\n")
    chosen = resolve_credentials(ConnectionProfile("t", auth="wandb", api_key_file=str(key_file),
                                         entity="e", project="p"))
    assert chosen.metadata() == [("x-wandb-api-key", WANDB_KEY), ("x-entity-id", "e"),
                                 ("x-project-name", "p")]
    assert chosen.mode == "W&B (file wandb.key, entity e, project p)"


@pytest.mark.parametrize(("line", "message"), [
    ('auth = "oauth"', "profiles.p.auth must be one of api_key, wandb"),
    ("auth = 1", "profiles.p.auth must be one of api_key, wandb"),
    ("entity = 7", "profiles.p.entity must be a string"),
    ("project = ['x']", "profiles.p.project must be a string"),
])
def test_profile_auth_errors_name_the_field(tmp_path: Path, line: str, message: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[profiles.p]\n{line}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(config)


def test_profile_auth_settings_load(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[profiles.t]\nauth = "wandb"\nentity = "team"\nproject = "proj"\n')
    assert load_settings(config).profiles["t"] == ConnectionProfile(
        "t", auth="wandb", entity="team", project="proj")


# ---------------------------------------------------------------------------------------------
# W&B's key: the environment, else the netrc of `wandb login`


def test_the_netrc_wandb_login_writes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CWSANDBOX_AUTH", "wandb")
    netrc = netrc_as_wandb_login_writes(tmp_path / "my-netrc", WANDB_KEY)
    monkeypatch.setenv("NETRC", str(netrc))
    chosen = resolve_credentials(None)
    assert chosen.metadata() == [("x-wandb-api-key", WANDB_KEY)]
    assert chosen.mode == "W&B (netrc my-netrc (api.wandb.ai))"
    assert WANDB_KEY not in shown(chosen)
    # without $NETRC: ~/.netrc
    home = tmp_path / "home"
    home.mkdir()
    netrc_as_wandb_login_writes(home / ".netrc", "home-" + WANDB_KEY)
    monkeypatch.delenv("NETRC")
    monkeypatch.setenv("HOME", str(home))
    assert resolve_credentials(None).api_key == "home-" + WANDB_KEY
    # WANDB_API_KEY comes first
    monkeypatch.setenv("WANDB_API_KEY", WANDB_KEY)
    assert resolve_credentials(None).source == "$WANDB_API_KEY"


def test_the_netrc_entry_of_the_wandb_host(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    """WANDB_BASE_URL names the machine (a dedicated W&B server: also sent as x-wandb-host)."""
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine api.wandb.ai\n  login user\n  password cloud-{WANDB_KEY}\n"
                     f"machine wandb.corp.example:8443\n  login user\n  password {WANDB_KEY}\n")
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("CWSANDBOX_AUTH", "wandb")
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.corp.example:8443")
    chosen = resolve_credentials(None)
    assert chosen.metadata() == [("x-wandb-api-key", WANDB_KEY),
                                 ("x-wandb-host", "wandb.corp.example:8443")]
    monkeypatch.setenv("WANDB_BASE_URL", "https://api.wandb.ai")
    assert resolve_credentials(None).metadata() == [("x-wandb-api-key", "cloud-" + WANDB_KEY)]
    monkeypatch.setenv("WANDB_BASE_URL", "https://elsewhere.example")
    with pytest.raises(ConfigError, match="found no key"):
        resolve_credentials(None)



def test_the_netrc_of_a_forge_wandb_login(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    """wandb 0.31 (the SDK's `wandb` extra) defaults to api.forge.coreweave.com, writes its
    `wandb login` there, and reads an older api.wandb.ai entry behind a Forge host."""
    monkeypatch.setenv("CWSANDBOX_AUTH", "wandb")
    forge = netrc_as_wandb_login_writes(tmp_path / "forge", WANDB_KEY, "api.forge.coreweave.com")
    monkeypatch.setenv("NETRC", str(forge))
    assert resolve_credentials(None).metadata() == [("x-wandb-api-key", WANDB_KEY)]
    monkeypatch.setenv("NETRC", str(netrc_as_wandb_login_writes(tmp_path / "old", WANDB_KEY)))
    monkeypatch.setenv("WANDB_BASE_URL", "https://api.forge.coreweave.com")
    chosen = resolve_credentials(None)
    assert chosen.metadata() == [("x-wandb-api-key", WANDB_KEY)]  # official: no x-wandb-host
    assert chosen.source == "netrc old (api.wandb.ai)"


def test_a_broken_netrc_is_named_without_its_contents(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine api.wandb.ai login user password {WANDB_KEY} {WANDB_KEY}x\n")
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("CWSANDBOX_AUTH", "wandb")
    with pytest.raises(ConfigError) as caught:
        resolve_credentials(None)
    assert re.fullmatch(rf"netrc {re.escape(str(netrc))}: line \d+ cannot be parsed",
                        str(caught.value))  # Python's own message quotes the token: the key


# ---------------------------------------------------------------------------------------------
# against a backend that requires a key


@pytest.fixture
async def keyed_backend(tmp_path: Path) -> AsyncIterator[BackendServer]:
    server = BackendServer(ServerConfig(data_dir=tmp_path / "keyed", port=0, api_key=WANDB_KEY))
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace=0)


async def test_wandb_credentials_reach_a_keyed_backend(
        keyed_backend: BackendServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CWSANDBOX_AUTH", "wandb")
    monkeypatch.setenv("NETRC", str(netrc_as_wandb_login_writes(tmp_path / "n", WANDB_KEY)))
    monkeypatch.setenv("WANDB_ENTITY", "team-a")
    client = connect(ConnectOptions(endpoint=keyed_backend.url))
    try:
        assert client.info.auth_mode == "W&B (netrc n (api.wandb.ai), entity team-a)"
        assert (await client.get_bucket()).mode.value == "cw_managed"
        assert await client.list_sandboxes() == []
    finally:
        await client.close()
    log_text = (paths.state_dir() / "operations.jsonl").read_text()
    assert "Get bucket config" in log_text and WANDB_KEY not in log_text


@pytest.mark.parametrize("env", [
    {"CWSANDBOX_AUTH": "wandb", "WANDB_API_KEY": "f" * 40, "WANDB_ENTITY": "team-a"},
    {"CWSANDBOX_AUTH": "wandb", "WANDB_API_KEY": WANDB_KEY},  # no entity
    {"CWSANDBOX_API_KEY": WANDB_KEY[::-1]},
    {},
], ids=["wrong W&B key", "W&B key without an entity", "wrong API key", "no key"])
async def test_wrong_credentials_of_either_kind_are_refused(
        keyed_backend: BackendServer, monkeypatch: pytest.MonkeyPatch,
        env: dict[str, str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client = connect(ConnectOptions(endpoint=keyed_backend.url, oplog=False))
    try:
        with pytest.raises(AuthenticationError, match="^Authentication failed: ") as caught:
            await client.list_sandboxes()
    finally:
        await client.close()
    assert caught.value.code == "UNAUTHENTICATED"
    assert WANDB_KEY not in str(caught.value)


@pytest.mark.parametrize("kind", ["api_key", "wandb"])
async def test_the_cli_says_which_kind_and_never_the_key(
        keyed_backend: BackendServer, tmp_path: Path, kind: str) -> None:
    right = {"api_key": {"CWSANDBOX_API_KEY": WANDB_KEY},
             "wandb": {"CWSANDBOX_AUTH": "wandb", "WANDB_API_KEY": WANDB_KEY,
                       "WANDB_ENTITY": "team-a"}}[kind]
    wrong_key = "0" * 40
    wrong = {name: wrong_key if value == WANDB_KEY else value for name, value in right.items()}
    listed = await cli("sandboxes", "list", "--endpoint", keyed_backend.url, env=right)
    assert listed.code == 0, listed
    refused = await cli("sandboxes", "list", "--endpoint", keyed_backend.url, env=wrong)
    assert refused.code != 0, refused
    sent = "API key ($CWSANDBOX_API_KEY)" if kind == "api_key" else \
        "W&B ($WANDB_API_KEY, entity team-a)"
    assert f"(sent: {sent})" in refused.stderr, refused
    helped = await cli("--help", env=right)
    assert f"in use now: {sent}" in helped.stdout, helped
    oplog = paths.state_dir() / "operations.jsonl"
    for text in (str(listed), str(refused), str(helped), oplog.read_text()):
        assert WANDB_KEY not in text and wrong_key not in text
