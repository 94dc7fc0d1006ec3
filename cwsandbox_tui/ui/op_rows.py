"""Rows of the operations view, one per client event (progress excepted); no Textual here."""

from __future__ import annotations

from dataclasses import dataclass

from ..client import events as ev


@dataclass(frozen=True)
class OpRow:
    seq: int
    at: float
    op: str
    kind: str
    detail: str
    targets: str


def describe(event: ev.Event) -> str:
    if isinstance(event, ev.RetryScheduled):
        return (f"attempt {event.attempt} failed ({event.reason or event.code}); retry in "
                f"{event.delay:.1f}s, {event.budget_left:.0f}s of budget left")
    if isinstance(event, ev.DeadlineSet):
        return f"deadline {event.seconds:g}s: {event.what}"
    if isinstance(event, ev.DeadlineExceeded):
        return event.message
    if isinstance(event, ev.Conflict):
        return f"{event.message} {event.advice}"
    if isinstance(event, ev.Failed):
        return event.message
    if isinstance(event, ev.Finished):
        return event.summary
    if isinstance(event, ev.OperationWarning):
        return event.message
    if isinstance(event, ev.OperationStarted):
        return event.detail
    if isinstance(event, ev.ConnectionChanged):
        detail = event.state + (f", try {event.attempt}" if event.attempt else "")
        if event.next_try_in is not None:
            detail += f", next in {event.next_try_in:g}s"
        return detail + (f": {event.reason}" if event.reason else "")
    return ""


def op_row(seq: int, event: ev.Event) -> OpRow:
    targets = ", ".join(event.targets[:3]) + (" ..." if len(event.targets) > 3 else "")
    return OpRow(seq, event.at, event.op, event.kind, describe(event), targets)
