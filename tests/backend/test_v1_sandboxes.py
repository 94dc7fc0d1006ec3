"""v1 SandboxService: create/get/list/delete-as-stop over real gRPC on loopback."""

from __future__ import annotations

import grpc
import pytest

from cwsandbox_tui.proto.v1 import sandbox_pb2 as pb
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as beta
from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc

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
    (lambda r: r.sandbox.spec.containers.add(name="second", image="x", command="/bin/true"),
     "sandbox.spec.containers"),
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
    (lambda r: setattr(r.sandbox.spec.containers[0], "working_dir", "/srv"),
     "sandbox.spec.containers[0].working_dir"),
    (lambda r: setattr(r.sandbox.spec.containers[0].volume_mounts[0], "mount_path", "/proc"),
     "sandbox.spec.containers[0].volume_mounts[0].mount_path"),
], ids=["no container", "two containers", "two volumes", "registered volume", "unknown mount",
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
