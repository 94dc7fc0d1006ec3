"""GatewayStreamingService: StreamExec and StreamLogs."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

import grpc

from ...proto.v1beta2 import streaming_pb2 as spb
from ...proto.v1beta2 import streaming_pb2_grpc
from ..engine import Engine
from ..errors import ApiError, invalid
from ..exec_session import Exited, Output, Started, run_exec
from ..logbook import TimePrefix
from ..runtime import LiveSandbox
from ..terminal import EndOfInput, Resize, TtyEvent, TtyInput, check_window, tty_session
from ..wire.errors import abort, internal_error
from ..wire.limits import check_request
from ..wire.streams import client_input
from .service import timestamp

_STDOUT = spb.ExecStreamOutput.STREAM_TYPE_STDOUT
_STDERR = spb.ExecStreamOutput.STREAM_TYPE_STDERR


MAX_LOG_SESSIONS = 10_000


class StreamingService(streaming_pb2_grpc.GatewayStreamingServiceServicer):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # Log sessions this server opened: session id -> sandbox id. A resume names one; the
        # offsets it carries count bytes of the sandbox's output, so the session only has to
        # say whose output it was. Kept in memory: after a restart every resume is answered
        # SESSION_NOT_FOUND and the client starts afresh.
        self._log_sessions: OrderedDict[str, str] = OrderedDict()

    def forget_log_sessions(self) -> None:
        self._log_sessions.clear()

    def _open_log_session(self, sandbox_id: str) -> str:
        session = f"ls-{uuid.uuid4().hex}"
        self._log_sessions[session] = sandbox_id
        while len(self._log_sessions) > MAX_LOG_SESSIONS:
            self._log_sessions.popitem(last=False)
        return session

    async def StreamExec(self, requests: AsyncIterator[spb.ExecStreamRequest], context: Any
                         ) -> AsyncIterator[spb.ExecStreamResponse]:
        try:
            first = await anext(requests, None)
            if first is None or not first.HasField("init"):
                raise invalid("init", "the first message of StreamExec must be init")
            check_request(first)
            init = first.init
            if not init.sandbox_id:
                raise invalid("init.sandbox_id", "is required")
            if not init.command:
                raise invalid("init.command", "is required")
            live = await self.engine.running_sandbox(init.sandbox_id)
            if init.tty:
                check_window(init.tty_width, init.tty_height)
                async for reply in _tty_frames(self.engine, live, init, requests):
                    yield reply
                return
            try:
                proc = await self.engine.runtime.start_exec(live, list(init.command),
                                                            dict(init.env))
            except OSError as exc:
                yield spb.ExecStreamResponse(error=spb.ExecStreamError(
                    code="EXEC_START_FAILED",
                    message=f"could not start {init.command[0][:256]!r}: "
                            f"{exc.strerror or type(exc).__name__}"))
                return
        except ApiError as error:
            await abort(error, context)
            return
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception:
            await internal_error(context)
            return
        session = run_exec(self.engine.runtime, live, proc, _stdin_of(requests))
        async with contextlib.aclosing(session):  # the process ends when the call does
            async for event in session:
                if isinstance(event, Started):
                    yield spb.ExecStreamResponse(ready=spb.StreamingExecReady(
                        ready_at=timestamp(event.at), session_id=uuid.uuid4().hex))
                elif isinstance(event, Output):
                    kind = _STDERR if event.stderr else _STDOUT
                    yield spb.ExecStreamResponse(output=spb.ExecStreamOutput(
                        stream_type=kind, data=event.data))  # type: ignore[arg-type]
                elif isinstance(event, Exited):
                    yield spb.ExecStreamResponse(exit=spb.ExecStreamExit(
                        exit_code=event.code, completed_at=timestamp(event.at)))
                else:
                    # The command was stopped and the output it was still making is lost: the
                    # stream ends early, and says so.
                    yield spb.ExecStreamResponse(error=spb.ExecStreamError(
                        code="STREAM_BACKPRESSURE",
                        message=f"output was not read for {event.seconds:g} s; "
                                "the command was stopped and the rest of its output dropped"))

    async def StreamLogs(self, requests: AsyncIterator[spb.LogStreamRequest], context: Any
                         ) -> AsyncIterator[spb.LogStreamResponse]:
        try:
            first = await anext(requests, None)
            if first is None or not first.HasField("init"):
                raise invalid("init", "the first message of StreamLogs must be init")
            check_request(first)
            init = first.init
            if not init.sandbox_id:
                raise invalid("init.sandbox_id", "is required")
            if init.tail_lines < 0:
                raise invalid("init.tail_lines", "must not be negative")
            self.engine.get(init.sandbox_id)
        except ApiError as error:
            await abort(error, context)
            return
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception:
            await internal_error(context)
            return
        book = self.engine.runtime.logbook_for(init.sandbox_id)
        resuming = bool(init.resume_session_id)
        if resuming:
            if self._log_sessions.get(init.resume_session_id) != init.sandbox_id:
                yield spb.LogStreamResponse(error=spb.LogStreamError(
                    code="SESSION_NOT_FOUND",
                    message=f"log session {init.resume_session_id!r} is not known for sandbox "
                            f"{init.sandbox_id!r}; start a new one (no resume_session_id)"))
                return
            logged = await book.size()
            if init.resume_offset > logged:
                yield spb.LogStreamResponse(error=spb.LogStreamError(
                    code="INVALID_RESUME_OFFSET",
                    message=f"resume_offset {init.resume_offset} is past the end of the "
                            f"log ({logged} bytes)"))
                return
            session = init.resume_session_id
            self._log_sessions.move_to_end(session)
        else:
            session = self._open_log_session(init.sandbox_id)
        # A resume continues the session's bytes: its replay window no longer applies.
        tail = 0 if resuming else init.tail_lines
        since = (init.since_time.ToNanoseconds() / 1e9
                 if init.HasField("since_time") and not resuming else None)

        async def closed_by_client() -> None:
            with contextlib.suppress(Exception):
                async for message in requests:
                    if message.HasField("close"):
                        return
            await asyncio.Event().wait()  # half-close alone does not end the stream

        watcher = asyncio.ensure_future(closed_by_client())
        stamped = TimePrefix() if init.timestamps else None
        lines = book.lines(follow=init.follow, tail=tail, since=since,
                           skip_bytes=init.resume_offset if resuming else 0).__aiter__()
        step: asyncio.Future[Any] | None = None
        try:
            while True:
                step = asyncio.ensure_future(anext(lines, None))
                done, _ = await asyncio.wait({step, watcher}, return_when=asyncio.FIRST_COMPLETED)
                if step not in done:
                    return
                line = step.result()
                if line is None:
                    break
                text = stamped(line) if stamped else line.data  # offsets count output alone
                data = spb.LogStreamData(data=text, session_id=session, offset=line.offset)
                if stamped:
                    data.timestamp.CopyFrom(timestamp(line.timestamp))
                yield spb.LogStreamResponse(data=data)
            yield spb.LogStreamResponse(complete=spb.LogStreamComplete())
        finally:
            # also when this call was cancelled (its client left): the read under way stops
            watcher.cancel()
            if step is not None:
                step.cancel()


async def _tty_frames(engine: Engine, live: LiveSandbox, init: spb.ExecStreamInit,
                      requests: AsyncIterator[spb.ExecStreamRequest]
                      ) -> AsyncIterator[spb.ExecStreamResponse]:
    try:
        session = tty_session(engine.runtime, live, list(init.command), dict(init.env),
                              init.tty_width, init.tty_height, _tty_input_of(requests))
        first = await anext(session)
    except OSError as exc:
        yield spb.ExecStreamResponse(error=spb.ExecStreamError(
            code="EXEC_START_FAILED", message=f"could not start {init.command[0]!r}: {exc}"))
        return
    async with contextlib.aclosing(session):
        event: TtyEvent | None = first
        while event is not None:
            if isinstance(event, Started):
                yield spb.ExecStreamResponse(ready=spb.StreamingExecReady(
                    ready_at=timestamp(event.at), session_id=uuid.uuid4().hex))
            elif isinstance(event, Output):
                yield spb.ExecStreamResponse(output=spb.ExecStreamOutput(
                    stream_type=_STDOUT, data=event.data))  # type: ignore[arg-type]
            else:
                yield spb.ExecStreamResponse(exit=spb.ExecStreamExit(
                    exit_code=event.code, completed_at=timestamp(event.at)))
            event = await anext(session, None)


async def _tty_input_of(requests: AsyncIterator[spb.ExecStreamRequest]
                        ) -> AsyncIterator[TtyInput]:
    async for message in client_input(requests):
        kind = message.WhichOneof("request")
        if kind == "stdin":
            yield message.stdin.data
        elif kind == "resize":
            yield Resize(message.resize.width, message.resize.height)
        elif kind == "close":
            yield EndOfInput()


async def _stdin_of(requests: AsyncIterator[spb.ExecStreamRequest]) -> AsyncIterator[bytes]:
    """The bytes typed into a StreamExec, until a close frame or the client's half-close."""
    async for message in client_input(requests):
        if message.HasField("stdin"):
            yield message.stdin.data
        elif message.HasField("close"):
            return



