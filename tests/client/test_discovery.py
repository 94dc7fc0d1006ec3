"""Client discovery calls: models, paging over every page, NOT_FOUND mapped, placement shown."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cwsandbox_tui.backend.discovery import (
    Catalogue,
    CatalogueProfile,
    CatalogueRunner,
    Resources,
    local_runner,
)
from cwsandbox_tui.backend.server import BackendServer, ServerConfig
from cwsandbox_tui.client.client import Client, ClientOptions, EndpointInfo
from cwsandbox_tui.client.errors import DiscoveryError, ProfileNotFoundError, RunnerNotFoundError
from cwsandbox_tui.client.generations import Auto
from cwsandbox_tui.client.models import ResourceAmounts, SandboxSpec
from cwsandbox_tui.client.wire import open_channel

from .helpers import SLEEPER, Harness, Recorder


def _extra_runners(backend: BackendServer, count: int) -> None:
    """Runners beyond this machine, so that listings span several pages."""
    assert backend.engine is not None
    made = [local_runner()]
    for n in range(count):
        runner_id = f"r-{n:02d}"
        made.append(CatalogueRunner(runner_id=runner_id, group_id="far",
                                    capacity=Resources(1000, 2**30), architectures=("arm64",),
                                    connected_at=0.0,
                                    profiles=(CatalogueProfile(f"p{n}", runner_id, ("arm64",)),)))
    backend.engine.catalogue = Catalogue(made)


async def test_runner_and_profile_models(client: tuple[Client, Recorder]) -> None:
    c = client[0]
    runners = await c.list_runners()
    assert [r.runner_id for r in runners] == ["local-runner"]
    runner = runners[0]
    assert runner.healthy and runner.resources is not None
    assert runner.resources.available_cpu_millicores == runner.max_cpu_millicores
    basic = await c.list_runners(full=False)
    assert basic[0].resources is None
    assert (await c.get_runner("local-runner")).profile_names == ("default",)
    profile = await c.get_profile("default")
    assert profile.runner_id == "local-runner" and profile.egress_modes == ("none",)


async def test_listings_walk_every_page(backend: BackendServer, harness: Harness) -> None:
    _extra_runners(backend, 7)
    client, recorder = harness.make(options=ClientOptions(page_size=3))
    runners = await client.list_runners()
    assert [r.runner_id for r in runners] == ["local-runner", *(f"r-{n:02d}" for n in range(7))]
    profiles = await client.list_profiles()
    assert len(profiles) == 8
    assert [r.runner_id for r in await client.list_runners(group_id="far",
                                                           architecture="arm64")][:2] == [
        "r-00", "r-01"]
    assert [p.name for p in await client.list_profiles(runner_id="r-03")] == ["p3"]


async def test_not_found_is_mapped(client: tuple[Client, Recorder]) -> None:
    c = client[0]
    with pytest.raises(RunnerNotFoundError) as runner_error:
        await c.get_runner("gpu-9")
    assert runner_error.value.reason == "CWSANDBOX_RUNNER_NOT_FOUND"
    with pytest.raises(ProfileNotFoundError):
        await c.get_profile("huge")
    with pytest.raises(ProfileNotFoundError):
        await c.start_sandbox(SandboxSpec(args=SLEEPER, profile_name="huge"))
    with pytest.raises(RunnerNotFoundError):
        await c.start_sandbox(SandboxSpec(args=SLEEPER, runner_id="gpu-9"))


async def test_a_started_sandbox_says_where_it_runs(client: tuple[Client, Recorder]) -> None:
    c = client[0]
    spec = SandboxSpec(args=SLEEPER, profile_name="default", runner_id="local-runner",
                       cpu="200m", memory="64Mi")
    sandbox = await c.start_sandbox(spec)
    assert (sandbox.runner_id, sandbox.runner_group_id, sandbox.profile_id) == (
        "local-runner", "local", "default")
    assert sandbox.requests == ResourceAmounts(cpu="200m", memory="64Mi")
    assert sandbox.egress_mode == "none" and sandbox.ingress_mode == "none"
    assert "python" in sandbox.runtime
    listed = {s.id: s for s in await c.list_sandboxes()}
    assert dataclasses.replace(listed[sandbox.id], status=sandbox.status) == sandbox


@pytest.mark.parametrize("api", ["v1", "both"])
async def test_auto_asks_v1beta2_for_discovery_where_it_can(tmp_path: Path, api: str) -> None:
    server = BackendServer(ServerConfig(data_dir=tmp_path / api, port=0, api=api))
    await server.start()
    channel = open_channel(f"127.0.0.1:{server.port}", tls=False, root_certificates=None)
    client = Client(Auto(channel, []), EndpointInfo(url=server.url, source="test",
                                                           auth_mode="none", read_only=False))
    try:
        [runner] = await client.list_runners()
        assert runner.runner_id == "local-runner" and runner.resources is not None
        assert (await client.get_runner("local-runner")).runner_id == "local-runner"
        if api == "both":  # v1beta2 is there too: profiles and the runners' profile names
            assert runner.profile_names == ("default",)
            assert [p.name for p in await client.list_profiles()] == ["default"]
        else:  # only v1, which has no profiles: said plainly
            assert runner.profile_names == ()
            with pytest.raises(DiscoveryError, match="--api v1beta2"):
                await client.list_profiles()
        with pytest.raises(RunnerNotFoundError):
            await client.get_runner("gpu-9")
    finally:
        await client.close()
        await server.stop(grace=0)
