"""Fault injection for tests, demos and benchmarks.

A spec is a comma-separated list of rules, for example::

    seed=7,*.latency=20ms,DeleteFileSystemSnapshot.throttle=10%,
    ListFileSystemSnapshots.unavailable=first2,DeleteFileSystemSnapshot.lost=first1,
    retry_delay=200ms,drain_after=3s

Rules per method (or `*` for every method): `latency=DURATION`, and the faults `unavailable`,
`deadline` (DEADLINE_EXCEEDED), `throttle` (RESOURCE_EXHAUSTED with RetryInfo and reason
CWSANDBOX_FSS_BACKEND_THROTTLED), `busy` (UNAVAILABLE with a RetryInfo hint, which SDK 1.x
retries on stop, delete and file reads) and `lost` (the change is committed, then the call
answers UNAVAILABLE), each at a rate (`10%`, `0.1`) or on the first N calls (`first3`); for
the streaming methods also `cut` (the stream breaks with UNAVAILABLE after `cut_after` frames,
a disconnect in mid-stream).
Global rules: `seed=N`, `retry_delay=DURATION` (the RetryInfo hint), `drain_after=DURATION`
(every sandbox is drained by the backend that long after it starts running), `cut_after=N`
(frames a cut stream delivers first, default 3).

Every method draws from its own generator seeded from (seed, method), so a run is
deterministic for a given seed whatever the interleaving of different methods.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from dataclasses import dataclass, field

from .. import units
from .errors import ApiError, Code

FAULT_KINDS = ("unavailable", "deadline", "throttle", "lost", "busy", "cut")


def parse_duration(text: str) -> float:
    """A fault's delay: the shared reading, limited to ms, s and m (faults are short)."""
    seconds = units.parse_duration(text)
    if seconds is None or text.strip().lower().endswith(("h", "d", "w")):
        raise ValueError(f"{text!r} is not a duration like 20ms, 1.5s or 2m")
    return seconds


@dataclass
class Trigger:
    """When a fault fires: on the first `first` calls, else at `rate`."""

    rate: float = 0.0
    first: int = 0

    @classmethod
    def parse(cls, text: str) -> Trigger:
        text = text.strip()
        if text.startswith("first"):
            count = text[len("first"):].lstrip(":")
            if not count.isdigit():
                raise ValueError(f"{text!r}: expected firstN, e.g. first3")
            return cls(first=int(count))
        rate = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{text!r}: a rate must be between 0 and 1 (or 0% and 100%)")
        return cls(rate=rate)


@dataclass
class MethodFaults:
    latency: float = 0.0
    triggers: dict[str, Trigger] = field(default_factory=dict)
    held: threading.Event | None = None  # calls wait until it is set (tests' holds)


@dataclass(frozen=True)
class Decision:
    """What the fault plan does to one call."""

    latency: float = 0.0
    error: ApiError | None = None
    lose_response: bool = False
    held: threading.Event | None = None
    cut_after: int | None = None  # a stream breaks after this many frames


class FaultPlan:
    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.retry_delay = 0.5
        self.drain_after: float | None = None
        self.cut_after = 3
        self.methods: dict[str, MethodFaults] = {}
        self._calls: Counter[str] = Counter()
        self._rngs: dict[str, random.Random] = {}

    @classmethod
    def parse(cls, spec: str) -> FaultPlan:
        plan = cls()
        for item in filter(None, (part.strip() for part in re.split(r"[,;]", spec or ""))):
            key, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"fault rule {item!r} has no '='")
            try:
                plan._apply(key.strip(), value.strip())
            except ValueError as exc:
                raise ValueError(f"fault rule {item!r}: {exc}") from None
        return plan

    def _apply(self, key: str, value: str) -> None:
        if key == "seed":
            self.seed = int(value)
        elif key == "retry_delay":
            self.retry_delay = parse_duration(value)
        elif key == "drain_after":
            self.drain_after = parse_duration(value)
        elif key == "cut_after":
            if not value.isdigit():
                raise ValueError(f"{value!r} is not a number of frames")
            self.cut_after = int(value)
        elif "." in key:
            method, kind = key.split(".", 1)
            if kind == "latency":
                self.set_latency(method, parse_duration(value))
            elif kind in FAULT_KINDS:
                self.set_fault(method, kind, Trigger.parse(value))
            else:
                raise ValueError(f"unknown fault {kind!r}; use latency or one of {FAULT_KINDS}")
        else:
            raise ValueError("expected seed, retry_delay, drain_after, cut_after or METHOD.FAULT")

    def set_latency(self, method: str, seconds: float) -> None:
        self.methods.setdefault(method, MethodFaults()).latency = seconds

    def hold(self, method: str) -> threading.Event:
        """Calls of `method` from now on wait (before their latency) until the returned
        event is set: a call kept in flight for exactly as long as a test needs."""
        held = threading.Event()
        self.methods.setdefault(method, MethodFaults()).held = held
        return held

    def set_fault(self, method: str, kind: str, trigger: Trigger) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}")
        self.methods.setdefault(method, MethodFaults()).triggers[kind] = trigger

    def clear(self) -> None:
        self.methods.clear()
        self.drain_after = None
        self._calls.clear()
        self._rngs.clear()

    def calls(self, method: str) -> int:
        return self._calls[method]

    def decide(self, method: str) -> Decision:
        rules = [r for r in (self.methods.get("*"), self.methods.get(method)) if r]
        if not rules:
            return Decision()
        self._calls[method] += 1
        number = self._calls[method]
        rng = self._rngs.setdefault(method, random.Random(f"{self.seed}:{method}"))
        latency = max(r.latency for r in rules)
        held = next((r.held for r in rules if r.held is not None and not r.held.is_set()), None)
        fired: str | None = None
        for kind in FAULT_KINDS:
            for rule in rules:
                trigger = rule.triggers.get(kind)
                if trigger is None:
                    continue
                hit = number <= trigger.first if trigger.first else rng.random() < trigger.rate
                if hit and fired is None:
                    fired = kind
        if fired == "lost":
            return Decision(latency=latency, lose_response=True, held=held)
        if fired == "cut":
            return Decision(latency=latency, cut_after=self.cut_after, held=held)
        return Decision(latency=latency, error=self._error(fired, method) if fired else None,
                        held=held)

    def _error(self, kind: str, method: str) -> ApiError:
        if kind == "unavailable":
            return ApiError(Code.UNAVAILABLE, f"injected fault: {method} unavailable")
        if kind == "busy":
            return ApiError(Code.UNAVAILABLE, f"injected fault: {method} busy",
                            retry_delay=self.retry_delay)
        if kind == "deadline":
            return ApiError(Code.DEADLINE_EXCEEDED,
                            f"injected fault: {method} deadline exceeded")
        return ApiError(
            Code.RESOURCE_EXHAUSTED,
            f"injected fault: {method} throttled",
            reason="CWSANDBOX_FSS_BACKEND_THROTTLED",
            retry_delay=self.retry_delay,
        )

    @staticmethod
    def lost_response_error(method: str) -> ApiError:
        return ApiError(Code.UNAVAILABLE, f"injected fault: {method} response lost")
