"""DiscoveryService and placement: this machine as a runner, pins, resources, network modes."""

from __future__ import annotations

import os

import grpc
import pytest

from cwsandbox_tui.backend.discovery import machine_architecture
from cwsandbox_tui.proto.v1beta2 import discovery_pb2 as dpb
from cwsandbox_tui.proto.v1beta2 import discovery_pb2_grpc
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb

from .helpers import (
    INVALID,
    NOT_FOUND,
    RUNNING,
    TERMINAL,
    Gateway,
    expect_error,
    start_request,
    start_sandbox,
    stop,
    wait_status,
)

FULL = dpb.RunnerView.RUNNER_VIEW_FULL
BASIC = dpb.RunnerView.RUNNER_VIEW_BASIC
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
Discovery = discovery_pb2_grpc.DiscoveryServiceStub


@pytest.fixture
def discovery(channel: grpc.aio.Channel) -> discovery_pb2_grpc.DiscoveryServiceStub:
    return discovery_pb2_grpc.DiscoveryServiceStub(channel)


def _memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


async def test_the_machine_is_one_runner_with_its_real_capacity(discovery: Discovery) -> None:
    listing = await discovery.ListAvailableRunners(
        dpb.ListAvailableRunnersRequest(view=FULL))
    assert len(listing.runners) == 1 and listing.next_page_token == ""
    runner = listing.runners[0]
    caps = runner.capabilities
    assert runner.runner_id == "local-runner" and runner.runner_group_id == "local"
    assert runner.healthy and not runner.is_shared
    assert caps.max_cpu_millicores == len(os.sched_getaffinity(0)) * 1000
    assert caps.max_memory_bytes == _memory_bytes()
    assert caps.max_gpu_count == 0
    assert list(caps.supported_architectures) == [machine_architecture()]
    assert list(runner.profile_names) == ["default"]
    assert runner.connected_at.seconds > 0
    # nothing runs: everything is available
    assert runner.resources.available_cpu_millicores == caps.max_cpu_millicores
    assert runner.resources.running_sandboxes == 0


async def test_basic_view_leaves_resources_out(discovery: Discovery) -> None:
    listing = await discovery.ListAvailableRunners(
        dpb.ListAvailableRunnersRequest(view=BASIC))
    assert not listing.runners[0].HasField("resources")
    assert listing.runners[0].HasField("capabilities")


@pytest.mark.parametrize("request_fields", [
    {"runner_group_id": "elsewhere"}, {"profile_name": "gpu-large"},
    {"gpu_type": "H100"}, {"architecture": "riscv64"},
])
async def test_a_filter_nothing_matches_is_an_empty_list(discovery: Discovery,
                                                         request_fields: dict[str, str]) -> None:
    listing = await discovery.ListAvailableRunners(
        dpb.ListAvailableRunnersRequest(**request_fields))
    assert list(listing.runners) == []


async def test_filters_that_match_keep_the_runner(discovery: Discovery) -> None:
    listing = await discovery.ListAvailableRunners(
        dpb.ListAvailableRunnersRequest(runner_group_id="local", profile_name="default",
                                        architecture=machine_architecture(),
                                        exclude_shared=True, healthy_only=True))
    assert [r.runner_id for r in listing.runners] == ["local-runner"]


async def test_get_runner_and_unknown_runner(discovery: Discovery) -> None:
    runner = await discovery.GetAvailableRunner(
        dpb.GetAvailableRunnerRequest(runner_id="local-runner", view=FULL))
    assert runner.HasField("resources")
    found = await expect_error(
        discovery.GetAvailableRunner(
            dpb.GetAvailableRunnerRequest(runner_id="nope")),
        NOT_FOUND, reason="CWSANDBOX_RUNNER_NOT_FOUND")
    assert found.metadata == {"runner_id": "nope"}
    await expect_error(discovery.GetAvailableRunner(
        dpb.GetAvailableRunnerRequest()), INVALID, field_name="runner_id")


async def test_profiles_list_get_and_filters(discovery: Discovery) -> None:
    listing = await discovery.ListProfiles(dpb.ListProfilesRequest())
    assert [(p.profile_name, p.runner_id) for p in listing.profiles] == [
        ("default", "local-runner")]
    profile = listing.profiles[0]
    assert [m.name for m in profile.egress_modes] == ["none"]
    assert [m.name for m in profile.service_exposure_modes] == ["none", "public", "private"]
    assert list(profile.supported_architectures) == [machine_architecture()]
    got = await discovery.GetProfile(
        dpb.GetProfileRequest(profile_name="default", runner_id="local-runner"))
    assert got == profile
    for request in (dpb.ListProfilesRequest(runner_id="elsewhere"),
                    dpb.ListProfilesRequest(architecture="riscv64"),
                    dpb.ListProfilesRequest(gpu_type="A100")):
        assert list((await discovery.ListProfiles(request)).profiles) == []
    await expect_error(discovery.GetProfile(
        dpb.GetProfileRequest(profile_name="gpu")), NOT_FOUND,
        reason="CWSANDBOX_PROFILE_NOT_FOUND")
    await expect_error(discovery.GetProfile(
        dpb.GetProfileRequest(profile_name="default", runner_id="r9")), NOT_FOUND,
        reason="CWSANDBOX_RUNNER_NOT_FOUND")


async def test_a_bad_page_token_names_the_field(discovery: Discovery) -> None:
    await expect_error(discovery.ListProfiles(
        dpb.ListProfilesRequest(page_token="garbage")), INVALID, field_name="page_token")


async def test_a_profile_pin_by_the_name_discovery_advertises_lands_there(
        gateway: Gateway, discovery: Discovery) -> None:
    advertised = (await discovery.ListProfiles(dpb.ListProfilesRequest())).profiles
    name = advertised[0].profile_name
    for pins in ([name], [f"{advertised[0].runner_id}/{name}"]):
        request = start_request()
        request.profile_ids.extend(pins)
        request.runner_ids.append(advertised[0].runner_id)
        reply = await gateway.Start(request)
        assert reply.profile_id == name
        got = await gateway.Get(pb.GetSandboxRequest(sandbox_id=reply.sandbox_id))
        assert got.profile_id == name
        listed = await gateway.List(pb.ListSandboxesRequest(profile_ids=pins))
        assert reply.sandbox_id in [s.sandbox_id for s in listed.sandboxes]


async def test_start_reports_placement_and_what_was_applied(gateway: Gateway,
                                                            discovery: Discovery) -> None:
    request = start_request()
    request.resource_requests.cpu = "250m"
    request.resource_requests.memory = "256Mi"
    request.resource_limits.cpu = "1"
    request.resource_limits.memory = "1Gi"
    request.profile_names.append("default")
    request.runner_ids.append("local-runner")
    request.network.egress_mode = "none"
    reply = await gateway.Start(request)
    assert reply.runner_id == "local-runner" and reply.profile_id == "default"
    assert reply.requested_resource_requests.cpu == "250m"
    assert reply.requested_resource_requests.memory == "256Mi"
    assert reply.requested_resource_limits.cpu == "1"
    assert reply.requested_resource_limits.memory == "1Gi"
    assert (reply.applied_ingress_mode, reply.applied_egress_mode) == ("none", "none")
    await wait_status(gateway, reply.sandbox_id, RUNNING)
    got = await gateway.Get(pb.GetSandboxRequest(sandbox_id=reply.sandbox_id))
    assert (got.runner_id, got.runner_group_id, got.profile_id) == (
        "local-runner", "local", "default")
    assert got.applied_egress_mode == "none"
    assert got.local_details.resource_requests.cpu == "250m"
    listed = await gateway.List(pb.ListSandboxesRequest(profile_names=["default"]))
    assert [s.sandbox_id for s in listed.sandboxes] == [reply.sandbox_id]
    assert listed.sandboxes[0].profile_id == "default"
    assert list((await gateway.List(pb.ListSandboxesRequest(
        profile_ids=["default"]))).sandboxes)[0].sandbox_id == reply.sandbox_id
    # the running sandbox's request is no longer available on the runner
    runner = await discovery.GetAvailableRunner(
        dpb.GetAvailableRunnerRequest(runner_id="local-runner"))
    assert runner.resources.running_sandboxes == 1
    assert runner.resources.available_cpu_millicores == \
        runner.capabilities.max_cpu_millicores - 250
    assert runner.resources.available_memory_bytes == \
        runner.capabilities.max_memory_bytes - 256 * 2**20
    await stop(gateway, reply.sandbox_id)
    await wait_status(gateway, reply.sandbox_id, TERMINAL)
    after = await discovery.GetAvailableRunner(
        dpb.GetAvailableRunnerRequest(runner_id="local-runner"))
    assert after.resources.running_sandboxes == 0


@pytest.mark.parametrize(("pin", "reason"), [
    ({"runner_ids": ["gpu-runner-7"]}, "CWSANDBOX_RUNNER_NOT_FOUND"),
    ({"profile_ids": ["nope"]}, "CWSANDBOX_PROFILE_NOT_FOUND"),
    ({"profile_names": ["gpu-large"]}, "CWSANDBOX_PROFILE_NOT_FOUND"),
])
async def test_unknown_pins_are_not_found(gateway: Gateway, pin: dict[str, list[str]],
                                          reason: str) -> None:
    request = start_request()
    for name, values in pin.items():
        getattr(request, name).extend(values)
    await expect_error(gateway.Start(request), NOT_FOUND, reason=reason)
    assert list((await gateway.List(pb.ListSandboxesRequest())).sandboxes) == []


async def test_more_than_the_machine_has_is_refused(gateway: Gateway) -> None:
    request = start_request()
    request.resource_requests.cpu = "100000"
    found = await expect_error(gateway.Start(request), EXHAUSTED,
                               reason="CWSANDBOX_RUNNER_UNAVAILABLE")
    assert "less than" in found.message
    request = start_request()
    request.resource_requests.gpu.gpu_count = 1
    await expect_error(gateway.Start(request), EXHAUSTED, reason="CWSANDBOX_RUNNER_UNAVAILABLE")


async def test_a_network_mode_not_enforced_here_is_refused(gateway: Gateway) -> None:
    request = start_request()
    request.network.egress_mode = "internet"
    # refused by the network check before placement, naming the field
    found = await expect_error(gateway.Start(request), INVALID,
                               field_name="network.egress_mode")
    assert "'internet'" in found.message


@pytest.mark.parametrize(("name", "value", "field_name"), [
    ("cpu", "lots", "resource_requests.cpu"),
    ("memory", "12 parsecs", "resource_requests.memory"),
    ("cpu", "-1", "resource_requests.cpu"),
    # too many digits for a float: INVALID_ARGUMENT, not INTERNAL
    pytest.param("cpu", "9" * 400, "resource_requests.cpu", id="cpu-endless"),
])
async def test_bad_quantities_name_the_field(gateway: Gateway, name: str, value: str,
                                             field_name: str) -> None:
    request = start_request()
    setattr(request.resource_requests, name, value)
    await expect_error(gateway.Start(request), INVALID, field_name=field_name)


async def test_requests_above_limits_are_refused(gateway: Gateway) -> None:
    request = start_request()
    request.resource_requests.cpu = "2"
    request.resource_limits.cpu = "500m"
    await expect_error(gateway.Start(request), INVALID, field_name="resource_requests.cpu")


async def test_a_sandbox_asking_nothing_lands_on_the_default_profile(gateway: Gateway) -> None:
    sandbox_id = await start_sandbox(gateway)
    got = await gateway.Get(pb.GetSandboxRequest(sandbox_id=sandbox_id))
    assert got.profile_id == "default"
    assert not got.local_details.HasField("resource_requests")


async def test_discovery_requests_are_held_to_the_edge_limits(discovery: Discovery) -> None:
    found = await expect_error(discovery.GetProfile(
        dpb.GetProfileRequest(profile_name="p" * 10_000)), INVALID, field_name="profile_name")
    assert "p" * 300 not in found.message  # the value is not echoed
    await expect_error(discovery.ListAvailableRunners(
        dpb.ListAvailableRunnersRequest(page_size=-1)), INVALID, field_name="page_size")
    await expect_error(discovery.GetAvailableRunner(
        dpb.GetAvailableRunnerRequest(runner_id="r\x00")), INVALID, field_name="runner_id")
    await expect_error(discovery.ListAvailableRunners(
        dpb.ListAvailableRunnersRequest(view=7)), INVALID, field_name="view")  # type: ignore
