"""Errors the backend answers with, carrying AIP-193 details in `grpc-status-details-bin`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

DOMAIN = "cwsandbox.com"
log = logging.getLogger("cwsandbox_tui.backend")


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


@dataclass
class ApiError(Exception):
    """An error that ends an RPC with a status code and structured details."""

    code: grpc.StatusCode
    message: str
    reason: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    retry_delay: float | None = None
    violations: tuple[FieldViolation, ...] = ()

    def __str__(self) -> str:
        return self.message

    def status_details(self) -> bytes:
        status = status_pb2.Status(code=self.code.value[0], message=self.message)
        if self.reason:
            info = error_details_pb2.ErrorInfo(reason=self.reason, domain=DOMAIN)
            info.metadata.update(self.metadata)
            _pack(status, info)
        if self.retry_delay is not None:
            delay = duration_pb2.Duration()
            delay.FromNanoseconds(int(self.retry_delay * 1e9))
            _pack(status, error_details_pb2.RetryInfo(retry_delay=delay))
        if self.violations:
            bad = error_details_pb2.BadRequest()
            for v in self.violations:
                bad.field_violations.add(field=v.field, description=v.description)
            _pack(status, bad)
        return status.SerializeToString()

    async def abort(self, context: grpc.aio.ServicerContext) -> None:
        context.set_trailing_metadata((("grpc-status-details-bin", self.status_details()),))
        await context.abort(self.code, self.message)


def _pack(status: status_pb2.Status, message: object) -> None:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    status.details.append(packed)


def invalid(field_name: str, description: str) -> ApiError:
    """INVALID_ARGUMENT naming the field and what is wrong with it."""
    return ApiError(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"{field_name}: {description}",
        violations=(FieldViolation(field_name, description),),
    )


def not_offered(field_name: str, description: str, reason: str = "CWSANDBOX_NOT_IMPLEMENTED",
                code: grpc.StatusCode = grpc.StatusCode.UNIMPLEMENTED) -> ApiError:
    """What the service itself does not implement (or this machine cannot), in the service's
    words: its status and ErrorInfo reason, and the field as a violation."""
    return ApiError(code, f"{field_name}: {description}", reason=reason,
                    violations=(FieldViolation(field_name, description),))


def sandbox_not_found(sandbox_id: str) -> ApiError:
    return ApiError(
        grpc.StatusCode.NOT_FOUND,
        f"sandbox {sandbox_id!r} not found",
        reason="CWSANDBOX_SANDBOX_NOT_FOUND",
        metadata={"sandbox_id": sandbox_id},
    )


def snapshot_not_found(snapshot_id: str) -> ApiError:
    return ApiError(
        grpc.StatusCode.NOT_FOUND,
        f"file-system snapshot {snapshot_id!r} not found",
        reason="CWSANDBOX_FSS_NOT_FOUND",
        metadata={"file_system_snapshot_id": snapshot_id},
    )


def precondition(message: str, reason: str | None = None, **metadata: str) -> ApiError:
    return ApiError(grpc.StatusCode.FAILED_PRECONDITION, message, reason=reason, metadata=metadata)


async def internal_error(context: grpc.aio.ServicerContext) -> None:
    """The last resort for an exception nothing expected: logged whole, answered in general.

    Call it from an `except` block; the answer names no path and no value of the request.
    """
    log.exception("unexpected error while serving a call")
    await ApiError(grpc.StatusCode.INTERNAL,
                   "internal error in the local backend (details are in its log)").abort(context)
