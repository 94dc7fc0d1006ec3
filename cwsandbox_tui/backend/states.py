"""The engine's own words for where a sandbox or a snapshot is in its life.

Each API generation's service layer maps these to its wire enums (`v1beta2/enums.py`,
`v1/convert.py`); the store keeps their values as text.
"""

from __future__ import annotations

from enum import StrEnum


class SandboxState(StrEnum):
    PENDING = "pending"  # upstream's, before placement; no local sandbox is ever in it
    CREATING = "creating"
    RUNNING = "running"
    PAUSED = "paused"
    TERMINATING = "terminating"
    COMPLETED = "completed"
    FAILED = "failed"
    TERMINATED = "terminated"


class SnapshotState(StrEnum):
    CREATING = "creating"
    READY = "ready"
    FAILED = "failed"
    DELETING = "deleting"


class SnapshotCause(StrEnum):
    """Why a snapshot was taken ("" in a record that never said)."""

    NONE = ""
    STOP = "stop"
    MANUAL = "manual"


CREATING = SandboxState.CREATING
RUNNING = SandboxState.RUNNING
PAUSED = SandboxState.PAUSED
TERMINATING = SandboxState.TERMINATING
COMPLETED = SandboxState.COMPLETED
FAILED = SandboxState.FAILED
TERMINATED = SandboxState.TERMINATED

LIVE = (CREATING, RUNNING, PAUSED, TERMINATING)
TERMINAL = (COMPLETED, FAILED, TERMINATED)

FSS_CREATING = SnapshotState.CREATING
FSS_READY = SnapshotState.READY
FSS_FAILED = SnapshotState.FAILED
FSS_DELETING = SnapshotState.DELETING

TRIGGER_STOP = SnapshotCause.STOP
TRIGGER_MANUAL = SnapshotCause.MANUAL


def status_name(state: SandboxState) -> str:
    """The state as the error messages name it (the same word on both generations)."""
    return state.name
