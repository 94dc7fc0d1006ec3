"""Stop coalescing: what a stop request does given what is already happening (SDK section 2).

| state                           | stop in flight | plain stop       | snapshot stop           |
|---------------------------------|----------------|------------------|-------------------------|
| creating / running / paused     | none           | new plain stop   | new snapshot stop       |
| any                             | plain          | join             | conflict: plain running |
| any                             | snapshot       | join             | join                    |
| terminating (not ours)          | none           | observe only     | conflict: terminating   |
| terminal, snapshot id held      | none           | no-op            | no-op (keeps the id)    |
| terminal, no snapshot id        | none           | no-op            | conflict: stopped       |
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .models import SandboxStatus


class StopAction(Enum):
    NEW_STOP = "new"
    JOIN = "join"
    OBSERVE = "observe"
    NOOP = "noop"
    CONFLICT = "conflict"


class InFlight(Enum):
    NONE = "none"
    PLAIN = "plain"
    SNAPSHOT = "snapshot"


@dataclass(frozen=True)
class StopDecision:
    action: StopAction
    conflict: str = ""  # which case, for the error message
    advice: str = ""


CONFLICT_PLAIN = StopDecision(
    StopAction.CONFLICT,
    "Cannot snapshot on stop: a plain stop is already in progress for this sandbox.",
    "Wait for it to finish; the sandbox will stop without a snapshot. "
    "Restart from an earlier snapshot, or take one before stopping next time.")
CONFLICT_TERMINATING = StopDecision(
    StopAction.CONFLICT,
    "Cannot snapshot on stop: sandbox is already terminating.",
    "It is shutting down without a snapshot; nothing can be captured now.")
CONFLICT_STOPPED = StopDecision(
    StopAction.CONFLICT,
    "Cannot snapshot on stop: sandbox has already stopped.",
    "Its mount is gone; restore an earlier snapshot into a new sandbox instead.")


def decide_stop(status: SandboxStatus, in_flight: InFlight, snapshot: bool,
                snapshot_held: bool) -> StopDecision:
    if in_flight is InFlight.PLAIN:
        return CONFLICT_PLAIN if snapshot else StopDecision(StopAction.JOIN)
    if in_flight is InFlight.SNAPSHOT:
        return StopDecision(StopAction.JOIN)
    if status.terminal:
        if snapshot and not snapshot_held:
            return CONFLICT_STOPPED
        return StopDecision(StopAction.NOOP)
    if status is SandboxStatus.TERMINATING:
        return CONFLICT_TERMINATING if snapshot else StopDecision(StopAction.OBSERVE)
    return StopDecision(StopAction.NEW_STOP)
