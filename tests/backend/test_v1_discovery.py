"""v1 DiscoveryService: this machine as the one runner, with its real capacity."""

from __future__ import annotations

import os

import grpc
import pytest

from cwsandbox_tui.backend.discovery import machine_architecture
from cwsandbox_tui.proto.v1 import discovery_pb2 as pb
from cwsandbox_tui.proto.v1 import discovery_pb2_grpc

from .helpers import INVALID, NOT_FOUND, expect_error
from .v1_helpers import V1, start


@pytest.fixture
def discovery(channel: grpc.aio.Channel) -> discovery_pb2_grpc.DiscoveryServiceStub:
    return discovery_pb2_grpc.DiscoveryServiceStub(channel)


async def test_the_machine_is_one_runner_with_its_real_capacity(
        discovery: discovery_pb2_grpc.DiscoveryServiceStub, channel: grpc.aio.Channel) -> None:
    basic = await discovery.ListAvailableRunners(pb.ListAvailableRunnersRequest(page_size=100))
    [runner] = basic.runners
    assert (runner.runner_id, runner.runner_group_id, runner.organization_id) == (
        "local-runner", "local", "local")
    assert runner.healthy and not runner.is_shared and runner.HasField("connected_at")
    cores = len(os.sched_getaffinity(0))
    assert runner.capabilities.max_cpu_millicores == cores * 1000
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert runner.capabilities.max_memory_bytes == memory
    assert list(runner.capabilities.supported_architectures) == [machine_architecture()]
    assert not runner.HasField("resources")  # BASIC: no live availability
    assert not basic.next_page_token

    await start(V1.on(channel))
    full = await discovery.ListAvailableRunners(pb.ListAvailableRunnersRequest(
        view=pb.RUNNER_VIEW_FULL, healthy_only=True))
    resources = full.runners[0].resources
    assert resources.running_sandboxes == 1
    assert resources.available_cpu_millicores == cores * 1000  # nothing asked, nothing held

    got = await discovery.GetAvailableRunner(pb.GetAvailableRunnerRequest(
        runner_id="local-runner", organization_id="local"))
    assert got.HasField("resources")  # Get defaults to FULL


@pytest.mark.parametrize(("request_fields", "runners"), [
    ({"runner_group_id": "elsewhere"}, 0),
    ({"architecture": "no-such-arch"}, 0),
    ({"gpu_type": "H100"}, 0),
    ({"service_visibility": 1}, 1),
    ({"service_visibility": 2}, 1),
    ({"service_visibility": 3}, 0),
    ({"runner_group_id": "local"}, 1),
])
async def test_filters(discovery: discovery_pb2_grpc.DiscoveryServiceStub,
                       request_fields: dict[str, object], runners: int) -> None:
    found = await discovery.ListAvailableRunners(pb.ListAvailableRunnersRequest(
        **request_fields))  # type: ignore[arg-type]
    assert len(found.runners) == runners


async def test_bad_requests_and_unknown_runners(
        discovery: discovery_pb2_grpc.DiscoveryServiceStub) -> None:
    await expect_error(discovery.GetAvailableRunner(pb.GetAvailableRunnerRequest(
        runner_id="local-runner")), INVALID, field_name="organization_id")
    await expect_error(discovery.GetAvailableRunner(pb.GetAvailableRunnerRequest(
        organization_id="local")), INVALID, field_name="runner_id")
    await expect_error(discovery.GetAvailableRunner(pb.GetAvailableRunnerRequest(
        runner_id="gpu-runner", organization_id="local")), NOT_FOUND,
        reason="CWSANDBOX_RUNNER_NOT_FOUND")
    await expect_error(discovery.GetAvailableRunner(pb.GetAvailableRunnerRequest(
        runner_id="local-runner", organization_id="other-org")), NOT_FOUND,
        reason="CWSANDBOX_RUNNER_NOT_FOUND")
    await expect_error(discovery.ListAvailableRunners(pb.ListAvailableRunnersRequest(
        page_token="bogus")), INVALID, field_name="page_token")
    await expect_error(discovery.ListAvailableRunners(pb.ListAvailableRunnersRequest(
        page_size=-1)), INVALID, field_name="page_size")
