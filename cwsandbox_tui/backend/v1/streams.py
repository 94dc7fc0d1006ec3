"""v1 `StreamExec` (bidi), `StreamLogs` (server-streaming) and unary `Exec`.

Exec frames: `ready`, then `output{stream, data}`, then exactly one `exit` (SDK 1.x treats a
stream that ends without one as an error); with `init.tty` the command runs on a
pseudo-terminal (`Sandbox.shell()`), resize frames change its window and all it shows comes
as stdout. Logs: `LogEntry`s carrying the sandbox's log session id and the cumulative offset
after each entry, each line prefixed with its time when `timestamps` is asked; a request
without `follow` ends the stream after the history (v1 has no `complete` frame).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import grpc

from ...proto.v1 import sandbox_pb2 as pb
from ..engine import Engine
from ..errors import ApiError, invalid
from ..exec_session import ExecEvent, Exited, Output, Started, exit_code, run_exec
from ..logbook import TimePrefix
from ..store import SandboxRow
from ..terminal import EndOfInput, Resize, TtyInput, check_window, tty_session
from ..wire.errors import abort, internal_error
from ..wire.limits import check_request
from ..wire.streams import client_input
from . import convert
from .common import required

_STDOUT = pb.ExecStreamOutput.STREAM_STDOUT
_STDERR = pb.ExecStreamOutput.STREAM_STDERR
DEFAULT_MAX_OUTPUT_BYTES = 16 * 2**20


def check_container(row: SandboxRow, name: str, field_name: str = "container") -> None:
    own = row.spec.container_name or convert.DEFAULT_CONTAINER
    if name and name != own:
        raise invalid(field_name, f"sandbox {row.id!r} has no container named {name!r} "
                                  f"(its one container is {own!r})")


def log_session_id(sandbox_id: str) -> str:
    """One log session per sandbox: offsets count from its first byte, so any resume works."""
    return f"{sandbox_id}.log"


async def stream_exec(engine: Engine, requests: AsyncIterator[pb.ExecStreamRequest],
                      context: Any) -> AsyncIterator[pb.ExecStreamResponse]:
    try:
        first = await anext(requests, None)
        if first is None or first.WhichOneof("message") != "init":
            raise invalid("init", "the first message of StreamExec must be init")
        check_request(first)
        init = first.init
        sandbox_id = required(init.sandbox_id, "init.sandbox_id")
        if not init.command:
            raise invalid("init.command", "is required")
        check_container(engine.get(sandbox_id), init.container, "init.container")
        if init.tty:
            check_window(init.tty_width, init.tty_height)
        live = await engine.running_sandbox(sandbox_id)
        try:
            if init.tty:
                session: AsyncGenerator[ExecEvent, None] = tty_session(
                    engine.runtime, live, list(init.command), dict(init.env), init.tty_width,
                    init.tty_height, _tty_input_of(requests))
                opening: ExecEvent | None = await anext(session)
            else:
                proc = await engine.runtime.start_exec(live, list(init.command), dict(init.env))
                session = run_exec(engine.runtime, live, proc, _stdin_of(requests))
                opening = None  # run_exec starts when read
        except OSError as exc:
            yield pb.ExecStreamResponse(error=pb.ExecStreamError(
                code="EXEC_START_FAILED", message=f"could not start {init.command[0]!r}: {exc}"))
            return
    except ApiError as error:
        await abort(error, context)
        return
    except (asyncio.CancelledError, grpc.aio.AbortError):
        raise
    except Exception:
        await internal_error(context)
        return
    async with contextlib.aclosing(session):  # the process ends when the call does
        event = opening if opening is not None else await anext(session, None)
        while event is not None:
            if isinstance(event, Started):
                ready = pb.ExecStreamResponse()
                convert.stamp(ready.ready.ready_time, event.at)
                yield ready
            elif isinstance(event, Output):
                yield pb.ExecStreamResponse(output=pb.ExecStreamOutput(
                    stream=_STDERR if event.stderr else _STDOUT, data=event.data))
            elif isinstance(event, Exited):
                exit_frame = pb.ExecStreamExit(exit_code=event.code)
                convert.stamp(exit_frame.completed_time, event.at)
                yield pb.ExecStreamResponse(exit=exit_frame)
            else:
                yield pb.ExecStreamResponse(error=pb.ExecStreamError(
                    code="STREAM_BACKPRESSURE",
                    message=f"output was not read for {event.seconds:g} s; "
                            "the command was stopped and the rest of its output dropped"))
            event = await anext(session, None)


async def _tty_input_of(requests: AsyncIterator[pb.ExecStreamRequest]
                        ) -> AsyncIterator[TtyInput]:
    async for message in client_input(requests):
        kind = message.WhichOneof("message")
        if kind == "stdin":
            yield message.stdin
        elif kind == "resize":
            yield Resize(message.resize.width, message.resize.height)
        elif kind == "close":
            yield EndOfInput()


async def _stdin_of(requests: AsyncIterator[pb.ExecStreamRequest]) -> AsyncIterator[bytes]:
    """The bytes typed into a StreamExec, until a close frame or the client's half-close."""
    async for message in client_input(requests):
        kind = message.WhichOneof("message")
        if kind == "stdin":
            yield message.stdin
        elif kind == "close":
            return


async def exec_once(engine: Engine, request: pb.ExecRequest) -> pb.ExecResponse:
    sandbox_id = required(request.sandbox_id, "sandbox_id")
    if not request.command:
        raise invalid("command", "is required")
    if request.max_output_bytes < 0:
        raise invalid("max_output_bytes", "must not be negative")
    check_container(engine.get(sandbox_id), request.container)
    limit = request.max_output_bytes or DEFAULT_MAX_OUTPUT_BYTES
    live = await engine.running_sandbox(sandbox_id)
    proc = await engine.runtime.start_exec(live, list(request.command), dict(request.env))
    try:
        stdout, stderr = await proc.communicate(b"")
    finally:
        engine.runtime.end_exec(live, proc)
    return pb.ExecResponse(
        stdout=stdout[:limit], stderr=stderr[:limit], exit_code=exit_code(proc.returncode or 0),
        stdout_truncated=len(stdout) > limit, stderr_truncated=len(stderr) > limit,
        stdout_bytes_produced=len(stdout), stderr_bytes_produced=len(stderr))


async def stream_logs(engine: Engine, request: pb.StreamLogsRequest, context: Any
                      ) -> AsyncIterator[pb.LogEntry]:
    try:
        check_request(request)
        sandbox_id = required(request.sandbox_id, "sandbox_id")
        if request.tail_lines < 0:
            raise invalid("tail_lines", "must not be negative")
        check_container(engine.get(sandbox_id), request.container)
    except ApiError as error:
        await abort(error, context)
        return
    except (asyncio.CancelledError, grpc.aio.AbortError):
        raise
    except Exception:
        await internal_error(context)
        return
    session = log_session_id(sandbox_id)
    if request.resume_log_session_id and request.resume_log_session_id != session:
        yield pb.LogEntry(error=pb.LogStreamError(
            code="SESSION_NOT_FOUND",
            message="resume_log_session_id names no log session of this sandbox"))
        return
    resuming = bool(request.resume_log_session_id)
    since = (request.since_time.ToNanoseconds() / 1e9
             if request.HasField("since_time") and not resuming else None)
    book = engine.runtime.logbook_for(sandbox_id)
    stamped = TimePrefix() if request.timestamps else None
    async for line in book.lines(follow=request.follow,
                                 tail=0 if resuming else request.tail_lines, since=since,
                                 skip_bytes=request.resume_log_offset if resuming else 0):
        data = stamped(line) if stamped else line.data  # (SDK 1.22.0 passes `data` on)
        entry = pb.LogEntry(data=data, log_session_id=session, next_log_offset=line.offset)
        convert.stamp(entry.timestamp, line.timestamp)
        yield entry
