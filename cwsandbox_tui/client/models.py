"""Our own typed models of sandboxes, snapshots and bucket settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple


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


@dataclass(frozen=True, slots=True)
class ExecOutput:
    stream: str  # "stdout" or "stderr"
    data: bytes


@dataclass(frozen=True, slots=True)
class ExecExit:
    exit_code: int


@dataclass(frozen=True, slots=True)
class LogChunk:
    data: bytes
    offset: int
    timestamp: float | None = None


@dataclass(frozen=True, slots=True)
class StopResult:
    sandbox_id: str
    final_status: SandboxStatus
    snapshot_id: str = ""
    warning: str = ""
