"""A connection still being opened, so a client exists before it does.

Opening means waiting for the embedded backend to boot (in its own process) and loading
grpc and an API generation's generated modules: a good part of a second before the
dashboard's first frame. `Opening` is the client's `Choice` meanwhile: the dashboard draws
first and then asks for the opening; a call waits for it and then speaks the generation
the opened connection chose, and the client holds that choice from then on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from .connection import EndpointInfo
from .errors import CwsError
from .generation import Choice, Generation

# Opens the real connection; raises (a CwsError) when it cannot.
Opener = Callable[[], Awaitable[tuple[Choice, EndpointInfo]]]
# Told the real connection's choice once it is open.
Opened = Callable[[Choice, EndpointInfo], None]

CLOSED = "the client was closed before its connection opened"


class Opening:
    """Calls wait until `open()` has been asked for and the opening is done."""

    def __init__(self, open_: Opener, again: Opener, *, api: str) -> None:
        """`open_` opens it; `again` after that failed (say, the backend did not start)."""
        self._open = open_
        self._again = again
        self.on_open: Opened = lambda choice, info: None
        self.on_failed: Callable[[str], None] = lambda reason: None  # an opening failed
        self._asked = asyncio.Event()
        self._task: asyncio.Task[Choice] | None = None
        self._opened: Choice | None = None
        self._closed = False
        self._api = api  # the planned generation, until the opened connection says

    @property
    def api_version(self) -> str:
        return self._api

    @property
    def has_pause(self) -> bool:
        return self._api != "v1"  # what the plan may offer (as `Auto` says until it knows)

    @property
    def has_volumes(self) -> bool:
        return self._api != "v1beta2"

    def open(self) -> None:
        """Begin opening (the dashboard asks once its first frame is on the screen)."""
        if self._task is None and not self._closed:
            self._task = asyncio.ensure_future(self._opening(self._open))
            self._asked.set()

    async def _opening(self, open_: Opener) -> Choice:
        try:
            choice, info = await open_()
        except Exception as error:
            self.on_failed(str(error) if isinstance(error, CwsError)
                           else f"{type(error).__name__}: {error}")
            raise
        if self._closed:  # closed while it opened: this one is nobody's to close
            await choice.close()
            raise CwsError(CLOSED, code="CANCELLED")
        self._opened = choice
        self.on_open(choice, info)
        return choice

    @property
    def opening(self) -> bool:
        """The opening has begun and not yet ended."""
        return self._task is not None and self._opened is None

    async def ready(self) -> Choice:
        """The opened connection's choice (a failed opening is tried again on the next call)."""
        if self._opened is not None:
            return self._opened
        await self._asked.wait()
        if self._closed or self._task is None:
            raise CwsError(CLOSED, code="CANCELLED")
        if self._task.done() and (self._task.cancelled() or self._task.exception() is not None):
            self._task = asyncio.ensure_future(self._opening(self._again))
        return await asyncio.shield(self._task)  # one caller's cancel is not all's

    async def generation(self) -> Generation:
        return await (await self.ready()).generation()

    async def discovery(self) -> Generation:
        return await (await self.ready()).discovery()

    async def close(self, grace: float | None = None) -> None:
        self._closed = True
        self._asked.set()  # calls still waiting for `open()` end
        if self._opened is not None:
            await self._opened.close(grace)
        elif self._task is not None:
            self._task.cancel()  # which tells a wait for the embedded backend to stop
            await asyncio.wait([self._task])
