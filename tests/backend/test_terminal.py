"""TTY exec: a real pseudo-terminal in the sandbox, typed input, resizes, exit codes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from cwsandbox_tui.proto.v1beta2 import streaming_pb2 as spb

from .conftest import StartBackend
from .helpers import Gateway, Streaming, in_foreground, start_sandbox, until

INVALID = grpc.StatusCode.INVALID_ARGUMENT


class Terminal:
    """One TTY exec stream: type into it, resize it, read what it shows."""

    def __init__(self, streaming: Streaming, sandbox_id: str, argv: list[str],
                 width: int = 80, height: int = 24) -> None:
        self.outbox: asyncio.Queue[spb.ExecStreamRequest | None] = asyncio.Queue()
        self.outbox.put_nowait(spb.ExecStreamRequest(init=spb.ExecStreamInit(
            sandbox_id=sandbox_id, command=argv, tty=True, tty_width=width, tty_height=height)))
        self.call = streaming.StreamExec(self._requests())
        self.screen = b""
        self.frames: list[spb.ExecStreamResponse] = []
        self.exit_code: int | None = None

    async def _requests(self) -> AsyncIterator[spb.ExecStreamRequest]:
        while (item := await self.outbox.get()) is not None:
            yield item

    def type(self, text: bytes) -> None:
        self.outbox.put_nowait(spb.ExecStreamRequest(stdin=spb.ExecStreamData(data=text)))

    def resize(self, width: int, height: int) -> None:
        self.outbox.put_nowait(spb.ExecStreamRequest(
            resize=spb.ExecStreamResize(width=width, height=height)))

    async def until(self, text: bytes, timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while text not in self.screen:
                frame = await self.call.read()
                assert frame is not grpc.aio.EOF, self.screen
                self._take(frame)

    async def finish(self, timeout: float = 10) -> int:
        async with asyncio.timeout(timeout):
            while self.exit_code is None:
                frame = await self.call.read()
                assert frame is not grpc.aio.EOF, self.screen
                self._take(frame)
        self.outbox.put_nowait(None)
        return self.exit_code

    def _take(self, frame: spb.ExecStreamResponse) -> None:
        self.frames.append(frame)
        if frame.HasField("output"):
            assert frame.output.stream_type == spb.ExecStreamOutput.STREAM_TYPE_STDOUT
            self.screen += frame.output.data
        elif frame.HasField("exit"):
            self.exit_code = frame.exit.exit_code
        elif frame.HasField("error"):
            raise AssertionError(frame.error)


async def test_a_shell_on_a_real_terminal(gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    term = Terminal(streaming, sid, ["/bin/sh"], width=100, height=30)
    term.type(b"tty; stty size; test -t 0 && echo IS-A-TTY; echo $TERM\n")
    await term.until(b"xterm-256color")
    # `tty` names the terminal (bubblewrap shows it as /dev/console), never "not a tty"
    assert b"/dev/pts/" in term.screen or b"/dev/console" in term.screen
    assert b"not a tty" not in term.screen
    assert b"30 100" in term.screen
    assert b"IS-A-TTY" in term.screen
    assert term.frames[0].HasField("ready")
    term.resize(132, 43)
    term.type(b"stty size\n")
    await term.until(b"43 132")
    term.type(b"exit 3\n")
    assert await term.finish() == 3


async def test_ctrl_c_reaches_the_foreground_process(gateway: Gateway,
                                                     streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    term = Terminal(streaming, sid, ["/bin/sh"])
    term.type(b"sleep 60; echo after-sleep\n")
    await until(lambda: in_foreground(b"sleep\x0060\x00"), timeout=20,
                what="sleep 60 to hold its terminal")
    term.type(b"\x03")  # ctrl+c: the terminal sends SIGINT to the foreground group
    term.type(b"echo back-$((40+2))\n")
    await term.until(b"back-42")
    term.type(b"exit\n")
    assert await term.finish(timeout=15) == 0


async def test_what_a_program_prints_before_exiting_arrives(
        gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    term = Terminal(streaming, sid, ["/bin/sh", "-c", "seq 1 2000; exit 7"])
    assert await term.finish() == 7
    numbers = [line for line in term.screen.decode().split("\r\n") if line]
    assert numbers == [str(i) for i in range(1, 2001)]
    assert term.frames[-1].HasField("exit")


async def test_a_window_too_large_names_the_field(gateway: Gateway,
                                                  streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    term = Terminal(streaming, sid, ["/bin/sh"], width=70_000)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await term.finish()
    assert caught.value.code() == INVALID
    assert "init.tty_width" in (caught.value.details() or "")


async def test_an_unisolated_terminal_keeps_the_exit_code(start_backend: StartBackend) -> None:
    # Unisolated, the shell's launcher leads its own process group (it is not under
    # bubblewrap), which is where a terminal's session setup must not lose the exit status.
    connected = await start_backend(isolate=False)
    sid = await start_sandbox(connected.gateway)
    term = Terminal(connected.streaming, sid, ["/bin/sh"], width=90, height=20)
    term.type(b"stty size; exit 2\n")
    assert await term.finish() == 2
    assert b"20 90" in term.screen
