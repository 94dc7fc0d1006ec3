"""Our own typed models of sandboxes, snapshots and bucket settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from ..formatting import human_size


class SandboxStatus(StrEnum):
    UNSPECIFIED = "unspecified"
    CREATING = "creating"
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    TERMINATING = "terminating"
    COMPLETED = "completed"
    FAILED = "failed"
    TERMINATED = "terminated"

    @property
    def terminal(self) -> bool:
        return self in (SandboxStatus.COMPLETED, SandboxStatus.FAILED, SandboxStatus.TERMINATED)

    @property
    def starting(self) -> bool:
        return self in (SandboxStatus.CREATING, SandboxStatus.PENDING)

    @property
    def running(self) -> bool:
        return self in (SandboxStatus.RUNNING, SandboxStatus.PAUSED)


class SnapshotStatus(StrEnum):
    UNSPECIFIED = "unspecified"
    CREATING = "creating"
    READY = "ready"
    FAILED = "failed"
    DELETING = "deleting"


class SnapshotTrigger(StrEnum):
    UNSPECIFIED = "unspecified"
    STOP = "stop"
    MANUAL = "manual"


class BucketMode(StrEnum):
    UNSPECIFIED = "unspecified"
    CW_MANAGED = "cw_managed"
    BRING_YOUR_OWN = "bring_your_own"


@dataclass(frozen=True, slots=True)
class ResourceAmounts:
    """Resources as asked for (Kubernetes quantities); empty fields were not given."""

    cpu: str = ""
    memory: str = ""
    gpu_count: int = 0
    gpu_type: str = ""

    def __str__(self) -> str:
        parts = [f"cpu {self.cpu}" if self.cpu else "", f"memory {self.memory}" if self.memory
                 else "", f"{self.gpu_count} GPU {self.gpu_type}".strip() if self.gpu_count
                 else ""]
        return ", ".join(p for p in parts if p) or "-"


@dataclass(frozen=True, slots=True)
class EnforcedLimits:
    """What the server holds one sandbox to (0: not reported); over one it ends FAILED."""

    processes: int = 0
    memory_bytes: int = 0
    mount_bytes: int = 0
    log_bytes: int = 0

    def __str__(self) -> str:
        parts = [f"{self.processes} processes" if self.processes else "",
                 f"memory {human_size(self.memory_bytes)}" if self.memory_bytes else "",
                 f"mount {human_size(self.mount_bytes)}" if self.mount_bytes else "",
                 f"log keeps {human_size(self.log_bytes)}" if self.log_bytes else ""]
        return ", ".join(p for p in parts if p) or "-"


@dataclass(frozen=True, slots=True)
class Sandbox:
    """A sandbox as listed; fields the endpoint does not report are empty or None."""

    id: str
    status: SandboxStatus
    started_at: float | None = None
    runner_id: str = ""
    profile_id: str = ""
    status_reason: str = ""
    image: str = ""
    tags: tuple[str, ...] = ()
    command: tuple[str, ...] = ()
    mount_path: str = ""
    mount_size: str = ""
    restored_from: str = ""
    stop_snapshot_id: str = ""
    created_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    isolation: str = ""
    runner_group_id: str = ""
    ingress_mode: str = ""
    egress_mode: str = ""
    requests: ResourceAmounts | None = None
    limits: ResourceAmounts | None = None
    runtime: str = ""
    service_address: str = ""  # host:port of its first published port, while it runs
    ports: tuple[PublishedPort, ...] = ()

    enforced: EnforcedLimits | None = None  # the limits applied, where the server says


@dataclass(frozen=True, slots=True)
class PublishedPort:
    """A port a sandbox publishes, and the `host:port` it is reached at ("" once ended)."""

    port: int
    name: str = ""
    address: str = ""


@dataclass(frozen=True, slots=True)
class RunnerResources:
    """What a runner has left now."""

    available_cpu_millicores: int
    available_memory_bytes: int
    available_gpu_count: int
    running_sandboxes: int


@dataclass(frozen=True, slots=True)
class Runner:
    runner_id: str
    runner_group_id: str = ""
    tags: tuple[str, ...] = ()
    healthy: bool = False
    profile_names: tuple[str, ...] = ()
    connected_at: float | None = None
    max_cpu_millicores: int = 0
    max_memory_bytes: int = 0
    max_gpu_count: int = 0
    gpu_types: tuple[str, ...] = ()
    architectures: tuple[str, ...] = ()
    supports_privileged: bool = False
    storage_classes: tuple[str, ...] = ()
    shared: bool = False
    resources: RunnerResources | None = None  # only when asked for in full


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    runner_id: str = ""
    gpu_types: tuple[str, ...] = ()
    architectures: tuple[str, ...] = ()
    exposure_modes: tuple[str, ...] = ()
    egress_modes: tuple[str, ...] = ()


class Snapshot(NamedTuple):
    """A snapshot record. A named tuple rather than a frozen dataclass: listings make them by
    the hundred thousand, and a tuple is made about five times faster (and compared faster)."""

    id: str
    status: SnapshotStatus
    status_reason: str = ""
    size_bytes: int = 0
    created_at: float | None = None
    updated_at: float | None = None
    completed_at: float | None = None
    source_sandbox_id: str = ""
    trigger: SnapshotTrigger = SnapshotTrigger.UNSPECIFIED
    idempotency_key: str = ""
    object_bucket: str = ""


@dataclass(frozen=True, slots=True)
class Volume:
    """A registered volume (coreweave.sandbox.v1 only; v1beta2 has none)."""

    id: str
    state: str  # validating, ready, error, deleting, unspecified
    state_reason: str = ""
    description: str = ""
    read_only: bool = False
    runner_id: str = ""
    namespace: str = ""
    claim_name: str = ""
    sub_path: str = ""
    capacity: str = ""
    attached_sandboxes: int = 0
    created_at: float | None = None
    updated_at: float | None = None


@dataclass(frozen=True, slots=True)
class BucketConfig:
    bucket_name: str
    region: str
    mode: BucketMode
    effective_bucket_name: str


KEEP_ALIVE_ARGS = ("-c", 'trap "exit 0" TERM INT; sleep infinity & wait')


@dataclass(frozen=True)
class SandboxSpec:
    """What to start a sandbox with (the SDK's defaults unless given)."""

    image: str = "python:3.11"
    command: str = "/bin/sh"
    args: tuple[str, ...] = KEEP_ALIVE_ARGS
    tags: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    mount_path: str = ""
    size: str = ""
    restore_from: str = ""
    max_lifetime_seconds: int = 0
    runner_id: str = ""
    profile_name: str = ""
    cpu: str = ""  # requests, e.g. 500m
    memory: str = ""  # e.g. 512Mi


@dataclass(frozen=True, slots=True)
class ExecOutput:
    stream: str  # "stdout" or "stderr"
    data: bytes


@dataclass(frozen=True, slots=True)
class ExecExit:
    exit_code: int


@dataclass(frozen=True, slots=True)
class TerminalInput:
    """Keys typed into a remote terminal, or its new size (columns, rows)."""

    data: bytes = b""
    resize: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class LogChunk:
    data: bytes
    offset: int
    timestamp: float | None = None
    session_id: str = ""


@dataclass(frozen=True, slots=True)
class LogReconnected:
    """A followed log lost its connection and carries on: from where it stopped (`resumed`),
    or, when the server no longer knew the session, in a new session (`resumed` False), whose
    first lines may repeat some already shown."""

    resumed: bool
    offset: int
    reason: str


@dataclass(frozen=True, slots=True)
class StopResult:
    sandbox_id: str
    final_status: SandboxStatus
    snapshot_id: str = ""
    warning: str = ""
