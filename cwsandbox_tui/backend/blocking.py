"""Where the backend's short blocking work runs: file and log I/O, off the event loop.

A pool of its own, apart from the loop's default executor (where archives are made and
restored), so that a long archive never delays a file read or a log tail.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="cwsandbox-io")


async def run_io(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run `func` in the I/O pool and wait for it without blocking the loop."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_POOL, functools.partial(func, *args, **kwargs))
