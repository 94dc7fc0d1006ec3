"""The only module that touches the generated `coreweave.sandbox.v1beta2` classes.

It turns our models into requests and responses into our models: the `Generation` shape
(generation.py) on v1beta2's services. What both generations do alike (the channel, failures,
exec and log streams) is in wire.py and streams.py; this module holds v1beta2's spelling.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Protocol

import grpc
from google.protobuf import timestamp_pb2

from ..proto.v1beta2 import discovery_pb2 as dpb
from ..proto.v1beta2 import discovery_pb2_grpc, gateway_pb2_grpc, streaming_pb2_grpc
from ..proto.v1beta2 import gateway_pb2 as pb
from ..proto.v1beta2 import streaming_pb2 as spb
from . import errors, streams
from .generation import CreateReply, Generation, Page, StopReply
from .models import (
    BucketConfig,
    BucketMode,
    EnforcedLimits,
    LogChunk,
    Profile,
    PublishedPort,
    ResourceAmounts,
    Runner,
    RunnerResources,
    Sandbox,
    SandboxSpec,
    SandboxStatus,
    Snapshot,
    SnapshotStatus,
    SnapshotTrigger,
    Volume,
)
from .streams import LogEnd, Refusal
from .wire import Wire, enum_map


def _time(stamp: timestamp_pb2.Timestamp, present: bool = True) -> float | None:
    return stamp.seconds + stamp.nanos * 1e-9 if present else None


_SANDBOX_STATUS = enum_map(pb.SandboxStatus, "SANDBOX_STATUS_", SandboxStatus)
_SNAPSHOT_STATUS = enum_map(pb.FileSystemSnapshotStatus, "FILE_SYSTEM_SNAPSHOT_STATUS_",
                             SnapshotStatus)
_TRIGGER = enum_map(pb.FileSystemSnapshotTrigger, "FILE_SYSTEM_SNAPSHOT_TRIGGER_",
                     SnapshotTrigger)
_BUCKET_MODE = enum_map(pb.FileSystemSnapshotBucketMode, "FILE_SYSTEM_SNAPSHOT_BUCKET_MODE_",
                         BucketMode)


def _sandbox_status(value: int) -> SandboxStatus:
    return _SANDBOX_STATUS.get(value, SandboxStatus.UNSPECIFIED)


def sandbox_from(message: pb.SandboxInfo | pb.GetSandboxResponse) -> Sandbox:
    d = message.local_details
    has_details = message.HasField("local_details")
    reason = getattr(message, "status_reason", "") or d.status_reason
    return Sandbox(
        id=message.sandbox_id,
        status=_sandbox_status(message.sandbox_status),
        started_at=_time(message.started_at_time, message.HasField("started_at_time")),
        runner_id=message.runner_id,
        profile_id=message.profile_id,
        status_reason=reason,
        image=d.container_image,
        tags=tuple(d.tags),
        command=(d.command, *d.args) if d.command else (),
        mount_path=d.mount_path,
        mount_size=d.mount_size,
        restored_from=d.restored_from_snapshot_id,
        stop_snapshot_id=d.stop_snapshot_id,
        created_at=_time(d.created_at, has_details and d.HasField("created_at")),
        ended_at=_time(d.ended_at, has_details and d.HasField("ended_at")),
        exit_code=d.exit_code if d.HasField("exit_code") else None,
        isolation=d.isolation,
        runner_group_id=message.runner_group_id,
        ingress_mode=message.applied_ingress_mode,
        egress_mode=message.applied_egress_mode,
        requests=_amounts(d.resource_requests) if d.HasField("resource_requests") else None,
        limits=_amounts(d.resource_limits) if d.HasField("resource_limits") else None,
        runtime=d.runtime,
        service_address=message.service_address,
        ports=_ports(message),
        enforced=_enforced(d.enforced_limits) if d.HasField("enforced_limits") else None,
    )


def _ports(message: pb.SandboxInfo | pb.GetSandboxResponse) -> tuple[PublishedPort, ...]:
    """Each exposed port at the service address's host (the address names the first)."""
    host = message.service_address.rpartition(":")[0] if ":" in message.service_address \
        else message.service_address
    return tuple(PublishedPort(p.container_port, p.name,
                               f"{host}:{p.container_port}" if host else "")
                 for p in message.exposed_ports)


def _enforced(m: pb.LocalEnforcedLimits) -> EnforcedLimits:
    return EnforcedLimits(processes=m.processes, memory_bytes=m.memory_bytes,
                          mount_bytes=m.mount_bytes, log_bytes=m.log_bytes)


def _amounts(m: pb.ResourceRequest) -> ResourceAmounts:
    return ResourceAmounts(cpu=m.cpu, memory=m.memory, gpu_count=m.gpu.gpu_count,
                           gpu_type=m.gpu.gpu_type)


def runner_from(m: dpb.AvailableRunner) -> Runner:
    caps = m.capabilities
    res = m.resources
    return Runner(
        runner_id=m.runner_id, runner_group_id=m.runner_group_id, tags=tuple(m.tags),
        healthy=m.healthy, profile_names=tuple(m.profile_names),
        connected_at=_time(m.connected_at, m.HasField("connected_at")),
        max_cpu_millicores=caps.max_cpu_millicores, max_memory_bytes=caps.max_memory_bytes,
        max_gpu_count=caps.max_gpu_count, gpu_types=tuple(caps.supported_gpu_types),
        architectures=tuple(caps.supported_architectures),
        supports_privileged=caps.supports_privileged,
        storage_classes=tuple(caps.available_storage_classes), shared=m.is_shared,
        resources=RunnerResources(res.available_cpu_millicores, res.available_memory_bytes,
                                  res.available_gpu_count, res.running_sandboxes)
        if m.HasField("resources") else None)


def profile_from(m: dpb.ProfileSummary) -> Profile:
    return Profile(name=m.profile_name, runner_id=m.runner_id,
                   gpu_types=tuple(m.supported_gpu_types),
                   architectures=tuple(m.supported_architectures),
                   exposure_modes=tuple(x.name for x in m.service_exposure_modes),
                   egress_modes=tuple(x.name for x in m.egress_modes))


def _stamp(stamp: timestamp_pb2.Timestamp) -> float | None:
    seconds, nanos = stamp.seconds, stamp.nanos
    return seconds + nanos * 1e-9 if seconds or nanos else None  # all zero: not set


# Bound once for `snapshot_from`: the named tuple made by tuple.__new__ directly (its own
# __new__ is one more Python call a row), the enum maps' lookups without a global and an
# attribute read each. ~2.8 -> ~2.3 us a row.
# A row's source sandbox and bucket are shared by many rows: interned, each is one string
# object rather than a copy a row (~120 MB less at 1M rows), and the usage grouping's
# lookups by source find it hashed and hot in the cache.
_new_snapshot: Callable[[type[Snapshot], tuple[Any, ...]], Snapshot] = \
    tuple.__new__  # type: ignore[assignment]
_status = _SNAPSHOT_STATUS.get
_shared = sys.intern
_trigger = _TRIGGER.get
_NO_STATUS = SnapshotStatus.UNSPECIFIED
_NO_TRIGGER = SnapshotTrigger.UNSPECIFIED


def snapshot_from(m: pb.FileSystemSnapshot) -> Snapshot:
    # The hot path of a listing of many thousands: plain field reads, no lookups by name,
    # each timestamp submessage read once (every access wraps a new object) into locals, as
    # `_stamp` reads it but without its calls. ~3.1 -> ~2.6 us a row.
    t = m.created_at
    s, n = t.seconds, t.nanos
    created = s + n * 1e-9 if s or n else None  # all zero: not set
    t = m.updated_at
    s, n = t.seconds, t.nanos
    updated = s + n * 1e-9 if s or n else None
    t = m.completed_at
    s, n = t.seconds, t.nanos
    completed = s + n * 1e-9 if s or n else None
    if completed == updated:  # a settled snapshot's last update is its completion:
        completed = updated  # one float object for both (24 B a row)
    return _new_snapshot(Snapshot, (
        m.file_system_snapshot_id,
        _status(m.status, _NO_STATUS),
        m.status_reason,
        m.size_bytes,
        created,
        updated,
        completed,
        _shared(m.source_sandbox_id),
        _trigger(m.trigger, _NO_TRIGGER),
        m.idempotency_key,
        _shared(m.object_bucket),
    ))


def bucket_from(m: pb.FileSystemSnapshotBucketConfig) -> BucketConfig:
    return BucketConfig(
        bucket_name=m.bucket_name, region=m.region,
        mode=_BUCKET_MODE.get(m.mode, BucketMode.UNSPECIFIED),
        effective_bucket_name=m.effective_bucket_name)


EXEC = streams.ExecCodec(
    request=spb.ExecStreamRequest, init=spb.ExecStreamInit, close=spb.ExecStreamClose,
    resize=spb.ExecStreamResize, stdin=lambda data: spb.ExecStreamData(data=data),
    oneof="response",
    is_stderr=lambda output: output.stream_type == spb.ExecStreamOutput.STREAM_TYPE_STDERR)


def log_frame(reply: spb.LogStreamResponse) -> LogChunk | Refusal | LogEnd:
    kind = reply.WhichOneof("response")
    if kind == "data":
        d = reply.data
        return LogChunk(d.data, d.offset, _time(d.timestamp, d.HasField("timestamp")),
                        d.session_id)
    if kind == "error":
        return Refusal(reply.error.code, reply.error.message)
    return LogEnd.COMPLETE if kind == "complete" else LogEnd.OTHER


class V1beta2Adapter(Wire):
    """Typed calls on `coreweave.sandbox.v1beta2`, one method per RPC."""

    api_version = "v1beta2"
    other_api = "v1"
    exec_codec = EXEC
    has_pause = True

    def __init__(self, channel: grpc.aio.Channel, metadata: Sequence[tuple[str, str]],
                 volumes: VolumeCalls | None = None) -> None:
        """`volumes`: where volume calls go, on an endpoint that also speaks v1 (the embedded
        backend); v1beta2 itself has no volumes."""
        self._streaming = streaming_pb2_grpc.GatewayStreamingServiceStub(channel)
        super().__init__(channel, metadata, self._streaming.StreamExec)
        self._volumes = volumes
        self._gateway = gateway_pb2_grpc.GatewayServiceStub(channel)
        self._discovery = discovery_pb2_grpc.DiscoveryServiceStub(channel)

    async def generation(self) -> Generation:
        return self  # one generation: the adapter is its own choice

    async def discovery(self) -> Generation:
        return self

    # sandboxes
    async def start(self, spec: SandboxSpec, timeout: float) -> str:
        request = pb.StartSandboxRequest(
            command=spec.command, args=list(spec.args), tags=list(spec.tags),
            container_image=spec.image, environment_variables=spec.env,
            max_lifetime_seconds=spec.max_lifetime_seconds)
        if spec.runner_id:
            request.runner_ids.append(spec.runner_id)
        if spec.profile_name:
            request.profile_names.append(spec.profile_name)
        if spec.cpu:
            request.resource_requests.cpu = spec.cpu
        if spec.memory:
            request.resource_requests.memory = spec.memory
        if spec.mount_path:
            request.file_system.mount_path = spec.mount_path
            if spec.size:
                request.file_system.size = spec.size
            if spec.restore_from:
                request.file_system.file_system_snapshot.file_system_snapshot_id = spec.restore_from
        reply = await self._unary("Start sandbox", self._gateway.Start, request, timeout)
        return reply.sandbox_id

    async def get(self, sandbox_id: str, timeout: float) -> Sandbox:
        reply = await self._unary("Get sandbox", self._gateway.Get,
                                  pb.GetSandboxRequest(sandbox_id=sandbox_id), timeout,
                                  sandbox_id=sandbox_id)
        return sandbox_from(reply)

    async def list_page(self, *, token: str, timeout: float, include_stopped: bool = True,
                        tags: Sequence[str] = (), status: SandboxStatus | None = None,
                        page_size: int = 0) -> Page[Sandbox]:
        request = pb.ListSandboxesRequest(page_token=token, include_stopped=include_stopped,
                                          tags=list(tags), page_size=page_size)
        if status is not None:
            request.status = pb.SandboxStatus.Value(f"SANDBOX_STATUS_{status.value.upper()}")
        reply = await self._unary("List sandboxes", self._gateway.List, request, timeout)
        return Page(reply.next_page_token, reply.sandboxes, sandbox_from)

    async def stop(self, sandbox_id: str, *, grace: int, snapshot: bool, wait_for_ready: bool,
                   max_timeout: int, idempotency_key: str, timeout: float) -> StopReply:
        request = pb.StopSandboxRequest(sandbox_id=sandbox_id, graceful_shutdown_seconds=grace,
                                        max_timeout_seconds=max_timeout)
        if snapshot:
            request.file_system_snapshot_on_stop = True
            request.wait_for_ready = wait_for_ready
            if idempotency_key:
                request.idempotency_key = idempotency_key
        reply = await self._unary("Stop sandbox", self._gateway.Stop, request, timeout,
                                  sandbox_id=sandbox_id)
        return StopReply(reply.success, reply.error_message, reply.file_system_snapshot_id)

    async def delete(self, sandbox_id: str, timeout: float) -> tuple[bool, str]:
        reply = await self._unary("Delete sandbox", self._gateway.Delete,
                                  pb.DeleteSandboxRequest(sandbox_id=sandbox_id), timeout,
                                  sandbox_id=sandbox_id)
        return reply.success, reply.error_message

    async def pause(self, sandbox_id: str, timeout: float) -> tuple[bool, str]:
        reply = await self._unary("Pause sandbox", self._gateway.Pause,
                                  pb.PauseSandboxRequest(sandbox_id=sandbox_id), timeout,
                                  sandbox_id=sandbox_id)
        return reply.success, reply.error_message

    async def resume(self, sandbox_id: str, timeout: float) -> tuple[bool, str]:
        reply = await self._unary("Resume sandbox", self._gateway.Resume,
                                  pb.ResumeSandboxRequest(sandbox_id=sandbox_id), timeout,
                                  sandbox_id=sandbox_id)
        return reply.success, reply.error_message

    async def add_file(self, sandbox_id: str, path: str, data: bytes, timeout: float
                       ) -> tuple[bool, str]:
        request = pb.AddFileSandboxRequest(sandbox_id=sandbox_id, filepath=path,
                                           file_contents=data, max_timeout_seconds=int(timeout))
        reply = await self._unary("Add file", self._gateway.AddFile, request, timeout,
                                  sandbox_id=sandbox_id)
        return reply.success, reply.error_message

    async def retrieve_file(self, sandbox_id: str, path: str, timeout: float
                            ) -> tuple[bool, str, bytes]:
        request = pb.RetrieveFileSandboxRequest(sandbox_id=sandbox_id, filepath=path,
                                                max_timeout_seconds=int(timeout))
        reply = await self._unary("Retrieve file", self._gateway.RetrieveFile, request, timeout,
                                  sandbox_id=sandbox_id)
        return reply.success, reply.error_message, reply.file_contents

    def logs(self, sandbox_id: str, *, follow: bool, tail: int = 0,
             timeout: float | None = None, resume_session: str = "",
             resume_offset: int = 0) -> AsyncIterator[LogChunk]:
        async def requests() -> AsyncIterator[spb.LogStreamRequest]:
            init = spb.LogStreamInit(sandbox_id=sandbox_id, follow=follow)
            if resume_session:
                init.resume_session_id = resume_session
                init.resume_offset = resume_offset
            else:
                init.tail_lines = tail
            yield spb.LogStreamRequest(init=init)
            if follow:
                await asyncio.Event().wait()  # a follow keeps its send side open until cancelled

        return streams.log_stream(
            lambda: self._streaming.StreamLogs(requests(), timeout=timeout,
                                               metadata=self._metadata),
            log_frame, sandbox_id)

    # discovery
    # discovery
    async def list_runners_page(self, token: str, timeout: float, *, full: bool = True,
                                group_id: str = "", profile_name: str = "",
                                architecture: str = "", page_size: int = 0) -> Page[Runner]:
        view = dpb.RunnerView.RUNNER_VIEW_FULL if full else dpb.RunnerView.RUNNER_VIEW_BASIC
        request = dpb.ListAvailableRunnersRequest(
            page_token=token, page_size=page_size, view=view, runner_group_id=group_id,
            profile_name=profile_name, architecture=architecture)
        reply = await self._discover("List runners", self._discovery.ListAvailableRunners,
                                     request, timeout, "runner")
        return Page(reply.next_page_token, reply.runners, runner_from)

    async def get_runner(self, runner_id: str, timeout: float) -> Runner:
        request = dpb.GetAvailableRunnerRequest(runner_id=runner_id,
                                                view=dpb.RunnerView.RUNNER_VIEW_FULL)
        reply = await self._discover("Get runner", self._discovery.GetAvailableRunner, request,
                                     timeout, "runner")
        return runner_from(reply)

    async def list_profiles_page(self, token: str, timeout: float, *, runner_id: str = "",
                                 architecture: str = "", page_size: int = 0) -> Page[Profile]:
        request = dpb.ListProfilesRequest(page_token=token, page_size=page_size,
                                          runner_id=runner_id, architecture=architecture)
        reply = await self._discover("List profiles", self._discovery.ListProfiles, request,
                                     timeout, "profile")
        return Page(reply.next_page_token, reply.profiles, profile_from)

    async def get_profile(self, name: str, timeout: float, runner_id: str = "") -> Profile:
        request = dpb.GetProfileRequest(profile_name=name, runner_id=runner_id)
        reply = await self._discover("Get profile", self._discovery.GetProfile, request,
                                     timeout, "profile")
        return profile_from(reply)

    # snapshots
    async def create_snapshot(self, sandbox_id: str, *, key: str, wait_for_ready: bool,
                              max_timeout: int | None, timeout: float) -> CreateReply:
        request = pb.CreateFileSystemSnapshotRequest(sandbox_id=sandbox_id, idempotency_key=key,
                                                     wait_for_ready=wait_for_ready)
        if max_timeout is not None:
            request.max_timeout_seconds = max_timeout
        reply = await self._unary("Create file-system snapshot",
                                  self._gateway.CreateFileSystemSnapshot, request, timeout,
                                  sandbox_id=sandbox_id)
        return CreateReply(reply.success, reply.error_message, reply.file_system_snapshot_id)

    async def get_snapshot(self, snapshot_id: str, timeout: float) -> Snapshot:
        reply = await self._unary(
            "Get file-system snapshot", self._gateway.GetFileSystemSnapshot,
            pb.GetFileSystemSnapshotRequest(file_system_snapshot_id=snapshot_id), timeout,
            snapshot_id=snapshot_id)
        return snapshot_from(reply)

    async def list_snapshots_page(self, token: str, timeout: float, page_size: int = 0
                                  ) -> Page[Snapshot]:
        reply = await self._unary(
            "List file-system snapshots", self._gateway.ListFileSystemSnapshots,
            pb.ListFileSystemSnapshotsRequest(page_token=token, page_size=page_size), timeout)
        return Page(reply.next_page_token, reply.file_system_snapshots, snapshot_from)

    async def delete_snapshot(self, snapshot_id: str, timeout: float) -> tuple[bool, str]:
        reply = await self._unary(
            "Delete file-system snapshot", self._gateway.DeleteFileSystemSnapshot,
            pb.DeleteFileSystemSnapshotRequest(file_system_snapshot_id=snapshot_id), timeout,
            snapshot_id=snapshot_id)
        return reply.success, reply.error_message

    # bucket
    async def get_bucket(self, timeout: float) -> BucketConfig:
        reply = await self._unary("Get file-system snapshot bucket config",
                                  self._gateway.GetFileSystemSnapshotBucketConfig,
                                  pb.GetFileSystemSnapshotBucketConfigRequest(), timeout)
        return bucket_from(reply)

    async def set_bucket(self, bucket_name: str, region: str, timeout: float) -> BucketConfig:
        reply = await self._unary(
            "Set file-system snapshot bucket config",
            self._gateway.SetFileSystemSnapshotBucketConfig,
            pb.SetFileSystemSnapshotBucketConfigRequest(bucket_name=bucket_name, region=region),
            timeout)
        return bucket_from(reply)

    # volumes: v1 only
    @property
    def has_volumes(self) -> bool:
        return self._volumes is not None

    def _volume_calls(self) -> VolumeCalls:
        if self._volumes is None:
            raise errors.SandboxError(NO_VOLUMES)
        return self._volumes

    async def list_volumes(self, timeout: float) -> list[Volume]:
        return await self._volume_calls().list_volumes(timeout)

    async def get_volume(self, volume_id: str, timeout: float) -> Volume:
        return await self._volume_calls().get_volume(volume_id, timeout)

    async def delete_volume(self, volume_id: str, timeout: float, missing_ok: bool = False
                            ) -> bool:
        return await self._volume_calls().delete_volume(volume_id, timeout, missing_ok)


class VolumeCalls(Protocol):
    """The volume calls of an adapter that has them (v1's)."""

    async def list_volumes(self, timeout: float) -> list[Volume]: ...

    async def get_volume(self, volume_id: str, timeout: float) -> Volume: ...

    async def delete_volume(self, volume_id: str, timeout: float, missing_ok: bool = False
                            ) -> bool: ...


NO_VOLUMES = "Volumes are not offered by the coreweave.sandbox.v1beta2 API (use --api v1)"
