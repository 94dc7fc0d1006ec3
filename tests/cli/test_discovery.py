"""`runners list|get` and `profiles list|get` against a real backend."""

from __future__ import annotations

import asyncio
import os

import pytest

from cwsandbox_tui.backend.server import BackendServer

from .helpers import cli


@pytest.fixture
def env(backend: BackendServer) -> dict[str, str]:
    return {"CWSANDBOX_BASE_URL": backend.url}


async def test_runners_list_and_get(env: dict[str, str]) -> None:
    as_json, as_table, one, missing = await asyncio.gather(
        cli("runners", "list", "--json", env=env), cli("runners", "list", env=env),
        cli("runners", "get", "local-runner", "--json", env=env),
        cli("runners", "get", "gpu-7", env=env))
    assert as_json.code == 0, as_json
    rows = as_json.json()
    assert [r["runner_id"] for r in rows] == ["local-runner"]
    cores = len(os.sched_getaffinity(0))
    assert rows[0]["max_cpu_millicores"] == cores * 1000
    assert rows[0]["resources"]["running_sandboxes"] == 0
    assert rows[0]["profile_names"] == ["default"]
    lines = as_table.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "GROUP", "HEALTHY"], as_table
    assert lines[1].split()[0] == "local-runner" and f"{cores}/{cores}" in lines[1]
    assert one.code == 0 and one.json()["runner_id"] == "local-runner", one
    assert missing.code == 1 and "gpu-7" in missing.stderr and missing.stdout == "", missing


async def test_runner_filters(env: dict[str, str]) -> None:
    none, some = await asyncio.gather(
        cli("runners", "list", "--architecture", "riscv64", env=env),
        cli("runners", "list", "--profile-name", "default", "--json", env=env))
    assert none.code == 0 and none.stdout.strip() == "No runners found.", none
    assert [r["runner_id"] for r in some.json()] == ["local-runner"]


async def test_profiles_list_and_get(env: dict[str, str]) -> None:
    listing, one, missing = await asyncio.gather(
        cli("profiles", "list", env=env), cli("profiles", "get", "default", "--json", env=env),
        cli("profiles", "get", "gpu-large", env=env))
    assert listing.code == 0, listing
    assert listing.stdout.splitlines()[0].split() == ["NAME", "RUNNER", "ARCH", "GPU", "TYPES",
                                                      "INGRESS", "EGRESS"]
    assert listing.stdout.splitlines()[1].split()[:2] == ["default", "local-runner"]
    profile = one.json()
    assert profile["name"] == "default" and profile["egress_modes"] == ["none"]
    assert missing.code == 1 and "gpu-large" in missing.stderr, missing
