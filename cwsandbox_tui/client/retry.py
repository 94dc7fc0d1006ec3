"""The SDK's transient-retry rules: classification, a 30 s budget (2 s for an endpoint that
never answered), jittered pauses that grow."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from .clock import Clock
from .errors import CwsError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    budget: float = 30.0  # seconds of retrying, counted from the first retryable failure
    base: float = 0.2
    factor: float = 1.5
    max_sleep: float = 2.0
    hint_cap: float = 10.0  # a server's RetryInfo delay is honoured up to this
    # An endpoint that has never answered (refused, unreachable) is retried this long only:
    # a wrong address should fail in seconds, not after the whole budget.
    connect_budget: float = 2.0


class Backoff:
    """Pauses that grow x1.5 from 0.2 s to 2 s, each jittered between the last pause's ceiling
    and its own (0.2-0.3 s, 0.3-0.45 s, ..., then 1.33-2 s); a RetryInfo hint wins (capped),
    and the pauses after it are as long as the cap."""

    def __init__(self, policy: RetryPolicy, rng: random.Random) -> None:
        self.policy = policy
        self.rng = rng
        self.ceiling = policy.base

    def next(self, remaining: float, hint: float | None = None) -> float:
        p = self.policy
        if hint is not None and hint > 0:
            delay = min(hint, remaining, p.hint_cap)
            self.ceiling = max(self.ceiling, min(p.max_sleep, delay))
            return delay
        floor = max(p.base, min(self.ceiling, p.max_sleep / p.factor))
        self.ceiling = min(p.max_sleep, self.ceiling * p.factor)
        return min(self.rng.uniform(floor, self.ceiling), remaining)


@dataclass(frozen=True)
class RetryNotice:
    attempt: int  # the attempt that failed
    delay: float  # how long until the next one
    error: CwsError
    remaining: float  # budget left after this delay


async def retry_call(
    attempt_fn: Callable[[int], Awaitable[T]],
    *,
    clock: Clock,
    policy: RetryPolicy = RetryPolicy(),
    rng: random.Random | None = None,
    non_retryable: tuple[type[CwsError], ...] = (),
    on_retry: Callable[[RetryNotice], None] | None = None,
    budget_for: Callable[[CwsError], float] | None = None,
) -> T:
    """Call `attempt_fn(attempt)` until it succeeds, a final error comes, or the budget is spent.

    The last error is re-raised unchanged; the budget bounds the time between attempts, not
    how long one attempt runs. `budget_for` may give an error a shorter budget than the
    policy's (0: not retried), counted from the first retryable failure all the same.
    """
    backoff = Backoff(policy, rng or random.Random())
    first_failure: float | None = None
    attempt = 0
    while True:
        attempt += 1
        try:
            return await attempt_fn(attempt)
        except CwsError as error:
            if not error.retryable or isinstance(error, non_retryable):
                raise
            budget = policy.budget if budget_for is None else budget_for(error)
            if budget <= 0:
                raise
            now = clock.monotonic()
            if first_failure is None:
                first_failure = now
            deadline = first_failure + budget
            remaining = deadline - now
            if remaining <= 0:
                raise
            delay = backoff.next(remaining, error.retry_delay)
            if on_retry is not None:
                on_retry(RetryNotice(attempt, delay, error, remaining - delay))
            await clock.sleep(delay)
            if clock.monotonic() >= deadline:
                raise
