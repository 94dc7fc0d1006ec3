"""The SDK's transient-retry rules: classification, a 30 s budget, jittered backoff."""

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


NO_RETRY = RetryPolicy(budget=0.0)


class Backoff:
    """Decorrelated jitter from 0.2 s growing x1.5 to 2 s; a RetryInfo hint wins (capped)."""

    def __init__(self, policy: RetryPolicy, rng: random.Random) -> None:
        self.policy = policy
        self.rng = rng
        self.previous = policy.base

    def next(self, remaining: float, hint: float | None = None) -> float:
        p = self.policy
        if hint is not None and hint > 0:
            delay = min(hint, remaining, p.hint_cap)
        else:
            ceiling = max(p.base, min(p.max_sleep, self.previous * p.factor, remaining))
            delay = min(self.rng.uniform(p.base, ceiling), remaining)
        self.previous = delay
        return delay


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
) -> T:
    """Call `attempt_fn(attempt)` until it succeeds, a final error comes, or the budget is spent.

    The last error is re-raised unchanged; the budget bounds the time between attempts, not
    how long one attempt runs.
    """
    backoff = Backoff(policy, rng or random.Random())
    deadline: float | None = None
    attempt = 0
    while True:
        attempt += 1
        try:
            return await attempt_fn(attempt)
        except CwsError as error:
            if not error.retryable or isinstance(error, non_retryable) or policy.budget <= 0:
                raise
            now = clock.monotonic()
            if deadline is None:
                deadline = now + policy.budget
            remaining = deadline - now
            if remaining <= 0:
                raise
            delay = backoff.next(remaining, error.retry_delay)
            if on_retry is not None:
                on_retry(RetryNotice(attempt, delay, error, remaining - delay))
            await clock.sleep(delay)
            if clock.monotonic() >= deadline:
                raise
