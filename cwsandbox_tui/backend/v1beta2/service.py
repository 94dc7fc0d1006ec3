"""GatewayService: protobuf in, engine call, protobuf out."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from ...proto.v1beta2 import gateway_pb2 as pb
from ...proto.v1beta2 import gateway_pb2_grpc
from .. import images, states
from ..discovery import RUNNER_GROUP_ID, RUNNER_ID, PlacementAsk, ResourceAsk
from ..engine import Engine, SandboxQuery
from ..errors import ApiError, Code, invalid, not_offered
from ..quotas import Applied
from ..store import SandboxRow, SnapshotRow, StoredSpec
from ..wire.errors import abort, internal_error
from ..wire.limits import check_request
from ..wire.listing import PageBytes, SnapshotWire, register_encoded
from .enums import SANDBOX_STATE_OF, SANDBOX_STATUS, SNAPSHOT_STATUS, TRIGGER

T = TypeVar("T")


def timestamp(seconds: float | None) -> timestamp_pb2.Timestamp | None:
    if seconds is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def _stamp(target: timestamp_pb2.Timestamp, seconds: float) -> None:
    whole = int(seconds)
    target.seconds = whole
    target.nanos = int((seconds - whole) * 1e9)


def fill_snapshot(message: pb.FileSystemSnapshot, snapshot_id: str, status: str, reason: str,
                  size: int, created: float, updated: float, completed: float | None,
                  source: str, trigger: str, key: str, bucket: str) -> None:
    """Set a snapshot message's fields in place (faster than building and copying one);
    `status` and `trigger` are the engine's words (`states.py`), as stored."""
    message.file_system_snapshot_id = snapshot_id
    message.status = SNAPSHOT_STATUS[status]  # type: ignore[assignment]
    message.status_reason = reason
    message.size_bytes = size
    _stamp(message.created_at, created)
    _stamp(message.updated_at, updated)
    if completed is not None:
        _stamp(message.completed_at, completed)
    message.source_sandbox_id = source
    message.trigger = TRIGGER[trigger]  # type: ignore[assignment]
    message.idempotency_key = key
    message.object_bucket = bucket


def encode_snapshot(row: tuple[Any, ...]) -> bytes:
    """A record's encoded message from its listing row (Store.LISTING_COLUMNS)."""
    message = pb.FileSystemSnapshot()
    fill_snapshot(message, *row[1:])
    return message.SerializeToString()


def snapshot_message(row: SnapshotRow) -> pb.FileSystemSnapshot:
    message = pb.FileSystemSnapshot()
    fill_snapshot(message, row.id, row.status, row.status_reason, row.size_bytes, row.created_at,
                  row.updated_at, row.completed_at, row.source_sandbox_id, row.trigger,
                  row.idempotency_key, row.object_bucket)
    return message


class GatewayService(gateway_pb2_grpc.GatewayServiceServicer):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._wire = SnapshotWire(engine.store, encode_snapshot)
        self._pages = PageBytes(engine.store)

    def _details(self, row: SandboxRow) -> pb.LocalSandboxDetails:
        spec = row.spec
        details = pb.LocalSandboxDetails(
            container_image=spec.container_image, tags=spec.tags, command=spec.command,
            args=spec.args, mount_path=spec.mount_path, mount_size=spec.mount_size,
            restored_from_snapshot_id=spec.restored_from, stop_snapshot_id=row.stop_snapshot_id,
            status_reason=row.status_reason, created_at=timestamp(row.created_at),
            ended_at=timestamp(row.ended_at), max_lifetime_seconds=spec.max_lifetime_seconds,
            isolation=self.engine.isolation.kind, runtime=spec.runtime,
        )
        if row.exit_code is not None:
            details.exit_code = row.exit_code
        if spec.requests:
            details.resource_requests.CopyFrom(resource_message(spec.requests))
        if spec.limits:
            details.resource_limits.CopyFrom(resource_message(spec.limits))
        if spec.enforced:
            applied = Applied.from_list(spec.enforced)
            details.enforced_limits.CopyFrom(pb.LocalEnforcedLimits(
                processes=applied.processes, memory_bytes=applied.memory_bytes,
                mount_bytes=applied.mount_bytes, log_bytes=applied.log_bytes))
        return details

    def _common(self, row: SandboxRow) -> dict[str, Any]:
        spec = row.spec
        return dict(
            sandbox_id=row.id,
            started_at_time=timestamp(row.started_at or row.created_at),
            sandbox_status=SANDBOX_STATUS[row.status],
            # records from before placement existed ran on this machine's runner too
            runner_id=spec.runner_id or RUNNER_ID,
            runner_group_id=spec.runner_group_id or RUNNER_GROUP_ID,
            profile_id=spec.profile_id,
            applied_ingress_mode=spec.ingress_mode,
            applied_egress_mode=spec.egress_mode,
            service_address=self.engine.service_address(row),
            exposed_ports=_ports(spec),
            local_details=self._details(row),
        )

    async def _call(self, request: Message, context: grpc.aio.ServicerContext,
                    work: Callable[[], Awaitable[T]]) -> T:
        try:
            check_request(request)
            return await work()
        except ApiError as error:
            await abort(error, context)
            raise  # abort() raises; this line is never reached
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception:
            await internal_error(context)
            raise

    async def Start(self, request: pb.StartSandboxRequest, context: Any) -> pb.StartSandboxResponse:
        async def work() -> pb.StartSandboxResponse:
            self.engine.check_can_start()  # before the request's fields: nothing could start
            fs = request.file_system
            has_fs = request.HasField("file_system")
            spec = StoredSpec(
                command=request.command,
                args=list(request.args),
                container_image=request.container_image,
                tags=list(request.tags),
                env=dict(request.environment_variables),
                mount_path=fs.mount_path if has_fs else "",
                mount_size=fs.size if has_fs else "",
                max_lifetime_seconds=request.max_lifetime_seconds,
                ingress_mode=request.network.ingress_mode,
                egress_mode=request.network.egress_mode,
                services=_services(request),
            )
            if has_fs and not fs.mount_path:
                raise invalid("file_system.mount_path", "is required")
            restore = fs.file_system_snapshot.file_system_snapshot_id if has_fs else ""
            if has_fs and fs.HasField("file_system_snapshot") and not restore:
                raise invalid("file_system.file_system_snapshot.file_system_snapshot_id",
                              "is required when restoring a snapshot")
            self._refuse_unservable(request)
            await images.provide_soon(spec.container_image)  # probing a Python, off the loop
            row = self.engine.start(
                spec, restore, ask=placement_ask(request),
                files=[(f.mount_path, f.file_content) for f in request.mounted_files])
            placed = row.spec
            response = pb.StartSandboxResponse(
                sandbox_id=row.id, started_at_time=timestamp(row.created_at),
                runner_id=placed.runner_id, profile_id=placed.profile_id,
                sandbox_status=SANDBOX_STATUS[row.status],  # type: ignore[arg-type]
                applied_ingress_mode=placed.ingress_mode,
                applied_egress_mode=placed.egress_mode)
            response.service_address = self.engine.service_address(row)
            response.exposed_ports.extend(_ports(placed))
            if placed.requests:
                response.requested_resource_requests.CopyFrom(resource_message(placed.requests))
                response.requested_resources.CopyFrom(resource_message(placed.requests))
            if placed.limits:
                response.requested_resource_limits.CopyFrom(resource_message(placed.limits))
                if not placed.requests:
                    response.requested_resources.CopyFrom(resource_message(placed.limits))
            return response
        return await self._call(request, context, work)

    def _refuse_unservable(self, request: pb.StartSandboxRequest) -> None:
        """What this machine cannot give a sandbox is refused by name, never dropped."""
        if request.secret_stores:
            store = request.secret_stores[0].store_name
            raise invalid("secret_stores[0].store_name",
                          f"no secret store {store!r} here: this backend has no secret stores "
                          "to inject secrets from")
        if request.runner_cluster_secrets:
            raise invalid("runner_cluster_secrets",
                          "cannot be honoured: this backend runs no cluster to hold secrets")
        if request.HasField("s3_mount"):
            raise invalid("s3_mount", "cannot be honoured: this backend has no object storage "
                                      "to mount")
        if request.HasField("object_storage_access"):
            raise invalid("object_storage_access",
                          "cannot be honoured: this backend has no object storage")

    async def Get(self, request: pb.GetSandboxRequest, context: Any) -> pb.GetSandboxResponse:
        async def work() -> pb.GetSandboxResponse:
            row = self.engine.get(_required(request.sandbox_id, "sandbox_id"))
            return pb.GetSandboxResponse(**self._common(row), status_reason=row.status_reason)
        return await self._call(request, context, work)

    async def List(self, request: pb.ListSandboxesRequest, context: Any
                   ) -> pb.ListSandboxesResponse:
        async def work() -> pb.ListSandboxesResponse:
            if request.status and request.status not in SANDBOX_STATE_OF:
                raise invalid("status", f"{request.status} is not a SandboxStatus")
            query = SandboxQuery(
                tags=list(request.tags), status=SANDBOX_STATE_OF.get(request.status),
                include_stopped=request.include_stopped, runner_ids=list(request.runner_ids),
                profile_ids=list(request.profile_ids), profile_names=list(request.profile_names))
            rows, token = self.engine.list_sandboxes(query, request.page_token, request.page_size)
            return pb.ListSandboxesResponse(
                sandboxes=[pb.SandboxInfo(**self._common(r)) for r in rows], next_page_token=token)
        return await self._call(request, context, work)

    async def Stop(self, request: pb.StopSandboxRequest, context: Any) -> pb.StopSandboxResponse:
        async def work() -> pb.StopSandboxResponse:
            snapshot = request.file_system_snapshot_on_stop
            outcome = await self.engine.stop(
                _required(request.sandbox_id, "sandbox_id"),
                grace=request.graceful_shutdown_seconds,
                snapshot=snapshot,
                wait_for_ready=(request.wait_for_ready if request.HasField("wait_for_ready")
                                else True),
                max_timeout=request.max_timeout_seconds,
                idempotency_key=request.idempotency_key,
            )
            if outcome.snapshot_failed:
                return pb.StopSandboxResponse(
                    success=False, file_system_snapshot_id=outcome.snapshot_id,
                    error_message=f"snapshot on stop failed: {outcome.snapshot_failed}")
            return pb.StopSandboxResponse(success=True, file_system_snapshot_id=outcome.snapshot_id)
        return await self._call(request, context, work)

    async def Delete(self, request: pb.DeleteSandboxRequest, context: Any
                     ) -> pb.DeleteSandboxResponse:
        async def work() -> pb.DeleteSandboxResponse:
            await self.engine.delete(_required(request.sandbox_id, "sandbox_id"))
            return pb.DeleteSandboxResponse(success=True)
        return await self._call(request, context, work)

    async def Pause(self, request: pb.PauseSandboxRequest, context: Any) -> pb.PauseSandboxResponse:
        async def work() -> pb.PauseSandboxResponse:
            await self.engine.pause(_required(request.sandbox_id, "sandbox_id"))
            return pb.PauseSandboxResponse(success=True)
        return await self._call(request, context, work)

    async def Resume(self, request: pb.ResumeSandboxRequest, context: Any
                     ) -> pb.ResumeSandboxResponse:
        async def work() -> pb.ResumeSandboxResponse:
            await self.engine.resume(_required(request.sandbox_id, "sandbox_id"))
            return pb.ResumeSandboxResponse(success=True)
        return await self._call(request, context, work)

    async def AddFile(self, request: pb.AddFileSandboxRequest, context: Any
                      ) -> pb.AddFileSandboxResponse:
        async def work() -> pb.AddFileSandboxResponse:
            await self.engine.add_file(_required(request.sandbox_id, "sandbox_id"),
                                       request.filepath, request.file_contents)
            return pb.AddFileSandboxResponse(success=True)
        return await self._call(request, context, work)

    async def RetrieveFile(self, request: pb.RetrieveFileSandboxRequest, context: Any
                           ) -> pb.RetrieveFileSandboxResponse:
        async def work() -> pb.RetrieveFileSandboxResponse:
            data = await self.engine.retrieve_file(_required(request.sandbox_id, "sandbox_id"),
                                                   request.filepath)
            return pb.RetrieveFileSandboxResponse(success=True, file_contents=data)
        return await self._call(request, context, work)

    async def CreateFileSystemSnapshot(self, request: pb.CreateFileSystemSnapshotRequest,
                                       context: Any) -> pb.CreateFileSystemSnapshotResponse:
        async def work() -> pb.CreateFileSystemSnapshotResponse:
            if request.max_timeout_seconds < 0:
                raise invalid("max_timeout_seconds", "must not be negative")
            wait = request.wait_for_ready if request.HasField("wait_for_ready") else False
            snap = await self.engine.create_snapshot(
                _required(request.sandbox_id, "sandbox_id"), key=request.idempotency_key,
                wait_for_ready=wait, max_timeout=request.max_timeout_seconds)
            if snap.status == states.FSS_FAILED:
                return pb.CreateFileSystemSnapshotResponse(
                    success=False, file_system_snapshot_id=snap.id,
                    error_message=f"snapshot {snap.id} failed: {snap.status_reason}")
            return pb.CreateFileSystemSnapshotResponse(success=True,
                                                       file_system_snapshot_id=snap.id)
        return await self._call(request, context, work)

    async def GetFileSystemSnapshot(self, request: pb.GetFileSystemSnapshotRequest, context: Any
                                    ) -> pb.FileSystemSnapshot:
        async def work() -> pb.FileSystemSnapshot:
            snapshot_id = _required(request.file_system_snapshot_id, "file_system_snapshot_id")
            return snapshot_message(self.engine.get_snapshot(snapshot_id))
        return await self._call(request, context, work)

    async def ListFileSystemSnapshots(self, request: pb.ListFileSystemSnapshotsRequest, context: Any
                                      ) -> bytes:
        """Answered as encoded bytes (see ../wire/listing.py and `register`)."""
        async def work() -> bytes:
            page = self._pages.get(request.page_token, request.page_size)
            if page is None:  # (an identical request was checked when the page was kept)
                keys, token = self.engine.snapshot_page_keys(request.page_token,
                                                             request.page_size)
                page = self._wire.page(keys, token) if keys else b""
                self._pages.put(request.page_token, request.page_size, page)
            return page
        return await self._call(request, context, work)

    async def DeleteFileSystemSnapshot(self, request: pb.DeleteFileSystemSnapshotRequest,
                                       context: Any) -> pb.DeleteFileSystemSnapshotResponse:
        async def work() -> pb.DeleteFileSystemSnapshotResponse:
            snapshot_id = _required(request.file_system_snapshot_id, "file_system_snapshot_id")
            await self.engine.delete_snapshot(snapshot_id)
            return pb.DeleteFileSystemSnapshotResponse(success=True)
        return await self._call(request, context, work)

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

    async def SetFileSystemSnapshotBucketConfig(
        self, request: pb.SetFileSystemSnapshotBucketConfigRequest, context: Any,
    ) -> pb.FileSystemSnapshotBucketConfig:
        async def work() -> pb.FileSystemSnapshotBucketConfig:
            self.engine.set_bucket(request.bucket_name, request.region)
            return self._bucket_message()
        return await self._call(request, context, work)


def _unimplemented(name: str) -> Callable[..., Awaitable[Any]]:
    async def method(self: GatewayService, request: Any, context: grpc.aio.ServicerContext
                     ) -> Any:
        await abort(ApiError(Code.UNIMPLEMENTED, f"{name} is not offered by the local backend"),
                    context)

    method.__name__ = name
    return method


for _name in ("Exec", "Raw", "GetObjectStorageWIFConfig", "SetObjectStorageWIFConfig",
              "DeleteObjectStorageWIFConfig"):
    setattr(GatewayService, _name, _unimplemented(_name))


def _resource_ask(message: pb.ResourceRequest, field_name: str) -> ResourceAsk:
    gpu = message.gpu
    if gpu.gpu_count < 0:
        raise invalid(f"{field_name}.gpu.gpu_count", "must not be negative")
    if gpu.WhichOneof("spec") == "gpu_memory_gb":
        raise invalid(f"{field_name}.gpu.gpu_memory_gb",
                      "this runner has no GPUs to choose by memory")
    return ResourceAsk(cpu=message.cpu, memory=message.memory, gpu_count=gpu.gpu_count,
                       gpu_type=gpu.gpu_type)


def placement_ask(request: pb.StartSandboxRequest) -> PlacementAsk:
    """Pins, resources and network modes of a start request."""
    requests = _resource_ask(request.resource_requests, "resource_requests")
    limits = _resource_ask(request.resource_limits, "resource_limits")
    if requests.empty and limits.empty and request.HasField("resources"):
        requests = _resource_ask(request.resources, "resources")  # the older single field
    return PlacementAsk(
        runner_ids=tuple(request.runner_ids), profile_ids=tuple(request.profile_ids),
        profile_names=tuple(request.profile_names), requests=requests, limits=limits,
        ingress_mode=request.network.ingress_mode, egress_mode=request.network.egress_mode)


def resource_message(values: dict[str, str]) -> pb.ResourceRequest:
    message = pb.ResourceRequest(cpu=values.get("cpu", ""), memory=values.get("memory", ""))
    if values.get("gpu_count") or values.get("gpu_type"):
        message.gpu.gpu_count = int(values.get("gpu_count") or 0)
        if values.get("gpu_type"):
            message.gpu.gpu_type = values["gpu_type"]
    return message


def _required(value: str, field_name: str) -> str:
    if not value:
        raise invalid(field_name, "is required")
    return value


def register(service: GatewayService, server: grpc.aio.Server) -> None:
    """Add the gateway to `server` as the generated code does, except that the listing of
    snapshots may answer with the response already encoded (it is built from kept bytes)."""
    register_encoded(gateway_pb2_grpc.add_GatewayServiceServicer_to_server, service, server,
                     {"ListFileSystemSnapshots": pb.ListFileSystemSnapshotsRequest})


def _services(request: pb.StartSandboxRequest) -> list[dict[str, Any]]:
    """The ports to publish: `ports` (named) and `network.exposed_ports`, each port once."""
    found: dict[int, dict[str, Any]] = {}
    for index, port in enumerate(request.ports):
        if not 1 <= port.container_port <= 65535:
            raise invalid(f"ports[{index}].container_port",
                          f"{port.container_port} is not a port number (1-65535)")
        if port.protocol and port.protocol.upper() not in ("TCP", "HTTP", "HTTPS", "GRPC"):
            raise not_offered(f"ports[{index}].protocol",
                              f"{port.protocol!r}: only TCP ports are forwarded here")
        found.setdefault(port.container_port, {"port": port.container_port, "name": port.name,
                                               "protocol": port.protocol})
    for port in request.network.exposed_ports:
        found.setdefault(port, {"port": port, "name": "", "protocol": ""})
    return list(found.values())


def _ports(spec: StoredSpec) -> list[pb.Port]:
    return [pb.Port(container_port=entry["port"], name=entry["name"],
                    protocol=entry["protocol"]) for entry in spec.services]
