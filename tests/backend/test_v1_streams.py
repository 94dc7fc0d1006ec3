"""v1 StreamExec, StreamLogs, unary Exec and files, over real gRPC on loopback."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
import pytest

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.proto.v1 import sandbox_pb2 as pb

from .conftest import StartBackend
from .helpers import INVALID, NOT_FOUND, PRECONDITION, expect_error, poll, until
from .v1_helpers import MOUNT, V1, V1_TERMINAL, run, run_ok, start, wait_state

STDOUT = pb.ExecStreamOutput.STREAM_STDOUT
STDERR = pb.ExecStreamOutput.STREAM_STDERR


@pytest.fixture
def v1(channel: grpc.aio.Channel) -> V1:
    return V1.on(channel)


async def test_exec_frames_are_ready_output_and_exactly_one_exit(v1: V1) -> None:
    sandbox_id = await start(v1)
    result = await run(v1, sandbox_id, "echo out; echo err >&2; exit 3")
    kinds = result.kinds
    assert kinds[0] == "ready"
    assert kinds[-1] == "exit" and kinds.count("exit") == 1
    assert set(kinds[1:-1]) == {"output"}
    assert result.frames[0].ready.HasField("ready_time")
    assert result.frames[-1].exit.HasField("completed_time")
    assert result.exit_code == 3
    assert result.data(STDOUT) == b"out\n"
    assert result.data(STDERR) == b"err\n"


async def test_exec_reads_stdin_as_plain_bytes(v1: V1) -> None:
    sandbox_id = await start(v1)
    result = await run(v1, sandbox_id, "tr a-z A-Z", stdin=b"shout\n")
    assert (result.exit_code, result.stdout) == (0, b"SHOUT\n")


async def test_exec_errors_are_statuses(v1: V1) -> None:
    sandbox_id = await start(v1)
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await run(v1, "sb-missing", "true")
    assert missing.value.code() == NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await v1.sandboxes.StreamExec(iter([pb.ExecStreamRequest(stdin=b"x")])).read()
    assert bad.value.code() == INVALID
    with pytest.raises(grpc.aio.AioRpcError) as other:
        await v1.sandboxes.StreamExec(iter([pb.ExecStreamRequest(init=pb.ExecStreamInit(
            sandbox_id=sandbox_id, command=["true"], container="sidecar"))])).read()
    assert other.value.code() == INVALID and "init.container" in (other.value.details() or "")
    await v1.sandboxes.DeleteSandbox(pb.DeleteSandboxRequest(sandbox_id=sandbox_id,
                                                             grace_period_seconds=1))
    await wait_state(v1, sandbox_id, V1_TERMINAL)
    with pytest.raises(grpc.aio.AioRpcError) as ended:
        await run(v1, sandbox_id, "true")
    assert ended.value.code() == PRECONDITION


async def test_unary_exec_collects_output(v1: V1) -> None:
    sandbox_id = await start(v1)
    response = await v1.sandboxes.Exec(pb.ExecRequest(
        sandbox_id=sandbox_id, command=["/bin/sh", "-c", "printf 0123456789; exit 4"],
        max_output_bytes=4))
    assert (response.stdout, response.exit_code) == (b"0123", 4)
    assert response.stdout_truncated and response.stdout_bytes_produced == 10
    await expect_error(v1.sandboxes.Exec(pb.ExecRequest(sandbox_id=sandbox_id)), INVALID,
                       field_name="command")


async def _logs(v1: V1, **request: object) -> list[pb.LogEntry]:
    async def collect() -> list[pb.LogEntry]:
        return [e async for e in v1.sandboxes.StreamLogs(pb.StreamLogsRequest(**request))]
    return await asyncio.wait_for(collect(), 10)


async def test_logs_carry_a_session_and_offsets_and_the_stream_ends(v1: V1) -> None:
    sandbox_id = await start(v1, args=["-c", "echo one; echo two; echo three; sleep 600"])

    async def all_three() -> list[pb.LogEntry] | None:
        found = await _logs(v1, sandbox_id=sandbox_id)
        return found if len(found) == 3 else None
    entries = await poll(all_three, 10, "three log lines")
    assert [e.data for e in entries] == [b"one\n", b"two\n", b"three\n"]
    assert [e.next_log_offset for e in entries] == [4, 8, 14]
    session = entries[0].log_session_id
    assert session and all(e.log_session_id == session for e in entries)
    assert all(e.HasField("timestamp") for e in entries)

    tail = await _logs(v1, sandbox_id=sandbox_id, tail_lines=1)
    assert [e.data for e in tail] == [b"three\n"]
    resumed = await _logs(v1, sandbox_id=sandbox_id, resume_log_session_id=session,
                          resume_log_offset=4)
    assert [e.data for e in resumed] == [b"two\n", b"three\n"]
    unknown = await _logs(v1, sandbox_id=sandbox_id, resume_log_session_id="nope",
                          resume_log_offset=4)
    assert [e.error.code for e in unknown] == ["SESSION_NOT_FOUND"]

    await expect_error(_logs(v1, sandbox_id=sandbox_id, tail_lines=-1), INVALID,
                       field_name="tail_lines")
    await expect_error(_logs(v1, sandbox_id="sb-missing"), NOT_FOUND,
                       reason="CWSANDBOX_SANDBOX_NOT_FOUND")


async def test_followed_logs_end_when_the_sandbox_ends(v1: V1) -> None:
    sandbox_id = await start(v1, args=["-c", "echo first; read line; echo second"])
    stream = v1.sandboxes.StreamLogs(pb.StreamLogsRequest(sandbox_id=sandbox_id, follow=True))
    first = await asyncio.wait_for(stream.read(), 10)
    assert first.data == b"first\n"
    await v1.sandboxes.DeleteSandbox(pb.DeleteSandboxRequest(sandbox_id=sandbox_id,
                                                             grace_period_seconds=1))

    async def rest() -> None:
        while await stream.read() is not grpc.aio.EOF:
            pass
    await asyncio.wait_for(rest(), 15)  # ends by itself once the sandbox is gone
    assert (await stream.code()) == grpc.StatusCode.OK


async def test_files_round_trip_and_name_the_v1_field(v1: V1) -> None:
    sandbox_id = await start(v1)
    await v1.sandboxes.WriteFile(pb.WriteFileRequest(sandbox_id=sandbox_id,
                                                     path=f"{MOUNT}/a/b.txt", content=b"data"))
    read = await v1.sandboxes.ReadFile(pb.ReadFileRequest(sandbox_id=sandbox_id,
                                                          path=f"{MOUNT}/a/b.txt"))
    assert read.content == b"data"
    assert await run_ok(v1, sandbox_id, f"cat {MOUNT}/a/b.txt") == b"data"
    await expect_error(v1.sandboxes.ReadFile(pb.ReadFileRequest(sandbox_id=sandbox_id,
                                                                path=f"{MOUNT}/x\x00y")),
                       INVALID, field_name="path")
    await expect_error(v1.sandboxes.WriteFile(pb.WriteFileRequest(
        sandbox_id=sandbox_id, path=f"{MOUNT}/x\x00y", content=b"pwned")), INVALID,
        field_name="path")
    await expect_error(v1.sandboxes.WriteFile(pb.WriteFileRequest(sandbox_id=sandbox_id,
                                                                  path="")),
                       INVALID, field_name="path")
    await expect_error(v1.sandboxes.ReadFile(pb.ReadFileRequest(sandbox_id=sandbox_id,
                                                                path=f"{MOUNT}/none")),
                       NOT_FOUND, reason="CWSANDBOX_FILE_NOT_FOUND")


async def test_every_v1_call_needs_the_api_key(start_backend: StartBackend) -> None:
    connected = await start_backend(api_key="k-123")
    v1 = V1.on(connected.channel)
    unauthenticated = grpc.StatusCode.UNAUTHENTICATED
    await expect_error(v1.sandboxes.ListSandboxes(pb.ListSandboxesRequest()), unauthenticated)
    # server-streaming is its own kind of handler: it must pass the same gate
    await expect_error(_logs(v1, sandbox_id="sb-any"), unauthenticated)
    with pytest.raises(grpc.aio.AioRpcError) as streamed:
        await run(v1, "sb-any", "true")
    assert streamed.value.code() == unauthenticated
    key = (("authorization", "Bearer k-123"),)
    listed = await v1.sandboxes.ListSandboxes(pb.ListSandboxesRequest(), metadata=key)
    assert list(listed.sandboxes) == []


async def test_serving_one_generation_leaves_the_other_unimplemented(
        start_backend: StartBackend) -> None:
    from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as beta
    from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc

    only_v1 = await start_backend(api="v1")
    await V1.on(only_v1.channel).sandboxes.ListSandboxes(pb.ListSandboxesRequest())
    with pytest.raises(grpc.aio.AioRpcError) as old:
        await only_v1.gateway.List(beta.ListSandboxesRequest())
    assert old.value.code() == grpc.StatusCode.UNIMPLEMENTED

    only_beta = await start_backend(api="v1beta2")
    await gateway_pb2_grpc.GatewayServiceStub(only_beta.channel).List(
        beta.ListSandboxesRequest())
    with pytest.raises(grpc.aio.AioRpcError) as new:
        await V1.on(only_beta.channel).sandboxes.ListSandboxes(pb.ListSandboxesRequest())
    assert new.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert isinstance(only_beta.server, BackendServer)


def _exec_init(sandbox_id: str, script: str) -> pb.ExecStreamRequest:
    return pb.ExecStreamRequest(init=pb.ExecStreamInit(
        sandbox_id=sandbox_id, command=["/bin/sh", "-c", script]))


async def test_a_cancelled_exec_ends_its_process(v1: V1, backend: BackendServer) -> None:
    sandbox_id = await start(v1)
    assert backend.engine is not None
    live = backend.engine.runtime.live[sandbox_id]

    async def requests() -> AsyncIterator[pb.ExecStreamRequest]:
        yield _exec_init(sandbox_id, "sleep 60")
        await asyncio.Event().wait()  # stdin stays open: only the cancel ends the call

    call = v1.sandboxes.StreamExec(requests())
    assert (await call.read()).WhichOneof("message") == "ready"
    await until(lambda: len(live.execs) == 1, what="the exec to start")
    proc = next(iter(live.execs))
    call.cancel()
    await until(lambda: proc.returncode is not None and not live.execs,
                what="the cancelled exec's process to be ended")


async def test_a_reader_that_stops_reading_gets_stream_backpressure(
        v1: V1, backend: BackendServer) -> None:
    assert backend.engine is not None
    backend.engine.runtime.backpressure_seconds = 0.5
    sandbox_id = await start(v1)
    live = backend.engine.runtime.live[sandbox_id]

    async def requests() -> AsyncIterator[pb.ExecStreamRequest]:
        yield _exec_init(sandbox_id, "yes 0123456789abcdef")  # never ends by itself
        await asyncio.Event().wait()

    call = v1.sandboxes.StreamExec(requests())
    assert (await call.read()).WhichOneof("message") == "ready"
    await until(lambda: bool(live.execs), what="the exec to start")
    # We stop reading: the server gives up on us, stops the command and says so.
    await until(lambda: not live.execs, timeout=30, what="the server to end the stalled exec")
    kinds: list[str] = []
    async with asyncio.timeout(30):
        while (frame := await call.read()) is not grpc.aio.EOF:
            kinds.append(frame.WhichOneof("message"))
            if kinds[-1] != "output":
                break
    assert kinds[-1] == "error" and "output" in kinds and "exit" not in kinds
    assert frame.error.code == "STREAM_BACKPRESSURE"
    call.cancel()


class _Tty:
    """A TTY StreamExec as `Sandbox.shell()` sends it: init with tty, then typed frames."""

    def __init__(self, v1: V1, sandbox_id: str, width: int = 80, height: int = 24) -> None:
        self.outbox: asyncio.Queue[pb.ExecStreamRequest | None] = asyncio.Queue()
        self.outbox.put_nowait(pb.ExecStreamRequest(init=pb.ExecStreamInit(
            sandbox_id=sandbox_id, command=["/bin/sh"], tty=True, tty_width=width,
            tty_height=height)))
        self.call = v1.sandboxes.StreamExec(self._requests())
        self.frames: list[pb.ExecStreamResponse] = []

    async def _requests(self) -> AsyncIterator[pb.ExecStreamRequest]:
        while (item := await self.outbox.get()) is not None:
            yield item

    @property
    def screen(self) -> bytes:
        return b"".join(f.output.data for f in self.frames if f.HasField("output"))

    async def until(self, text: bytes) -> None:
        async with asyncio.timeout(10):
            while text not in self.screen:
                frame = await self.call.read()
                assert frame is not grpc.aio.EOF, self.screen
                self.frames.append(frame)

    async def finish(self) -> None:
        async with asyncio.timeout(10):
            while (frame := await self.call.read()) is not grpc.aio.EOF:
                self.frames.append(frame)
        self.outbox.put_nowait(None)


async def test_a_tty_exec_runs_on_a_real_terminal_that_resizes(v1: V1) -> None:
    sandbox_id = await start(v1)
    tty = _Tty(v1, sandbox_id, width=100, height=30)
    tty.outbox.put_nowait(pb.ExecStreamRequest(
        stdin=b"tty; test -t 0 && echo IS-A-$((1+1))-TTY; stty size\n"))
    await tty.until(b"IS-A-2-TTY")
    await tty.until(b"30 100")
    tty.outbox.put_nowait(pb.ExecStreamRequest(resize=pb.ExecStreamResize(width=132,
                                                                          height=43)))
    tty.outbox.put_nowait(pb.ExecStreamRequest(stdin=b"stty size; exit 5\n"))
    await tty.until(b"43 132")
    await tty.finish()
    assert b"not a tty" not in tty.screen
    kinds = [f.WhichOneof("message") for f in tty.frames]
    assert kinds[0] == "ready" and kinds[-1] == "exit" and kinds.count("exit") == 1
    assert {f.output.stream for f in tty.frames if f.HasField("output")} == {STDOUT}
    assert tty.frames[-1].exit.exit_code == 5


async def test_a_tty_window_too_large_names_the_field(v1: V1) -> None:
    sandbox_id = await start(v1)
    tty = _Tty(v1, sandbox_id, height=70_000)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await tty.finish()
    assert caught.value.code() == INVALID
    assert "init.tty_height" in (caught.value.details() or "")


async def test_logs_with_timestamps_prefix_each_line_and_keep_the_offsets(v1: V1) -> None:
    sandbox_id = await start(v1, args=["-c", "echo one; echo two; sleep 600"])

    async def both() -> list[pb.LogEntry] | None:
        found = await _logs(v1, sandbox_id=sandbox_id, timestamps=True)
        return found if len(found) == 2 else None
    entries = await poll(both, 10, "two log lines")
    for entry, text in zip(entries, (b"one\n", b"two\n"), strict=True):
        stamp, _, rest = entry.data.partition(b" ")
        assert rest == text, entry.data
        assert re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", stamp), stamp
        second = datetime.fromtimestamp(entry.timestamp.seconds, UTC)
        assert stamp[:19].decode() == second.strftime("%Y-%m-%dT%H:%M:%S")
    assert [e.next_log_offset for e in entries] == [4, 8]
    plain = await _logs(v1, sandbox_id=sandbox_id)
    assert [e.data for e in plain] == [b"one\n", b"two\n"]
