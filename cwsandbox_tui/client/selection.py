"""Choosing snapshots by age, status and source: shared by `prune` and the dashboard."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..units import DURATION_EXAMPLES, parse_duration
from .errors import ConfigError
from .models import Snapshot, SnapshotStatus


def parse_age(text: str, field: str = "--older-than") -> float:
    """`7d`, `12h`, `30m`, `2w`, `90s` -> seconds."""
    seconds = parse_duration(text, unit_required=True)
    if seconds is None:
        raise ConfigError(f"{field}: {text!r} is not an age like {DURATION_EXAMPLES}")
    return seconds


def parse_statuses(text: str, field: str = "--status") -> frozenset[SnapshotStatus]:
    statuses = set()
    for part in filter(None, (p.strip().lower() for p in text.split(","))):
        try:
            statuses.add(SnapshotStatus(part))
        except ValueError:
            known = ", ".join(s.value for s in SnapshotStatus
                              if s is not SnapshotStatus.UNSPECIFIED)
            raise ConfigError(f"{field}: {part!r} is not a snapshot status ({known})") from None
    return frozenset(statuses)


@dataclass(frozen=True)
class PruneRule:
    older_than: float | None = None  # seconds
    statuses: frozenset[SnapshotStatus] = frozenset()
    source_sandbox: str = ""

    @property
    def empty(self) -> bool:
        return self.older_than is None and not self.statuses and not self.source_sandbox

    def matches(self, snap: Snapshot, now: float) -> bool:
        if self.older_than is not None:
            if snap.created_at is None or now - snap.created_at < self.older_than:
                return False
        if self.statuses and snap.status not in self.statuses:
            return False
        return not self.source_sandbox or snap.source_sandbox_id == self.source_sandbox


def select(snapshots: Iterable[Snapshot], rule: PruneRule, now: float) -> list[Snapshot]:
    if rule.empty:
        raise ConfigError("prune needs at least one of --older-than, --status, --source-sandbox")
    return [s for s in snapshots if rule.matches(s, now)]
