"""Exec fidelity: binary and interactive stdin, large output in order, exit codes, and the
stream that ends with STREAM_BACKPRESSURE when its reader stops reading."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import grpc
import pytest

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.proto.v1beta2 import streaming_pb2 as spb

from .helpers import (
    STDOUT,
    Gateway,
    Streaming,
    collect_exec,
    exec_init,
    sh,
    start_sandbox,
    until,
)


def stdin_frames(data: bytes, size: int = 65536) -> list[spb.ExecStreamRequest]:
    return [spb.ExecStreamRequest(stdin=spb.ExecStreamData(data=data[i:i + size]))
            for i in range(0, len(data), size)]


async def test_binary_stdin_comes_back_byte_for_byte(gateway: Gateway,
                                                     streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    payload = bytes(range(256)) * 8192  # 2 MiB, every byte value, NULs and newlines included

    async def requests() -> AsyncIterator[spb.ExecStreamRequest]:
        yield exec_init(sid, ["/bin/sh", "-c", "cat; echo done >&2"])
        for frame in stdin_frames(payload):
            yield frame
        yield spb.ExecStreamRequest(close=spb.ExecStreamClose())

    result = await asyncio.wait_for(collect_exec(streaming.StreamExec(requests())), 60)
    assert result.exit_code == 0
    assert hashlib.sha256(result.stdout).hexdigest() == hashlib.sha256(payload).hexdigest()
    assert result.stderr == b"done\n"


async def test_interactive_stdin_is_answered_line_by_line(gateway: Gateway,
                                                          streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    outbox: asyncio.Queue[spb.ExecStreamRequest | None] = asyncio.Queue()
    outbox.put_nowait(exec_init(sid, ["/bin/sh", "-c",
                                      "while read line; do echo got:$line; done; exit 9"]))

    async def requests() -> AsyncIterator[spb.ExecStreamRequest]:
        while (item := await outbox.get()) is not None:
            yield item

    call = streaming.StreamExec(requests())
    seen = b""

    async def read_until(text: bytes) -> None:
        nonlocal seen
        async with asyncio.timeout(10):
            while text not in seen:
                frame = await call.read()
                assert frame is not grpc.aio.EOF
                if frame.HasField("output"):
                    seen += frame.output.data

    for word in (b"alpha", b"beta", b"gamma"):
        outbox.put_nowait(spb.ExecStreamRequest(stdin=spb.ExecStreamData(data=word + b"\n")))
        await read_until(b"got:" + word)  # each answer comes before the next line is sent
    outbox.put_nowait(spb.ExecStreamRequest(close=spb.ExecStreamClose()))
    async with asyncio.timeout(10):
        while (frame := await call.read()) is not grpc.aio.EOF:
            if frame.HasField("exit"):
                assert frame.exit.exit_code == 9
                break
        else:
            raise AssertionError("no exit frame")
    outbox.put_nowait(None)


async def test_megabytes_of_output_arrive_whole_and_in_order(gateway: Gateway,
                                                             streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    result = await sh(streaming, sid, "seq 1 400000; echo tail-marker >&2", timeout=60)
    assert result.exit_code == 0
    numbers = result.stdout.split(b"\n")
    assert numbers[-1] == b""
    assert numbers[:-1] == [b"%d" % i for i in range(1, 400001)]
    assert len(result.stdout) > 2_500_000
    assert result.stderr == b"tail-marker\n"
    outputs = [f for f in result.frames if f.HasField("output")]
    assert len(outputs) > 10  # streamed in many frames, not one buffer


@pytest.mark.parametrize(("script", "code"), [
    ("exit 0", 0), ("exit 1", 1), ("exit 255", 255), ("kill -9 $$", 137), ("kill $$", 143),
])
async def test_exit_codes(gateway: Gateway, streaming: Streaming, script: str, code: int) -> None:
    sid = await start_sandbox(gateway)
    assert (await sh(streaming, sid, script)).exit_code == code


async def test_a_reader_that_stops_reading_gets_stream_backpressure(
        gateway: Gateway, streaming: Streaming, backend: BackendServer) -> None:
    assert backend.engine is not None
    backend.engine.runtime.backpressure_seconds = 0.5
    sid = await start_sandbox(gateway)
    live = backend.engine.runtime.live[sid]

    async def requests() -> AsyncIterator[spb.ExecStreamRequest]:
        yield exec_init(sid, ["/bin/sh", "-c", "yes 0123456789abcdef"])  # never ends by itself
        await asyncio.Event().wait()

    call = streaming.StreamExec(requests())
    first = await call.read()
    assert first.HasField("ready")
    await until(lambda: bool(live.execs), what="the exec to start")
    # stop reading: the server gives up on us and stops the command
    await until(lambda: not live.execs, timeout=30, what="the server to end the stalled exec")
    received = 0
    async with asyncio.timeout(30):
        while (frame := await call.read()) is not grpc.aio.EOF:
            if frame.HasField("output"):
                assert frame.output.stream_type == STDOUT
                received += len(frame.output.data)
            else:
                break
    assert frame.HasField("error"), frame
    assert frame.error.code == "STREAM_BACKPRESSURE"
    assert received > 0
    call.cancel()
