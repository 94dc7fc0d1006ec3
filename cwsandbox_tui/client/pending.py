"""The adapter of a connection still being opened, so a client exists before it does.

Opening means waiting for the embedded backend to boot (in its own process) and loading
grpc and an API generation's generated modules: a good part of a second before the
dashboard's first frame. With this stand-in the dashboard draws first and then asks for the
opening; each call waits for it, then goes to the real adapter, and the client talks to that
one from then on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .errors import CwsError

if TYPE_CHECKING:
    from .client import EndpointInfo
    from .generations import AnyAdapter

# Opens the real adapter; raises (a CwsError) when it cannot.
Opener = Callable[[], Awaitable[tuple["AnyAdapter", "EndpointInfo"]]]
# Told the real adapter once it is open.
Opened = Callable[["AnyAdapter", "EndpointInfo"], None]

STREAMS = frozenset({"exec", "logs", "terminal"})  # the adapter's async-iterator methods


class PendingAdapter:
    """Calls wait until `open()` has been asked for and the opening is done."""

    def __init__(self, open_: Opener, again: Opener, *, api: str) -> None:
        """`open_` opens it; `again` after that failed (say, the backend did not start)."""
        self._open = open_
        self._again = again
        self.on_open: Opened = lambda adapter, info: None
        self.on_failed: Callable[[str], None] = lambda reason: None  # an opening failed
        self._asked = asyncio.Event()
        self._task: asyncio.Task[AnyAdapter] | None = None
        self._adapter: AnyAdapter | None = None
        self._closed = False
        # What the planned generation offers, until the endpoint says (as AutoAdapter does).
        self.api_version = api
        self.has_pause = api != "v1"
        self.has_volumes = api != "v1beta2"

    def open(self) -> None:
        """Begin opening (the dashboard asks once its first frame is on the screen)."""
        if self._task is None and not self._closed:
            self._task = asyncio.ensure_future(self._opening(self._open))
            self._asked.set()

    async def _opening(self, open_: Opener) -> AnyAdapter:
        try:
            adapter, info = await open_()
        except Exception as error:
            self.on_failed(str(error) if isinstance(error, CwsError)
                           else f"{type(error).__name__}: {error}")
            raise
        if self._closed:  # closed while it opened: this one is nobody's to close
            await adapter.close()
            raise CwsError("the client was closed before its connection opened",
                           code="CANCELLED")
        self._adapter = adapter
        self.on_open(adapter, info)
        return adapter

    @property
    def opening(self) -> bool:
        """The opening has begun and not yet ended."""
        return self._task is not None and self._adapter is None

    async def ready(self) -> AnyAdapter:
        """The real adapter, once opened (a failed opening is tried again on the next call)."""
        if self._adapter is not None:
            return self._adapter
        await self._asked.wait()
        if self._closed or self._task is None:
            raise CwsError("the client was closed before its connection opened",
                           code="CANCELLED")
        if self._task.done() and (self._task.cancelled() or self._task.exception() is not None):
            self._task = asyncio.ensure_future(self._opening(self._again))
        return await asyncio.shield(self._task)  # one caller's cancel is not all's

    async def resolve(self) -> AnyAdapter:
        adapter = await self.ready()
        resolve = getattr(adapter, "resolve", None)
        return await resolve() if resolve is not None else adapter

    async def close(self, grace: float | None = None) -> None:
        self._closed = True
        self._asked.set()  # calls still waiting for `open()` end
        if self._adapter is not None:
            await self._adapter.close(grace)
        elif self._task is not None:
            self._task.cancel()  # which tells a wait for the embedded backend to stop
            await asyncio.wait([self._task])

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name in STREAMS:
            async def stream(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                async for item in getattr(await self.ready(), name)(*args, **kwargs):
                    yield item
            return stream

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await getattr(await self.ready(), name)(*args, **kwargs)
        return call
