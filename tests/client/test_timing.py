"""Timing rules on a fake clock (no sleeps): backoff, RetryInfo, the 30 s budget, deadlines.

sdk-behaviour sections 3 and 4.
"""

from __future__ import annotations

import random

import pytest

from cwsandbox_tui.client import deadlines
from cwsandbox_tui.client.errors import (
    AuthenticationError,
    CwsError,
    NotRunningError,
    PaginationError,
    RequestTimeoutError,
    ResourceExhaustedError,
    SandboxError,
    SandboxNotFoundError,
    SnapshotError,
    SnapshotNotFoundError,
    SnapshotQuotaExceededError,
    SnapshotWaitTimeoutError,
    ThrottledError,
    UnavailableError,
    ValidationError,
)
from cwsandbox_tui.client.retry import Backoff, RetryNotice, RetryPolicy, retry_call
from tests.fake_clock import FakeClock

NO_RETRY = RetryPolicy(budget=0.0)  # one attempt


class Failing:
    """An attempt function that raises the given errors in turn, then returns 'ok'.

    `duration` seconds of fake time pass inside every attempt.
    """

    def __init__(self, clock: FakeClock, errors: list[CwsError] | CwsError, *,
                 forever: bool = False, duration: float = 0.0) -> None:
        self.clock = clock
        self.errors = errors if isinstance(errors, list) else [errors]
        self.forever = forever
        self.duration = duration
        self.attempts: list[int] = []
        self.raised: list[CwsError] = []
        self.started_at: list[float] = []

    async def __call__(self, attempt: int) -> str:
        self.attempts.append(attempt)
        self.started_at.append(self.clock.monotonic())
        self.clock.advance(self.duration)
        index = len(self.attempts) - 1
        if self.forever or index < len(self.errors):
            error = self.errors[min(index, len(self.errors) - 1)]
            # a fresh instance per attempt, so "the last error" is identifiable
            fresh = type(error)(f"{error.message} #{attempt}", code=error.code,
                                reason=error.reason, retry_delay=error.retry_delay)
            self.raised.append(fresh)
            raise fresh
        return "ok"


def unavailable() -> UnavailableError:
    return UnavailableError("Service unavailable: down", code="UNAVAILABLE")


def hinted(seconds: float) -> ThrottledError:
    return ThrottledError("Snapshot backend throttled", code="RESOURCE_EXHAUSTED",
                          reason="CWSANDBOX_FSS_BACKEND_THROTTLED", retry_delay=seconds)


DEFAULT = RetryPolicy()


async def run(clock: FakeClock, fn: Failing, *, seed: int = 0, policy: RetryPolicy = DEFAULT,
              **kwargs: object) -> tuple[object, list[RetryNotice]]:
    notices: list[RetryNotice] = []
    result = await retry_call(fn, clock=clock, policy=policy, rng=random.Random(seed),
                              on_retry=notices.append, **kwargs)  # type: ignore[arg-type]
    return result, notices


# ---------------------------------------------------------------------------------------------
# backoff


def test_policy_defaults_are_the_sdk_constants() -> None:
    policy = RetryPolicy()
    assert (policy.budget, policy.base, policy.factor, policy.max_sleep, policy.hint_cap) == \
        (30.0, 0.2, 1.5, 2.0, 10.0)
    assert policy.connect_budget == 2.0


def pause_bounds(count: int) -> list[tuple[float, float]]:
    """Each pause lies between the previous pause's ceiling and its own (x1.5 from 0.2 s up
    to 2 s; once there, between 2/1.5 and 2 s)."""
    bounds, ceiling = [], 0.2
    for _ in range(count):
        floor = max(0.2, min(ceiling, 2.0 / 1.5))
        ceiling = min(2.0, ceiling * 1.5)
        bounds.append((floor, ceiling))
    return bounds


@pytest.mark.parametrize("seed", range(20))
def test_pauses_grow_by_1_5_from_0_2_up_to_2_s(seed: int) -> None:
    backoff = Backoff(RetryPolicy(), random.Random(seed))
    sleeps = [backoff.next(remaining=1000.0) for _ in range(60)]
    for delay, (floor, ceiling) in zip(sleeps, pause_bounds(60), strict=True):
        assert floor - 1e-12 <= delay <= ceiling + 1e-12
    assert sleeps[0] <= 0.3  # the first ceiling is 0.2 x 1.5
    assert sleeps[5] >= 1.0  # the sixth pause is at least the fifth's ceiling, 1.01 s
    assert min(sleeps[6:]) >= 4 / 3 and max(sleeps) <= 2.0  # at the cap, still jittered
    assert len({round(s, 6) for s in sleeps[6:]}) > 10


def test_jittered_backoff_reaches_but_never_passes_the_2_s_cap() -> None:
    backoff = Backoff(RetryPolicy(), random.Random(7))
    sleeps = [backoff.next(remaining=1000.0) for _ in range(5000)]
    assert 1.5 < max(sleeps) <= 2.0
    assert min(sleeps) >= 0.2


def test_backoff_is_jittered_not_fixed() -> None:
    firsts = {round(Backoff(RetryPolicy(), random.Random(s)).next(100.0), 6) for s in range(10)}
    assert len(firsts) > 5
    assert all(0.2 <= f <= 0.3 for f in firsts)


def test_backoff_never_sleeps_past_the_remaining_budget() -> None:
    backoff = Backoff(RetryPolicy(), random.Random(1))
    assert backoff.next(remaining=0.05) == pytest.approx(0.05)
    assert backoff.next(remaining=0.05, hint=3.0) == pytest.approx(0.05)


def test_retry_info_hint_is_used_literally_and_capped_at_10_s() -> None:
    backoff = Backoff(RetryPolicy(), random.Random(2))
    assert backoff.next(remaining=30, hint=0.7) == 0.7
    assert backoff.next(remaining=30, hint=7.0) == 7.0
    assert backoff.next(remaining=30, hint=25.0) == 10.0
    # a zero or negative hint is ignored: jitter again, and after a 10 s hinted sleep the
    # next jittered ceiling is the 2 s cap
    delay = backoff.next(remaining=30, hint=0.0)
    assert 0.2 <= delay <= 2.0


def test_after_a_hinted_sleep_the_next_jitter_ceiling_is_2_s() -> None:
    seen = []
    for seed in range(30):
        backoff = Backoff(RetryPolicy(), random.Random(seed))
        backoff.next(remaining=30, hint=7.0)
        seen.append(backoff.next(remaining=30))
    assert all(0.2 <= s <= 2.0 for s in seen)
    assert max(seen) > 1.0  # not clamped back to the first 0.3 ceiling


# ---------------------------------------------------------------------------------------------
# retry_call


async def test_success_first_time_costs_nothing() -> None:
    clock = FakeClock()
    fn = Failing(clock, [])
    result, notices = await run(clock, fn)
    assert result == "ok" and fn.attempts == [1] and notices == [] and clock.sleeps == []


async def test_transient_errors_are_retried_until_success_with_jittered_sleeps() -> None:
    clock = FakeClock()
    fn = Failing(clock, [unavailable(), unavailable(), unavailable()])
    result, notices = await run(clock, fn)
    assert result == "ok"
    assert fn.attempts == [1, 2, 3, 4]
    assert [n.attempt for n in notices] == [1, 2, 3]
    assert clock.sleeps == [n.delay for n in notices]
    for delay, (floor, ceiling) in zip(clock.sleeps, pause_bounds(3), strict=True):
        assert floor - 1e-12 <= delay <= ceiling + 1e-12
    assert notices[0].remaining == pytest.approx(30 - clock.sleeps[0])


async def test_retry_info_hint_drives_the_sleeps() -> None:
    clock = FakeClock()
    fn = Failing(clock, [hinted(0.7), hinted(1.3)])
    result, _ = await run(clock, fn)
    assert result == "ok"
    assert clock.sleeps == [0.7, 1.3]


async def test_7_s_hint_sleeps_7_7_7_7_then_the_rest_of_the_budget_and_raises() -> None:
    clock = FakeClock()
    fn = Failing(clock, hinted(7.0), forever=True)
    with pytest.raises(ThrottledError) as raised:
        await run(clock, fn)
    assert clock.sleeps == pytest.approx([7, 7, 7, 7, 2])
    assert len(fn.attempts) == 5  # no attempt after the last sleep reached the deadline
    assert raised.value is fn.raised[-1]  # the last error, unchanged (not wrapped)


async def test_25_s_hint_is_capped_at_10_s() -> None:
    clock = FakeClock()
    fn = Failing(clock, hinted(25.0), forever=True)
    with pytest.raises(ThrottledError):
        await run(clock, fn)
    assert clock.sleeps == pytest.approx([10, 10, 10])


async def test_budget_is_30_s_counted_from_the_first_failure_not_the_call() -> None:
    clock = FakeClock()
    # each attempt takes 100 s of (fake) time before failing
    fn = Failing(clock, unavailable(), forever=True, duration=100.0)
    with pytest.raises(UnavailableError) as raised:
        await run(clock, fn)
    # the first 100 s attempt cost nothing; the budget started when it failed (t=100),
    # and one sleep later the next 100 s attempt ends past the deadline: raise at once.
    assert fn.started_at[0] == 0
    assert fn.started_at[1] == pytest.approx(100 + clock.sleeps[0])
    assert len(fn.attempts) == 2
    assert raised.value is fn.raised[-1]


async def test_instant_failures_use_the_whole_30_s_then_re_raise_the_last_error() -> None:
    clock = FakeClock()
    fn = Failing(clock, unavailable(), forever=True)
    with pytest.raises(UnavailableError) as raised:
        await run(clock, fn, seed=3)
    assert sum(clock.sleeps) == pytest.approx(30.0)
    assert clock.monotonic() == pytest.approx(30.0)
    assert 15 <= len(fn.attempts) <= 150  # the SDK saw roughly 40 to 100
    assert max(clock.sleeps) <= 2.0
    assert raised.value is fn.raised[-1]
    assert str(raised.value).endswith(f"#{len(fn.attempts)}")


async def test_zero_budget_disables_retry() -> None:
    clock = FakeClock()
    fn = Failing(clock, unavailable(), forever=True)
    with pytest.raises(UnavailableError):
        await run(clock, fn, policy=NO_RETRY)
    assert fn.attempts == [1] and clock.sleeps == []


@pytest.mark.parametrize("error", [
    SandboxNotFoundError("gone", code="NOT_FOUND"),
    SnapshotNotFoundError("gone", code="NOT_FOUND"),
    SandboxError("bad", code="FAILED_PRECONDITION"),
    ValidationError("bad", code="INVALID_ARGUMENT"),
    SandboxError("exists", code="ALREADY_EXISTS"),
    SandboxError("boom", code="INTERNAL"),
    NotRunningError("cancelled", code="CANCELLED"),
    AuthenticationError("who", code="UNAUTHENTICATED"),
    SnapshotWaitTimeoutError("wait", code="DEADLINE_EXCEEDED", reason="CWSANDBOX_FSS_WAIT_TIMEOUT"),
    SnapshotQuotaExceededError("quota", code="RESOURCE_EXHAUSTED",
                               reason="CWSANDBOX_FSS_QUOTA_EXCEEDED"),
    SnapshotError("failed", code=""),
    PaginationError("loop"),
])
async def test_final_errors_fail_on_the_first_attempt(error: CwsError) -> None:
    clock = FakeClock()
    fn = Failing(clock, error, forever=True)
    with pytest.raises(type(error)):
        await run(clock, fn)
    assert fn.attempts == [1] and clock.sleeps == []


@pytest.mark.parametrize("error", [
    UnavailableError("u", code="UNAVAILABLE"),
    ThrottledError("t", code="RESOURCE_EXHAUSTED", reason="CWSANDBOX_FSS_INFLIGHT_LIMIT"),
    RequestTimeoutError("d", code="DEADLINE_EXCEEDED"),
    ResourceExhaustedError("r", code="RESOURCE_EXHAUSTED"),
])
async def test_transient_classes_are_retried(error: CwsError) -> None:
    clock = FakeClock()
    fn = Failing(clock, [error])
    result, _ = await run(clock, fn)
    assert result == "ok" and fn.attempts == [1, 2]


async def test_non_retryable_override_makes_a_client_deadline_final() -> None:
    clock = FakeClock()
    fn = Failing(clock, RequestTimeoutError("d", code="DEADLINE_EXCEEDED"), forever=True)
    with pytest.raises(RequestTimeoutError):
        await run(clock, fn, non_retryable=(RequestTimeoutError,))
    assert fn.attempts == [1]
    # ...while UNAVAILABLE is still retried under the same override
    fn = Failing(clock, [unavailable()])
    result, _ = await run(clock, fn, non_retryable=(RequestTimeoutError,))
    assert result == "ok" and fn.attempts == [1, 2]


async def test_errors_that_are_not_ours_pass_straight_through() -> None:
    clock = FakeClock()
    calls = []

    async def attempt(number: int) -> None:
        calls.append(number)
        raise ValueError("bad argument")

    with pytest.raises(ValueError):
        await retry_call(attempt, clock=clock)
    assert calls == [1]


# ---------------------------------------------------------------------------------------------
# deadlines


@pytest.mark.parametrize(("grace", "sent_grace", "deadline"), [
    (10, 10, 645), (10.0, 10, 645), (0, 0, 665), (0.9, 0, 665), (-5, -5, 665), (300, 300, 935),
])
def test_snapshot_stop_deadline(grace: float, sent_grace: int, deadline: float) -> None:
    budget = deadlines.stop_budget(grace, snapshot=True)
    assert budget.max_timeout_seconds == 600
    assert budget.deadline == deadline
    assert int(grace) == sent_grace  # what the client sends as graceful_shutdown_seconds
    assert "600" in budget.explanation


@pytest.mark.parametrize(("grace", "max_timeout", "deadline"), [
    (10, 15, 20), (0, 5, 10), (30, 35, 40), (0.9, 5, 10), (300, 305, 310),
])
def test_plain_stop_deadline_is_grace_plus_10(grace: float, max_timeout: int,
                                               deadline: float) -> None:
    budget = deadlines.stop_budget(grace, snapshot=False)
    assert (budget.max_timeout_seconds, budget.deadline) == (max_timeout, deadline)


def test_create_deadline_605_with_wait_else_the_request_timeout() -> None:
    waiting = deadlines.create_budget(True)
    assert (waiting.max_timeout_seconds, waiting.deadline) == (600, 605)
    plain = deadlines.create_budget(False)
    assert (plain.max_timeout_seconds, plain.deadline) == (None, 300)
    assert deadlines.create_budget(False, request_timeout=42).deadline == 42
    assert deadlines.create_budget(True, request_timeout=42).deadline == 605


def test_poll_constants() -> None:
    assert (deadlines.POLL_INTERVAL, deadlines.POLL_FACTOR, deadlines.POLL_INTERVAL_MAX) == \
        (0.2, 1.5, 2.0)
    assert deadlines.POLL_RPC_TIMEOUT == 15
    assert deadlines.NOT_FOUND_AFTER_STOP == 2
    assert deadlines.REQUEST_TIMEOUT == 300
    assert deadlines.DEFAULT_GRACE == 10


async def test_budget_for_shortens_or_disables_the_retries_of_an_error() -> None:
    clock = FakeClock()
    fn = Failing(clock, unavailable(), forever=True)
    with pytest.raises(UnavailableError):
        await run(clock, fn, budget_for=lambda _: 2.0)
    assert sum(clock.sleeps) == pytest.approx(2.0)
    clock = FakeClock()
    fn = Failing(clock, unavailable(), forever=True)
    with pytest.raises(UnavailableError):
        await run(clock, fn, budget_for=lambda _: 0.0)
    assert fn.attempts == [1] and clock.sleeps == []
