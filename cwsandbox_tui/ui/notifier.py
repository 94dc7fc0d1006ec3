"""What the person is told about the client's events: once, briefly, never a flood."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..client import events as ev

QUIET_OPS = ("List sandboxes", "List file-system snapshots", "Get file-system snapshot",
             "Get bucket config", "List runners", "List profiles", "List volumes")
KEY_REFUSED = ("UNAUTHENTICATED", "PERMISSION_DENIED")
RETRY_NOTICE_GAP = 3.0  # seconds between two retry notifications of one operation


class Notifier:
    def __init__(self, notify: Callable[..., Any],
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._notify = notify
        self._monotonic = monotonic
        self._retry_noticed: dict[str, tuple[float, int]] = {}
        self._conflicted: set[str] = set()  # operations whose failure a conflict notice told
        self.link_state = "connected"

    @property
    def link_down(self) -> bool:
        """The header says the connection is down: its failures need no notice each."""
        return self.link_state != "connected"

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.ConnectionChanged):
            self._link(event)
            return
        if isinstance(event, (ev.Finished, ev.Failed)):
            self._retry_noticed.pop(event.op_id, None)
        if self.link_down and isinstance(event, (ev.RetryScheduled, ev.Failed)) \
                and event.code == "UNAVAILABLE":
            return  # one notice said the connection is down; the header keeps saying it
        if self.link_state == "refused" and isinstance(event, ev.Failed) \
                and event.code in KEY_REFUSED:
            return  # one notice said the key was refused; the header keeps saying it
        if isinstance(event, ev.RetryScheduled) and event.connecting:
            pass  # the endpoint has not answered yet: the header says connecting, the link
            # says whether it comes (a notice per retry would only repeat that)
        elif isinstance(event, ev.RetryScheduled):
            self._retry(event)
        elif isinstance(event, ev.DeadlineExceeded):
            self._notify(event.message, title=f"{event.op}: deadline exceeded",
                         severity="error", markup=False, timeout=15)
        elif isinstance(event, ev.Conflict):
            self._conflicted.add(event.op_id)
            self._notify(f"{event.message}\n{event.advice}", title="Stop conflict",
                         severity="error", markup=False, timeout=15)
        elif isinstance(event, ev.OperationWarning):
            self._notify(event.message, title=event.op, severity="warning", markup=False)
        elif isinstance(event, ev.Failed):
            if event.op_id in self._conflicted:
                self._conflicted.discard(event.op_id)  # "Stop conflict" already said it all
            elif event.error != "Cancelled" or event.op not in QUIET_OPS:
                self._notify(event.message, title=f"{event.op} failed", severity="error",
                             markup=False, timeout=10)
        elif isinstance(event, ev.Finished) and event.op not in QUIET_OPS:
            self._notify(event.summary, title=event.op, markup=False)

    def _retry(self, event: ev.RetryScheduled) -> None:
        last, count = self._retry_noticed.get(event.op_id, (-1e9, 0))
        now = self._monotonic()
        self._retry_noticed[event.op_id] = (now if now - last >= RETRY_NOTICE_GAP else last,
                                            count + 1)
        if now - last < RETRY_NOTICE_GAP:
            return
        target = f" {event.targets[0]}" if len(event.targets) == 1 else ""
        more = f" ({count} earlier retries)" if count else ""
        self._notify(f"{event.op}{target}: attempt {event.attempt} failed with "
                     f"{event.reason or event.code}; retrying in {event.delay:.1f}s{more}",
                     title="Retrying", severity="warning", markup=False)

    def _link(self, event: ev.ConnectionChanged) -> None:
        was, self.link_state = self.link_state, event.state
        if event.state == "refused":
            self._notify(f"The endpoint refused the API key: {event.reason}. Nothing is "
                         "refreshed until ctrl+r (or a start with another key).",
                         title="Connection", severity="error", markup=False, timeout=30)
        elif event.state == "reconnecting":
            if was == "connected":
                self._notify(f"Lost the connection ({event.reason}); reconnecting.",
                             title="Connection", severity="warning", markup=False)
        elif event.state == "disconnected" and not event.attempt:  # never connected
            self._notify(f"Could not connect: {event.reason}. ctrl+r tries again.",
                         title="Connection", severity="error", markup=False, timeout=30)
        elif event.state == "disconnected":
            self._notify(f"Gave up reconnecting after {event.attempt} tries ({event.reason}). "
                         "ctrl+r tries again.", title="Connection", severity="error",
                         markup=False, timeout=30)
        elif event.state == "connected" and was != "connected":
            self._notify("Connected again; refreshing.", title="Connection", markup=False)
