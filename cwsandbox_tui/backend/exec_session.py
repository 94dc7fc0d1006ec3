"""One exec's process and its pipes, for either API generation.

Each generation turns its request frames into stdin bytes and these events into its own
response frames; the process, its output, the client that stops reading, and the clean-up
(stdin closed, helper tasks awaited, the process ended and reaped) live here once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

from .runtime import LiveSandbox, Runtime, drain_pipes

READ_CHUNK = 65536
QUEUED_FRAMES = 64


@dataclass(frozen=True)
class Started:
    """The first event: the session is live (a generation's `ready` frame)."""

    at: float


@dataclass(frozen=True)
class Output:
    data: bytes
    stderr: bool = False


@dataclass(frozen=True)
class Exited:
    code: int  # 128 + the signal's number when a signal ended it, as a shell says
    at: float


@dataclass(frozen=True)
class Stalled:
    """The client did not read for `seconds`: the command was stopped, its output dropped."""

    seconds: float


ExecEvent = Started | Output | Exited | Stalled


def exit_code(returncode: int) -> int:
    return returncode if returncode >= 0 else 128 - returncode


async def run_exec(runtime: Runtime, live: LiveSandbox, proc: asyncio.subprocess.Process,
                   stdin: AsyncIterator[bytes]) -> AsyncGenerator[ExecEvent, None]:
    """Started, then the events of `proc` until it exits (exactly one Exited) or the client
    stalls.

    `stdin` yields what the client typed; its end is the end of the command's input, not a
    cancel. Whatever way the caller leaves (done, cancelled, the client gone), the process
    is ended and reaped and no task of the session is left behind.
    """
    backpressure_seconds = runtime.backpressure_seconds
    queue: asyncio.Queue[Output | None] = asyncio.Queue(maxsize=QUEUED_FRAMES)
    stalled = asyncio.Event()

    async def pump(stream: asyncio.StreamReader | None, stderr: bool) -> None:
        if stream is None:
            return
        while chunk := await stream.read(READ_CHUNK):
            try:
                await asyncio.wait_for(queue.put(Output(chunk, stderr)), backpressure_seconds)
            except TimeoutError:
                stalled.set()
                runtime.end_exec(live, proc)  # stop it now, not when somebody reads
                return

    async def pump_all() -> None:
        await asyncio.gather(pump(proc.stdout, False), pump(proc.stderr, True))
        if not stalled.is_set():  # a stalled session ends with Stalled, after what was queued
            await queue.put(None)

    async def feed() -> None:
        assert proc.stdin is not None
        try:
            async for data in stdin:
                proc.stdin.write(data)
                await proc.stdin.drain()
        except ConnectionError:
            pass  # the client went away or the command stopped reading: input ends
        finally:
            proc.stdin.close()

    tasks = [asyncio.ensure_future(feed()), asyncio.ensure_future(pump_all())]
    stall = asyncio.ensure_future(stalled.wait())
    try:
        yield Started(time.time())
        while True:
            getting = asyncio.ensure_future(queue.get())
            await asyncio.wait({getting, stall}, return_when=asyncio.FIRST_COMPLETED)
            if not getting.done():
                getting.cancel()
                yield Stalled(backpressure_seconds)
                return
            item = getting.result()
            if item is None:
                break
            yield item
        returncode = await proc.wait()
        yield Exited(exit_code(returncode), time.time())
    finally:
        stall.cancel()
        for task in tasks:
            task.cancel()
        runtime.end_exec(live, proc)
        # The rest is the runtime's: a handler cancelled by its client (or by the server
        # stopping) may not live to finish it, and whatever is left pending (a task, an open
        # pipe) would be torn down by the garbage collector after its loop is gone.
        runtime.spawn_task(_reap(proc, [stall, *tasks]))


async def _reap(proc: asyncio.subprocess.Process, tasks: list[asyncio.Future[Any]]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)
    if proc.stdin is not None:
        proc.stdin.close()  # feed() may have been cancelled before it ever ran
    with contextlib.suppress(ProcessLookupError):
        await proc.wait()
    await drain_pipes(proc)
