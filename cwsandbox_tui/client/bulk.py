"""Bulk delete (snapshots, sandboxes): bounded, adaptive concurrency; per-item results;
cancellable.

Only the ids it is given are ever sent. An item that fails in a way worth retrying gives its
slot back while it waits (a throttled server halves the slots), and is tried again after its
RetryInfo hint if the answer carried one, else after a short jittered pause (from 50 ms,
growing x2 to the SDK's 2 s), within the SDK's 30 s budget counted from its own first
failure. The pause is shorter than the SDK's 0.2 s for one call because one item's failure
in a bulk run says little about the server while the other calls are answered: under 20%
lost calls the 0.2 s steps, chained over an item's repeated failures, made the run's tail.
Items not started when the run is cancelled are reported untouched.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from .clock import Clock
from .errors import CwsError, ResourceExhaustedError, ThrottledError
from .retry import Backoff, RetryNotice, RetryPolicy


class Outcome(StrEnum):
    DELETED = "deleted"
    ALREADY_GONE = "already_gone"
    NOT_FOUND = "not_found"  # an unknown id: not found on the first attempt, none deleted
    FAILED = "failed"
    UNTOUCHED = "untouched"

    @property
    def gone(self) -> bool:
        return self in (Outcome.DELETED, Outcome.ALREADY_GONE)


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
        return not self.cancelled and all(i.outcome.gone for i in self.items)

    @property
    def partial(self) -> bool:
        return not self.ok and any(i.outcome.gone for i in self.items)

    def summary(self) -> str:
        parts = [f"{self.count(o)} {o.value.replace('_', ' ')}" for o in Outcome if self.count(o)]
        return ", ".join(parts) + (" (cancelled)" if self.cancelled else "")


class AdaptiveLimit:
    """How many calls may run at once, judged per window (as many answers as the limit).

    When more than a quarter of a window's answers are throttles, the limit halves (once per
    window, so one burst of refusals is one signal). Fewer, scattered throttles (a server
    shedding a little load; each refused item still waits its RetryInfo hint before it is
    tried again) leave the limit alone: halving on each of them collapsed 32 calls at once to
    about two under 10% random throttling, for no relief the server had asked for. The
    limit grows back by one after each window of successes."""

    TOLERANCE = 0.25  # the share of a window's answers that may be throttles

    def __init__(self, maximum: int) -> None:
        self.maximum = max(1, maximum)
        self.limit = self.maximum
        self._streak = 0
        self._answers = 0  # in the current window
        self._throttles = 0
        self._grace = 0  # answers still due from calls sent before the last cut
        self._late = False  # the answer being judged is one of those

    def completed(self) -> None:
        """An answer came (call before `throttled` when that answer is a throttle)."""
        self._late = self._grace > 0
        if self._late:
            self._grace -= 1
            return
        self._answers += 1
        if self._answers > self.limit:  # the window is over: this answer opens the next
            self._answers = 1
            self._throttles = 0

    def throttled(self) -> None:
        if self._late:
            return  # sent under the old limit: the cut already answered it
        self._throttles += 1
        if self._throttles > self.TOLERANCE * self.limit:
            self._grace = self.limit - self._answers
            self.limit = max(1, self.limit // 2)
            self._streak = 0
            self._answers = 0
            self._throttles = 0

    def succeeded(self) -> None:
        self._streak += 1
        if self.limit < self.maximum and self._streak >= self.limit:
            self._streak = 0
            self.limit += 1


class ProgressPacer:
    """When a bulk run's progress is worth an event: at most every `interval` seconds, plus
    every failed item (so each one is told, and logged, by id) and the last one.

    An event per item cost more than the call it reported: every listener ran per item (the
    operations log serialized and wrote a line, the dashboard queued a message for its
    loop), about a fifth of a bulk delete's CPU in the client."""

    INTERVAL = 0.1

    def __init__(self, clock: Clock, interval: float = INTERVAL) -> None:
        self.clock = clock
        self.interval = interval
        self._last: float | None = None

    def due(self, *, final: bool = False, urgent: bool = False) -> bool:
        now = self.clock.monotonic()
        if final or urgent or self._last is None or now - self._last >= self.interval:
            self._last = now
            return True
        return False


Attempt = Callable[[str, int], Awaitable[Outcome]]  # (id, attempt number) -> outcome

DEFAULT_RETRY_POLICY = RetryPolicy()
ITEM_BASE = 0.05  # seconds: an item's first pause after a failure without a hint


def item_policy(policy: RetryPolicy) -> RetryPolicy:
    """The per-item backoff of a bulk run: `policy` with a shorter, faster-growing start."""
    return replace(policy, base=min(policy.base, ITEM_BASE),
                               factor=max(policy.factor, 2.0))


async def bulk_delete(
    ids: Iterable[str],
    attempt: Attempt,
    *,
    limit: AdaptiveLimit,
    cancel: asyncio.Event,
    clock: Clock,
    policy: RetryPolicy = DEFAULT_RETRY_POLICY,
    rng: random.Random | None = None,
    on_item: Callable[[ItemResult, int, int], None] | None = None,
    on_retry: Callable[[str, RetryNotice], None] | None = None,
) -> BulkResult:
    order = list(dict.fromkeys(ids))  # duplicates are dropped, order kept
    results: dict[str, ItemResult] = {}
    ready: deque[str] = deque(order)
    waiting: list[tuple[float, int, str]] = []  # (when, tie-breaker, id) of items to retry
    running: dict[asyncio.Task[Outcome], str] = {}
    attempts: dict[str, int] = {}
    first_failure: dict[str, float] = {}
    backoffs: dict[str, Backoff] = {}
    last_error: dict[str, str] = {}
    tie = itertools.count()
    rng = rng or random.Random()
    per_item = item_policy(policy)

    def record(item: ItemResult) -> None:
        results[item.id] = item
        if on_item is not None:
            on_item(item, len(results), len(order))

    def failed_attempt(snapshot_id: str, error: CwsError) -> None:
        last_error[snapshot_id] = str(error)
        if not error.retryable:
            record(ItemResult(snapshot_id, Outcome.FAILED, str(error)))
            return
        if isinstance(error, (ThrottledError, ResourceExhaustedError)):
            limit.throttled()
        now = clock.monotonic()
        remaining = first_failure.setdefault(snapshot_id, now) + policy.budget - now
        if policy.budget <= 0 or remaining <= 0:
            record(ItemResult(snapshot_id, Outcome.FAILED,
                              f"{error} (after {attempts[snapshot_id]} attempts)"))
            return
        hint = error.retry_delay
        if hint is not None and hint > 0:
            # As given (capped), and apart from the item's own backoff: a throttle's 0.5 s
            # must not become the step an unhinted failure grows from (it made 1 s pauses).
            delay = min(hint, remaining, policy.hint_cap)
        else:
            delay = backoffs.setdefault(snapshot_id, Backoff(per_item, rng)).next(remaining)
        if on_retry is not None:
            on_retry(snapshot_id,
                     RetryNotice(attempts[snapshot_id], delay, error, remaining - delay))
        heapq.heappush(waiting, (now + delay, next(tie), snapshot_id))

    def collect(task: asyncio.Task[Outcome]) -> None:
        snapshot_id = running.pop(task)
        limit.completed()
        error = task.exception()
        if error is None:
            record(ItemResult(snapshot_id, task.result()))
            limit.succeeded()
        elif isinstance(error, CwsError):
            failed_attempt(snapshot_id, error)
        else:  # one item's unexpected failure must not stop the others
            record(ItemResult(snapshot_id, Outcome.FAILED, str(error)))

    try:
        while ready or waiting or running:
            if cancel.is_set() and not running:
                break
            now = clock.monotonic()
            while waiting and waiting[0][0] <= now:
                ready.appendleft(heapq.heappop(waiting)[2])  # retries first: finish started work
            while ready and len(running) < limit.limit and not cancel.is_set():
                snapshot_id = ready.popleft()
                attempts[snapshot_id] = attempts.get(snapshot_id, 0) + 1
                running[asyncio.ensure_future(attempt(snapshot_id, attempts[snapshot_id]))] = \
                    snapshot_id
            if running:
                timeout = max(0.0, waiting[0][0] - now) if waiting else None
                done, _ = await asyncio.wait(running, timeout=timeout,
                                             return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    collect(task)
            elif waiting:
                await clock.sleep(waiting[0][0] - now)
    except asyncio.CancelledError:
        for task, snapshot_id in running.items():
            task.cancel()
            record(ItemResult(snapshot_id, Outcome.FAILED,
                              "cancelled while in flight; it may or may not be deleted"))
        await asyncio.gather(*running, return_exceptions=True)
        cancel.set()
    for _, _, snapshot_id in waiting:
        record(ItemResult(snapshot_id, Outcome.FAILED,
                          f"cancelled before its retry; the last attempt failed: "
                          f"{last_error.get(snapshot_id, 'unknown error')}"))
    result = BulkResult(cancelled=cancel.is_set())
    for snapshot_id in order:
        result.items.append(results.get(snapshot_id) or ItemResult(snapshot_id, Outcome.UNTOUCHED))
    return result
