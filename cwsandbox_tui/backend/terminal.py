"""Interactive TTY exec: a process on a real pseudo-terminal inside the sandbox, for either
API generation.

Typed bytes go into the terminal, resize frames change its window size (the process gets
SIGWINCH), and whatever the terminal shows comes back as stdout output, in order, until the
process exits. Each generation turns its request frames into `TtyInput`s and these events
(those of `exec_session`) into its own response frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from .errors import invalid
from .exec_session import Exited, Output, Started, exit_code
from .runtime import LiveSandbox, Runtime, set_window

MAX_WINDOW = 10_000  # columns or rows; the kernel keeps 16 bits, nobody needs more
READ_CHUNK = 65536
EXIT_DRAIN = 0.5  # seconds to collect a terminal's last output after its process exits


@dataclass(frozen=True)
class Resize:
    width: int
    height: int


@dataclass(frozen=True)
class EndOfInput:
    """The client has no more input: typed as ctrl+d, as on a terminal."""


TtyInput = bytes | Resize | EndOfInput
TtyEvent = Started | Output | Exited


def check_window(width: int, height: int, prefix: str = "init.tty_") -> None:
    for name, value in (("width", width), ("height", height)):
        if value > MAX_WINDOW:
            raise invalid(f"{prefix}{name}", f"{value} is larger than {MAX_WINDOW}")


async def tty_session(runtime: Runtime, live: LiveSandbox, command: list[str],
                      env: dict[str, str], width: int, height: int,
                      inputs: AsyncIterator[TtyInput]) -> AsyncGenerator[TtyEvent, None]:
    """Started, the terminal's output, then exactly one Exited. Raises OSError (before any
    event) when the command cannot be started."""
    proc, master = await runtime.start_tty_exec(live, command, env, width, height)
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
            async for item in inputs:
                if isinstance(item, bytes):
                    await _write_all(master, item)
                elif isinstance(item, Resize):
                    if 0 < item.width <= MAX_WINDOW and 0 < item.height <= MAX_WINDOW:
                        set_window(master, item.width, item.height)
                else:
                    await _write_all(master, b"\x04")  # end of input, as ctrl+d on a terminal
        except OSError:  # ConnectionError too: the client went away
            pass

    os.set_blocking(master, False)
    pumping = asyncio.ensure_future(pump())
    feeding = asyncio.ensure_future(feed())
    waiting = asyncio.ensure_future(proc.wait())
    try:
        yield Started(time.time())
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
            yield Output(data)
        code = await proc.wait()
        yield Exited(exit_code(code), time.time())
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
