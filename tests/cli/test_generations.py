"""Choosing the API generation from the command line, and the v1-only `volumes` commands.

Each test runs once per generation (`api`), against a backend serving only that one.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.backend.volumes import VolumeRecord, VolumeRegistry

from .helpers import cli


@pytest.fixture
def env(backend: BackendServer) -> dict[str, str]:
    return {"CWSANDBOX_BASE_URL": backend.url}


async def test_auto_lands_on_the_generation_spoken_and_a_wrong_pin_fails_clearly(
        backend: BackendServer, env: dict[str, str], api: str) -> None:
    auto = await cli("bucket", "get", "--json", env=env)
    assert auto.code == 0 and auto.json()["mode"] == "cw_managed", auto
    pinned = await cli("bucket", "get", "--api", api, env=env)
    assert pinned.code == 0, pinned
    other = "v1beta2" if api == "v1" else "v1"
    wrong = await cli("bucket", "get", "--api", other, env=env)
    assert wrong.code == 1 and wrong.stderr.startswith("error: "), wrong
    assert f"does not offer it in coreweave.sandbox.{other}" in wrong.stderr, wrong
    assert f"--api {api}" in wrong.stderr, wrong
    usage = await cli("bucket", "get", "--api", "v2", env=env)
    assert usage.code == 2 and "--api" in usage.stderr, usage


async def test_a_profile_chooses_the_generation(backend: BackendServer, api: str,
                                                tmp_path: Path) -> None:
    config = tmp_path / "config"  # CWSANDBOX_TUI_CONFIG_DIR of this test
    config.mkdir(exist_ok=True)
    (config / "config.toml").write_text(
        f'default_profile = "here"\n[profiles.here]\nendpoint = "{backend.url}"\n'
        f'api = "{api}"\n')
    run = await cli("snapshots", "list", "--json")
    assert run.code == 0 and run.json() == [], run
    (config / "config.toml").write_text(
        f'default_profile = "here"\n[profiles.here]\nendpoint = "{backend.url}"\napi = "v3"\n')
    bad = await cli("snapshots", "list")
    assert bad.code == 2 and "profiles.here.api" in bad.stderr, bad


async def test_volumes_commands(backend: BackendServer, env: dict[str, str], api: str) -> None:
    VolumeRegistry(backend.config.data_dir / "volumes", "local-runner").create(VolumeRecord(
        volume_id="datasets", runner_id="local-runner", namespace="ns", claim_name="data",
        description="shared"))
    listed = await cli("volumes", "list", "--json", env=env)
    if api == "v1beta2":
        assert listed.code == 1 and "not offered by the coreweave.sandbox.v1beta2" in \
            listed.stderr, listed
        return
    assert listed.code == 0, listed
    [row] = listed.json()
    assert (row["id"], row["claim_name"], row["description"]) == ("datasets", "data", "shared")
    text = await cli("volumes", "list", env=env)
    assert text.stdout.split()[:7] == ["ID", "STATE", "RUNNER", "CLAIM", "CAPACITY", "CREATED",
                                       "DESCRIPTION"], text
    got = await cli("volumes", "get", "datasets", "--json", env=env)
    assert got.code == 0 and got.json()["namespace"] == "ns", got
    missing = await cli("volumes", "get", "nope", env=env)
    assert missing.code == 1 and "nope" in missing.stderr, missing
    deleted = await cli("volumes", "delete", "datasets", "--json", env=env)
    assert deleted.code == 0 and deleted.json() == {"datasets": "deleted"}, deleted
    again = await cli("volumes", "delete", "datasets", env=env)
    assert again.code == 1, again
    quiet = await cli("volumes", "delete", "datasets", "--missing-ok", env=env)
    assert quiet.code == 0 and quiet.stdout.strip() == "datasets already gone", quiet


async def test_runners_and_profiles_commands(env: dict[str, str], api: str) -> None:
    listed, one, missing, profiles = await asyncio.gather(
        cli("runners", "list", "--json", env=env),
        cli("runners", "get", "local-runner", "--json", env=env),
        cli("runners", "get", "gpu-7", env=env), cli("profiles", "list", env=env))
    assert listed.code == 0 and [r["runner_id"] for r in listed.json()] == ["local-runner"], listed
    assert listed.json()[0]["max_cpu_millicores"] >= 1000
    assert one.code == 0 and one.json()["runner_id"] == "local-runner", one
    assert missing.code == 1 and "gpu-7" in missing.stderr and missing.stdout == "", missing
    if api == "v1":  # profiles are v1beta2's
        assert listed.json()[0]["profile_names"] == []
        assert profiles.code == 1 and "not part of the coreweave.sandbox.v1" in profiles.stderr, \
            profiles
    else:
        assert listed.json()[0]["profile_names"] == ["default"]
        assert profiles.code == 0 and profiles.stdout.splitlines()[1].split()[0] == "default", \
            profiles
