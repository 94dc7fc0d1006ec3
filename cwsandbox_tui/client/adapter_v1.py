"""The only module that touches the generated `coreweave.sandbox.v1` classes.

The same typed calls as `adapter_v1beta2.V1beta2Adapter`, on the v1 services, behaving as SDK
1.22.0 does where it differs from 0.26.0 (fact sheet sections 4 and 5):

* stop and delete are both `DeleteSandbox`; stop with snapshot names the sandbox's scratch
  volumes (from its echoed spec), is never retried, and waits for each snapshot on the
  client side (a v1 server answers at once); NOT_FOUND, an empty answer or
  `CWSANDBOX_INVALID_REQUEST` during it is a `SnapshotOnStopConflictError`, and a sandbox
  with no scratch volume fails before any call;
* a plain stop, a delete and a file read are tried up to 3 times on UNAVAILABLE that carries
  a RetryInfo hint (at most 10 s); NOT_FOUND on a later attempt means an earlier one worked;
* snapshots are created CREATING and followed by the caller; exec has no extra deadline
  grace and a stream that ends without an exit frame is an error;
* v1 has no pause or resume: they fail with a clear error before any call.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import grpc
from google.protobuf import field_mask_pb2, timestamp_pb2

from ..naming import quantity_bytes
from ..proto.v1 import discovery_pb2 as dpb
from ..proto.v1 import discovery_pb2_grpc, sandbox_pb2_grpc, settings_pb2_grpc, volume_pb2_grpc
from ..proto.v1 import sandbox_pb2 as pb
from ..proto.v1 import settings_pb2 as spb
from ..proto.v1 import volume_pb2 as vpb
from . import errors, streams
from .generation import CreateReply, Generation, Page, StopReply
from .models import (
    BucketConfig,
    BucketMode,
    EnforcedLimits,
    LogChunk,
    Profile,
    PublishedPort,
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

T = TypeVar("T")
DEFAULT_VOLUME = "workspace"  # what the SDK calls the scratch volume of a snapshot mount
CONTAINER = "main"
UNAVAILABLE_ATTEMPTS = 3
HINT_CAP = 10.0
MIN_LEFT_FOR_RETRY = 5.0
SNAPSHOT_POLL_TIMEOUT = 15.0


_STATE = enum_map(pb.State, "STATE_", SandboxStatus)
_STATE_VALUE = {status: number for number, status in _STATE.items()}
_SNAPSHOT_STATE = enum_map(pb.SnapshotState, "SNAPSHOT_STATE_", SnapshotStatus)
# v1's ON_DELETE is what our model (after v1beta2) calls a snapshot taken by a stop
_TRIGGER = enum_map(pb.SnapshotTrigger, "SNAPSHOT_TRIGGER_", SnapshotTrigger,
                     {"on_delete": "stop"})
_BUCKET_MODE = enum_map(spb.FileSystemSnapshotBucketMode, "FILE_SYSTEM_SNAPSHOT_BUCKET_MODE_",
                         BucketMode)
_VOLUME_STATE = {number: name.removeprefix("VOLUME_STATE_").lower()
                 for name, number in vpb.VolumeState.items()}


def _stamp(stamp: timestamp_pb2.Timestamp, present: bool) -> float | None:
    return stamp.seconds + stamp.nanos * 1e-9 if present else None


def scratch_volumes(message: pb.Sandbox) -> list[str]:
    """Names of the sandbox's scratch volumes (source `scratch` or unset), as the SDK finds
    them in the echoed spec."""
    return [v.name for v in message.spec.volumes if v.WhichOneof("source") != "volume_id"]


def sandbox_from(m: pb.Sandbox) -> Sandbox:
    status = m.status
    container = next((c for c in m.spec.containers if c.primary), None) or (
        m.spec.containers[0] if m.spec.containers else pb.Container())
    volumes = {v.name: v for v in m.spec.volumes}
    mount = next((vm for vm in container.volume_mounts
                  if vm.volume in volumes
                  and volumes[vm.volume].WhichOneof("source") != "volume_id"), None)
    scratch = volumes[mount.volume].scratch if mount is not None else pb.ScratchVolume()
    command = (container.command, *container.args) if container.command else ()
    ports = _ports(status)
    return Sandbox(
        id=m.sandbox_id,
        status=_STATE.get(status.state, SandboxStatus.UNSPECIFIED),
        started_at=_stamp(status.start_time, status.HasField("start_time")),
        runner_id=status.runner_id,
        status_reason=status.state_reason,
        image=container.image,
        tags=tuple(m.spec.tags),
        command=command,
        mount_path=mount.mount_path if mount is not None else "",
        mount_size=scratch.size,
        restored_from=scratch.restore_from_snapshot_id,
        created_at=_stamp(status.create_time, status.HasField("create_time")),
        ended_at=_stamp(status.end_time, status.HasField("end_time")),
        exit_code=status.exit_code if status.HasField("exit_code") else None,
        service_address=ports[0].address if ports else "",
        ports=ports,
        enforced=_enforced(status.effective_resource_requirements.limits.memory),
    )


def _ports(status: pb.SandboxStatus) -> tuple[PublishedPort, ...]:
    """Each service's `host:port`, from its url (or its endpoint's address)."""
    return tuple(PublishedPort(s.port, s.name,
                               urlsplit(s.url).netloc if s.url else s.endpoint.address)
                 for s in status.services)


def _enforced(memory: str) -> EnforcedLimits | None:
    """v1 reports the memory limit applied (`effective_resource_requirements`), no other."""
    held = quantity_bytes(memory) if memory else None
    return EnforcedLimits(memory_bytes=held) if held else None


# Bound once for `snapshot_from`: the named tuple made by tuple.__new__ directly (its own
# __new__ is one more Python call a row), the enum maps' lookups without a global and an
# attribute read each. ~2.8 -> ~2.3 us a row.
# A row's source sandbox and bucket are shared by many rows: interned, each is one string
# object rather than a copy a row (~120 MB less at 1M rows), and the usage grouping's
# lookups by source find it hashed and hot in the cache.
_new_snapshot: Callable[[type[Snapshot], tuple[Any, ...]], Snapshot] = \
    tuple.__new__  # type: ignore[assignment]
_status = _SNAPSHOT_STATE.get
_shared = sys.intern
_trigger = _TRIGGER.get
_NO_STATUS = SnapshotStatus.UNSPECIFIED
_NO_TRIGGER = SnapshotTrigger.UNSPECIFIED


def snapshot_from(m: pb.FileSystemSnapshot) -> Snapshot:
    # The hot path of a listing of many thousands: each timestamp submessage is read once
    # (every access wraps a new object) and its presence asked only when it is all zero (a
    # set epoch stays 0.0, an unset time None, as `_stamp` gives); no helper calls.
    # ~3.5 -> ~2.6 us a row.
    t = m.create_time
    s, n = t.seconds, t.nanos
    created = s + n * 1e-9 if s or n else (0.0 if m.HasField("create_time") else None)
    t = m.updated_at
    s, n = t.seconds, t.nanos
    updated = s + n * 1e-9 if s or n else (0.0 if m.HasField("updated_at") else None)
    t = m.complete_time
    s, n = t.seconds, t.nanos
    completed = s + n * 1e-9 if s or n else (0.0 if m.HasField("complete_time") else None)
    if completed == updated:  # a settled snapshot's last update is its completion:
        completed = updated  # one float object for both (24 B a row)
    return _new_snapshot(Snapshot, (
        m.file_system_snapshot_id,
        _status(m.state, _NO_STATUS),
        m.state_reason,
        m.size_bytes,
        created,
        updated,
        completed,
        _shared(m.source_sandbox_id),
        _trigger(m.trigger, _NO_TRIGGER),
        m.request_id,
        _shared(m.object_bucket),
    ))


def bucket_from(m: spb.FileSystemSnapshotBucketConfig) -> BucketConfig:
    return BucketConfig(bucket_name=m.bucket_name, region=m.region,
                        mode=_BUCKET_MODE.get(m.mode, BucketMode.UNSPECIFIED),
                        effective_bucket_name=m.effective_bucket_name)


NO_PROFILES = ("Profiles are not part of the coreweave.sandbox.v1 API; use --api v1beta2 to "
               "list them")


def runner_from(m: dpb.AvailableRunner) -> Runner:
    caps = m.capabilities
    res = m.resources
    return Runner(
        runner_id=m.runner_id, runner_group_id=m.runner_group_id, tags=tuple(m.tags),
        healthy=m.healthy, connected_at=_stamp(m.connected_at, m.HasField("connected_at")),
        max_cpu_millicores=caps.max_cpu_millicores, max_memory_bytes=caps.max_memory_bytes,
        max_gpu_count=caps.max_gpu_count, gpu_types=tuple(caps.supported_gpu_types),
        architectures=tuple(caps.supported_architectures),
        supports_privileged=caps.supports_privileged,
        storage_classes=tuple(caps.available_storage_classes), shared=m.is_shared,
        resources=RunnerResources(res.available_cpu_millicores, res.available_memory_bytes,
                                  res.available_gpu_count, res.running_sandboxes)
        if m.HasField("resources") else None)


def volume_from(m: vpb.Volume) -> Volume:
    status = m.status
    return Volume(
        id=m.volume_id, state=_VOLUME_STATE.get(status.state, "unspecified"),
        state_reason=status.state_reason, description=m.spec.description,
        read_only=m.spec.read_only, runner_id=m.spec.pvc.runner_id,
        namespace=m.spec.pvc.namespace, claim_name=m.spec.pvc.claim_name,
        sub_path=m.spec.pvc.sub_path, capacity=status.capacity,
        attached_sandboxes=status.attached_sandbox_count,
        created_at=_stamp(status.create_time, status.HasField("create_time")),
        updated_at=_stamp(status.update_time, status.HasField("update_time")))


EXEC = streams.ExecCodec(
    request=pb.ExecStreamRequest, init=pb.ExecStreamInit, close=pb.ExecStreamClose,
    resize=pb.ExecStreamResize, stdin=lambda data: data,  # v1 sends the bytes as they are
    oneof="message",
    is_stderr=lambda output: output.stream == pb.ExecStreamOutput.STREAM_STDERR)


def log_frame(entry: pb.LogEntry) -> LogChunk | Refusal | LogEnd:
    if entry.HasField("error"):
        return Refusal(entry.error.code, entry.error.message)
    return LogChunk(entry.data, entry.next_log_offset,
                    _stamp(entry.timestamp, entry.HasField("timestamp")), entry.log_session_id)


class V1Adapter(Wire):
    """Typed calls on `coreweave.sandbox.v1`, with the v1beta2 adapter's signatures."""

    api_version = "v1"
    other_api = "v1beta2"
    exec_codec = EXEC
    has_pause = False
    has_volumes = True

    def __init__(self, channel: grpc.aio.Channel, metadata: Sequence[tuple[str, str]],
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._sandboxes = sandbox_pb2_grpc.SandboxServiceStub(channel)
        super().__init__(channel, metadata, self._sandboxes.StreamExec)
        self._settings = settings_pb2_grpc.SettingsServiceStub(channel)
        self._volumes = volume_pb2_grpc.VolumeServiceStub(channel)
        self._discovery = discovery_pb2_grpc.DiscoveryServiceStub(channel)
        self._sleep = sleep

    async def generation(self) -> Generation:
        return self  # one generation: the adapter is its own choice

    async def discovery(self) -> Generation:
        return self

    async def _unavailable_retried(self, op: str, call: Callable[..., Awaitable[T]],
                                   request: Any, timeout: float, *, sandbox_id: str,
                                   gone: Callable[[], T] | None = None) -> T:
        """SDK 1.22.0's `_retry_transient_unavailable`: up to 3 attempts, only on UNAVAILABLE
        with a RetryInfo hint (at most 10 s) and while at least 5 s are left; NOT_FOUND on a
        later attempt means an earlier one took effect (`gone` says what that returns)."""
        give_up = time.monotonic() + timeout
        for attempt in range(1, UNAVAILABLE_ATTEMPTS + 1):
            left = give_up - time.monotonic()
            try:
                return await self._unary(op, call, request, left, sandbox_id=sandbox_id)
            except errors.CwsError as error:
                if attempt > 1 and gone is not None and errors.is_not_found(error):
                    return gone()
                hint = error.retry_delay
                if (error.code != "UNAVAILABLE" or hint is None
                        or attempt == UNAVAILABLE_ATTEMPTS):
                    raise
                delay = min(max(hint, 0.0), HINT_CAP)
                if give_up - time.monotonic() - delay < MIN_LEFT_FOR_RETRY:
                    raise
                await self._sleep(delay)
        raise AssertionError("unreachable")

    async def probe(self, timeout: float) -> None:
        """A cheap v1 call; UNIMPLEMENTED means the endpoint does not speak v1."""
        await self._settings.GetFileSystemSnapshotBucketConfig(
            spb.GetFileSystemSnapshotBucketConfigRequest(), timeout=timeout,
            metadata=self._metadata)

    # sandboxes
    async def start(self, spec: SandboxSpec, timeout: float) -> str:
        request = pb.CreateSandboxRequest(request_id=str(uuid.uuid4()))
        sandbox_spec = request.sandbox.spec
        container = sandbox_spec.containers.add(name=CONTAINER, image=spec.image,
                                                command=spec.command, args=list(spec.args))
        container.environment_variables.update(spec.env)
        if spec.mount_path:
            container.volume_mounts.add(volume=DEFAULT_VOLUME, mount_path=spec.mount_path)
            volume = sandbox_spec.volumes.add(name=DEFAULT_VOLUME)
            volume.scratch.size = spec.size
            volume.scratch.restore_from_snapshot_id = spec.restore_from
        sandbox_spec.tags.extend(spec.tags)
        sandbox_spec.max_lifetime_seconds = spec.max_lifetime_seconds
        reply = await self._unary("Create sandbox", self._sandboxes.CreateSandbox, request,
                                  timeout)
        return reply.sandbox_id

    async def _get_message(self, sandbox_id: str, timeout: float) -> pb.Sandbox:
        return await self._unary("Get sandbox", self._sandboxes.GetSandbox,
                                 pb.GetSandboxRequest(sandbox_id=sandbox_id), timeout,
                                 sandbox_id=sandbox_id)

    async def get(self, sandbox_id: str, timeout: float) -> Sandbox:
        return sandbox_from(await self._get_message(sandbox_id, timeout))

    async def list_page(self, *, token: str, timeout: float, include_stopped: bool = True,
                        tags: Sequence[str] = (), status: SandboxStatus | None = None,
                        page_size: int = 0) -> Page[Sandbox]:
        request = pb.ListSandboxesRequest(page_token=token, show_terminated=include_stopped,
                                          tags=list(tags), page_size=page_size)
        if status is not None:
            request.state = _STATE_VALUE.get(status, 0)  # type: ignore[assignment]
        reply = await self._unary("List sandboxes", self._sandboxes.ListSandboxes, request,
                                  timeout)
        return Page(reply.next_page_token, reply.sandboxes, sandbox_from)

    async def stop(self, sandbox_id: str, *, grace: int, snapshot: bool, wait_for_ready: bool,
                   max_timeout: int, idempotency_key: str, timeout: float) -> StopReply:
        if not snapshot:
            request = pb.DeleteSandboxRequest(sandbox_id=sandbox_id, grace_period_seconds=grace)
            await self._unavailable_retried("Stop sandbox", self._sandboxes.DeleteSandbox,
                                            request, timeout, sandbox_id=sandbox_id,
                                            gone=pb.DeleteSandboxResponse)
            return StopReply(True, "", "")
        give_up = time.monotonic() + timeout
        try:
            current = await self._get_message(sandbox_id, timeout)
        except errors.SandboxNotFoundError as error:
            raise _conflict(sandbox_id, "it no longer exists") from error
        volumes = scratch_volumes(current)
        if not volumes:
            raise errors.SnapshotError(f"Sandbox {sandbox_id} has no scratch volume to snapshot")
        request = pb.DeleteSandboxRequest(sandbox_id=sandbox_id, grace_period_seconds=grace,
                                          snapshot_volumes=volumes, request_id=idempotency_key)
        try:  # never retried: a second archive must not be started by a lost answer
            reply = await self._unary("Stop sandbox with snapshot", self._sandboxes.DeleteSandbox,
                                      request, give_up - time.monotonic(),
                                      sandbox_id=sandbox_id)
        except errors.SandboxNotFoundError as error:
            raise _conflict(sandbox_id, "it no longer exists") from error
        except errors.ValidationError as error:
            if error.reason == "CWSANDBOX_INVALID_REQUEST":
                raise _conflict(sandbox_id, str(error)) from error
            raise
        if not reply.HasField("sandbox"):
            raise _conflict(sandbox_id, "the endpoint says it was already gone")
        ids = list(reply.file_system_snapshot_ids)
        if not wait_for_ready or not ids:
            return StopReply(True, "", ids[0] if ids else "")
        for snapshot_id in ids:
            final = await self._wait_snapshot(snapshot_id, give_up)
            if final.status is SnapshotStatus.FAILED:
                return StopReply(False, f"snapshot {snapshot_id} failed: {final.status_reason}",
                                 ids[0])
        return StopReply(True, "", ids[0])

    async def _wait_snapshot(self, snapshot_id: str, give_up: float) -> Snapshot:
        """The SDK's client-side READY wait: Get every 0.2 s growing x1.5 to 2 s."""
        interval = 0.2
        while True:
            left = give_up - time.monotonic()
            if left <= 0:
                raise errors.SnapshotWaitTimeoutError(
                    f"Snapshot {snapshot_id} was not READY in time; it may still complete")
            snap = await self.get_snapshot(snapshot_id, min(left, SNAPSHOT_POLL_TIMEOUT))
            if snap.status in (SnapshotStatus.READY, SnapshotStatus.FAILED):
                return snap
            await self._sleep(min(interval, max(left, 0)))
            interval = min(2.0, interval * 1.5)

    async def delete(self, sandbox_id: str, timeout: float) -> tuple[bool, str]:
        await self._unavailable_retried(
            "Delete sandbox", self._sandboxes.DeleteSandbox,
            pb.DeleteSandboxRequest(sandbox_id=sandbox_id), timeout, sandbox_id=sandbox_id,
            gone=pb.DeleteSandboxResponse)
        return True, ""

    async def pause(self, sandbox_id: str, timeout: float) -> tuple[bool, str]:
        raise errors.SandboxError("Pause is not offered by the coreweave.sandbox.v1 API")

    async def resume(self, sandbox_id: str, timeout: float) -> tuple[bool, str]:
        raise errors.SandboxError("Resume is not offered by the coreweave.sandbox.v1 API")

    async def add_file(self, sandbox_id: str, path: str, data: bytes, timeout: float
                       ) -> tuple[bool, str]:
        await self._unary("Write file", self._sandboxes.WriteFile,
                          pb.WriteFileRequest(sandbox_id=sandbox_id, path=path, content=data),
                          timeout, sandbox_id=sandbox_id)
        return True, ""

    async def retrieve_file(self, sandbox_id: str, path: str, timeout: float
                            ) -> tuple[bool, str, bytes]:
        reply = await self._unavailable_retried(
            "Read file", self._sandboxes.ReadFile,
            pb.ReadFileRequest(sandbox_id=sandbox_id, path=path), timeout,
            sandbox_id=sandbox_id)
        return True, "", reply.content

    def logs(self, sandbox_id: str, *, follow: bool, tail: int = 0,
             timeout: float | None = None, resume_session: str = "",
             resume_offset: int = 0) -> AsyncIterator[LogChunk]:
        request = pb.StreamLogsRequest(sandbox_id=sandbox_id, follow=follow)
        if resume_session:
            request.resume_log_session_id = resume_session
            request.resume_log_offset = resume_offset
        else:
            request.tail_lines = tail
        return streams.log_stream(
            lambda: self._sandboxes.StreamLogs(request, timeout=timeout, metadata=self._metadata),
            log_frame, sandbox_id)

    # discovery (v1 lists runners; it has no profiles)
    async def list_runners_page(self, token: str, timeout: float, *, full: bool = True,
                                group_id: str = "", profile_name: str = "",
                                architecture: str = "", page_size: int = 0) -> Page[Runner]:
        if profile_name:
            raise errors.DiscoveryError(NO_PROFILES)
        view = dpb.RUNNER_VIEW_FULL if full else dpb.RUNNER_VIEW_BASIC
        request = dpb.ListAvailableRunnersRequest(
            page_token=token, page_size=page_size, view=view, runner_group_id=group_id,
            architecture=architecture)
        reply = await self._discover("List runners", self._discovery.ListAvailableRunners,
                                     request, timeout, "runner")
        return Page(reply.next_page_token, reply.runners, runner_from)

    async def get_runner(self, runner_id: str, timeout: float) -> Runner:
        # v1 names a runner together with its organisation, which its listing tells
        give_up = time.monotonic() + timeout
        token, seen = "", set()
        while True:
            reply = await self._discover(
                "Get runner", self._discovery.ListAvailableRunners,
                dpb.ListAvailableRunnersRequest(page_token=token, view=dpb.RUNNER_VIEW_BASIC),
                max(give_up - time.monotonic(), 0.001), "runner")
            found = next((r for r in reply.runners if r.runner_id == runner_id), None)
            if found is not None or not reply.next_page_token or reply.next_page_token in seen:
                break
            seen.add(token := reply.next_page_token)
        if found is None:
            raise errors.RunnerNotFoundError(f"Get runner failed: runner {runner_id!r} not found",
                                             code="NOT_FOUND")
        request = dpb.GetAvailableRunnerRequest(runner_id=runner_id, view=dpb.RUNNER_VIEW_FULL,
                                                organization_id=found.organization_id)
        return runner_from(await self._discover(
            "Get runner", self._discovery.GetAvailableRunner, request,
            max(give_up - time.monotonic(), 0.001), "runner"))

    async def list_profiles_page(self, token: str, timeout: float, *, runner_id: str = "",
                                 architecture: str = "", page_size: int = 0) -> Page[Profile]:
        raise errors.DiscoveryError(NO_PROFILES)

    async def get_profile(self, name: str, timeout: float, runner_id: str = "") -> Profile:
        raise errors.DiscoveryError(NO_PROFILES)

    # snapshots
    async def create_snapshot(self, sandbox_id: str, *, key: str, wait_for_ready: bool,
                              max_timeout: int | None, timeout: float) -> CreateReply:
        """Answered at once in CREATING: the caller follows it to READY (v1 has no server
        wait, so `wait_for_ready` and `max_timeout` are not sent)."""
        request = pb.CreateFileSystemSnapshotRequest(sandbox_id=sandbox_id, request_id=key)
        reply = await self._unary("Create file-system snapshot",
                                  self._sandboxes.CreateFileSystemSnapshot, request, timeout,
                                  sandbox_id=sandbox_id)
        return CreateReply(True, "", reply.file_system_snapshot_id)

    async def get_snapshot(self, snapshot_id: str, timeout: float) -> Snapshot:
        reply = await self._unary(
            "Get file-system snapshot", self._sandboxes.GetFileSystemSnapshot,
            pb.GetFileSystemSnapshotRequest(file_system_snapshot_id=snapshot_id), timeout,
            snapshot_id=snapshot_id)
        return snapshot_from(reply)

    async def list_snapshots_page(self, token: str, timeout: float, page_size: int = 0
                                  ) -> Page[Snapshot]:
        reply = await self._unary(
            "List file-system snapshots", self._sandboxes.ListFileSystemSnapshots,
            pb.ListFileSystemSnapshotsRequest(page_token=token, page_size=page_size), timeout)
        return Page(reply.next_page_token, reply.file_system_snapshots, snapshot_from)

    async def delete_snapshot(self, snapshot_id: str, timeout: float) -> tuple[bool, str]:
        await self._unary(
            "Delete file-system snapshot", self._sandboxes.DeleteFileSystemSnapshot,
            pb.DeleteFileSystemSnapshotRequest(file_system_snapshot_id=snapshot_id), timeout,
            snapshot_id=snapshot_id)
        return True, ""

    # bucket
    async def get_bucket(self, timeout: float) -> BucketConfig:
        reply = await self._unary("Get file-system snapshot bucket config",
                                  self._settings.GetFileSystemSnapshotBucketConfig,
                                  spb.GetFileSystemSnapshotBucketConfigRequest(), timeout)
        return bucket_from(reply)

    async def set_bucket(self, bucket_name: str, region: str, timeout: float) -> BucketConfig:
        request = spb.UpdateFileSystemSnapshotBucketConfigRequest(
            file_system_snapshot_bucket_config=spb.FileSystemSnapshotBucketConfig(
                bucket_name=bucket_name, region=region),
            update_mask=field_mask_pb2.FieldMask(paths=["bucket_name", "region"]))
        reply = await self._unary("Update file-system snapshot bucket config",
                                  self._settings.UpdateFileSystemSnapshotBucketConfig, request,
                                  timeout)
        return bucket_from(reply)

    # volumes (v1 only)
    async def list_volumes(self, timeout: float) -> list[Volume]:
        rows: list[Volume] = []
        token = ""
        while True:
            reply = await self._unary("List volumes", self._volumes.ListVolumes,
                                      vpb.ListVolumesRequest(page_token=token), timeout)
            rows += [volume_from(v) for v in reply.volumes]
            token = reply.next_page_token
            if not token:
                return rows

    async def get_volume(self, volume_id: str, timeout: float) -> Volume:
        reply = await self._unary("Get volume", self._volumes.GetVolume,
                                  vpb.GetVolumeRequest(volume_id=volume_id), timeout)
        return volume_from(reply)

    async def delete_volume(self, volume_id: str, timeout: float, missing_ok: bool = False
                            ) -> bool:
        reply = await self._unary("Delete volume", self._volumes.DeleteVolume,
                                  vpb.DeleteVolumeRequest(volume_id=volume_id,
                                                          allow_missing=missing_ok), timeout)
        return bool(reply.volume_id)


def _conflict(sandbox_id: str, why: str) -> errors.SnapshotOnStopConflictError:
    return errors.SnapshotOnStopConflictError(
        f"Cannot stop sandbox {sandbox_id} with a snapshot: {why}")
