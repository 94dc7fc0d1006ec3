"""Where the backend's short blocking work runs: file and log I/O, off the event loop.

A pool of its own, apart from the loop's default executor (where archives are made and
restored), so that a long archive never delays a file read or a log tail.

Work that may take long (reading a huge log backwards) is given a `Left` flag and checks
it between blocks: when the caller stops waiting (its RPC was cancelled because the client
went away, or the server is stopping) the flag is set and the thread gives up at once,
instead of burning CPU for nobody and holding a worker the other calls need.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Concatenate, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="cwsandbox-io")


class Abandoned(Exception):
    """Raised in a thread whose caller has left: the work was stopped part-way."""


class Left:
    """Set once the caller of a piece of thread work no longer waits for it."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def check(self) -> None:
        if self._event.is_set():
            raise Abandoned()


async def run_io(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run `func` in the I/O pool and wait for it without blocking the loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_POOL, functools.partial(func, *args, **kwargs))


async def run_io_stoppable(func: Callable[Concatenate[Left, P], T], *args: P.args,
                           **kwargs: P.kwargs) -> T:
    """Like `run_io`, for work that checks its first argument, a `Left`, between steps: if
    this await is cancelled the flag is set and the thread stops at its next check."""
    left = Left()
    try:
        return await run_io(func, left, *args, **kwargs)
    finally:
        left.set()
