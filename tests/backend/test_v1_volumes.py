"""v1 VolumeService: registered volumes as local directories, over real gRPC on loopback."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.proto.v1 import volume_pb2 as pb

from .helpers import INVALID, NOT_FOUND, expect_error, poll
from .v1_helpers import V1


@pytest.fixture
def v1(channel: grpc.aio.Channel) -> V1:
    return V1.on(channel)


def _volume(volume_id: str, runner: str = "local-runner", **spec: object) -> pb.Volume:
    return pb.Volume(volume_id=volume_id, spec=pb.VolumeSpec(
        pvc=pb.PvcVolumeSource(runner_id=runner, namespace="ns", claim_name="data"), **spec))


async def _ready(v1: V1, volume_id: str) -> pb.Volume:
    async def check() -> pb.Volume | None:
        found = await v1.volumes.GetVolume(pb.GetVolumeRequest(volume_id=volume_id))
        return found if found.status.state == pb.VOLUME_STATE_READY else None
    return await poll(check, 10, f"volume {volume_id} READY")


async def test_volume_lifecycle(v1: V1, backend: BackendServer) -> None:
    made = await v1.volumes.CreateVolume(pb.CreateVolumeRequest(
        volume=_volume("datasets", description="shared data"), request_id="r1"))
    assert made.status.state == pb.VOLUME_STATE_VALIDATING
    assert made.spec.description == "shared data"
    again = await v1.volumes.CreateVolume(pb.CreateVolumeRequest(
        volume=_volume("datasets"), request_id="r1"))
    assert again.volume_id == "datasets"  # a retried create
    await expect_error(v1.volumes.CreateVolume(pb.CreateVolumeRequest(
        volume=_volume("datasets"), request_id="r2")), grpc.StatusCode.ALREADY_EXISTS)

    ready = await _ready(v1, "datasets")
    assert ready.status.capacity.endswith("Gi")
    assert ready.status.HasField("last_validated_time")
    assert (backend.config.data_dir / "volumes" / "datasets" / "data").is_dir()

    await v1.volumes.CreateVolume(pb.CreateVolumeRequest(volume=_volume("models")))
    listed = await v1.volumes.ListVolumes(pb.ListVolumesRequest(page_size=1))
    assert [v.volume_id for v in listed.volumes] == ["datasets"] and listed.next_page_token
    rest = await v1.volumes.ListVolumes(pb.ListVolumesRequest(
        page_size=1, page_token=listed.next_page_token))
    assert [v.volume_id for v in rest.volumes] == ["models"] and not rest.next_page_token

    updated = await v1.volumes.UpdateVolume(pb.UpdateVolumeRequest(
        volume_id="datasets", volume=pb.Volume(spec=pb.VolumeSpec(description="renamed")),
        update_mask=field_mask_pb2.FieldMask(paths=["spec.description"])))
    assert updated.spec.description == "renamed"
    await expect_error(v1.volumes.UpdateVolume(pb.UpdateVolumeRequest(
        volume_id="datasets", volume=pb.Volume(),
        update_mask=field_mask_pb2.FieldMask(paths=["spec.pvc.claim_name"]))),
        INVALID, field_name="update_mask.paths[0]")
    validated = await v1.volumes.ValidateVolume(pb.ValidateVolumeRequest(volume_id="datasets"))
    assert validated.status.state == pb.VOLUME_STATE_READY

    deleted = await v1.volumes.DeleteVolume(pb.DeleteVolumeRequest(volume_id="datasets"))
    assert deleted.status.state == pb.VOLUME_STATE_DELETING
    assert not (backend.config.data_dir / "volumes" / "datasets").exists()
    await expect_error(v1.volumes.GetVolume(pb.GetVolumeRequest(volume_id="datasets")),
                       NOT_FOUND, reason="CWSANDBOX_VOLUME_NOT_FOUND")
    quiet = await v1.volumes.DeleteVolume(pb.DeleteVolumeRequest(volume_id="datasets",
                                                                 allow_missing=True))
    assert quiet.volume_id == ""


@pytest.mark.parametrize(("volume", "field_name"), [
    (_volume("Bad_Name"), "volume.volume_id"),
    (_volume("../escape"), "volume.volume_id"),
    (_volume("ok", runner="elsewhere"), "volume.spec.pvc.runner_id"),
    (pb.Volume(volume_id="ok"), "volume.spec.pvc"),
    (pb.Volume(volume_id="ok", spec=pb.VolumeSpec(pvc=pb.PvcVolumeSource(
        runner_id="local-runner", namespace="ns", claim_name="c", sub_path="../up"))),
     "volume.spec.pvc.sub_path"),
], ids=["upper case", "path", "other runner", "no source", "escaping sub path"])
async def test_bad_volumes_name_the_field(v1: V1, volume: pb.Volume, field_name: str) -> None:
    await expect_error(v1.volumes.CreateVolume(pb.CreateVolumeRequest(volume=volume)), INVALID,
                       field_name=field_name)
    assert list((await v1.volumes.ListVolumes(pb.ListVolumesRequest())).volumes) == []
