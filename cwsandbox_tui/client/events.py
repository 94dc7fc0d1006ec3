"""Typed events: everything a UI or a script must show about an operation.

Each event carries the operation's id, its label (for people only) and the ids of the objects
it touches; code that acts on an operation's end reads its typed fields instead: its kind
(`OpKind`), the item it concerns (`Item`), how it ended (`Ending`), what became of the item
(`Outcome`), the state it left a sandbox in and the item it made.
Listeners are called synchronously in the order they subscribed; the operations log is one.
"""

from __future__ import annotations

import itertools
import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from .bulk import Outcome
from .models import SandboxStatus


class ItemKind(StrEnum):
    SANDBOX = "sandbox"
    SNAPSHOT = "snapshot"
    VOLUME = "volume"


@dataclass(frozen=True)
class Item:
    kind: ItemKind
    id: str


class OpKind(StrEnum):
    """What an operation does. OTHER: listings, reads, exec and files, which change nothing
    a dashboard's rows show."""

    OTHER = "other"
    START_SANDBOX = "start_sandbox"
    STOP_SANDBOX = "stop_sandbox"
    STOP_SANDBOX_WITH_SNAPSHOT = "stop_sandbox_with_snapshot"
    PAUSE_SANDBOX = "pause_sandbox"
    RESUME_SANDBOX = "resume_sandbox"
    DELETE_SANDBOX = "delete_sandbox"
    DELETE_SANDBOXES = "delete_sandboxes"
    CREATE_SNAPSHOT = "create_snapshot"
    DELETE_SNAPSHOT = "delete_snapshot"
    DELETE_SNAPSHOTS = "delete_snapshots"
    SET_BUCKET = "set_bucket"
    DELETE_VOLUME = "delete_volume"

    @property
    def subject(self) -> ItemKind | None:
        """The kind of the items it acts on (its targets; a bulk run's steps, one each)."""
        return _SUBJECTS.get(self)

    @property
    def bulk(self) -> bool:
        return self in (OpKind.DELETE_SANDBOXES, OpKind.DELETE_SNAPSHOTS)


_SUBJECTS = {
    **dict.fromkeys((OpKind.START_SANDBOX, OpKind.STOP_SANDBOX, OpKind.STOP_SANDBOX_WITH_SNAPSHOT,
                     OpKind.PAUSE_SANDBOX, OpKind.RESUME_SANDBOX, OpKind.DELETE_SANDBOX,
                     OpKind.DELETE_SANDBOXES, OpKind.CREATE_SNAPSHOT), ItemKind.SANDBOX),
    OpKind.DELETE_SNAPSHOT: ItemKind.SNAPSHOT, OpKind.DELETE_SNAPSHOTS: ItemKind.SNAPSHOT,
    OpKind.DELETE_VOLUME: ItemKind.VOLUME,
}


class Ending(StrEnum):
    DONE = "done"  # all it was asked
    PARTIAL = "partial"  # a bulk run that finished with items not done (failed, not found)
    CANCELLED = "cancelled"
    FAILED = "failed"


@dataclass(frozen=True, kw_only=True)
class Event:
    op_id: str
    op: str  # a short human label, e.g. "Delete file-system snapshot": for display only
    targets: tuple[str, ...] = ()
    at: float = 0.0
    op_kind: OpKind = OpKind.OTHER
    item: Item | None = None  # the one item it concerns (a bulk run's step: that step's)

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
    outcome: Outcome | None = None  # a bulk run's step: what became of its item


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
    result: dict[str, Any] = field(default_factory=dict)  # figures for the log and scripts
    ending: Ending = Ending.DONE  # a bulk run may finish PARTIAL or CANCELLED
    outcome: Outcome | None = None  # a delete's: what became of its item
    state: SandboxStatus | None = None  # the state a stop, pause or resume left it in
    made: Item | None = None  # e.g. the snapshot a stop with snapshot took
    # a bulk run's targets it left in a state it cannot tell (failed, untouched): a listing can
    unsettled: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Failed(Event):
    message: str
    error: str  # the error class
    code: str = ""
    reason: str | None = None
    attempts: int = 1
    ending: Ending = Ending.FAILED  # or CANCELLED


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
