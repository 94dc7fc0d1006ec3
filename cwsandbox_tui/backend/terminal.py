"""Interactive TTY exec: a process on a real pseudo-terminal inside the sandbox.

The client's stdin frames are typed into the terminal, resize frames change its window size
(the process gets SIGWINCH), and whatever the terminal shows comes back as stdout frames,
in order, until the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator

import grpc

from ..proto.v1beta2 import streaming_pb2 as spb
from .errors import invalid
from .runtime import LiveSandbox, Runtime, set_window
from .service import timestamp

MAX_WINDOW = 10_000  # columns or rows; the kernel keeps 16 bits, nobody needs more
READ_CHUNK = 65536
EXIT_DRAIN = 0.5  # seconds to collect a terminal's last output after its process exits
_STDOUT = spb.ExecStreamOutput.STREAM_TYPE_STDOUT


def check_window(width: int, height: int, prefix: str = "init.tty_") -> None:
    for name, value in (("width", width), ("height", height)):
        if value > MAX_WINDOW:
            raise invalid(f"{prefix}{name}", f"{value} is larger than {MAX_WINDOW}")


async def tty_session(runtime: Runtime, live: LiveSandbox, init: spb.ExecStreamInit,
                      requests: AsyncIterator[spb.ExecStreamRequest]
                      ) -> AsyncIterator[spb.ExecStreamResponse]:
    check_window(init.tty_width, init.tty_height)
    try:
        proc, master = await runtime.start_tty_exec(live, list(init.command), dict(init.env),
                                                    init.tty_width, init.tty_height)
    except OSError as exc:
        yield spb.ExecStreamResponse(error=spb.ExecStreamError(
            code="EXEC_START_FAILED", message=f"could not start {init.command[0]!r}: {exc}"))
        return
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=64)
    readable = asyncio.Event()
    loop.add_reader(master, readable.set)

    async def pump() -> None:
        # EIO on the master is the terminal's end of file: every holder of the slave is gone.
        while True:
            await readable.wait()
            readable.clear()
            try:
                data = os.read(master, READ_CHUNK)
            except BlockingIOError:
                continue
            except OSError:
                break
            if not data:
                break
            await queue.put(data)
        await queue.put(None)

    async def feed() -> None:
        try:
            async for message in requests:
                kind = message.WhichOneof("request")
                if kind == "stdin":
                    await _write_all(master, message.stdin.data)
                elif kind == "resize":
                    width, height = message.resize.width, message.resize.height
                    if 0 < width <= MAX_WINDOW and 0 < height <= MAX_WINDOW:
                        set_window(master, width, height)
                elif kind == "close":
                    await _write_all(master, b"\x04")  # end of input, as ctrl+d on a terminal
        except (ConnectionError, OSError, grpc.aio.AioRpcError):
            pass

    os.set_blocking(master, False)
    pumping = asyncio.ensure_future(pump())
    feeding = asyncio.ensure_future(feed())
    waiting = asyncio.ensure_future(proc.wait())
    try:
        yield spb.ExecStreamResponse(ready=spb.StreamingExecReady(
            ready_at=timestamp(time.time()), session_id=uuid.uuid4().hex))
        exited_at: float | None = None
        while True:
            if exited_at is None:
                getting = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getting, waiting},
                                             return_when=asyncio.FIRST_COMPLETED)
                if getting not in done:
                    getting.cancel()
                    exited_at = loop.time()
                    continue
                data = getting.result()
            else:
                # The process is gone; what it printed last is still in the terminal. Its
                # end of file comes once no background child holds the terminal either.
                try:
                    data = await asyncio.wait_for(
                        queue.get(), max(exited_at + EXIT_DRAIN - loop.time(), 0.001))
                except TimeoutError:
                    break
            if data is None:
                break
            yield spb.ExecStreamResponse(output=spb.ExecStreamOutput(
                stream_type=_STDOUT, data=data))  # type: ignore[arg-type]
        code = await proc.wait()
        yield spb.ExecStreamResponse(exit=spb.ExecStreamExit(
            exit_code=code if code >= 0 else 128 - code, completed_at=timestamp(time.time())))
    finally:
        loop.remove_reader(master)
        for task in (pumping, feeding, waiting):
            task.cancel()
        runtime.end_exec(live, proc)
        with contextlib.suppress(ProcessLookupError):
            await proc.wait()
        os.close(master)


async def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            await asyncio.sleep(0.01)  # the terminal's input buffer is full: let it drain
            continue
        view = view[written:]
