"""Engine records <-> `coreweave.sandbox.v1` messages.

The engine's states (`states.py`) cross by name to v1's enums (v1 numbers them its own way,
fact sheet 4.2); the snapshot triggers by meaning (v1's ON_DELETE is the engine's STOP).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import timestamp_pb2

from ...proto.v1 import sandbox_pb2 as pb
from ..engine import RUNNER_ID
from ..network import HOST, NONE, PRIVATE, PUBLIC
from ..quotas import Applied
from ..states import SandboxState, SnapshotCause, SnapshotState
from ..store import SandboxRow, SnapshotRow

DEFAULT_VOLUME = "workspace"  # what the SDK names the scratch volume of FileSystemSnapshotOptions
DEFAULT_CONTAINER = "main"
# the runtime class a sandbox that asks for none runs under, named as the service names it
NODE_DEFAULT_RUNTIME_CLASS = "<node-default>"
VISIBILITY_OF_MODE = {PUBLIC: pb.VISIBILITY_PUBLIC, PRIVATE: pb.VISIBILITY_PRIVATE,
                      HOST: pb.VISIBILITY_PUBLIC}
MODE_OF_VISIBILITY = {pb.VISIBILITY_UNSPECIFIED: PUBLIC, pb.VISIBILITY_PUBLIC: PUBLIC,
                      pb.VISIBILITY_PRIVATE: PRIVATE}


def visibilities(ingress_modes: tuple[str, ...]) -> list[int]:
    """The service visibilities a runner offering these ingress modes keeps."""
    if HOST in ingress_modes:  # the host's own network: anything it serves is reachable
        return [pb.VISIBILITY_PUBLIC, pb.VISIBILITY_PRIVATE]
    return [VISIBILITY_OF_MODE[m] for m in (PUBLIC, PRIVATE) if m in ingress_modes]


STATE_TO_V1: dict[SandboxState, int] = {
    state: pb.State.Value(f"STATE_{state.name}") for state in SandboxState}
STATE_FROM_V1 = {v1: state for state, v1 in STATE_TO_V1.items()}
# Keyed by the engine's words, so a listing row's stored text finds its number too.
SNAPSHOT_STATE_TO_V1: dict[str, int] = {
    state: pb.SnapshotState.Value(f"SNAPSHOT_STATE_{state.name}") for state in SnapshotState}
TRIGGER_TO_V1: dict[str, int] = {SnapshotCause.NONE: pb.SNAPSHOT_TRIGGER_UNSPECIFIED,
                                 SnapshotCause.STOP: pb.SNAPSHOT_TRIGGER_ON_DELETE,
                                 SnapshotCause.MANUAL: pb.SNAPSHOT_TRIGGER_MANUAL}


def stamp(target: timestamp_pb2.Timestamp, seconds: float) -> None:
    whole = int(seconds)
    target.seconds = whole
    target.nanos = int((seconds - whole) * 1e9)


def volume_name(row: SandboxRow) -> str:
    return row.spec.volume_name or DEFAULT_VOLUME


def sandbox_message(row: SandboxRow, service_host: str = "") -> pb.Sandbox:
    """The whole `Sandbox` resource, its spec echoed as the SDK reads it back; its services
    at `service_host` (the engine's, "" once they are gone)."""
    spec = row.spec
    message = pb.Sandbox(sandbox_id=row.id)
    container = message.spec.containers.add(
        name=spec.container_name or DEFAULT_CONTAINER, image=spec.container_image,
        command=spec.command, args=spec.args, working_dir=spec.working_dir)
    container.environment_variables.update(spec.env)
    if spec.mount_path:
        name = volume_name(row)
        container.volume_mounts.add(volume=name, mount_path=spec.mount_path)
        volume = message.spec.volumes.add(name=name)
        volume.scratch.size = spec.mount_size
        volume.scratch.restore_from_snapshot_id = spec.restored_from
    message.spec.tags.extend(spec.tags)
    message.spec.max_lifetime_seconds = spec.max_lifetime_seconds
    message.spec.annotations.update(spec.annotations)
    message.display_name = spec.display_name
    if any(values.get(kind) for values in (spec.requests, spec.limits)
           for kind in ("cpu", "memory")):
        _fill_requirements(container.resource_requirements, spec.requests, spec.limits)
        _fill_requirements(message.status.effective_resource_requirements, spec.requests,
                           spec.limits)
    enforced = Applied.from_list(spec.enforced).memory_bytes
    if enforced:  # what is held, asked for or the backend's default
        message.status.effective_resource_requirements.limits.memory = quantity(enforced)
    status = message.status
    status.state = STATE_TO_V1[row.status]  # type: ignore[assignment]
    status.state_reason = row.status_reason
    stamp(status.create_time, row.created_at)
    if row.started_at is not None:
        stamp(status.start_time, row.started_at)
    if row.ended_at is not None:
        stamp(status.end_time, row.ended_at)
    if row.exit_code is not None:
        status.exit_code = row.exit_code
    status.runner_id = spec.runner_id or RUNNER_ID
    if spec.runner_group_id:
        status.runner_group_id = spec.runner_group_id
    if spec.egress_mode:  # no DNS without egress (an isolated sandbox's namespace has none)
        status.effective_dns_egress = (pb.DNS_EGRESS_MODE_DENY if spec.egress_mode == NONE
                                       else pb.DNS_EGRESS_MODE_ALLOW)
    status.effective_runtime_class = NODE_DEFAULT_RUNTIME_CLASS
    _fill_services(message, spec.services, spec.ingress_mode, service_host)
    return message


def quantity(size: int) -> str:
    """Bytes as the largest Kubernetes binary unit that holds them whole: `64Mi`, `8Gi`."""
    for unit, factor in (("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def _fill_services(message: pb.Sandbox, services: list[dict[str, Any]], mode: str,
                   host: str) -> None:
    """The spec's services as asked, and their status: each at `host`, reached from the
    host's loopback only (the one ingress rule in effect)."""
    if not services:
        return
    visibility = VISIBILITY_OF_MODE.get(mode, pb.VISIBILITY_PUBLIC)
    rule = message.status.effective_ingress.add() if host else None
    if rule is not None:
        rule.cidr.cidr = "127.0.0.0/8"
    for entry in services:
        message.spec.services.add(port=entry["port"], name=entry["name"],
                                  protocol=pb.SERVICE_PROTOCOL_TCP, visibility=visibility)
        status = message.status.services.add(port=entry["port"], name=entry["name"],
                                             protocol=pb.SERVICE_PROTOCOL_TCP,
                                             visibility=visibility)
        if host and rule is not None:
            status.url = f"http://{host}:{entry['port']}"
            rule.ports.add(port=entry["port"], protocol="TCP")


def _fill_requirements(target: pb.ResourceRequirements, requests: dict[str, str],
                       limits: dict[str, str]) -> None:
    for message, values in ((target.requests, requests), (target.limits, limits)):
        for kind in ("cpu", "memory"):
            if values.get(kind):
                setattr(message, kind, values[kind])


def fill_snapshot(message: pb.FileSystemSnapshot, snapshot_id: str, status: str, reason: str,
                  size: int, created: float, updated: float, completed: float | None,
                  source: str, trigger: str, key: str, bucket: str, *, volume: str) -> None:
    """Set a v1 snapshot message's fields from the engine's listing columns (`status` and
    `trigger` are the engine's words, as stored)."""
    message.file_system_snapshot_id = snapshot_id
    message.state = SNAPSHOT_STATE_TO_V1[status]  # type: ignore[assignment]
    message.state_reason = reason
    message.size_bytes = size
    message.source_sandbox_id = source
    message.trigger = TRIGGER_TO_V1[trigger]  # type: ignore[assignment]
    stamp(message.create_time, created)
    if completed is not None:
        stamp(message.complete_time, completed)
    message.source_volume_name = volume
    message.object_bucket = bucket
    stamp(message.updated_at, updated)
    message.request_id = key


def snapshot_message(row: SnapshotRow, volume: str = DEFAULT_VOLUME) -> pb.FileSystemSnapshot:
    message = pb.FileSystemSnapshot()
    fill_snapshot(message, row.id, row.status, row.status_reason, row.size_bytes, row.created_at,
                  row.updated_at, row.completed_at, row.source_sandbox_id, row.trigger,
                  row.idempotency_key, row.object_bucket, volume=volume)
    return message
