"""Choosing snapshots by age, status and source: the one prune selection, which the CLI's
`snapshots prune` and the dashboard's prune form both use."""

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
    older_than: float | None = None  # seconds: an age of at least this
    statuses: frozenset[SnapshotStatus] = frozenset()
    source_sandbox: str = ""

    @classmethod
    def parse(cls, older_than: str | None, statuses: str, source_sandbox: str, *,
              age_field: str = "--older-than", status_field: str = "--status") -> PruneRule:
        """A rule from text as typed (an empty value: any); errors name the field."""
        return cls(older_than=parse_age(older_than, age_field) if older_than else None,
                   statuses=parse_statuses(statuses, status_field),
                   source_sandbox=source_sandbox.strip())

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
    """The snapshots a prune by `rule` deletes: those it matches, but for any being deleted."""
    if rule.empty:
        raise ConfigError("prune needs at least one of --older-than, --status, --source-sandbox")
    return [s for s in snapshots
            if s.status is not SnapshotStatus.DELETING and rule.matches(s, now)]
