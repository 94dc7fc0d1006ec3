"""A failed call's gRPC status, read into our errors' terms (both generations alike).

The status and its AIP-193 details (ErrorInfo, RetryInfo, BadRequest) become an
`errors.RpcFailure`, which errors.py translates; `unreached` marks a failure the server
never saw.
"""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2, status_pb2

from . import errors


def unreached(translated: errors.CwsError, error: grpc.aio.AioRpcError,
              channel: grpc.aio.Channel) -> errors.CwsError:
    """Mark an UNAVAILABLE that came while no connection stood (refused, unreachable, no such
    host): the server never saw the call. One it sent itself comes over a READY connection."""
    if error.code() == grpc.StatusCode.UNAVAILABLE \
            and channel.get_state() != grpc.ChannelConnectivity.READY:
        translated.unreached = True
    return translated


def failure_from(error: grpc.aio.AioRpcError) -> errors.RpcFailure:
    """Decode the status and its AIP-193 details (first ErrorInfo / RetryInfo wins)."""
    reason: str | None = None
    domain = ""
    metadata: tuple[tuple[str, str], ...] = ()
    delay: float | None = None
    violations: list[errors.FieldViolation] = []
    for key, value in error.trailing_metadata() or ():
        if key.lower() != "grpc-status-details-bin" or not isinstance(value, bytes):
            continue
        status = status_pb2.Status()
        try:
            status.ParseFromString(value)
        except Exception:  # an undecodable blob is skipped, as the SDK does
            continue
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            retry = error_details_pb2.RetryInfo()
            bad = error_details_pb2.BadRequest()
            if detail.Is(info.DESCRIPTOR) and detail.Unpack(info) and info.reason and not reason:
                reason, domain, metadata = info.reason, info.domain, tuple(info.metadata.items())
            elif detail.Is(retry.DESCRIPTOR) and detail.Unpack(retry) and delay is None \
                    and retry.HasField("retry_delay"):
                delay = retry.retry_delay.ToNanoseconds() / 1e9
            elif detail.Is(bad.DESCRIPTOR) and detail.Unpack(bad):
                violations += [errors.FieldViolation(v.field, v.description)
                               for v in bad.field_violations]
    return errors.RpcFailure(code=error.code().name, details=error.details() or "",
                             reason=reason, domain=domain, metadata=metadata, retry_delay=delay,
                             violations=tuple(violations))
