"""The error mapping table (sdk-behaviour 5.2 and 5.3): reasons, codes, the domain gate."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from cwsandbox_tui.client import errors as e
from cwsandbox_tui.client.errors import RpcFailure, is_not_found, translate
from cwsandbox_tui.client.failures import failure_from

TRUSTED = "cwsandbox.com"
ALL_CODES = [c.name for c in grpc.StatusCode if c is not grpc.StatusCode.OK]

# Step A: a trusted reason decides the class whatever the code.
REASON_TABLE: list[tuple[str, type[e.CwsError], str]] = [
    *[(r, e.FileError, "File operation failed ({R}): {d}") for r in (
        "CWSANDBOX_FILE_NOT_FOUND", "CWSANDBOX_FILE_IS_DIRECTORY", "CWSANDBOX_FILE_IO_FAILED",
        "CWSANDBOX_FILE_PERMISSION_DENIED", "CWSANDBOX_FILE_TOO_LARGE",
        "CWSANDBOX_FILE_TRUNCATED")],
    ("CWSANDBOX_SANDBOX_NOT_FOUND", e.SandboxNotFoundError, "{d}"),
    ("CWSANDBOX_COMMAND_TIMEOUT", e.CommandTimeoutError, "{op} timed out: {d}"),
    ("CWSANDBOX_RUNNER_UNAVAILABLE", e.UnavailableError, "Service unavailable: {d}"),
    ("CWSANDBOX_BACKEND_UNAVAILABLE", e.UnavailableError, "Service unavailable: {d}"),
    ("CWSANDBOX_FSS_NOT_FOUND", e.SnapshotNotFoundError, "{op} failed ({R}): {d}"),
    ("CWSANDBOX_FSS_NOT_READY", e.SnapshotNotReadyError, "{op} failed ({R}): {d}"),
    ("CWSANDBOX_FSS_NOT_SUPPORTED", e.SnapshotNotSupportedError, "{op} failed ({R}): {d}"),
    ("CWSANDBOX_FSS_SIZE_EXCEEDED", e.SnapshotSizeExceededError, "{op} failed ({R}): {d}"),
    ("CWSANDBOX_FSS_QUOTA_EXCEEDED", e.SnapshotQuotaExceededError, "{op} failed ({R}): {d}"),
    ("CWSANDBOX_FSS_BUCKET_MISMATCH", e.SnapshotBucketMismatchError, "{op} failed ({R}): {d}"),
    *[(r, e.SnapshotError, "{op} failed ({R}): {d}") for r in (
        "CWSANDBOX_FSS_BUCKET_UNAVAILABLE", "CWSANDBOX_FSS_RESTORE_FAILED",
        "CWSANDBOX_FSS_CREATE_FAILED", "CWSANDBOX_FSS_CREATE_TIMED_OUT",
        "CWSANDBOX_FSS_AUTH_FAILED", "CWSANDBOX_FSS_TRANSPORT_FAILED", "CWSANDBOX_FSS_CANCELED")],
    ("CWSANDBOX_FSS_WAIT_TIMEOUT", e.SnapshotWaitTimeoutError,
     "{op} timed out waiting for snapshot ready ({R}): {d}"),
    ("CWSANDBOX_FSS_BACKEND_THROTTLED", e.ThrottledError, "Snapshot backend throttled ({R}): {d}"),
    ("CWSANDBOX_FSS_INFLIGHT_LIMIT", e.ThrottledError, "Snapshot backend throttled ({R}): {d}"),
]
RETRYABLE_REASONS = {"CWSANDBOX_RUNNER_UNAVAILABLE", "CWSANDBOX_BACKEND_UNAVAILABLE",
                     "CWSANDBOX_FSS_BACKEND_THROTTLED", "CWSANDBOX_FSS_INFLIGHT_LIMIT"}

# Steps B and C: by code, when no trusted reason decides.
CODE_TABLE: list[tuple[str, type[e.CwsError], str, bool]] = [
    ("CANCELLED", e.NotRunningError, "{op} was cancelled", False),
    ("DEADLINE_EXCEEDED", e.RequestTimeoutError, "{op} timed out: {d}", True),
    ("UNAVAILABLE", e.UnavailableError, "Service unavailable: {d}", True),
    ("RESOURCE_EXHAUSTED", e.ResourceExhaustedError, "{op} resource exhausted: {d}", True),
    ("UNAUTHENTICATED", e.AuthenticationError, "Authentication failed: {d}", False),
    ("PERMISSION_DENIED", e.AuthenticationError, "Permission denied: {d}", False),
    ("INVALID_ARGUMENT", e.SandboxError, "{op} failed: {d}", False),
    ("FAILED_PRECONDITION", e.SandboxError, "{op} failed: {d}", False),
    ("ALREADY_EXISTS", e.SandboxError, "{op} failed: {d}", False),
    ("INTERNAL", e.SandboxError, "{op} failed: {d}", False),
    ("UNKNOWN", e.SandboxError, "{op} failed: {d}", False),
    ("ABORTED", e.SandboxError, "{op} failed: {d}", False),
    ("OUT_OF_RANGE", e.SandboxError, "{op} failed: {d}", False),
    ("UNIMPLEMENTED", e.SandboxError, "{op} failed: {d}", False),
    ("DATA_LOSS", e.SandboxError, "{op} failed: {d}", False),
]
OP = "Delete file-system snapshot"
D = "the details"


def failure(code: str = "INTERNAL", reason: str | None = None, domain: str = TRUSTED,
            **extra: object) -> RpcFailure:
    return RpcFailure(code=code, details=D, reason=reason, domain=domain, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(("reason", "cls", "message"), REASON_TABLE,
                         ids=[row[0] for row in REASON_TABLE])
@pytest.mark.parametrize("code", ["NOT_FOUND", "FAILED_PRECONDITION", "RESOURCE_EXHAUSTED",
                                  "UNAVAILABLE", "PERMISSION_DENIED", "DEADLINE_EXCEEDED",
                                  "INTERNAL"])
def test_trusted_reason_decides_regardless_of_code(reason: str, cls: type[e.CwsError],
                                                   message: str, code: str) -> None:
    error = translate(failure(code, reason, metadata=(("k", "v"),)), OP)
    assert type(error) is cls
    assert str(error) == message.format(op=OP, d=D, R=reason)
    assert error.reason == reason and error.code == code and error.metadata == {"k": "v"}
    assert error.retryable is (reason in RETRYABLE_REASONS)


def test_every_fss_and_file_reason_in_the_spec_is_mapped() -> None:
    assert len(REASON_TABLE) == 26
    mapped = {r for r, _, _ in REASON_TABLE}
    for reason in mapped:
        assert type(translate(failure("INTERNAL", reason), OP)) is not e.SandboxError


def test_sandbox_not_found_reason_names_the_sandbox_when_known() -> None:
    error = translate(failure("NOT_FOUND", "CWSANDBOX_SANDBOX_NOT_FOUND"), "Get sandbox",
                      sandbox_id="sb-1")
    assert type(error) is e.SandboxNotFoundError
    assert str(error) == "Sandbox 'sb-1' not found"


@pytest.mark.parametrize(("code", "cls", "message", "retryable"), CODE_TABLE,
                         ids=[row[0] for row in CODE_TABLE])
def test_code_mapping(code: str, cls: type[e.CwsError], message: str, retryable: bool) -> None:
    error = translate(failure(code), OP)
    assert isinstance(error, cls)
    assert type(error).retryable is retryable
    assert str(error) == message.format(op=OP, d=D)
    assert error.reason is None


def test_invalid_argument_keeps_field_violations() -> None:
    violation = e.FieldViolation("sandbox_id", "is required")
    error = translate(failure("INVALID_ARGUMENT", violations=(violation,)), OP)
    assert isinstance(error, e.ValidationError) and isinstance(error, e.SandboxError)
    assert error.violations == (violation,)
    assert not error.retryable


def test_every_grpc_code_maps_to_some_error() -> None:
    for code in ALL_CODES:
        error = translate(failure(code), OP)
        assert isinstance(error, e.CwsError) and error.code == code


def test_bare_not_found_with_a_snapshot_id_is_snapshot_not_found() -> None:
    error = translate(failure("NOT_FOUND"), OP, snapshot_id="fss-1")
    assert type(error) is e.SnapshotNotFoundError
    assert str(error) == "File-system snapshot 'fss-1' not found"
    assert error.snapshot_id == "fss-1"


def test_bare_not_found_without_a_snapshot_id_is_sandbox_not_found() -> None:
    error = translate(failure("NOT_FOUND"), "Start sandbox")
    assert type(error) is e.SandboxNotFoundError
    assert str(error) == D
    named = translate(failure("NOT_FOUND"), "Get sandbox", sandbox_id="sb-9")
    assert str(named) == "Sandbox 'sb-9' not found"


def test_snapshot_errors_carry_the_snapshot_id_only_when_in_context() -> None:
    with_id = translate(failure("FAILED_PRECONDITION", "CWSANDBOX_FSS_NOT_READY"), OP,
                        snapshot_id="fss-2")
    assert isinstance(with_id, e.SnapshotNotReadyError) and with_id.snapshot_id == "fss-2"
    without = translate(failure("NOT_FOUND", "CWSANDBOX_FSS_NOT_FOUND"), "Start sandbox")
    assert isinstance(without, e.SnapshotNotFoundError) and without.snapshot_id is None


def test_wait_timeout_and_throttle_are_not_snapshot_errors() -> None:
    wait = translate(failure("DEADLINE_EXCEEDED", "CWSANDBOX_FSS_WAIT_TIMEOUT"), OP,
                     snapshot_id="fss-3")
    throttled = translate(failure("RESOURCE_EXHAUSTED", "CWSANDBOX_FSS_BACKEND_THROTTLED"), OP,
                          snapshot_id="fss-3")
    assert not isinstance(wait, e.SnapshotError) and isinstance(wait, e.OperationTimeoutError)
    assert not wait.retryable
    assert not isinstance(throttled, e.SnapshotError)
    assert isinstance(throttled, e.UnavailableError) and throttled.retryable


@pytest.mark.parametrize("domain", ["other.com", "", "cwsandbox.com.evil", "CWSANDBOX.COM"])
def test_untrusted_domain_falls_through_to_the_code_but_keeps_the_raw_values(domain: str) -> None:
    error = translate(failure("UNAVAILABLE", "CWSANDBOX_FSS_BACKEND_THROTTLED", domain=domain,
                              metadata=(("a", "b"),), retry_delay=1.5), OP)
    assert type(error) is e.UnavailableError  # not ThrottledError
    assert error.retryable
    assert error.reason == "CWSANDBOX_FSS_BACKEND_THROTTLED"
    assert error.metadata == {"a": "b"} and error.retry_delay == 1.5
    quota = translate(failure("FAILED_PRECONDITION", "CWSANDBOX_FSS_QUOTA_EXCEEDED",
                              domain=domain), OP)
    assert type(quota) is e.SandboxError


def test_unknown_trusted_reason_falls_through_to_the_code() -> None:
    error = translate(failure("RESOURCE_EXHAUSTED", "CWSANDBOX_SOMETHING_NEW"), OP)
    assert type(error) is e.ResourceExhaustedError and error.reason == "CWSANDBOX_SOMETHING_NEW"


@pytest.mark.parametrize(("code", "reason", "cls", "retryable"), [
    ("RESOURCE_EXHAUSTED", "CWSANDBOX_FSS_QUOTA_EXCEEDED", e.SnapshotQuotaExceededError, False),
    ("RESOURCE_EXHAUSTED", "CWSANDBOX_FSS_INFLIGHT_LIMIT", e.ThrottledError, True),
    ("PERMISSION_DENIED", "CWSANDBOX_FSS_AUTH_FAILED", e.SnapshotError, False),
    ("PERMISSION_DENIED", None, e.AuthenticationError, False),
])
def test_observed_examples(code: str, reason: str | None, cls: type[e.CwsError],
                           retryable: bool) -> None:
    error = translate(failure(code, reason), OP)
    assert type(error) is cls and error.retryable is retryable


def test_the_retry_delay_is_kept() -> None:
    error = translate(failure("RESOURCE_EXHAUSTED", "CWSANDBOX_FSS_BACKEND_THROTTLED",
                              retry_delay=0.25), OP)
    assert error.retry_delay == 0.25


# ---------------------------------------------------------------------------------------------
# is_not_found: the rule by which a delete retry that finds nothing counts as deleted


@pytest.mark.parametrize(("code", "reason", "domain", "expected"), [
    ("NOT_FOUND", None, "", True),
    ("NOT_FOUND", "CWSANDBOX_FSS_NOT_FOUND", TRUSTED, True),
    ("NOT_FOUND", "ANYTHING", "other.com", True),
    ("FAILED_PRECONDITION", "CWSANDBOX_FSS_NOT_FOUND", TRUSTED, True),
    ("FAILED_PRECONDITION", "CWSANDBOX_FSS_NOT_FOUND", "other.com", False),
    ("UNAVAILABLE", None, "", False),
    ("FAILED_PRECONDITION", "CWSANDBOX_SANDBOX_NOT_FOUND", TRUSTED, False),
])
def test_is_not_found(code: str, reason: str | None, domain: str, expected: bool) -> None:
    error = translate(failure(code, reason, domain=domain), OP, snapshot_id="fss-1")
    assert is_not_found(error) is expected


def test_is_not_found_is_false_for_foreign_exceptions() -> None:
    assert is_not_found(ValueError("NOT_FOUND")) is False


# ---------------------------------------------------------------------------------------------
# decoding grpc-status-details-bin (AIP-193)


def _packed(*messages: object) -> bytes:
    status = status_pb2.Status(code=8, message="x")
    for message in messages:
        packed = any_pb2.Any()
        packed.Pack(message)  # type: ignore[arg-type]
        status.details.append(packed)
    return status.SerializeToString()


def _rpc_error(code: grpc.StatusCode, trailing: list[tuple[str, object]]) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(*trailing),
                                details="server said no")


def _delay(seconds: float) -> error_details_pb2.RetryInfo:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(int(seconds * 1e9))
    return error_details_pb2.RetryInfo(retry_delay=duration)


def test_failure_from_reads_error_info_retry_info_and_violations() -> None:
    info = error_details_pb2.ErrorInfo(reason="CWSANDBOX_FSS_BACKEND_THROTTLED", domain=TRUSTED,
                                       metadata={"file_system_snapshot_id": "fss-1"})
    bad = error_details_pb2.BadRequest()
    bad.field_violations.add(field="page_size", description="must not be negative")
    decoded = failure_from(_rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                      [("grpc-status-details-bin", _packed(info, _delay(1.25),
                                                                           bad))]))
    assert decoded.code == "RESOURCE_EXHAUSTED" and decoded.details == "server said no"
    assert decoded.reason == "CWSANDBOX_FSS_BACKEND_THROTTLED" and decoded.domain == TRUSTED
    assert dict(decoded.metadata) == {"file_system_snapshot_id": "fss-1"}
    assert decoded.retry_delay == 1.25
    assert decoded.violations == (e.FieldViolation("page_size", "must not be negative"),)


def test_failure_from_skips_an_undecodable_blob_and_empty_reasons() -> None:
    empty = error_details_pb2.ErrorInfo(reason="", domain=TRUSTED)
    real = error_details_pb2.ErrorInfo(reason="CWSANDBOX_FSS_NOT_READY", domain=TRUSTED)
    decoded = failure_from(_rpc_error(grpc.StatusCode.FAILED_PRECONDITION, [
        ("grpc-status-details-bin", b"\xff\xfe not a status"),
        ("grpc-status-details-bin", _packed(empty, real)),
    ]))
    assert decoded.reason == "CWSANDBOX_FSS_NOT_READY"
    assert isinstance(translate(decoded, OP), e.SnapshotNotReadyError)


def test_failure_from_without_details_maps_by_code_only() -> None:
    decoded = failure_from(_rpc_error(grpc.StatusCode.UNAVAILABLE, []))
    assert decoded.reason is None and decoded.retry_delay is None
    assert type(translate(decoded, OP)) is e.UnavailableError


def test_failure_from_ignores_a_retry_info_without_a_delay() -> None:
    decoded = failure_from(_rpc_error(grpc.StatusCode.UNAVAILABLE, [
        ("grpc-status-details-bin", _packed(error_details_pb2.RetryInfo()))]))
    assert decoded.retry_delay is None
