"""The connection's life: noticing the server is gone, getting it back, saying so.

A call that fails with UNAVAILABLE and no reason from the server (the server itself did not
answer) makes the link check the server with one cheap call. If that fails too, the link is
"reconnecting": it reopens the connection (for the embedded backend: starts it again on the
same data directory, which also finds one that another client started meanwhile) after
growing pauses, and reports each try with when the next one comes. After `give_up_after`
tries it is "disconnected" and waits for `retry_now()`. Each change is a `ConnectionChanged`
event on the client's bus, so the dashboard, scripts and the operations log all see it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

from . import events as ev
from .clock import Clock
from .connection import EndpointInfo
from .errors import CwsError
from .generation import Choice

CONNECTING = "connecting"  # not answered yet (a dashboard that drew before connecting)
CONNECTED = "connected"
RECONNECTING = "reconnecting"
DISCONNECTED = "disconnected"
REFUSED = "refused"  # the server answers, but refuses the key: nothing works until it changes

DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # seconds before each try; the last repeats
PROBE_TIMEOUT = 3.0
PROBES = 3  # failed probes in a row that mean the connection is gone
NO_ANSWER = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "")  # codes that prove no answer

# Opens a fresh connection (and says where it leads); raises when it cannot.
Reopen = Callable[[], Awaitable[tuple[Choice, EndpointInfo]]]


class Linked(Protocol):
    """What the link needs of the client whose connection it watches."""

    @property
    def bus(self) -> ev.EventBus: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def info(self) -> EndpointInfo: ...

    @property
    def adapter(self) -> Choice: ...

    def on_close(self, callback: Callable[[], None]) -> None: ...

    async def replace_adapter(self, adapter: Choice, info: EndpointInfo) -> None: ...


class Link:
    def __init__(self, client: Linked, reopen: Reopen, *, delays: tuple[float, ...] = DELAYS,
                 give_up_after: int = 20,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 connecting: bool = False) -> None:
        """`connecting`: nothing has been asked yet; the first answer makes it "connected"."""
        self.client = client
        self.reopen = reopen
        self.delays = delays
        self.give_up_after = give_up_after
        self.sleep = sleep
        self.state = CONNECTING if connecting else CONNECTED
        self._heard = 0  # answers seen on the bus (calls that reached a live server)
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe = client.bus.subscribe(self._on_event)
        client.on_close(self.stop)

    @property
    def connected(self) -> bool:
        """Not known to be lost (it may not have answered yet)."""
        return self.state in (CONNECTED, CONNECTING)

    def answered(self) -> None:
        """The endpoint answered a call: a link still connecting (or whose key was refused,
        and now works) is connected."""
        if self.state in (CONNECTING, REFUSED):
            self._emit(CONNECTED)

    def refused(self, error: CwsError) -> None:
        """The endpoint refused the key (UNAUTHENTICATED, or PERMISSION_DENIED before anything
        was allowed). Said once; polling stops until `retry_now()`. A PERMISSION_DENIED once
        connected is that one call's refusal (say, a delete with a read-only key)."""
        if self.state == REFUSED:
            return
        if error.code == "PERMISSION_DENIED" and self.state == CONNECTED:
            return
        if self._task is not None:
            self._task.cancel()  # a reconnect in progress has its answer
        self._emit(REFUSED, reason=str(error))

    def _on_event(self, event: ev.Event) -> None:
        if isinstance(event, (ev.RetryScheduled, ev.Failed)):
            if event.code == "UNAVAILABLE" and not event.reason:
                self.check(event.message)
            elif event.code not in NO_ANSWER:
                self._heard += 1  # refused, throttled, not found...: something answered
        elif isinstance(event, ev.Finished) or (isinstance(event, ev.Progress) and event.done):
            self._heard += 1

    def check(self, reason: str = "") -> None:
        """Find out whether the server still answers, and recover if not (idempotent)."""
        if self._task is None or self._task.done():
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to do
                self._task = asyncio.get_running_loop().create_task(self._recover(reason))

    def opening_failed(self, reason: str) -> None:
        """The first opening failed (say, the embedded backend did not start): nothing was
        ever connected, so no retries run on their own; `retry_now()` tries again."""
        if self.state == CONNECTING:
            self._emit(DISCONNECTED, reason=reason)

    def retry_now(self) -> bool:
        """After "disconnected": start trying again. After "refused": ask again (returns
        True: the caller's next call is the try, and its answer settles the state)."""
        if self.state == REFUSED:
            self._emit(CONNECTING, reason="asked to retry")
            return True
        if not self.connected:
            self.check("asked to retry")
        return False

    def stop(self) -> None:
        self._unsubscribe()
        if self._task is not None:
            self._task.cancel()

    def _emit(self, state: str, *, attempt: int = 0, next_try_in: float | None = None,
              reason: str = "") -> None:
        self.state = state
        self.client.bus.emit(ev.ConnectionChanged(
            op_id=self.client.bus.new_op_id(), op="Connection", at=self.client.clock.time(),
            targets=(self.client.info.url,) if self.client.info.url else (), state=state,
            attempt=attempt, next_try_in=next_try_in, reason=reason))

    async def _answers(self, adapter: Choice) -> bool:
        # A lossy network fails a single probe now and then while the server is fine; a dead
        # one refuses every probe at once, so asking a few times costs it nothing.
        for _ in range(PROBES):
            try:
                await (await adapter.generation()).get_bucket(PROBE_TIMEOUT)
            except CwsError as error:
                if error.code != "UNAVAILABLE" or error.reason:
                    return True  # a live server refused
                continue
            return True
        return False

    async def _recover(self, reason: str) -> None:
        heard = self._heard
        if self.connected and (await self._answers(self.client.adapter)
                               or self._heard != heard):
            # The server answers (a probe, or other calls meanwhile): that failure was its
            # own or the network's, not a lost connection. Under a lossy network a bulk run
            # has calls answered all along while now and then three probes in a row fail;
            # reconnecting then only costs a new connection and a pause.
            self.answered()
            return
        for attempt in range(1, self.give_up_after + 1):
            delay = self.delays[min(attempt, len(self.delays)) - 1]
            self._emit(RECONNECTING, attempt=attempt, next_try_in=delay, reason=reason)
            await self.sleep(delay)
            try:
                adapter, info = await self.reopen()
            except Exception as error:  # noqa: BLE001 - any failure to reopen is one more try
                reason = f"{type(error).__name__}: {error}"
                continue
            if not await self._answers(adapter):
                reason = "the server does not answer"
                await adapter.close()
                continue
            await self.client.replace_adapter(adapter, info)
            self._emit(CONNECTED, attempt=attempt)
            return
        self._emit(DISCONNECTED, attempt=self.give_up_after, reason=reason)
