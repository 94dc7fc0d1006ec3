"""`coreweave.sandbox.v1.SettingsService`: the snapshot bucket (the rest is not offered)."""

from __future__ import annotations

from typing import Any

from ...proto.v1 import settings_pb2 as pb
from ...proto.v1 import settings_pb2_grpc
from ..engine import Engine
from ..errors import invalid
from .common import call, refuse

_BUCKET_FIELDS = ("bucket_name", "region")
_WRAPPED = "file_system_snapshot_bucket_config"


class SettingsService(settings_pb2_grpc.SettingsServiceServicer):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _bucket_message(self) -> pb.FileSystemSnapshotBucketConfig:
        bucket = self.engine.bucket()
        return pb.FileSystemSnapshotBucketConfig(
            bucket_name=bucket.bucket_name, region=bucket.region,
            mode=(pb.FILE_SYSTEM_SNAPSHOT_BUCKET_MODE_BRING_YOUR_OWN if bucket.own  # type: ignore[arg-type]
                  else pb.FILE_SYSTEM_SNAPSHOT_BUCKET_MODE_CW_MANAGED),
            effective_bucket_name=bucket.effective)

    async def GetFileSystemSnapshotBucketConfig(self, request: Any, context: Any
                                                ) -> pb.FileSystemSnapshotBucketConfig:
        return self._bucket_message()

    async def UpdateFileSystemSnapshotBucketConfig(
        self, request: pb.UpdateFileSystemSnapshotBucketConfigRequest, context: Any,
    ) -> pb.FileSystemSnapshotBucketConfig:
        async def work() -> pb.FileSystemSnapshotBucketConfig:
            if not request.HasField(_WRAPPED):
                raise invalid(_WRAPPED, "is required (send it empty to revert to the managed "
                                        "bucket)")
            wanted = request.file_system_snapshot_bucket_config
            paths = list(request.update_mask.paths) or list(_BUCKET_FIELDS)
            current = self.engine.bucket()
            values = {"bucket_name": current.bucket_name, "region": current.region}
            for index, path in enumerate(paths):
                name = path.removeprefix(f"{_WRAPPED}.")
                if name not in _BUCKET_FIELDS:
                    raise invalid(f"update_mask.paths[{index}]",
                                  f"{path!r} is not one of {', '.join(_BUCKET_FIELDS)}")
                values[name] = getattr(wanted, name)
            if not values["bucket_name"] and not (set(paths) & {"region", f"{_WRAPPED}.region"}):
                # back to the managed bucket, which has no region; a region asked for with no
                # bucket is refused (as v1beta2 does), naming the field
                values["region"] = ""
            self.engine.set_bucket(values["bucket_name"], values["region"])
            return self._bucket_message()
        fields = {name: f"{_WRAPPED}.{name}" for name in _BUCKET_FIELDS}
        return await call(context, work, fields, request=request)



refuse(SettingsService, "GetBuildStorageConfig", "UpdateBuildStorageConfig",
       "GetObjectStorageWifConfig", "UpdateObjectStorageWifConfig",
       "DeleteObjectStorageWifConfig", "CreateSecretStore", "GetSecretStore", "ListSecretStores",
       "UpdateSecretStore", "DeleteSecretStore")
