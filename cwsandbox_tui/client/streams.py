"""Exec, shell and log streams, written once for every API generation.

Both generations send an exec as an init, then input (or a resize), then a close, and
answer with output, an exit or an in-band error; a log stream answers with chunks, an
in-band error, or (v1beta2) a last "complete" frame. How a generation spells those
messages is its codec (`ExecCodec`, a log frame decoder), which its adapter module defines;
the order, the chunking, the ends and the errors are here.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import grpc

from . import errors
from .failures import failure_from
from .models import ExecExit, ExecOutput, LogChunk, TerminalInput

STDIN_CHUNK = 65536  # bytes of an exec's input a message carries at most


@dataclass(frozen=True)
class Refusal:
    """An in-band error frame of a stream: the server's code and message."""

    code: str
    message: str


class LogEnd(Enum):
    """A log frame that carries no chunk."""

    COMPLETE = "complete"  # the log is whole: the stream ends
    OTHER = "other"  # a frame this client does not read


@dataclass(frozen=True)
class ExecCodec:
    """How one generation spells an exec stream's messages: its generated classes (both
    name their fields alike) and the two places where they differ."""

    request: Callable[..., Any]  # ExecStreamRequest, a oneof of the four below
    init: Callable[..., Any]  # ExecStreamInit
    close: Callable[[], Any]  # ExecStreamClose
    resize: Callable[..., Any]  # ExecStreamResize
    stdin: Callable[[bytes], Any]  # input bytes -> the request's `stdin`
    oneof: str  # the name of the answers' oneof (its cases: output, exit, error)
    is_stderr: Callable[[Any], bool]  # an output frame's: does it carry stderr?

    def first(self, sandbox_id: str, argv: Sequence[str], tty: tuple[int, int] | None,
              env: Mapping[str, str]) -> Any:
        columns, rows = tty or (0, 0)
        return self.request(init=self.init(sandbox_id=sandbox_id, command=list(argv),
                                           tty=tty is not None, tty_width=columns,
                                           tty_height=rows, env=env))

    def input(self, data: bytes) -> Any:
        return self.request(stdin=self.stdin(data))

    def end(self) -> Any:
        return self.request(close=self.close())

    def size(self, columns: int, rows: int) -> Any:
        return self.request(resize=self.resize(width=columns, height=rows))


# Opens a streaming call given its requests (a unary-stream call ignores them).
OpenExec = Callable[[AsyncIterator[Any]], Any]


def _frame(codec: ExecCodec, reply: Any) -> ExecOutput | ExecExit | Refusal | None:
    kind = reply.WhichOneof(codec.oneof)
    if kind == "output":
        return ExecOutput("stderr" if codec.is_stderr(reply.output) else "stdout",
                          reply.output.data)
    if kind == "exit":
        return ExecExit(reply.exit.exit_code)
    if kind == "error":
        return Refusal(reply.error.code, reply.error.message)
    return None


async def _exec_frames(call: Any, codec: ExecCodec, op: str, sandbox_id: str
                       ) -> AsyncIterator[ExecOutput | ExecExit]:
    """What the answer stream `call` shows, then its exit; a stream that ends without one
    is an error."""
    try:
        async for reply in call:
            frame = _frame(codec, reply)
            if isinstance(frame, Refusal):
                raise errors.SandboxError(f"{op} failed ({frame.code}): {frame.message}",
                                          reason=frame.code)
            if frame is not None:
                yield frame
                if isinstance(frame, ExecExit):
                    return
    except grpc.aio.AioRpcError as error:
        raise errors.translate(failure_from(error), op, sandbox_id=sandbox_id) from None
    finally:
        call.cancel()
    raise errors.SandboxError(f"{op} failed: the stream ended without an exit status")


async def exec_stream(open_call: OpenExec, codec: ExecCodec, sandbox_id: str,
                      argv: Sequence[str], stdin: bytes | None
                      ) -> AsyncIterator[ExecOutput | ExecExit]:
    """A command's output as it comes, then its exit; `stdin` is sent first, then closed."""
    async def requests() -> AsyncIterator[Any]:
        yield codec.first(sandbox_id, argv, None, {})
        if stdin:
            for start in range(0, len(stdin), STDIN_CHUNK):
                yield codec.input(stdin[start:start + STDIN_CHUNK])
            yield codec.end()

    async for frame in _exec_frames(open_call(requests()), codec, "Exec", sandbox_id):
        yield frame


async def tty_stream(open_call: OpenExec, codec: ExecCodec, sandbox_id: str,
                     argv: Sequence[str], *, width: int, height: int,
                     inbox: asyncio.Queue[TerminalInput | None]
                     ) -> AsyncIterator[bytes | ExecExit]:
    """A TTY exec: what `inbox` holds is typed or resized; yields what the terminal shows,
    then its exit. None in the inbox ends the input side."""
    async def requests() -> AsyncIterator[Any]:
        yield codec.first(sandbox_id, argv, (width, height),
                          {"TERM": os.environ.get("TERM", "xterm-256color")})
        while (item := await inbox.get()) is not None:
            if item.resize is not None:
                columns, rows = item.resize
                yield codec.size(columns, rows)
            if item.data:
                yield codec.input(item.data)

    async for frame in _exec_frames(open_call(requests()), codec, "Shell", sandbox_id):
        yield frame.data if isinstance(frame, ExecOutput) else frame


async def log_stream(open_call: Callable[[], Any], decode: Callable[[Any], LogChunk | Refusal
                                                                    | LogEnd],
                     sandbox_id: str) -> AsyncIterator[LogChunk]:
    """A sandbox's log chunks as they come; a cancelled stream just ends."""
    call = open_call()
    try:
        async for reply in call:
            item = decode(reply)
            if isinstance(item, Refusal):
                raise errors.LogStreamError(f"Logs failed ({item.code}): {item.message}",
                                            reason=item.code)
            if item is LogEnd.COMPLETE:
                return
            if isinstance(item, LogChunk):
                yield item
    except grpc.aio.AioRpcError as error:
        if error.code() == grpc.StatusCode.CANCELLED:
            return
        raise errors.translate(failure_from(error), "Stream logs", sandbox_id=sandbox_id) from None
    finally:
        call.cancel()
