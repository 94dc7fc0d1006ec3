"""One operation's life as events: started, deadlines, retries, progress, finished or failed."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

from . import events as ev
from .bulk import Outcome
from .clock import Clock
from .errors import CwsError
from .models import SandboxStatus
from .retry import RetryNotice


class Operation:
    """Use as `async with Operation(...) as op:`; failures are reported on the way out.

    A `routine` operation (a dashboard's poll) is counted on the bus when it succeeds and
    emits nothing; its first retry, warning or failure emits its start first, so the log of
    anything that went wrong is whole.
    """

    def __init__(self, bus: ev.EventBus, clock: Clock, label: str, targets: tuple[str, ...] = (),
                 detail: str = "", *, kind: ev.OpKind = ev.OpKind.OTHER,
                 routine: bool = False) -> None:
        """`label` is for people; `kind` is what code reads."""
        self.bus = bus
        self.clock = clock
        self.label = label
        self.kind = kind
        self.targets = targets
        self.detail = detail
        self.id = bus.new_op_id()
        self.attempts = 1
        self.started = clock.monotonic()
        self._done = False
        self.routine = routine
        self._announced = not routine

    def _base(self, targets: tuple[str, ...] | None = None) -> dict[str, Any]:
        targets = targets or self.targets
        subject = self.kind.subject
        # A step's one target (a bulk run's item), or the operation's first (a stop's sandbox;
        # a snapshot's, whose id joins the targets once known)
        item = ev.Item(subject, targets[0]) if subject is not None and targets and (
            len(targets) == 1 or not self.kind.bulk) else None
        return dict(op_id=self.id, op=self.label, targets=targets, at=self.clock.time(),
                    op_kind=self.kind, item=item)

    def emit(self, event_type: type[ev.Event], /, targets: tuple[str, ...] | None = None,
             **fields: Any) -> None:
        if not self._announced:
            self._announced = True
            self.bus.emit(ev.OperationStarted(**self._base(), detail=self.detail))
        self.bus.emit(event_type(**self._base(targets), **fields))

    async def __aenter__(self) -> Operation:
        if not self.routine:
            self.emit(ev.OperationStarted, detail=self.detail)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        _tb: TracebackType | None) -> None:
        if error is None or self._done:
            return
        self._done = True
        if isinstance(error, asyncio.CancelledError):
            if self.routine and not self._announced:
                return  # a quiet poll given up (a newer one replaced it): nothing to log
            self.emit(ev.Failed, message=f"{self.label} was cancelled", error="Cancelled",
                      attempts=self.attempts, ending=ev.Ending.CANCELLED)
        elif isinstance(error, CwsError):
            message = str(error)
            if self.attempts > 1:
                message += f" (after {self.attempts} attempts)"
            self.emit(ev.Failed, message=message, error=type(error).__name__, code=error.code,
                      reason=error.reason, attempts=self.attempts)
        else:
            self.emit(ev.Failed, message=f"{self.label} failed: {error}",
                      error=type(error).__name__, attempts=self.attempts)

    @property
    def done(self) -> bool:
        return self._done

    def attempting(self, number: int) -> None:
        """Attempt `number` is starting (so `attempts` counts only attempts really made)."""
        self.attempts = max(self.attempts, number)

    def retrying(self, notice: RetryNotice, target: str | None = None, *,
                 connecting: bool = False) -> None:
        self.attempts = max(self.attempts, notice.attempt)
        e = notice.error
        self.emit(ev.RetryScheduled, targets=(target,) if target else None,
                  attempt=notice.attempt, delay=notice.delay, code=e.code, reason=e.reason,
                  message=str(e), budget_left=max(0.0, notice.remaining),
                  connecting=connecting)

    def deadline(self, seconds: float, what: str) -> None:
        self.emit(ev.DeadlineSet, seconds=seconds, what=what)

    def progress(self, done: int, total: int, failed: int = 0, detail: str = "",
                 budget: float | None = None, target: str | None = None,
                 outcome: Outcome | None = None) -> None:
        """`target`: the one item this step concerns (a bulk run's step must not carry every
        id: each listener, the operations log included, would copy them all, per item);
        `outcome`: what became of it."""
        self.emit(ev.Progress, targets=(target,) if target else None, done=done, total=total,
                  failed=failed, detail=detail, elapsed=self.clock.monotonic() - self.started,
                  budget=budget, outcome=outcome)

    def warn(self, message: str) -> None:
        self.emit(ev.OperationWarning, message=message)

    def finished(self, summary: str, *, ending: ev.Ending = ev.Ending.DONE,
                 outcome: Outcome | None = None, state: SandboxStatus | None = None,
                 made: ev.Item | None = None, unsettled: tuple[str, ...] = (),
                 **result: Any) -> None:
        """The typed end (see `ev.Finished`); `result`: figures for the log and scripts,
        which say the outcome too."""
        if outcome is not None:
            result.setdefault("outcome", outcome.value)
        self._done = True
        if self.routine and not self._announced:
            self.bus.count_routine(self.label)  # a quiet success: counted, not logged
            return
        self.emit(ev.Finished, summary=summary, result=result, ending=ending, outcome=outcome,
                  state=state, made=made, unsettled=unsettled)
