"""Log sessions: resume after a disconnect without loss or duplicates, in-band errors first,
and continuous output streamed as it is printed."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import grpc
import pytest

from cwsandbox_tui.backend.faults import Trigger
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.proto.v1beta2 import streaming_pb2 as spb

from .helpers import (
    MOUNT,
    Gateway,
    Streaming,
    log_text,
    read_logs,
    sh,
    start_sandbox,
    until_logged,
)

COUNTER = ["-c", f"i=0; while [ ! -e {MOUNT}/stop ]; do i=$((i+1)); echo line$i; sleep 0.02; "
                 "done; echo end; exec sleep infinity"]


async def follow(streaming: Streaming, sid: str, *, until: int, **init: object
                 ) -> list[spb.LogStreamResponse]:
    """Follow, and drop the connection (cancel the call) after `until` data frames."""
    frames: list[spb.LogStreamResponse] = []
    hold = asyncio.Event()

    async def requests() -> AsyncIterator[spb.LogStreamRequest]:
        yield spb.LogStreamRequest(init=spb.LogStreamInit(sandbox_id=sid, follow=True,
                                                          **init))  # type: ignore[arg-type]
        await hold.wait()

    call = streaming.StreamLogs(requests())
    async with asyncio.timeout(15):
        async for frame in call:
            frames.append(frame)
            if frame.HasField("error") or frame.HasField("complete"):
                break
            if sum(f.HasField("data") for f in frames) >= until:
                break
    call.cancel()  # the disconnect
    return frames


async def test_resume_after_a_disconnect_loses_and_repeats_nothing(
        gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway, args=COUNTER)
    first = [f.data for f in await follow(streaming, sid, until=5) if f.HasField("data")]
    session, offset = first[-1].session_id, first[-1].offset
    assert session and all(d.session_id == session for d in first)
    assert offset == sum(len(d.data) for d in first)
    # more output arrives while disconnected
    await until_logged(streaming, sid, b"line30\n")
    second = [f.data for f in await follow(streaming, sid, until=20, resume_session_id=session,
                                           resume_offset=offset) if f.HasField("data")]
    assert all(d.session_id == session for d in second)
    await sh(streaming, sid, f"touch {MOUNT}/stop")
    await until_logged(streaming, sid, b"end\n")
    third = await read_logs(streaming, sid, resume_session_id=session,
                            resume_offset=second[-1].offset)
    got = b"".join(d.data for d in first + second) + log_text(third)
    assert got == log_text(await read_logs(streaming, sid))  # everything, once, in order
    lines = got.decode().split()
    assert lines[:3] == ["line1", "line2", "line3"] and lines[-1] == "end"
    assert len(lines) == len(set(lines))


async def test_resume_inside_a_line_continues_from_that_byte(
        gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway, args=["-c", "echo alpha; echo beta; exec sleep infinity"])
    await until_logged(streaming, sid, b"beta\n")
    frames = await read_logs(streaming, sid)
    session = frames[0].data.session_id
    rest = log_text(await read_logs(streaming, sid, resume_session_id=session, resume_offset=8))
    assert rest == b"ta\n"


async def test_an_unknown_session_is_an_in_band_error_first(
        gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway, args=["-c", "echo hello; exec sleep infinity"])
    await until_logged(streaming, sid, b"hello\n")
    frames = await read_logs(streaming, sid, resume_session_id="ls-nobody", resume_offset=0)
    assert [f.WhichOneof("response") for f in frames] == ["error"]
    assert frames[0].error.code == "SESSION_NOT_FOUND"
    # a session of another sandbox is not this sandbox's
    other = await start_sandbox(gateway, args=["-c", "echo other; exec sleep infinity"])
    await until_logged(streaming, other, b"other\n")
    session = (await read_logs(streaming, other))[0].data.session_id
    crossed = await read_logs(streaming, sid, resume_session_id=session, resume_offset=0)
    assert [f.error.code for f in crossed] == ["SESSION_NOT_FOUND"]
    followed = await follow(streaming, sid, until=1, resume_session_id="ls-nobody")
    assert [f.WhichOneof("response") for f in followed] == ["error"]


async def test_an_offset_past_the_end_is_refused(gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway, args=["-c", "echo hi; exec sleep infinity"])
    await until_logged(streaming, sid, b"hi\n")
    session = (await read_logs(streaming, sid))[0].data.session_id
    frames = await read_logs(streaming, sid, resume_session_id=session, resume_offset=999)
    assert [f.error.code for f in frames] == ["INVALID_RESUME_OFFSET"]


async def test_unterminated_output_streams_as_it_is_printed(
        gateway: Gateway, streaming: Streaming) -> None:
    # prints a dot every 50 ms and never a newline until it is told to stop
    sid = await start_sandbox(gateway, args=[
        "-c", f"while [ ! -e {MOUNT}/stop ]; do printf .; sleep 0.05; done; echo; "
              "exec sleep infinity"])
    started = time.monotonic()
    frames = await follow(streaming, sid, until=3)
    dots = b"".join(f.data.data for f in frames if f.HasField("data"))
    assert set(dots) == {ord(".")} and len(dots) >= 3
    assert time.monotonic() - started < 5
    await sh(streaming, sid, f"touch {MOUNT}/stop")


async def test_a_cut_stream_resumes_where_it_broke(gateway: Gateway, streaming: Streaming,
                                                   backend: BackendServer) -> None:
    sid = await start_sandbox(gateway, args=["-c", "for i in $(seq 1 20); do echo n$i; done; "
                                                   "exec sleep infinity"])
    await until_logged(streaming, sid, b"n20\n")
    backend.faults.cut_after = 4
    backend.faults.set_fault("StreamLogs", "cut", Trigger(first=1))
    got: list[spb.LogStreamData] = []
    with pytest.raises(grpc.aio.AioRpcError) as broken:
        async for frame in streaming.StreamLogs(_init(sid)):
            got.append(frame.data)
    assert broken.value.code() == grpc.StatusCode.UNAVAILABLE
    assert len(got) == 4
    rest = await read_logs(streaming, sid, resume_session_id=got[-1].session_id,
                           resume_offset=got[-1].offset)
    text = b"".join(d.data for d in got) + log_text(rest)
    assert text == b"".join(b"n%d\n" % i for i in range(1, 21))


async def _init(sid: str) -> AsyncIterator[spb.LogStreamRequest]:
    yield spb.LogStreamRequest(init=spb.LogStreamInit(sandbox_id=sid))


async def test_timestamps_prefix_each_line(gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway, args=["-c", "echo one; printf 'two-'; sleep 0.5; "
                                                   "echo end; exec sleep infinity"])
    await until_logged(streaming, sid, b"end\n")
    text = log_text(await read_logs(streaming, sid, timestamps=True)).decode()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z "
    # a line printed in two parts (the first streamed before its newline) has one stamp
    assert re.fullmatch(f"{stamp}one\n{stamp}two-end\n", text), text
    plain = log_text(await read_logs(streaming, sid))
    assert plain == b"one\ntwo-end\n"
