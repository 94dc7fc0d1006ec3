"""v1 SandboxService: create/get/list/delete-as-stop over real gRPC on loopback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
import pytest

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.proto.v1 import discovery_pb2 as dpb
from cwsandbox_tui.proto.v1 import discovery_pb2_grpc
from cwsandbox_tui.proto.v1 import runtime_class_pb2 as rpb
from cwsandbox_tui.proto.v1 import sandbox_pb2 as pb
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as beta
from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc

from .conftest import StartBackend
from .helpers import INVALID, NOT_FOUND, expect_error, poll
from .v1_helpers import (
    MOUNT,
    STATE_COMPLETED,
    STATE_RUNNING,
    V1,
    V1_TERMINAL,
    VOLUME,
    create_request,
    get,
    run,
    run_ok,
    start,
    wait_state,
)


@pytest.fixture
def v1(channel: grpc.aio.Channel) -> V1:
    return V1.on(channel)


async def test_create_returns_the_whole_sandbox_with_its_spec_echoed(v1: V1) -> None:
    created = await v1.sandboxes.CreateSandbox(
        create_request(tags=["t1", "team-a"], env={"GREETING": "hi"}, request_id="r-1"))
    assert created.sandbox_id.startswith("sb-")
    assert created.status.state in (pb.STATE_CREATING, pb.STATE_RUNNING)
    assert created.status.HasField("create_time")
    spec = created.spec
    assert list(spec.tags) == ["t1", "team-a"]
    assert [(v.name, v.WhichOneof("source"), v.scratch.size) for v in spec.volumes] == [
        (VOLUME, "scratch", "1Gi")]
    (container,) = spec.containers
    assert (container.name, container.image, container.command) == ("main", "python:3.11",
                                                                     "/bin/sh")
    assert [(m.volume, m.mount_path) for m in container.volume_mounts] == [(VOLUME, MOUNT)]
    assert dict(container.environment_variables) == {"GREETING": "hi"}

    running = await wait_state(v1, created.sandbox_id, STATE_RUNNING)
    assert running.spec == created.spec  # Get echoes the same spec
    assert running.status.HasField("start_time")
    assert not running.status.HasField("exit_code")  # only once it has ended


async def test_a_create_retried_with_its_request_id_makes_no_second_sandbox(v1: V1) -> None:
    first = await v1.sandboxes.CreateSandbox(create_request(request_id="same-id"))
    again = await v1.sandboxes.CreateSandbox(create_request(request_id="same-id"))
    other = await v1.sandboxes.CreateSandbox(create_request(request_id="other-id"))
    assert again.sandbox_id == first.sandbox_id
    assert other.sandbox_id != first.sandbox_id
    listed = await v1.sandboxes.ListSandboxes(pb.ListSandboxesRequest())
    assert sorted(s.sandbox_id for s in listed.sandboxes) == sorted(
        [first.sandbox_id, other.sandbox_id])
    found = await expect_error(
        v1.sandboxes.CreateSandbox(create_request(request_id="same-id", tags=["changed"])),
        grpc.StatusCode.ALREADY_EXISTS, reason="CWSANDBOX_REQUEST_ID_CONFLICT")
    assert found.metadata["sandbox_id"] == first.sandbox_id


@pytest.mark.parametrize(("mutate", "field_name"), [
    (lambda r: r.sandbox.spec.ClearField("containers"), "sandbox.spec.containers"),
    (lambda r: r.sandbox.spec.volumes.add(name="more").scratch.SetInParent(),
     "sandbox.spec.volumes"),
    (lambda r: setattr(r.sandbox.spec.volumes[0], "volume_id", "vol-1"),
     "sandbox.spec.volumes[0].volume_id"),
    (lambda r: setattr(r.sandbox.spec.containers[0].volume_mounts[0], "volume", "nope"),
     "sandbox.spec.containers[0].volume_mounts[0].volume"),
    (lambda r: setattr(r.sandbox.spec.containers[0], "command", ""),
     "sandbox.spec.containers[0].command"),
    (lambda r: setattr(r.sandbox.spec.volumes[0].scratch, "size", "lots"),
     "sandbox.spec.volumes[0].scratch.size"),
    (lambda r: setattr(r.sandbox.spec.containers[0], "working_dir", "relative/dir"),
     "sandbox.spec.containers[0].working_dir"),
    (lambda r: setattr(r.sandbox.spec.containers[0].volume_mounts[0], "mount_path", "/proc"),
     "sandbox.spec.containers[0].volume_mounts[0].mount_path"),
], ids=["no container", "two volumes", "registered volume", "unknown mount",
        "no command", "bad size", "working dir", "reserved mount path"])
async def test_bad_creates_name_the_v1_field(v1: V1, mutate: object, field_name: str) -> None:
    request = create_request()
    mutate(request)  # type: ignore[operator]
    await expect_error(v1.sandboxes.CreateSandbox(request), INVALID, field_name=field_name)
    listed = await v1.sandboxes.ListSandboxes(pb.ListSandboxesRequest(show_terminated=True))
    assert list(listed.sandboxes) == []  # nothing was started


# The SDK's sleeper, telling when its TERM trap is in place (a stop before it ends the shell
# by SIGTERM itself: exit 143)
TRAPPED_SLEEPER = ["-c", 'trap "exit 0" TERM INT; : > /tmp/trapped; sleep infinity & wait']


async def test_delete_with_grace_stops_and_the_sandbox_stays_visible(v1: V1) -> None:
    sandbox_id = await start(v1, args=TRAPPED_SLEEPER)
    await poll(lambda: _trapped(v1, sandbox_id), what="the sleeper's TERM trap")
    response = await v1.sandboxes.DeleteSandbox(
        pb.DeleteSandboxRequest(sandbox_id=sandbox_id, grace_period_seconds=5))
    assert response.sandbox.sandbox_id == sandbox_id
    assert list(response.file_system_snapshot_ids) == []
    ended = await wait_state(v1, sandbox_id, V1_TERMINAL)
    assert ended.status.state == STATE_COMPLETED
    assert ended.status.HasField("exit_code") and ended.status.exit_code == 0
    assert ended.status.HasField("end_time")
    assert ended.spec.volumes[0].name == VOLUME  # still echoed after the end

    active = await v1.sandboxes.ListSandboxes(pb.ListSandboxesRequest())
    assert sandbox_id not in [s.sandbox_id for s in active.sandboxes]
    everything = await v1.sandboxes.ListSandboxes(pb.ListSandboxesRequest(show_terminated=True))
    assert sandbox_id in [s.sandbox_id for s in everything.sandboxes]
    by_state = await v1.sandboxes.ListSandboxes(pb.ListSandboxesRequest(state=STATE_COMPLETED))
    assert [s.sandbox_id for s in by_state.sandboxes] == [sandbox_id]  # terminal filter widens

    # a stop of a stopped sandbox changes nothing; a delete without grace removes it
    again = await v1.sandboxes.DeleteSandbox(
        pb.DeleteSandboxRequest(sandbox_id=sandbox_id, grace_period_seconds=5))
    assert again.sandbox.status.state == STATE_COMPLETED
    gone = await v1.sandboxes.DeleteSandbox(pb.DeleteSandboxRequest(sandbox_id=sandbox_id))
    assert gone.sandbox.sandbox_id == sandbox_id
    await expect_error(get(v1, sandbox_id), NOT_FOUND, reason="CWSANDBOX_SANDBOX_NOT_FOUND")
    await expect_error(v1.sandboxes.DeleteSandbox(pb.DeleteSandboxRequest(sandbox_id=sandbox_id)),
                       NOT_FOUND, reason="CWSANDBOX_SANDBOX_NOT_FOUND")
    missing = await v1.sandboxes.DeleteSandbox(
        pb.DeleteSandboxRequest(sandbox_id=sandbox_id, allow_missing=True))
    assert not missing.HasField("sandbox") and not missing.file_system_snapshot_ids


async def test_delete_rejects_bad_requests(v1: V1) -> None:
    sandbox_id = await start(v1)
    await expect_error(v1.sandboxes.DeleteSandbox(pb.DeleteSandboxRequest()), INVALID,
                       field_name="sandbox_id")
    await expect_error(v1.sandboxes.DeleteSandbox(
        pb.DeleteSandboxRequest(sandbox_id=sandbox_id, grace_period_seconds=-1)), INVALID,
        field_name="grace_period_seconds")
    await expect_error(v1.sandboxes.DeleteSandbox(
        pb.DeleteSandboxRequest(sandbox_id=sandbox_id, grace_period_seconds=100000)), INVALID,
        field_name="grace_period_seconds")
    await expect_error(v1.sandboxes.DeleteSandbox(pb.DeleteSandboxRequest(
        sandbox_id=sandbox_id, snapshot_volumes=["scratch2"])), INVALID,
        field_name="snapshot_volumes[0]")
    await expect_error(v1.sandboxes.DeleteSandbox(pb.DeleteSandboxRequest(
        sandbox_id=sandbox_id, snapshot_volumes=[VOLUME], allow_missing=True)), INVALID,
        reason="CWSANDBOX_INVALID_REQUEST")
    assert (await get(v1, sandbox_id)).status.state == STATE_RUNNING  # none of them stopped it


async def test_listing_pages_and_filters(v1: V1) -> None:
    ids = [(await v1.sandboxes.CreateSandbox(create_request(tags=[tag]))).sandbox_id
           for tag in ("a", "b", "a")]
    seen, token = [], ""
    while True:
        page = await v1.sandboxes.ListSandboxes(
            pb.ListSandboxesRequest(page_size=1, page_token=token))
        assert len(page.sandboxes) <= 1
        seen += [s.sandbox_id for s in page.sandboxes]
        token = page.next_page_token
        if not token:
            break
    assert seen == ids
    tagged = await v1.sandboxes.ListSandboxes(pb.ListSandboxesRequest(tags=["a"]))
    assert [s.sandbox_id for s in tagged.sandboxes] == [ids[0], ids[2]]
    assert all(list(s.spec.tags) == ["a"] for s in tagged.sandboxes)
    await expect_error(v1.sandboxes.ListSandboxes(pb.ListSandboxesRequest(state=42)), INVALID,
                       field_name="state")
    await expect_error(v1.sandboxes.ListSandboxes(pb.ListSandboxesRequest(
        sort_direction=pb.SORT_DIRECTION_DESCENDING)), INVALID, field_name="sort_direction")
    none = await v1.sandboxes.ListSandboxes(pb.ListSandboxesRequest(volume_ids=["vol-1"]))
    assert list(none.sandboxes) == []


async def test_v1_and_v1beta2_see_the_same_sandboxes(v1: V1, channel: grpc.aio.Channel) -> None:
    gateway = gateway_pb2_grpc.GatewayServiceStub(channel)
    sandbox_id = await start(v1, tags=["shared"])
    seen = await gateway.Get(beta.GetSandboxRequest(sandbox_id=sandbox_id))
    assert seen.sandbox_status == beta.SANDBOX_STATUS_RUNNING
    assert seen.local_details.mount_path == MOUNT
    await gateway.Stop(beta.StopSandboxRequest(sandbox_id=sandbox_id,
                                               graceful_shutdown_seconds=1))
    ended = await wait_state(v1, sandbox_id, V1_TERMINAL)
    # the engine keeps v1beta2's numbers; v1 renumbered the states (4.2)
    assert ended.status.state == pb.STATE_COMPLETED


async def test_connect_and_the_other_unoffered_calls_are_unimplemented(v1: V1) -> None:
    sandbox_id = await start(v1)
    found = await expect_error(v1.sandboxes.ConnectSandbox(pb.ConnectSandboxRequest(
        sandbox_id=sandbox_id, csr_der=b"x",
        requested_permissions=[pb.SANDBOX_DATA_PERMISSION_STREAM_EXEC])),
        grpc.StatusCode.UNIMPLEMENTED, reason="CWSANDBOX_NOT_IMPLEMENTED")
    assert "ConnectSandbox" in found.message
    await expect_error(v1.sandboxes.PurgeSandboxes(pb.PurgeSandboxesRequest(purge_all=True)),
                       grpc.StatusCode.UNIMPLEMENTED, reason="CWSANDBOX_NOT_IMPLEMENTED")
    assert (await get(v1, sandbox_id)).status.state == STATE_RUNNING


async def test_the_data_plane_and_templates_are_refused_with_a_reason(
        channel: grpc.aio.Channel) -> None:
    """Not gRPC's bare "Method not found": the same answer as the other unoffered calls."""
    from cwsandbox_tui.proto.v1 import sandbox_data_plane_pb2_grpc as dp
    from cwsandbox_tui.proto.v1 import sandbox_template_pb2 as tpb
    from cwsandbox_tui.proto.v1 import sandbox_template_pb2_grpc as tp

    data_plane = dp.SandboxDataPlaneServiceStub(channel)
    found = await expect_error(data_plane.ReadFile(pb.ReadFileRequest(sandbox_id="sb-x")),
                               grpc.StatusCode.UNIMPLEMENTED, reason="CWSANDBOX_NOT_IMPLEMENTED")
    assert "ReadFile" in found.message
    with pytest.raises(grpc.aio.AioRpcError) as streamed:
        await data_plane.StreamExec(iter([pb.ExecStreamRequest(init=pb.ExecStreamInit(
            sandbox_id="sb-x", command=["true"]))])).read()
    assert streamed.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "not offered by the local backend" in (streamed.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as logs:
        await data_plane.StreamLogs(pb.StreamLogsRequest(sandbox_id="sb-x")).read()
    assert logs.value.code() == grpc.StatusCode.UNIMPLEMENTED
    await expect_error(tp.SandboxTemplateServiceStub(channel).ListSandboxTemplates(
        tpb.ListSandboxTemplatesRequest()), grpc.StatusCode.UNIMPLEMENTED,
        reason="CWSANDBOX_NOT_IMPLEMENTED")


async def _trapped(v1: V1, sandbox_id: str) -> bool | None:
    return True if (await run(v1, sandbox_id, "test -e /tmp/trapped")).exit_code == 0 else None


# ---------------------------------------------------------------------------------------------
# every field of a create: honoured, or refused by its name (issue 8)

C0 = "sandbox.spec.containers[0]"
SECURITY = f"{C0}.security_context"


def _field(request: pb.CreateSandboxRequest, path: str) -> Any:
    """The field at dotted `path` of a request's `sandbox.spec` ("[0]": a list's first)."""
    target: Any = request.sandbox.spec
    for part in path.split("."):
        target = getattr(target, part.removesuffix("[0]"))
        if part.endswith("[0]"):
            target = target[0]
    return target


def _set(path: str, value: object) -> Callable[[pb.CreateSandboxRequest], None]:
    def mutate(request: pb.CreateSandboxRequest) -> None:
        parent, _, last = path.rpartition(".")
        target = _field(request, parent) if parent else request.sandbox.spec
        if isinstance(value, list):
            getattr(target, last).extend(value)
        elif isinstance(value, dict):
            getattr(target, last).update(value)
        else:
            setattr(target, last, value)
    return mutate


def _add(where: str, **fields: Any) -> Callable[[pb.CreateSandboxRequest], None]:
    def mutate(request: pb.CreateSandboxRequest) -> None:
        _field(request, where).add(**fields)
    return mutate


REFUSED = {
    "network ids": (_set("network_ids", ["net-1"]), "sandbox.spec.network_ids"),
    "network config": (_set("network_config_id", "cfg-1"), "sandbox.spec.network_config_id"),
    "object storage": (_set("object_storage_access.buckets", ["data"]),
                       "sandbox.spec.object_storage_access"),
    "instance type": (_set("instance_type", "gd-8xh100"), "sandbox.spec.instance_type"),
    "runtime class": (_set("runtime_class", "gvisor"), "sandbox.spec.runtime_class"),
    "runtime class selection": (_set("runtime_class_selection", 4),  # GPU_DEFAULT
                                "sandbox.spec.runtime_class_selection"),
    "unknown runtime class": (_set("runtime_class_selection", 99),
                              "sandbox.spec.runtime_class_selection"),
    "unknown mode": (_set("mode", 42), "sandbox.spec.mode"),
    "secret store": (_add("containers[0].secret_stores", store_name="vault"),
                     f"{C0}.secret_stores"),
    "pull credentials": (_set("containers[0].image_pull_credentials.registry", "ghcr.io"),
                         f"{C0}.image_pull_credentials"),
    "startup probe": (_set("containers[0].startup_probe.exec", ["true"]),
                      f"{C0}.startup_probe"),
    "privileged": (_set("containers[0].security_context.privileged", True),
                   f"{SECURITY}.privileged"),
    "escalation": (_set("containers[0].security_context.allow_privilege_escalation", True),
                   f"{SECURITY}.allow_privilege_escalation"),
    "capabilities": (_set("containers[0].security_context.capabilities_add", ["NET_ADMIN"]),
                     f"{SECURITY}.capabilities_add"),
    "capability name": (_set("containers[0].security_context.capabilities_drop", ["NET RAW"]),
                        f"{SECURITY}.capabilities_drop[0]"),
    "seccomp": (_set("containers[0].security_context.seccomp_profile", "RuntimeDefault"),
                f"{SECURITY}.seccomp_profile"),
    "another user": (_set("containers[0].security_context.run_as_user", 1000),
                     f"{SECURITY}.run_as_user"),
    "another group": (_set("containers[0].security_context.run_as_group", 1000),
                      f"{SECURITY}.run_as_group"),
    "gpu": (_set("containers[0].resource_requirements.limits.gpu.count", 1),
            f"{C0}.resource_requirements.limits.gpu"),
    "gpu by type": (_set("containers[0].resources.gpu.type", "A100"), f"{C0}.resources.gpu"),
    "bad cpu": (_set("containers[0].resource_requirements.limits.cpu", "lots"),
                f"{C0}.resource_requirements.limits.cpu"),
    "endless cpu": (_set("containers[0].resources.cpu", "9" * 400), f"{C0}.resources.cpu"),
    "bad memory": (_set("containers[0].resources.memory", "-1Gi"), f"{C0}.resources.memory"),
    "requests over limits": (
        lambda r: (_set("containers[0].resource_requirements.requests.cpu", "2")(r),
                   _set("containers[0].resource_requirements.limits.cpu", "1")(r)),
        f"{C0}.resource_requirements.requests.cpu"),
    "read-only mount": (_set("containers[0].volume_mounts[0].read_only", True),
                        f"{C0}.volume_mounts[0].read_only"),
    "sub path": (_set("containers[0].volume_mounts[0].sub_path", "part"),
                 f"{C0}.volume_mounts[0].sub_path"),
    "memory medium": (_set("volumes[0].scratch.medium", pb.STORAGE_MEDIUM_MEMORY),
                      "sandbox.spec.volumes[0].scratch.medium"),
    "annotation key": (_set("annotations", {"not a key!": "x"}), "sandbox.spec.annotations"),
    "empty runner id": (_set("runner_ids", [""]), "sandbox.spec.runner_ids[0]"),
    "egress rule without destination": (_add("network.egress"),
                                        "sandbox.spec.network.egress[0]"),
    "egress port": (_add("network.egress", any=True, ports=[pb.PortRange(port=0)]),
                    "sandbox.spec.network.egress[0].ports[0].port"),
    "ingress cidr": (_add("network.ingress", cidr=pb.CidrBlock(cidr="10.0.0.0/33")),
                     "sandbox.spec.network.ingress[0].cidr.cidr"),
    "unknown dns mode": (_set("network.dns_egress", 7), "sandbox.spec.network.dns_egress"),
    "file outside": (_add("containers[0].files", path="/etc/app.conf", content=b"x"),
                     f"{C0}.files[0].path"),
    "relative file": (_add("containers[0].files", path="conf/app", content=b"x"),
                      f"{C0}.files[0].path"),
}


@pytest.mark.parametrize(("mutate", "field_name"), list(REFUSED.values()), ids=list(REFUSED))
async def test_what_the_backend_cannot_give_is_refused_by_its_v1_name(
        v1: V1, mutate: Callable[[pb.CreateSandboxRequest], None], field_name: str) -> None:
    request = create_request()
    mutate(request)
    await expect_error(v1.sandboxes.CreateSandbox(request), INVALID, field_name=field_name)
    listed = await v1.sandboxes.ListSandboxes(pb.ListSandboxesRequest(show_terminated=True))
    assert list(listed.sandboxes) == []  # nothing was started


async def test_given_files_are_in_place_before_the_command_runs(v1: V1) -> None:
    binary = bytes(range(256)) * 3
    request = create_request(args=["-c", f"cat /tmp/conf/app.json; wc -c < {MOUNT}/deep/seed.bin;"
                                         " exec sleep 600"])
    request.sandbox.spec.containers[0].files.extend([
        pb.FileMount(path="/tmp/conf/app.json", content=b'{"given": true}\n'),
        pb.FileMount(path=f"{MOUNT}/deep/seed.bin", content=binary)])
    created = await v1.sandboxes.CreateSandbox(request)
    await wait_state(v1, created.sandbox_id, STATE_RUNNING)

    async def logged() -> bytes | None:
        text = b"".join([entry.data async for entry in v1.sandboxes.StreamLogs(
            pb.StreamLogsRequest(sandbox_id=created.sandbox_id))])
        return text if b"768" in text else None
    assert await poll(logged, 10, "the files' contents in the log") == b'{"given": true}\n768\n'
    # they belong to the sandbox: it may change them
    assert await run_ok(v1, created.sandbox_id, "echo more >> /tmp/conf/app.json && "
                                                "cat /tmp/conf/app.json") == \
        b'{"given": true}\nmore\n'


async def test_files_go_only_into_tmp_or_the_mount(v1: V1) -> None:
    without_mount = create_request(volume=None)
    without_mount.sandbox.spec.containers[0].files.add(path=f"{MOUNT}/x", content=b"x")
    found = await expect_error(v1.sandboxes.CreateSandbox(without_mount), INVALID,
                               field_name=f"{C0}.files[0].path")
    assert "(/tmp)" in found.message  # no mount asked for: only /tmp is the sandbox's
    twice = create_request()
    twice.sandbox.spec.containers[0].files.extend([
        pb.FileMount(path="/tmp/a", content=b"1"), pb.FileMount(path="/tmp/./a", content=b"2")])
    await expect_error(v1.sandboxes.CreateSandbox(twice), INVALID,
                       field_name=f"{C0}.files[1].path")
    escaping = create_request()
    escaping.sandbox.spec.containers[0].files.add(path=f"{MOUNT}/../etc/passwd", content=b"x")
    found = await expect_error(v1.sandboxes.CreateSandbox(escaping), INVALID,
                               field_name=f"{C0}.files[0].path")
    assert "outside the sandbox's writable areas" in found.message


async def test_runner_pins_and_resources_place_the_sandbox(
        v1: V1, channel: grpc.aio.Channel) -> None:
    discovery = discovery_pb2_grpc.DiscoveryServiceStub(channel)
    runner = dpb.GetAvailableRunnerRequest(runner_id="local-runner", organization_id="local")
    free_before = (await discovery.GetAvailableRunner(runner)).resources.available_cpu_millicores
    request = create_request()
    spec = request.sandbox.spec
    spec.runner_ids.append("local-runner")
    spec.mode = pb.SANDBOX_MODE_CKS  # what SDK 1.22.0 sends with runner_ids
    spec.annotations.update({"team": "ml", "example.com/owner": "me"})
    request.sandbox.display_name = "pinned"
    requirements = spec.containers[0].resource_requirements
    requirements.requests.cpu, requirements.requests.memory = "250m", "64Mi"
    requirements.limits.cpu = "1"
    created = await v1.sandboxes.CreateSandbox(request)
    running = await wait_state(v1, created.sandbox_id, STATE_RUNNING)
    for seen in (created, running):
        assert (seen.status.runner_id, seen.status.runner_group_id) == ("local-runner", "local")
        assert dict(seen.spec.annotations) == {"team": "ml", "example.com/owner": "me"}
        assert seen.display_name == "pinned"
        echoed = seen.spec.containers[0].resource_requirements
        assert (echoed.requests.cpu, echoed.requests.memory, echoed.limits.cpu) == (
            "250m", "64Mi", "1")
        # what is applied: as asked, and the memory limit the backend holds it to (its
        # default, as no memory limit was asked)
        applied = type(echoed)()
        applied.CopyFrom(echoed)
        applied.limits.memory = "8Gi"
        assert seen.status.effective_resource_requirements == applied
    free_after = (await discovery.GetAvailableRunner(runner)).resources.available_cpu_millicores
    assert free_before - free_after == 250  # what the request holds while it runs

    await expect_error(v1.sandboxes.CreateSandbox(
        _pinned(create_request(), "elsewhere")), NOT_FOUND, reason="CWSANDBOX_RUNNER_NOT_FOUND")
    huge = create_request()
    huge.sandbox.spec.containers[0].resources.cpu = "100000"  # the older single field
    await expect_error(v1.sandboxes.CreateSandbox(huge), grpc.StatusCode.RESOURCE_EXHAUSTED,
                       reason="CWSANDBOX_RUNNER_UNAVAILABLE")
    listed = await v1.sandboxes.ListSandboxes(pb.ListSandboxesRequest(show_terminated=True))
    assert [s.sandbox_id for s in listed.sandboxes] == [created.sandbox_id]


def _pinned(request: pb.CreateSandboxRequest, runner_id: str) -> pb.CreateSandboxRequest:
    request.sandbox.spec.runner_ids.append(runner_id)
    request.sandbox.spec.mode = pb.SANDBOX_MODE_CKS
    return request


async def test_a_retried_create_with_other_placement_is_a_conflict(v1: V1) -> None:
    first = await v1.sandboxes.CreateSandbox(create_request(request_id="placed"))
    again = _pinned(create_request(request_id="placed"), "local-runner")
    again.sandbox.spec.containers[0].resources.cpu = "100m"
    found = await expect_error(v1.sandboxes.CreateSandbox(again), grpc.StatusCode.ALREADY_EXISTS,
                               reason="CWSANDBOX_REQUEST_ID_CONFLICT")
    assert found.metadata["sandbox_id"] == first.sandbox_id


def _with_network(**options: Any) -> pb.CreateSandboxRequest:
    request = create_request()
    request.sandbox.spec.network.CopyFrom(pb.NetworkOptions(**options))
    return request


async def test_network_and_security_asks_an_isolated_sandbox_meets_are_honoured(
        v1: V1, backend: BackendServer) -> None:
    assert backend.engine is not None
    if not backend.engine.isolation.isolated:
        pytest.skip("user namespaces are not available here")
    request = _with_network(deny_egress=True, deny_ingress=True,
                            dns_egress=pb.DNS_EGRESS_MODE_DENY)
    context = request.sandbox.spec.containers[0].security_context
    context.run_as_user = context.run_as_group = 0
    context.privileged = context.allow_privilege_escalation = False
    context.read_only_root_filesystem = True
    context.capabilities_drop.append("ALL")
    request.sandbox.spec.containers[0].primary = True
    request.sandbox.spec.runtime_class_selection = rpb.RUNTIME_CLASS_CPU_DEFAULT
    request.sandbox.spec.volumes[0].scratch.medium = pb.STORAGE_MEDIUM_DISK
    created = await v1.sandboxes.CreateSandbox(request)
    running = await wait_state(v1, created.sandbox_id, STATE_RUNNING)
    assert running.status.effective_dns_egress == pb.DNS_EGRESS_MODE_DENY
    seen = await run_ok(v1, created.sandbox_id,
                        "id -u; id -g; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; "
                        "touch /usr/x 2>/dev/null || echo read-only; "
                        "awk 'NR > 2 { print $1 }' /proc/net/dev")
    assert seen.split() == [b"0", b"0", b"CapEff:", b"0000000000000000", b"NoNewPrivs:", b"1",
                            b"read-only", b"lo:"]

    for options, field_name in (
            ({"egress": [pb.EgressRule(https_hostname="pypi.org")]},
             "sandbox.spec.network.egress[0].dns_name"),
            ({"egress": [pb.EgressRule(any=True)]}, "sandbox.spec.network.egress"),
            ({"ingress": [pb.IngressRule(any=True)]}, "sandbox.spec.network.ingress"),
            ({"dns_egress": pb.DNS_EGRESS_MODE_ALLOW}, "sandbox.spec.network.dns_egress")):
        found = await expect_error(v1.sandboxes.CreateSandbox(_with_network(**options)),
                                   INVALID, field_name=field_name)
        assert "no network" in found.message


async def test_an_unisolated_backend_refuses_what_it_cannot_enforce(
        start_backend: StartBackend) -> None:
    served = await start_backend(isolate=False, api="v1")
    v1 = V1.on(served.channel)
    for options, field_name in (
            ({"deny_egress": True}, "sandbox.spec.network.deny_egress"),
            ({"deny_ingress": True}, "sandbox.spec.network.deny_ingress"),
            ({"dns_egress": pb.DNS_EGRESS_MODE_DENY}, "sandbox.spec.network.dns_egress")):
        found = await expect_error(v1.sandboxes.CreateSandbox(_with_network(**options)),
                                   INVALID, field_name=field_name)
        assert "host's network" in found.message
    for name, value in (("run_as_user", 0), ("read_only_root_filesystem", True),
                        ("allow_privilege_escalation", False)):
        request = create_request()
        setattr(request.sandbox.spec.containers[0].security_context, name, value)
        await expect_error(v1.sandboxes.CreateSandbox(request), INVALID,
                           field_name=f"{SECURITY}.{name}")
    # the host's network gives what an egress rule grants, and DNS
    granted = await v1.sandboxes.CreateSandbox(_with_network(
        egress=[pb.EgressRule(https_hostname="pypi.org")], dns_egress=pb.DNS_EGRESS_MODE_ALLOW))
    running = await wait_state(v1, granted.sandbox_id, STATE_RUNNING)
    assert running.status.effective_dns_egress == pb.DNS_EGRESS_MODE_ALLOW
