"""The SDK's deadlines, in seconds (sdk-behaviour section 3)."""

from __future__ import annotations

from dataclasses import dataclass

REQUEST_TIMEOUT = 300.0
CLIENT_BUFFER = 5.0
FSS_ARCHIVE_BUDGET = 600
FSS_STOP_SLACK = 35.0
FSS_STOP_GRACE_FALLBACK = 30
POLL_RPC_TIMEOUT = 15.0
POLL_INTERVAL = 0.2
POLL_INTERVAL_MAX = 2.0
POLL_FACTOR = 1.5
NOT_FOUND_AFTER_STOP = 2.0
DEFAULT_GRACE = 10


@dataclass(frozen=True)
class StopBudget:
    max_timeout_seconds: int  # sent to the server
    deadline: float  # the client's gRPC deadline for the Stop call
    explanation: str


def stop_budget(grace: float, snapshot: bool) -> StopBudget:
    g = int(grace)
    if not snapshot:
        return StopBudget(g + 5, g + 5 + CLIENT_BUFFER, f"grace {g} s + 5 s + 5 s buffer")
    effective = g if g > 0 else FSS_STOP_GRACE_FALLBACK
    return StopBudget(
        FSS_ARCHIVE_BUDGET, FSS_ARCHIVE_BUDGET + effective + FSS_STOP_SLACK,
        f"archive {FSS_ARCHIVE_BUDGET} s + grace {effective} s + {FSS_STOP_SLACK:g} s slack")


@dataclass(frozen=True)
class CreateBudget:
    max_timeout_seconds: int | None
    deadline: float


def create_budget(wait_for_ready: bool, request_timeout: float = REQUEST_TIMEOUT) -> CreateBudget:
    if wait_for_ready:
        return CreateBudget(FSS_ARCHIVE_BUDGET, FSS_ARCHIVE_BUDGET + CLIENT_BUFFER)
    return CreateBudget(None, request_timeout)
