"""`coreweave.sandbox.v1.VolumeService`: registered volumes as local directories."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ...proto.v1 import volume_pb2 as pb
from ...proto.v1 import volume_pb2_grpc
from ..errors import ApiError, Code, invalid
from ..paging import decode, encode, page_size
from ..volumes import ERROR, READY, VALIDATING, VolumeRecord, VolumeRegistry
from . import convert
from .common import call, required

_STATES = {VALIDATING: pb.VOLUME_STATE_VALIDATING, READY: pb.VOLUME_STATE_READY,
           ERROR: pb.VOLUME_STATE_ERROR}
_UPDATABLE = {"spec.description": "description", "spec.read_only": "read_only"}


class VolumeService(volume_pb2_grpc.VolumeServiceServicer):
    def __init__(self, volumes: VolumeRegistry) -> None:
        self.volumes = volumes

    def _message(self, record: VolumeRecord) -> pb.Volume:
        message = pb.Volume(volume_id=record.volume_id)
        message.spec.pvc.runner_id = record.runner_id
        message.spec.pvc.namespace = record.namespace
        message.spec.pvc.claim_name = record.claim_name
        message.spec.pvc.sub_path = record.sub_path
        message.spec.read_only = record.read_only
        message.spec.description = record.description
        status = message.status
        status.state = _STATES.get(record.state, pb.VOLUME_STATE_UNSPECIFIED)  # type: ignore[assignment]
        status.state_reason = record.state_reason
        status.locality = pb.VOLUME_LOCALITY_CLUSTER_LOCAL
        convert.stamp(status.create_time, record.created_at)
        convert.stamp(status.update_time, record.updated_at)
        if record.validated_at is not None:
            convert.stamp(status.last_validated_time, record.validated_at)
        status.access_modes.append("ReadOnlyMany" if record.read_only else "ReadWriteMany")
        status.capacity = f"{self.volumes.capacity() // 2**30}Gi"  # free space on this disk
        return message

    async def CreateVolume(self, request: pb.CreateVolumeRequest, context: Any) -> pb.Volume:
        async def work() -> pb.Volume:
            volume = request.volume
            if volume.spec.WhichOneof("source") != "pvc":
                raise invalid("volume.spec.pvc", "is required (the only volume source)")
            pvc = volume.spec.pvc
            record = self.volumes.create(VolumeRecord(
                volume_id=volume.volume_id, runner_id=pvc.runner_id, namespace=pvc.namespace,
                claim_name=pvc.claim_name, sub_path=pvc.sub_path,
                read_only=volume.spec.read_only, description=volume.spec.description,
                request_id=request.request_id))
            if record.state == VALIDATING:  # validated just after the answer, as upstream does
                asyncio.get_running_loop().call_soon(self._validate_quietly, record.volume_id)
            return self._message(record)
        return await call(context, work, request=request)

    def _validate_quietly(self, volume_id: str) -> None:
        with contextlib.suppress(ApiError):
            self.volumes.validate(volume_id)

    async def GetVolume(self, request: pb.GetVolumeRequest, context: Any) -> pb.Volume:
        async def work() -> pb.Volume:
            return self._message(self.volumes.get(required(request.volume_id, "volume_id")))
        return await call(context, work, request=request)

    async def ListVolumes(self, request: pb.ListVolumesRequest, context: Any
                          ) -> pb.ListVolumesResponse:
        async def work() -> pb.ListVolumesResponse:
            if request.page_size < 0:
                raise invalid("page_size", "must not be negative")
            limit = page_size(request.page_size)
            start = decode(request.page_token, "volumes")
            wanted = set(request.states)
            rows = [self._message(r) for r in self.volumes.list()
                    if not request.runner_ids or r.runner_id in request.runner_ids]
            rows = [m for m in rows if not wanted or m.status.state in wanted]
            page = rows[start:start + limit]
            more = start + limit < len(rows)
            return pb.ListVolumesResponse(
                volumes=page, next_page_token=encode("volumes", start + limit) if more else "")
        return await call(context, work, request=request)

    async def UpdateVolume(self, request: pb.UpdateVolumeRequest, context: Any) -> pb.Volume:
        async def work() -> pb.Volume:
            volume_id = required(request.volume_id, "volume_id")
            if request.volume.volume_id and request.volume.volume_id != volume_id:
                raise invalid("volume.volume_id", "differs from volume_id")
            paths = list(request.update_mask.paths) or ["spec.description"]
            changes: dict[str, object] = {}
            for index, path in enumerate(paths):
                if path not in _UPDATABLE:
                    raise invalid(f"update_mask.paths[{index}]",
                                  f"{path!r} cannot be changed (only "
                                  f"{', '.join(sorted(_UPDATABLE))})")
                changes[_UPDATABLE[path]] = getattr(request.volume.spec, _UPDATABLE[path])
            return self._message(self.volumes.update(volume_id, **changes))
        return await call(context, work, request=request)

    async def DeleteVolume(self, request: pb.DeleteVolumeRequest, context: Any) -> pb.Volume:
        async def work() -> pb.Volume:
            volume_id = required(request.volume_id, "volume_id")
            try:
                record = self.volumes.get(volume_id)
            except ApiError as error:
                if error.code == Code.NOT_FOUND and request.allow_missing:
                    return pb.Volume()
                raise
            message = self._message(record)
            await asyncio.to_thread(self.volumes.delete, volume_id)
            message.status.state = pb.VOLUME_STATE_DELETING
            return message
        return await call(context, work, request=request)

    async def ValidateVolume(self, request: pb.ValidateVolumeRequest, context: Any) -> pb.Volume:
        async def work() -> pb.Volume:
            return self._message(self.volumes.validate(required(request.volume_id, "volume_id")))
        return await call(context, work, request=request)
