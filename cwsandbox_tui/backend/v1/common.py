"""What every v1 servicer shares: running a call with its errors as gRPC statuses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from ..errors import ApiError, BadField, Code, invalid
from ..wire.errors import abort, internal_error
from ..wire.limits import check_request

T = TypeVar("T")


async def call(context: grpc.aio.ServicerContext, work: Callable[[], Awaitable[T]],
               fields: dict[str, str] | None = None, *, request: Message) -> T:
    """Check `request` against the edge limits, then run `work`; an ApiError ends the call
    as a status with its details, anything unexpected as INTERNAL naming nothing.

    `fields` renames the engine's (v1beta2) field names in a violation to this request's.
    """
    try:
        check_request(request)
        return await work()
    except ApiError as error:
        if fields and error.violations:
            error = rename_fields(error, fields)
        await abort(error, context)
        raise  # abort() raises; never reached
    except (asyncio.CancelledError, grpc.aio.AbortError):
        raise
    except Exception:
        await internal_error(context)
        raise


def rename_fields(error: ApiError, fields: dict[str, str]) -> ApiError:
    violations = tuple(BadField(fields.get(v.field, v.field), v.description)
                       for v in error.violations)
    message = error.message
    for old, new in fields.items():
        if message.startswith(f"{old}:"):
            message = new + message[len(old):]
    return ApiError(error.code, message, error.reason, error.metadata, error.retry_delay,
                    violations)


def required(value: str, field_name: str) -> str:
    if not value:
        raise invalid(field_name, "is required")
    return value


def not_implemented(what: str) -> ApiError:
    return ApiError(Code.UNIMPLEMENTED,
                    f"{what} is not offered by the local backend",
                    reason="CWSANDBOX_NOT_IMPLEMENTED")


def refuse(service: type, *methods: str) -> None:
    """Answer each of `methods` with UNIMPLEMENTED plus ErrorInfo (not a bare default)."""
    for name in methods:
        async def method(self: Any, request: Any, context: grpc.aio.ServicerContext,
                         _name: str = name) -> Any:
            await abort(not_implemented(_name), context)

        method.__name__ = name
        setattr(service, name, method)


def refuse_streams(service: type, *methods: str) -> None:
    """`refuse` for streaming methods, which are async generators (as the gate drives them)."""
    for name in methods:
        async def method(self: Any, request: Any, context: grpc.aio.ServicerContext,
                         _name: str = name) -> AsyncIterator[Any]:
            await abort(not_implemented(_name), context)
            yield  # never reached: abort() raises

        method.__name__ = name
        setattr(service, name, method)
