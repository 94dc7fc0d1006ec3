"""The interceptor every call passes: authentication, then injected faults; and request
bytes that do not decode are answered INVALID_ARGUMENT (undecodable.py)."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from ..errors import ApiError, Code
from ..faults import Decision, FaultPlan
from .errors import abort
from .undecodable import GuardedRequests, Undecodable, corrupt_request, tolerant


class Gate(grpc.aio.ServerInterceptor):
    """With a key set, a call must carry it in one of the official SDK's two forms:
    `authorization: Bearer <key>` (CoreWeave API key) or `x-wandb-api-key: <key>` together
    with a non-empty `x-entity-id` (its W&B credentials)."""

    def __init__(self, faults: FaultPlan, api_key: str | None) -> None:
        self.faults = faults
        self._bearer = f"Bearer {api_key}".encode() if api_key else None
        self._key = api_key.encode() if api_key else None

    def _authorized(self, metadata: Any) -> bool:
        if self._bearer is None or self._key is None:
            return True
        headers: dict[str, bytes] = {}
        for key, value in metadata or ():
            headers.setdefault(key, value.encode() if isinstance(value, str) else value)
        if "authorization" in headers:
            return hmac.compare_digest(headers["authorization"], self._bearer)
        if "x-wandb-api-key" in headers:
            return (hmac.compare_digest(headers["x-wandb-api-key"], self._key)
                    and bool(headers.get("x-entity-id", b"").strip()))
        return False

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        method = details.method.rsplit("/", 1)[-1]
        authorized = self._authorized(details.invocation_metadata)
        decode = tolerant(handler.request_deserializer)
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
                decision = await self._admit(method, authorized, context)
                if isinstance(request, Undecodable):
                    await abort(corrupt_request(request), context)
                response = await inner(request, context)
                if decision.lose_response:
                    await abort(FaultPlan.lost_response_error(method), context)
                return response

            return handler._replace(unary_unary=unary, request_deserializer=decode)
        if handler.unary_stream is not None:  # server-streaming (v1 StreamLogs)
            inner_server_stream = handler.unary_stream

            async def server_stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
                await self._admit(method, authorized, context)
                if isinstance(request, Undecodable):
                    await abort(corrupt_request(request), context)
                async for item in inner_server_stream(request, context):
                    yield item

            return handler._replace(unary_stream=server_stream, request_deserializer=decode)
        if handler.stream_stream is not None:
            inner_stream = handler.stream_stream

            async def stream(requests: Any, context: grpc.aio.ServicerContext) -> Any:
                decision = await self._admit(method, authorized, context, requests)
                guarded = GuardedRequests(requests)
                replies = inner_stream(guarded, context).__aiter__()
                sent = 0
                while True:
                    if guarded.error is None:  # (read while this task was sending)
                        try:
                            guarded.waiting_on_servicer = True
                            item = await anext(replies)
                        except StopAsyncIteration:
                            break
                        except asyncio.CancelledError:
                            if not guarded.interrupts():
                                raise
                        except ApiError as error:
                            if error is not guarded.error:
                                raise
                        finally:
                            guarded.waiting_on_servicer = False
                    if guarded.error is not None:
                        await replies.aclose()
                        await abort(guarded.error, context)
                    if decision.cut_after is not None and sent >= decision.cut_after:
                        await abort(ApiError(Code.UNAVAILABLE,
                                             f"injected fault: {method} stream cut"), context)
                    yield item
                    sent += 1

            return handler._replace(stream_stream=stream, request_deserializer=decode)
        return handler

    async def _admit(self, method: str, authorized: bool, context: grpc.aio.ServicerContext,
                     requests: Any = None) -> Decision:
        """Refuse an unauthenticated call, then apply the fault plan's latency and error.
        A stream's refusal first takes its client's first message (see `_first_taken`)."""
        if not authorized:
            await _first_taken(requests)
            await abort(ApiError(Code.UNAUTHENTICATED,
                                 "missing or wrong API key (send 'authorization: Bearer <key>', "
                                 "or W&B's 'x-wandb-api-key: <key>' with 'x-entity-id: <entity>')"
                                 ), context)
        decision = self.faults.decide(method)
        while decision.held is not None and not decision.held.is_set():
            await asyncio.sleep(0.01)  # set from any thread: polled, not awaited
        if decision.latency:
            await asyncio.sleep(decision.latency)
        if decision.error is not None:
            await _first_taken(requests)
            await abort(decision.error, context)
        return decision


REFUSAL_READ_WAIT = 1.0  # seconds a refused stream's first message is waited for


async def _first_taken(requests: Any) -> None:
    """Read (and drop) a stream's first request before refusing it. A client sends it at
    once; a status that overtook it made grpc's asyncio client report its failed write,
    INTERNAL "Failed execute_batch", in place of the status (grpc/grpc#36066)."""
    if requests is None:
        return
    try:
        await asyncio.wait_for(anext(aiter(requests)), REFUSAL_READ_WAIT)
    except Exception:  # noqa: BLE001 - refused whatever it sent (or nothing)
        return
