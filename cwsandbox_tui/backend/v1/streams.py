"""v1 `StreamExec` (bidi), `StreamLogs` (server-streaming) and unary `Exec`.

Exec frames: `ready`, then `output{stream, data}`, then exactly one `exit` (SDK 1.x treats a
stream that ends without one as an error). Logs: `LogEntry`s carrying the sandbox's log
session id and the cumulative offset after each entry; a request without `follow` ends the
stream after the history (v1 has no `complete` frame).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from ...proto.v1 import sandbox_pb2 as pb
from ..engine import Engine
from ..errors import ApiError, internal_error, invalid
from ..limits import check_request
from ..store import SandboxRow
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


def _now() -> Any:
    stamp = pb.ExecStreamReady().ready_time
    convert.stamp(stamp, time.time())
    return stamp


def _exit_code(code: int) -> int:
    return code if code >= 0 else 128 - code


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
        live = await engine.running_sandbox(sandbox_id)
        try:
            proc = await engine.runtime.start_exec(live, list(init.command), dict(init.env))
        except OSError as exc:
            yield pb.ExecStreamResponse(error=pb.ExecStreamError(
                code="EXEC_START_FAILED", message=f"could not start {init.command[0]!r}: {exc}"))
            return
    except ApiError as error:
        await error.abort(context)
        return
    except (asyncio.CancelledError, grpc.aio.AbortError):
        raise
    except Exception:
        await internal_error(context)
        return
    queue: asyncio.Queue[pb.ExecStreamResponse | None] = asyncio.Queue(maxsize=64)

    async def pump(stream: asyncio.StreamReader | None, kind: int) -> None:
        if stream is None:
            return
        while chunk := await stream.read(65536):
            await queue.put(pb.ExecStreamResponse(output=pb.ExecStreamOutput(
                stream=kind, data=chunk)))  # type: ignore[arg-type]

    async def feed() -> None:
        # The client's half-close (or a close frame) is the end of stdin, not a cancel.
        assert proc.stdin is not None
        try:
            async for message in requests:
                kind = message.WhichOneof("message")
                if kind == "stdin":
                    proc.stdin.write(message.stdin)
                    await proc.stdin.drain()
                elif kind == "close":
                    break
        except (ConnectionError, grpc.aio.AioRpcError):
            pass
        finally:
            with contextlib.suppress(Exception):
                proc.stdin.close()

    async def finish() -> None:
        await asyncio.gather(pump(proc.stdout, _STDOUT), pump(proc.stderr, _STDERR))
        code = await proc.wait()
        exit_frame = pb.ExecStreamExit(exit_code=_exit_code(code))
        exit_frame.completed_time.CopyFrom(_now())
        await queue.put(pb.ExecStreamResponse(exit=exit_frame))
        await queue.put(None)

    feeder = asyncio.ensure_future(feed())
    finisher = asyncio.ensure_future(finish())
    try:
        ready = pb.ExecStreamResponse()
        ready.ready.ready_time.CopyFrom(_now())
        yield ready
        while (item := await queue.get()) is not None:
            yield item
    finally:
        feeder.cancel()
        finisher.cancel()
        engine.runtime.end_exec(live, proc)
        with contextlib.suppress(ProcessLookupError):
            await proc.wait()


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
        stdout=stdout[:limit], stderr=stderr[:limit], exit_code=_exit_code(proc.returncode or 0),
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
        await error.abort(context)
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
    async for line in book.lines(follow=request.follow,
                                 tail=0 if resuming else request.tail_lines, since=since,
                                 skip_bytes=request.resume_log_offset if resuming else 0):
        entry = pb.LogEntry(data=line.data, log_session_id=session, next_log_offset=line.offset)
        convert.stamp(entry.timestamp, line.timestamp)
        yield entry
