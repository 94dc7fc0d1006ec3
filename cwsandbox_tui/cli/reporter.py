"""Retries, deadlines, conflicts and bulk progress, reported on stderr as they happen."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from ..client import events as ev
from ..textsafe import inert_lines


class StderrReporter:
    def __init__(self, stream: TextIO | None = None, progress_bar: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.bar = self.stream.isatty() if progress_bar is None else progress_bar
        self._bar_shown = False
        self._started: dict[str, float] = {}

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.OperationStarted):
            self._started[event.op_id] = time.monotonic()
        elif isinstance(event, ev.RetryScheduled) and event.connecting:
            pass  # an endpoint not reached yet: the one error at the end names it
        elif isinstance(event, ev.RetryScheduled):
            target = f" {event.targets[0]}" if len(event.targets) == 1 else ""
            self._line(f"retrying {event.op}{target}: attempt {event.attempt} failed with "
                       f"{event.reason or event.code}; next in {event.delay:.1f} s "
                       f"({event.budget_left:.0f} s of retry budget left)")
        elif isinstance(event, ev.DeadlineSet):
            self._line(f"{event.op}: deadline {event.seconds:g} s ({event.what})")
        elif isinstance(event, ev.DeadlineExceeded):
            self._line(f"{event.op}: deadline exceeded after {event.seconds:g} s: {event.message}")
        elif isinstance(event, ev.Conflict):
            self._line(f"{event.op}: conflict: {event.message} {event.advice}")
        elif isinstance(event, ev.OperationWarning):
            self._line(f"warning: {event.op}: {event.message}")
        elif isinstance(event, ev.Progress) and event.total > 1 and self.bar:
            self._draw(event)
        elif isinstance(event, (ev.Finished, ev.Failed)) and self._bar_shown:
            self.stream.write("\n")
            self._bar_shown = False

    def _line(self, text: str) -> None:
        if self._bar_shown:
            self.stream.write("\n")
            self._bar_shown = False
        self.stream.write(inert_lines(text) + "\n")
        self.stream.flush()

    def _draw(self, event: ev.Progress) -> None:
        width = 30
        filled = int(width * event.done / event.total) if event.total else width
        started = self._started.get(event.op_id, time.monotonic())
        elapsed = time.monotonic() - started
        eta = ""
        if 0 < event.done < event.total:
            eta = f" ETA {elapsed / event.done * (event.total - event.done):.0f}s"
        failed = f" {event.failed} failed" if event.failed else ""
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] "
                          f"{event.done}/{event.total}{failed}{eta}   ")
        self.stream.flush()
        self._bar_shown = True
