"""The engine's errors: a code of its own, a message, and the details a caller may act on.

Nothing here knows a wire: each API generation's service layer answers an `ApiError` as a gRPC
status with AIP-193 details (`wire/errors.py`), the same way for both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Code(Enum):
    """What kind of failure it is; named as gRPC names its status codes, which they map to."""

    INVALID_ARGUMENT = "invalid_argument"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    PERMISSION_DENIED = "permission_denied"
    UNAUTHENTICATED = "unauthenticated"
    FAILED_PRECONDITION = "failed_precondition"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    UNAVAILABLE = "unavailable"
    UNIMPLEMENTED = "unimplemented"
    INTERNAL = "internal"


@dataclass(frozen=True)
class BadField:
    """A request's field and what is wrong with it: a field violation on the wire."""

    field: str
    description: str


@dataclass
class ApiError(Exception):
    """An error that ends a call: its code, and an ErrorInfo reason with metadata, a retry
    delay and field violations where they apply."""

    code: Code
    message: str
    reason: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    retry_delay: float | None = None
    violations: tuple[BadField, ...] = ()

    def __str__(self) -> str:
        return self.message


def invalid(field_name: str, description: str) -> ApiError:
    """INVALID_ARGUMENT naming the field and what is wrong with it."""
    return ApiError(
        Code.INVALID_ARGUMENT,
        f"{field_name}: {description}",
        violations=(BadField(field_name, description),),
    )


def not_offered(field_name: str, description: str, reason: str = "CWSANDBOX_NOT_IMPLEMENTED",
                code: Code = Code.UNIMPLEMENTED) -> ApiError:
    """What the service itself does not implement (or this machine cannot), in the service's
    words: its status and ErrorInfo reason, and the field as a violation."""
    return ApiError(code, f"{field_name}: {description}", reason=reason,
                    violations=(BadField(field_name, description),))


def sandbox_not_found(sandbox_id: str) -> ApiError:
    return ApiError(
        Code.NOT_FOUND,
        f"sandbox {sandbox_id!r} not found",
        reason="CWSANDBOX_SANDBOX_NOT_FOUND",
        metadata={"sandbox_id": sandbox_id},
    )


def snapshot_not_found(snapshot_id: str) -> ApiError:
    return ApiError(
        Code.NOT_FOUND,
        f"file-system snapshot {snapshot_id!r} not found",
        reason="CWSANDBOX_FSS_NOT_FOUND",
        metadata={"file_system_snapshot_id": snapshot_id},
    )


def precondition(message: str, reason: str | None = None, **metadata: str) -> ApiError:
    return ApiError(Code.FAILED_PRECONDITION, message, reason=reason, metadata=metadata)
