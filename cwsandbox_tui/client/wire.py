"""What every API generation's adapter does alike on the wire, written once.

The channel and its options, enum mapping by name, and `Wire`: the base of each adapter,
which sends a unary call with the connection's metadata and translates its failure, and
runs exec and shell streams with the adapter's codec (streams.py). Nothing here touches a
generation's generated classes; each adapter module does that for its own generation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, ClassVar, TypeVar

import grpc

from . import errors, streams
from .failures import failure_from, unreached
from .models import ExecExit, ExecOutput, TerminalInput

T = TypeVar("T")
MAX_MESSAGE_BYTES = 100 * 2**20


def _keep_alive_options() -> list[tuple[str, int]]:
    return [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_permit_without_calls", 0)]


def open_channel(target: str, tls: bool, root_certificates: bytes | None) -> grpc.aio.Channel:
    if tls:
        credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
        return grpc.aio.secure_channel(target, credentials, options=_keep_alive_options())
    return grpc.aio.insecure_channel(target, options=_keep_alive_options())


def enum_map(enum_type: Any, prefix: str, model: Any, renames: dict[str, str] | None = None
             ) -> dict[int, Any]:
    """Wire number -> our enum member, by name (after `renames`); numbers whose names we do
    not know are left out (the caller maps them to UNSPECIFIED)."""
    members = {m.value for m in model}
    out = {}
    for name, number in enum_type.items():
        short = name.removeprefix(prefix).lower()
        short = (renames or {}).get(short, short)
        if short in members:
            out[number] = model(short)
    return out


class Wire:
    """The base of an adapter: one channel, its metadata, its calls' failures as our errors."""

    api_version: ClassVar[str]
    other_api: ClassVar[str]  # the generation to suggest when a call is not offered
    exec_codec: ClassVar[streams.ExecCodec]

    def __init__(self, channel: grpc.aio.Channel, metadata: Sequence[tuple[str, str]],
                 stream_exec: Callable[..., Any]) -> None:
        """`stream_exec`: the generation's StreamExec method on `channel`."""
        self._channel = channel
        self._metadata = tuple(metadata)
        self._stream_exec = stream_exec

    def exec(self, sandbox_id: str, argv: Sequence[str], timeout: float | None,
             stdin: bytes | None = None) -> AsyncIterator[ExecOutput | ExecExit]:
        return streams.exec_stream(
            lambda requests: self._stream_exec(requests, timeout=timeout,
                                               metadata=self._metadata),
            self.exec_codec, sandbox_id, argv, stdin)

    def terminal(self, sandbox_id: str, argv: Sequence[str], *, width: int, height: int,
                 inbox: asyncio.Queue[TerminalInput | None]) -> AsyncIterator[bytes | ExecExit]:
        """A TTY exec (`init.tty`): see `streams.tty_stream`."""
        return streams.tty_stream(
            lambda requests: self._stream_exec(requests, metadata=self._metadata),
            self.exec_codec, sandbox_id, argv, width=width, height=height, inbox=inbox)

    async def close(self, grace: float | None = None) -> None:
        """Close the channel; with `grace`, calls in flight may finish first."""
        await self._channel.close(grace)

    async def _unary(self, op: str, call: Callable[..., Awaitable[T]], request: Any,
                     timeout: float | None, *, snapshot_id: str | None = None,
                     sandbox_id: str | None = None) -> T:
        try:
            return await call(request, timeout=timeout, metadata=self._metadata)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.UNIMPLEMENTED:
                raise errors.SandboxError(
                    f"{op} failed: the endpoint does not offer it in "
                    f"coreweave.sandbox.{self.api_version} ({error.details()}); if it speaks "
                    f"{self.other_api}, use --api {self.other_api} or --api auto",
                    code="UNIMPLEMENTED") from None
            raise unreached(errors.translate(failure_from(error), op, snapshot_id=snapshot_id,
                                             sandbox_id=sandbox_id), error, self._channel) from None

    async def _discover(self, op: str, call: Callable[..., Awaitable[T]], request: Any,
                        timeout: float, kind: str) -> T:
        try:
            return await call(request, timeout=timeout, metadata=self._metadata)
        except grpc.aio.AioRpcError as error:
            raise errors.translate(failure_from(error), op, discovery=kind) from None
