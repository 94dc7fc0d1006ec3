"""Bulk delete of snapshots: bounded, adaptive concurrency; per-item results; cancellable.

Only the ids it is given are ever sent, each at most once per attempt; items not started when
it is cancelled are reported untouched.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Outcome(StrEnum):
    DELETED = "deleted"
    ALREADY_GONE = "already_gone"
    FAILED = "failed"
    UNTOUCHED = "untouched"


@dataclass(frozen=True)
class ItemResult:
    id: str
    outcome: Outcome
    message: str = ""


@dataclass
class BulkResult:
    items: list[ItemResult] = field(default_factory=list)
    cancelled: bool = False

    def count(self, outcome: Outcome) -> int:
        return sum(1 for item in self.items if item.outcome is outcome)

    @property
    def ok(self) -> bool:
        return not self.cancelled and all(
            i.outcome in (Outcome.DELETED, Outcome.ALREADY_GONE) for i in self.items)

    @property
    def partial(self) -> bool:
        return not self.ok and any(
            i.outcome in (Outcome.DELETED, Outcome.ALREADY_GONE) for i in self.items)

    def summary(self) -> str:
        parts = [f"{self.count(o)} {o.value.replace('_', ' ')}" for o in Outcome if self.count(o)]
        return ", ".join(parts) + (" (cancelled)" if self.cancelled else "")


class AdaptiveLimit:
    """How many deletes may run at once: halves on throttling, grows back one at a time."""

    def __init__(self, maximum: int) -> None:
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self.active = 0
        self._streak = 0
        self._changed = asyncio.Condition()

    async def acquire(self) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.active < self.limit)
            self.active += 1

    async def release(self) -> None:
        async with self._changed:
            self.active -= 1
            self._changed.notify_all()

    def throttled(self) -> None:
        self.limit = max(1, self.limit // 2)
        self._streak = 0

    async def succeeded(self) -> None:
        self._streak += 1
        if self.limit < self.maximum and self._streak >= self.limit:
            self._streak = 0
            async with self._changed:
                self.limit += 1
                self._changed.notify_all()


DeleteOne = Callable[[str], Awaitable[Outcome]]


async def bulk_delete(
    ids: Iterable[str],
    delete_one: DeleteOne,
    *,
    limit: AdaptiveLimit,
    cancel: asyncio.Event,
    on_item: Callable[[ItemResult, int, int], None] | None = None,
) -> BulkResult:
    """Delete each id once; `delete_one` does its own retries and classifies the outcome."""
    order = list(dict.fromkeys(ids))  # duplicates are dropped, order kept
    results: dict[str, ItemResult] = {}
    queue: asyncio.Queue[str] = asyncio.Queue()
    for snapshot_id in order:
        queue.put_nowait(snapshot_id)

    def record(item: ItemResult) -> None:
        results[item.id] = item
        if on_item is not None:
            on_item(item, len(results), len(order))

    async def worker() -> None:
        while not cancel.is_set():
            try:
                snapshot_id = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await limit.acquire()
            try:
                if cancel.is_set():
                    queue.put_nowait(snapshot_id)  # not started: stays untouched
                    return
                try:
                    outcome = await delete_one(snapshot_id)
                except asyncio.CancelledError:
                    record(ItemResult(snapshot_id, Outcome.FAILED,
                                      "cancelled while in flight; it may or may not be deleted"))
                    raise
                except Exception as error:  # one item's failure must not stop the others
                    record(ItemResult(snapshot_id, Outcome.FAILED, str(error)))
                else:
                    record(ItemResult(snapshot_id, outcome))
                    await limit.succeeded()
            finally:
                await limit.release()

    workers = [asyncio.ensure_future(worker()) for _ in range(min(limit.maximum, len(order)))]
    try:
        await asyncio.gather(*workers)
    except asyncio.CancelledError:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        cancel.set()
    result = BulkResult(cancelled=cancel.is_set())
    for snapshot_id in order:
        result.items.append(results.get(snapshot_id) or ItemResult(snapshot_id, Outcome.UNTOUCHED))
    return result
