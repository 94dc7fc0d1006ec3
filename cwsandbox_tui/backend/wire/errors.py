"""The engine's `ApiError` answered on gRPC: its status code, and AIP-193 details (ErrorInfo,
RetryInfo, BadRequest) in `grpc-status-details-bin`, the same for both API generations."""

from __future__ import annotations

import logging

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

from ..errors import ApiError, Code

DOMAIN = "cwsandbox.com"
log = logging.getLogger("cwsandbox_tui.backend")

STATUS_OF: dict[Code, grpc.StatusCode] = {code: grpc.StatusCode[code.name] for code in Code}


def status_details(error: ApiError) -> bytes:
    """The encoded `google.rpc.Status` of `error`, with its details."""
    status = status_pb2.Status(code=STATUS_OF[error.code].value[0], message=error.message)
    if error.reason:
        info = error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN)
        info.metadata.update(error.metadata)
        _pack(status, info)
    if error.retry_delay is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(error.retry_delay * 1e9))
        _pack(status, error_details_pb2.RetryInfo(retry_delay=delay))
    if error.violations:
        bad = error_details_pb2.BadRequest()
        for v in error.violations:
            bad.field_violations.add(field=v.field, description=v.description)
        _pack(status, bad)
    return status.SerializeToString()


async def abort(error: ApiError, context: grpc.aio.ServicerContext) -> None:
    """End the call with `error` (raises, as `context.abort` does)."""
    context.set_trailing_metadata((("grpc-status-details-bin", status_details(error)),))
    await context.abort(STATUS_OF[error.code], error.message)


def _pack(status: status_pb2.Status, message: object) -> None:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    status.details.append(packed)


async def internal_error(context: grpc.aio.ServicerContext) -> None:
    """The last resort for an exception nothing expected: logged whole, answered in general.

    Call it from an `except` block; the answer names no path and no value of the request.
    """
    log.exception("unexpected error while serving a call")
    await abort(ApiError(Code.INTERNAL,
                         "internal error in the local backend (details are in its log)"), context)
