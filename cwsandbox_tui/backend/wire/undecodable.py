"""Request bytes that do not decode as the method's message: INVALID_ARGUMENT, no traceback.

gRPC decodes a request with the method's deserializer (the generated `FromString`) before
the servicer runs. When that raises, grpc.aio logs a traceback and answers UNKNOWN
("Unexpected <class 'DecodeError'>"), or, for a message of a request stream, the servicer's
read fails and it answers INTERNAL. The gate (gate.py) gives every method a deserializer
that returns an `Undecodable` instead of raising, and ends the call with INVALID_ARGUMENT
where one arrives; the generated modules stay as protoc made them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from ..errors import ApiError, invalid


@dataclass(frozen=True)
class Undecodable:
    """Bytes received where a request message was expected, that are not one."""

    size: int
    expected: str  # the message's full name, or "" where the deserializer does not say


def tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """`deserializer`, answering `Undecodable` where it would raise."""
    if deserializer is None:
        return None
    owner = getattr(deserializer, "__self__", None)  # FromString is bound to the class
    descriptor = getattr(owner, "DESCRIPTOR", None)
    expected = str(getattr(descriptor, "full_name", ""))

    def decode(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception:  # DecodeError, or whatever a parser raises on garbage
            return Undecodable(len(raw), expected)

    return decode


def corrupt_request(found: Undecodable) -> ApiError:
    what = f"a {found.expected} message" if found.expected else "the method's request message"
    return invalid("request", f"{found.size} bytes that do not decode as {what}")


class GuardedRequests:
    """A call's request stream as its servicer reads it: an undecodable message ends the read
    with the INVALID_ARGUMENT error, which the servicer answers when it read in the call's own
    task. A helper task of the servicer (one pumping stdin, one watching for a close frame)
    may swallow the error, so then the call's task is cancelled and `Gate` turns that into
    the same answer (see `interrupts`)."""

    def __init__(self, requests: AsyncIterator[Any]) -> None:
        self._requests = requests
        self._task = asyncio.current_task()
        self.error: ApiError | None = None
        self.waiting_on_servicer = False  # the call's task is inside the servicer's code

    def __aiter__(self) -> GuardedRequests:
        return self

    async def __anext__(self) -> Any:
        message = await anext(self._requests)
        if not isinstance(message, Undecodable):
            return message
        self.error = corrupt_request(message)
        task = self._task
        if task is not None and task is not asyncio.current_task() and self.waiting_on_servicer:
            task.cancel()
        raise self.error

    def interrupts(self) -> bool:
        """Whether a cancellation of the call's task was this guard's doing (then it is taken
        back, and the call is to end with `error`)."""
        if self.error is None:
            return False
        if self._task is not None:
            self._task.uncancel()
        return True
