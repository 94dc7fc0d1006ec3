"""Typed events: everything a UI or a script must show about an operation.

Each event carries the operation's id, its label and the ids of the objects it touches.
Listeners are called synchronously in the order they subscribed; the operations log is one.
"""

from __future__ import annotations

import itertools
import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Event:
    op_id: str
    op: str  # a short human label, e.g. "Delete file-system snapshot"
    targets: tuple[str, ...] = ()
    at: float = 0.0

    @property
    def kind(self) -> str:
        return type(self).__name__


@dataclass(frozen=True, kw_only=True)
class OperationStarted(Event):
    detail: str = ""


@dataclass(frozen=True, kw_only=True)
class DeadlineSet(Event):
    seconds: float
    what: str  # what the deadline bounds, e.g. "archive + grace + slack"


@dataclass(frozen=True, kw_only=True)
class RetryScheduled(Event):
    attempt: int
    delay: float
    code: str
    reason: str | None
    message: str
    budget_left: float
    connecting: bool = False  # the endpoint has not answered yet (a wrong or dead address?)


@dataclass(frozen=True, kw_only=True)
class DeadlineExceeded(Event):
    seconds: float
    message: str  # says what may still complete


@dataclass(frozen=True, kw_only=True)
class Progress(Event):
    done: int
    total: int
    failed: int = 0
    detail: str = ""
    elapsed: float = 0.0
    budget: float | None = None  # for waits bounded by a deadline


@dataclass(frozen=True, kw_only=True)
class Conflict(Event):
    message: str
    in_flight: str  # which stop is in flight ("plain", "snapshot", "terminating", "stopped")
    advice: str


@dataclass(frozen=True, kw_only=True)
class OperationWarning(Event):
    message: str


@dataclass(frozen=True, kw_only=True)
class Finished(Event):
    summary: str
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Failed(Event):
    message: str
    error: str  # the error class
    code: str = ""
    reason: str | None = None
    attempts: int = 1


@dataclass(frozen=True, kw_only=True)
class ConnectionChanged(Event):
    """The link to the server: "connected", "reconnecting" (with the next try) or
    "disconnected" (tries stopped until asked again)."""

    state: str
    attempt: int = 0
    next_try_in: float | None = None
    reason: str = ""


Listener = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._ids = itertools.count(1)
        self.routine: Counter[str] = Counter()  # quiet successful polls, by operation

    def count_routine(self, label: str) -> None:
        self.routine[label] += 1

    def new_op_id(self) -> str:
        return f"op-{os.getpid()}-{next(self._ids)}"

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def emit(self, event: Event) -> None:
        for listener in list(self._listeners):
            listener(event)


class OperationsLog:
    """Appends every event as one JSON line to a file under the user's state directory.

    The file is rotated by size (`operations.jsonl` -> `.1` -> ... -> `.{keep}`, the oldest
    dropped), so months of use take at most `(keep + 1) * max_bytes` on disk.
    """

    def __init__(self, path: Path, *, max_bytes: int = 4 * 2**20, keep: int = 3) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep = keep
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8", buffering=1)
        self._size = self._file.tell()

    def __call__(self, event: Event) -> None:
        record = {"event": event.kind, **asdict(event)}
        line = json.dumps(record, default=str) + "\n"
        if self._size and self._size + len(line) > self.max_bytes:
            self._rotate()
        self._file.write(line)
        self._size += len(line.encode("utf-8"))

    def _rotate(self) -> None:
        self._file.close()
        for n in range(self.keep, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            newer = self.path.with_name(f"{self.path.name}.{n - 1}") if n > 1 else self.path
            if newer.exists():
                os.replace(newer, older)
        self._file = open(self.path, "a", encoding="utf-8", buffering=1)
        self._size = 0

    def close(self) -> None:
        self._file.close()


def read_log(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    if limit is not None:
        lines = lines[-limit:]
    return [json.loads(line) for line in lines if line.strip()]
