"""GatewayStreamingService: StreamExec and StreamLogs."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import timestamp_pb2

from cwsandbox_tui.backend.blocking import Abandoned, Left
from cwsandbox_tui.backend.logbook import LINE_LIMIT, LogBook
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.proto.v1beta2 import streaming_pb2 as spb

from .helpers import (
    COMPLETED,
    INVALID,
    MOUNT,
    STDERR,
    STDOUT,
    Gateway,
    Streaming,
    details_of,
    exec_init,
    log_text,
    read_logs,
    run_exec,
    sh,
    start_sandbox,
    stop,
    until,
    until_logged,
    wait_status,
)


async def stream_error(call: AsyncIterator[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in call:
            pass
    return caught.value


# ---------------------------------------------------------------------------------------------
# StreamExec


async def test_exec_streams_stdout_stderr_then_exactly_one_exit(
        gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    result = await sh(streaming, sid, "echo out; echo err >&2; echo more; exit 7")
    assert result.stdout == b"out\nmore\n"
    assert result.stderr == b"err\n"
    assert result.exit_code == 7
    kinds = result.kinds
    assert kinds[0] == "ready"
    assert kinds.count("exit") == 1 and kinds[-1] == "exit"
    assert set(kinds[1:-1]) <= {"output"}
    ready = result.frames[0].ready
    assert ready.session_id and ready.ready_at.seconds > 0
    assert result.frames[-1].exit.completed_at.seconds > 0
    streams = {f.output.stream_type for f in result.frames if f.HasField("output")}
    assert streams == {STDOUT, STDERR}


async def test_half_close_right_after_init_is_not_a_cancel(gateway: Gateway,
                                                          streaming: Streaming) -> None:
    """The SDK's exec(): init, then half-close at once; the command runs to its end."""
    sid = await start_sandbox(gateway)
    result = await sh(streaming, sid, "sleep 0.3; echo finished")
    assert result.stdout == b"finished\n"
    assert result.exit_code == 0


async def test_exec_argv_env_and_working_directory(gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway, env={"FROM_START": "a"})
    result = await run_exec(streaming, sid, ["/bin/sh", "-c", 'echo "$FROM_START$FROM_EXEC"; pwd',
                                             "ignored-arg0"], env={"FROM_EXEC": "b"})
    assert result.stdout == f"ab\n{MOUNT}\n".encode()
    # argv is passed as is, with no shell in between
    result = await run_exec(streaming, sid, ["printf", "%s|", "a b", "$HOME", "*"])
    assert result.stdout == b"a b|$HOME|*|"


async def test_exec_with_stdin(gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    ready = asyncio.Event()

    async def requests() -> AsyncIterator[spb.ExecStreamRequest]:
        yield exec_init(sid, ["/bin/sh", "-c", "tr a-z A-Z; echo done"])
        await ready.wait()
        for chunk in (b"hello ", b"world\n"):
            yield spb.ExecStreamRequest(stdin=spb.ExecStreamData(data=chunk))
        yield spb.ExecStreamRequest(close=spb.ExecStreamClose())

    frames = []
    async for frame in streaming.StreamExec(requests()):
        frames.append(frame)
        if frame.HasField("ready"):
            ready.set()
    out = b"".join(f.output.data for f in frames if f.HasField("output"))
    assert out == b"HELLO WORLD\ndone\n"
    assert [f.exit.exit_code for f in frames if f.HasField("exit")] == [0]


async def test_exec_large_output_arrives_whole(gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    result = await sh(streaming, sid, "head -c 3000000 /dev/zero; head -c 500000 /dev/zero >&2")
    assert len(result.stdout) == 3_000_000 and len(result.stderr) == 500_000
    assert result.exit_code == 0


async def test_cancelled_exec_kills_its_process(backend: BackendServer, gateway: Gateway,
                                               streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    call = streaming.StreamExec(iter([exec_init(sid, ["sleep", "60"])]))
    first = await call.read()
    assert first.HasField("ready")
    assert backend.engine is not None
    live = backend.engine.runtime.live[sid]
    assert len(live.execs) == 1
    proc = next(iter(live.execs))
    call.cancel()
    await until(lambda: proc.returncode is not None and not live.execs,
                what="the exec process to be killed")


async def test_exec_of_a_missing_program_reports_a_failure(gateway: Gateway,
                                                          streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    result = await run_exec(streaming, sid, ["/no/such/program"])
    terminal = [k for k in result.kinds if k in ("exit", "error")]
    assert len(terminal) == 1
    if terminal == ["exit"]:
        assert result.exit_code != 0
    else:
        assert result.frames[-1].error.code == "EXEC_START_FAILED"


async def test_exec_errors(gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)

    async def only_stdin() -> AsyncIterator[spb.ExecStreamRequest]:
        yield spb.ExecStreamRequest(stdin=spb.ExecStreamData(data=b"x"))

    async def nothing() -> AsyncIterator[spb.ExecStreamRequest]:
        return
        yield  # pragma: no cover

    for requests, field_name in ((only_stdin(), "init"), (nothing(), "init"),
                                 (iter([exec_init("", ["true"])]), "init.sandbox_id"),
                                 (iter([exec_init(sid, [])]), "init.command")):
        error = await stream_error(streaming.StreamExec(requests))
        found = details_of(error)
        assert found.code == INVALID, found
        assert field_name in found.violations
    missing = details_of(await stream_error(
        streaming.StreamExec(iter([exec_init("sb-no", ["true"])]))))
    assert missing.code == grpc.StatusCode.NOT_FOUND
    assert missing.reason == "CWSANDBOX_SANDBOX_NOT_FOUND" and missing.domain == "cwsandbox.com"
    await stop(gateway, sid)
    await wait_status(gateway, sid, COMPLETED)
    stopped = details_of(await stream_error(streaming.StreamExec(iter([exec_init(sid, ["true"])]))))
    assert stopped.code == grpc.StatusCode.FAILED_PRECONDITION


async def test_exec_waits_for_a_sandbox_still_being_created(gateway: Gateway,
                                                           streaming: Streaming) -> None:
    sid = await start_sandbox(gateway, wait=False)
    result = await sh(streaming, sid, "echo early")
    assert result.stdout == b"early\n" and result.exit_code == 0


# ---------------------------------------------------------------------------------------------
# StreamLogs


TALKER = ["-c", "echo one; echo two >&2; echo three; exec sleep infinity"]


async def test_logs_return_the_sandbox_output(gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway, args=TALKER)
    await until_logged(streaming, sid, b"three\n")
    frames = await read_logs(streaming, sid)
    assert frames[-1].HasField("complete")
    data = [f.data for f in frames if f.HasField("data")]
    assert sorted(d.data for d in data) == [b"one\n", b"three\n", b"two\n"]
    assert all(d.session_id for d in data)
    offsets = [d.offset for d in data]
    assert offsets == sorted(offsets) and offsets[-1] == len(b"one\ntwo\nthree\n")
    assert not any(d.HasField("timestamp") for d in data)


async def test_logs_tail_timestamps_since_and_resume(gateway: Gateway, streaming: Streaming
                                                    ) -> None:
    sid = await start_sandbox(gateway, args=["-c", "for i in 1 2 3 4 5; do echo line$i; done; "
                                                   "exec sleep infinity"])
    await until_logged(streaming, sid, b"line5\n")
    tail = log_text(await read_logs(streaming, sid, tail_lines=2))
    assert tail == b"line4\nline5\n"
    stamped = [f.data for f in await read_logs(streaming, sid, timestamps=True)
               if f.HasField("data")]
    assert all(d.HasField("timestamp") for d in stamped)
    later = timestamp_pb2.Timestamp()
    later.FromNanoseconds(time.time_ns() + 10**9)
    assert log_text(await read_logs(streaming, sid, since_time=later)) == b""
    earlier = timestamp_pb2.Timestamp()
    earlier.FromNanoseconds(stamped[0].timestamp.ToNanoseconds())
    assert log_text(await read_logs(streaming, sid, since_time=earlier)).count(b"line") == 5
    # resume after the first two lines: only the rest comes back
    offset = stamped[1].offset
    resumed = log_text(await read_logs(streaming, sid, resume_offset=offset,
                                       resume_session_id=stamped[0].session_id))
    assert resumed == b"line3\nline4\nline5\n"


async def test_logs_follow_delivers_new_lines_and_ends_with_the_sandbox(
        gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway, args=[
        "-c", f"echo first; while [ ! -e {MOUNT}/go ]; do sleep 0.02; done; echo second"])
    closing = asyncio.Event()

    async def requests() -> AsyncIterator[spb.LogStreamRequest]:
        yield spb.LogStreamRequest(init=spb.LogStreamInit(sandbox_id=sid, follow=True))
        await closing.wait()  # keep the send side open, as the SDK does when following

    seen: list[bytes] = []
    call = streaming.StreamLogs(requests())
    try:
        async with asyncio.timeout(15):
            async for frame in call:
                if frame.HasField("data"):
                    seen.append(frame.data.data)
                    if frame.data.data == b"first\n":
                        await sh(streaming, sid, f"touch {MOUNT}/go")
                elif frame.HasField("complete"):
                    break
    finally:
        closing.set()
    assert seen == [b"first\n", b"second\n"]
    await wait_status(gateway, sid, COMPLETED)


async def test_logs_follow_half_close_is_not_the_end_and_close_is(
        gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway, args=["-c", "echo a; exec sleep infinity"])
    await until_logged(streaming, sid, b"a\n")
    # follow with the send side half-closed right away: it keeps following
    call = streaming.StreamLogs(iter([spb.LogStreamRequest(
        init=spb.LogStreamInit(sandbox_id=sid, follow=True))]))
    first = await asyncio.wait_for(call.read(), 15)
    assert first.data.data == b"a\n"
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(asyncio.ensure_future(call.read())), 0.3)
    call.cancel()
    # a close{} ends a follow without an error
    closing = asyncio.Event()

    async def requests() -> AsyncIterator[spb.LogStreamRequest]:
        yield spb.LogStreamRequest(init=spb.LogStreamInit(sandbox_id=sid, follow=True))
        await closing.wait()
        yield spb.LogStreamRequest(close=spb.LogStreamClose())

    frames = []
    async with asyncio.timeout(10):
        async for frame in streaming.StreamLogs(requests()):
            frames.append(frame)
            closing.set()
    assert frames[0].data.data == b"a\n"


async def test_logs_of_a_finished_sandbox_and_follow_ends(gateway: Gateway,
                                                          streaming: Streaming) -> None:
    sid = await start_sandbox(gateway, args=["-c", "echo bye; exit 0"], wait=False)
    await wait_status(gateway, sid, COMPLETED)
    assert log_text(await read_logs(streaming, sid)) == b"bye\n"
    frames = await read_logs(streaming, sid, follow=True)
    assert log_text(frames) == b"bye\n" and frames[-1].HasField("complete")


async def test_a_finished_sandbox_has_logged_all_it_printed_before_its_last_breath(
        gateway: Gateway, streaming: Streaming) -> None:
    # a pipe's worth and more printed just before the end: once the status says it ended,
    # the log holds all of it (the status used to change before the pipes were read out)
    script = "i=0; while [ $i -lt 3000 ]; do echo line-$i-padding-padding-padding; " \
             "i=$((i+1)); done; echo last; exit 0"
    sid = await start_sandbox(gateway, args=["-c", script], wait=False)
    await wait_status(gateway, sid, COMPLETED)
    text = log_text(await read_logs(streaming, sid))
    assert text.endswith(b"line-2999-padding-padding-padding\nlast\n")
    assert text.count(b"\n") == 3001


async def test_logs_errors(gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)

    async def only_close() -> AsyncIterator[spb.LogStreamRequest]:
        yield spb.LogStreamRequest(close=spb.LogStreamClose())

    cases = [(only_close(), "init"),
             (iter([spb.LogStreamRequest(init=spb.LogStreamInit())]), "init.sandbox_id"),
             (iter([spb.LogStreamRequest(init=spb.LogStreamInit(sandbox_id=sid, tail_lines=-1))]),
              "init.tail_lines")]
    for requests, field_name in cases:
        found = details_of(await stream_error(streaming.StreamLogs(requests)))
        assert found.code == INVALID and field_name in found.violations, found
    missing = details_of(await stream_error(streaming.StreamLogs(iter([spb.LogStreamRequest(
        init=spb.LogStreamInit(sandbox_id="sb-none"))]))))
    assert missing.code == grpc.StatusCode.NOT_FOUND
    assert missing.reason == "CWSANDBOX_SANDBOX_NOT_FOUND"


async def test_exec_output_is_not_in_the_sandbox_log(gateway: Gateway, streaming: Streaming
                                                     ) -> None:
    sid = await start_sandbox(gateway, args=["-c", "echo main; exec sleep infinity"])
    await sh(streaming, sid, "echo from-exec")
    logged = await until_logged(streaming, sid, b"main\n")
    assert b"from-exec" not in logged


async def test_many_concurrent_execs(gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    results = await asyncio.gather(*(sh(streaming, sid, f"echo {i}; exit {i % 3}")
                                     for i in range(8)))
    for i, result in enumerate(results):
        assert result.stdout == f"{i}\n".encode() and result.exit_code == i % 3
        assert result.kinds.count("exit") == 1


async def test_a_line_finished_by_a_chunk_is_stored_in_pieces(tmp_path: Path) -> None:
    """What was pending plus a whole read can make one finished line longer than a piece."""
    book = LogBook(tmp_path / "output.log")
    await book.feed("stdout", b"a" * 12_289)
    await book.feed("stdout", b"a" * LINE_LIMIT + b"\nnext\n")
    book.close()
    lines = [line async for line in book.lines(follow=False)]
    assert max(len(line.data) for line in lines) <= LINE_LIMIT + 1
    assert b"".join(line.data for line in lines) == b"a" * (12_289 + LINE_LIMIT) + b"\nnext\n"
    assert [line.offset for line in lines][-1] == 12_289 + LINE_LIMIT + 6


async def test_a_tail_read_backwards_is_the_last_records_whatever_the_count(
        tmp_path: Path) -> None:
    """Records of many lengths, so that the backward blocks end inside records and at their
    newlines; a record still being written (no newline yet) is left out."""
    path = tmp_path / "output.log"
    book = LogBook(path)
    rng = random.Random(7)
    for index in range(3000):
        await book.feed("stdout", b"%d " % index + b"x" * rng.choice([0, 1, 50, 700, 5000])
                        + b"\n")
    book.close()
    everything = [line async for line in book.lines(follow=False)]
    assert len(everything) == 3000
    with open(path, "ab") as out:
        out.write(b"%d:999999999 half a record" % time.time_ns())  # no newline: being written
    for count in (1, 2, 3, 17, 1000, 2999, 3000, 3001, 2**31 - 1):
        tail = [line async for line in book.lines(follow=False, tail=count)]
        assert tail == everything[-count:], count


def test_a_backward_read_stops_when_its_caller_has_left(tmp_path: Path) -> None:
    path = tmp_path / "output.log"
    path.write_bytes(b"".join(b"%d:%d line\n" % (i, i * 5) for i in range(1, 100_000)))
    left = Left()
    assert LogBook(path)._tail_span(left, 10)[0] > 0
    left.set()
    with pytest.raises(Abandoned):
        LogBook(path)._tail_span(left, 10)


async def test_a_rotated_log_keeps_its_last_bytes_and_its_offsets(tmp_path: Path) -> None:
    """A follower that keeps up reads every line across rotations; the files stay within
    what is kept; a tail, a reread from the start and a reopened book carry on the offsets."""
    keep = 64 * 1024
    book = LogBook(tmp_path / "output.log", keep_bytes=keep)
    lines = [b"%05d %s\n" % (n, b"x" * 94) for n in range(2000)]
    total = sum(map(len, lines))  # 202,000 bytes: about six times what is kept
    seen: list[bytes] = []
    caught_up = asyncio.Event()

    async def follow() -> None:
        async for line in book.lines(follow=True):
            seen.append(line.data)
            if len(seen) % 50 == 0:
                caught_up.set()

    follower = asyncio.ensure_future(follow())
    for start in range(0, len(lines), 50):
        caught_up.clear()
        await book.feed("stdout", b"".join(lines[start:start + 50]))
        await asyncio.wait_for(caught_up.wait(), 20)
    book.close()
    await asyncio.wait_for(follower, 20)
    assert seen == lines
    kept = [tmp_path / "output.log", tmp_path / "output.log.1"]
    assert sum(path.stat().st_size for path in kept) <= keep
    tail = [line async for line in book.lines(follow=False, tail=3)]
    assert [line.data for line in tail] == lines[-3:]
    assert tail[-1].offset == total
    again = [line async for line in book.lines(follow=False)]
    assert [line.data for line in again] == lines[-len(again):] and len(again) > 300
    assert again[-1].offset == total
    reopened = LogBook(tmp_path / "output.log", keep_bytes=keep)
    await reopened.feed("stdout", b"more\n")
    assert await reopened.size() == total + 5
