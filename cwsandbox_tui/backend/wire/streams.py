"""A call's stream of incoming messages as the engine's sessions read it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeVar

import grpc

T = TypeVar("T")


async def client_input(requests: AsyncIterator[T]) -> AsyncIterator[T]:
    """The messages of `requests`; the call failing under it is a ConnectionResetError, which
    the engine's exec and terminal sessions take as the end of input (they know no gRPC)."""
    try:
        async for message in requests:
            yield message
    except grpc.aio.AioRpcError as error:
        raise ConnectionResetError(f"the client's stream failed: {error.code().name}") from error
