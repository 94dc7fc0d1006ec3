"""One exception hierarchy, mapped from gRPC codes and ErrorInfo reasons as the SDK does.

Every error keeps the server's reason, metadata, retry delay and field violations, and has a
one-line human message (`str(error)`).
"""

from __future__ import annotations

from dataclasses import dataclass

TRUSTED_DOMAIN = "cwsandbox.com"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class CwsError(Exception):
    """Base of every error the client raises on purpose."""

    retryable = False
    unreached = False  # no connection stood: the endpoint never saw the call

    def __init__(self, message: str, *, code: str = "", reason: str | None = None,
                 metadata: dict[str, str] | None = None, retry_delay: float | None = None,
                 violations: tuple[FieldViolation, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason
        self.metadata = dict(metadata or {})
        self.retry_delay = retry_delay
        self.violations = violations

    @property
    def kind(self) -> str:
        """The reason when there is one, else the status code, for notifications."""
        return self.reason or self.code or type(self).__name__

    def __str__(self) -> str:
        return self.message


class AuthenticationError(CwsError):
    pass


class ReadOnlyError(CwsError):
    """A mutating call refused before it reached the wire."""


class ConfigError(CwsError):
    """Bad configuration or arguments, found before any call."""


class PaginationError(CwsError):
    pass


class SandboxError(CwsError):
    pass


class ValidationError(SandboxError):
    """INVALID_ARGUMENT, with the server's field violations when it sent them."""


class NotRunningError(SandboxError):
    pass


class UnavailableError(NotRunningError):
    retryable = True


class UnreachableError(UnavailableError):
    """The endpoint never answered (refused, unreachable): the retries for it are spent."""

    retryable = False


class ThrottledError(UnavailableError):
    retryable = True


class OperationTimeoutError(SandboxError):
    pass


class RequestTimeoutError(OperationTimeoutError):
    retryable = True


class CommandTimeoutError(OperationTimeoutError):
    pass


class SnapshotWaitTimeoutError(OperationTimeoutError):
    snapshot_id: str | None = None  # the snapshot still being created, when known


class SandboxNotFoundError(SandboxError):
    pass


class FileError(SandboxError):
    pass


class ResourceExhaustedError(SandboxError):
    retryable = True


class TerminalStateUnavailableError(SandboxError):
    pass


class SnapshotError(SandboxError):
    snapshot_id: str | None = None


class SnapshotNotFoundError(SnapshotError):
    pass


class SnapshotNotReadyError(SnapshotError):
    pass


class SnapshotNotSupportedError(SnapshotError):
    pass


class SnapshotSizeExceededError(SnapshotError):
    pass


class SnapshotQuotaExceededError(SnapshotError):
    pass


class SnapshotBucketMismatchError(SnapshotError):
    pass


class SnapshotOnStopConflictError(SnapshotError):
    """Raised by the client only: a snapshot-on-stop that cannot be honoured (see stops.py)."""


class LogStreamError(SandboxError):
    """The server ended a log stream with an in-band error (`reason` holds its code)."""


class DiscoveryError(CwsError):
    """A runner or profile listing or lookup failed."""


class RunnerNotFoundError(DiscoveryError):
    pass


class ProfileNotFoundError(DiscoveryError):
    pass


_FILE_REASONS = {"CWSANDBOX_FILE_NOT_FOUND", "CWSANDBOX_FILE_IS_DIRECTORY",
                 "CWSANDBOX_FILE_IO_FAILED", "CWSANDBOX_FILE_PERMISSION_DENIED",
                 "CWSANDBOX_FILE_TOO_LARGE", "CWSANDBOX_FILE_TRUNCATED"}
_SNAPSHOT_REASONS: dict[str, type[SnapshotError]] = {
    "CWSANDBOX_FSS_NOT_FOUND": SnapshotNotFoundError,
    "CWSANDBOX_FSS_NOT_READY": SnapshotNotReadyError,
    "CWSANDBOX_FSS_NOT_SUPPORTED": SnapshotNotSupportedError,
    "CWSANDBOX_FSS_SIZE_EXCEEDED": SnapshotSizeExceededError,
    "CWSANDBOX_FSS_QUOTA_EXCEEDED": SnapshotQuotaExceededError,
    "CWSANDBOX_FSS_BUCKET_MISMATCH": SnapshotBucketMismatchError,
    "CWSANDBOX_FSS_BUCKET_UNAVAILABLE": SnapshotError,
    "CWSANDBOX_FSS_RESTORE_FAILED": SnapshotError,
    "CWSANDBOX_FSS_CREATE_FAILED": SnapshotError,
    "CWSANDBOX_FSS_CREATE_TIMED_OUT": SnapshotError,
    "CWSANDBOX_FSS_AUTH_FAILED": SnapshotError,
    "CWSANDBOX_FSS_TRANSPORT_FAILED": SnapshotError,
    "CWSANDBOX_FSS_CANCELED": SnapshotError,
}


@dataclass(frozen=True)
class RpcFailure:
    """What a failed RPC told us, decoded from its status and trailing details."""

    code: str  # grpc.StatusCode name, e.g. "UNAVAILABLE"
    details: str
    reason: str | None = None
    domain: str = ""
    metadata: tuple[tuple[str, str], ...] = ()
    retry_delay: float | None = None
    violations: tuple[FieldViolation, ...] = ()


def translate(failure: RpcFailure, op: str, *, snapshot_id: str | None = None,
              sandbox_id: str | None = None, discovery: str | None = None) -> CwsError:
    """Map a failed RPC to our error class (the SDK's steps A, B and C, in that order).

    `discovery` ("runner" or "profile") marks a discovery call: a NOT_FOUND is then about
    that, and other failures fall back to DiscoveryError.
    """
    if discovery is not None:
        cls, message = _classify_discovery(failure, op, discovery)
    else:
        cls, message = _classify(failure, op, snapshot_id, sandbox_id)
    error = cls(message, code=failure.code, reason=failure.reason,
                metadata=dict(failure.metadata), retry_delay=failure.retry_delay,
                violations=failure.violations)
    if isinstance(error, SnapshotError) and snapshot_id:
        error.snapshot_id = snapshot_id
    return error


def _classify_discovery(failure: RpcFailure, op: str, kind: str) -> tuple[type[CwsError], str]:
    d = failure.details or failure.code
    reason = failure.reason if failure.domain == TRUSTED_DOMAIN else None
    if reason == "CWSANDBOX_RUNNER_NOT_FOUND" or (failure.code == "NOT_FOUND"
                                                  and kind == "runner" and not reason):
        return RunnerNotFoundError, f"{op} failed: {d}"
    if reason == "CWSANDBOX_PROFILE_NOT_FOUND" or (failure.code == "NOT_FOUND"
                                                   and kind == "profile" and not reason):
        return ProfileNotFoundError, f"{op} failed: {d}"
    cls, template = _BY_CODE.get(failure.code, (DiscoveryError, "{op} failed: {d}"))
    return cls, template.format(op=op, d=d)


def _classify(failure: RpcFailure, op: str, snapshot_id: str | None, sandbox_id: str | None
              ) -> tuple[type[CwsError], str]:
    d = failure.details or failure.code
    reason = failure.reason if failure.domain == TRUSTED_DOMAIN else None
    if reason == "CWSANDBOX_RUNNER_NOT_FOUND":
        return RunnerNotFoundError, f"{op} failed: {d}"
    if reason == "CWSANDBOX_PROFILE_NOT_FOUND":
        return ProfileNotFoundError, f"{op} failed: {d}"
    if reason in _FILE_REASONS:
        return FileError, f"File operation failed ({reason}): {d}"
    if reason == "CWSANDBOX_SANDBOX_NOT_FOUND":
        return SandboxNotFoundError, f"Sandbox {sandbox_id!r} not found" if sandbox_id else d
    if reason == "CWSANDBOX_COMMAND_TIMEOUT":
        return CommandTimeoutError, f"{op} timed out: {d}"
    if reason in ("CWSANDBOX_RUNNER_UNAVAILABLE", "CWSANDBOX_BACKEND_UNAVAILABLE"):
        return UnavailableError, f"Service unavailable: {d}"
    if reason == "CWSANDBOX_FSS_WAIT_TIMEOUT":
        return (SnapshotWaitTimeoutError,
                f"{op} timed out waiting for snapshot ready ({reason}): {d}")
    if reason in ("CWSANDBOX_FSS_BACKEND_THROTTLED", "CWSANDBOX_FSS_INFLIGHT_LIMIT"):
        return ThrottledError, f"Snapshot backend throttled ({reason}): {d}"
    if reason in _SNAPSHOT_REASONS:
        return _SNAPSHOT_REASONS[reason], f"{op} failed ({reason}): {d}"
    if failure.code == "NOT_FOUND" and snapshot_id:
        return SnapshotNotFoundError, f"File-system snapshot {snapshot_id!r} not found"
    if failure.code == "NOT_FOUND":
        return SandboxNotFoundError, f"Sandbox {sandbox_id!r} not found" if sandbox_id else d
    cls, template = _BY_CODE.get(failure.code, (SandboxError, "{op} failed: {d}"))
    return cls, template.format(op=op, d=d)


_BY_CODE: dict[str, tuple[type[CwsError], str]] = {
    "CANCELLED": (NotRunningError, "{op} was cancelled"),
    "DEADLINE_EXCEEDED": (RequestTimeoutError, "{op} timed out: {d}"),
    "UNAVAILABLE": (UnavailableError, "Service unavailable: {d}"),
    "RESOURCE_EXHAUSTED": (ResourceExhaustedError, "{op} resource exhausted: {d}"),
    "UNAUTHENTICATED": (AuthenticationError, "Authentication failed: {d}"),
    "PERMISSION_DENIED": (AuthenticationError, "Permission denied: {d}"),
    "INVALID_ARGUMENT": (ValidationError, "{op} failed: {d}"),
}


def is_not_found(error: BaseException) -> bool:
    """gRPC NOT_FOUND (any reason or domain), or the *trusted* reason CWSANDBOX_FSS_NOT_FOUND
    on any code (translate() only makes a SnapshotNotFoundError from a trusted reason)."""
    return isinstance(error, CwsError) and (
        error.code == "NOT_FOUND" or (isinstance(error, SnapshotNotFoundError)
                                      and error.reason == "CWSANDBOX_FSS_NOT_FOUND"))
