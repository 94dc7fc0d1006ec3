"""The adapters' snapshot conversion (the hot path of a listing, read field by field into
locals) gives the very models it gave when each timestamp went through `_stamp`: unset times,
a set epoch, nanos alone, the far past and future, every other field."""

from __future__ import annotations

import pytest

from cwsandbox_tui.client import adapter_v1, adapter_v1beta2
from cwsandbox_tui.client.models import Snapshot, SnapshotStatus, SnapshotTrigger
from cwsandbox_tui.proto.v1 import sandbox_pb2 as v1pb
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as betapb

Stamp = tuple[int, int] | None  # (seconds, nanos), or not set

EDGES: list[Stamp] = [
    None,
    (0, 0),  # the epoch, set (v1 tells it by presence; v1beta2 cannot)
    (0, 1),
    (0, 999_999_999),
    (1_795_950_494, 123_456_789),
    (-62_135_596_800, 0),  # 0001-01-01, the earliest Timestamp
    (-1, 999_999_999),
    (253_402_300_799, 999_999_999),  # 9999-12-31T23:59:59.999999999, the latest
]


def _set(target: object, stamp: Stamp) -> None:
    if stamp is not None:
        target.seconds, target.nanos = stamp  # type: ignore[attr-defined]


def _was_v1(stamp: Stamp) -> float | None:
    """What `adapter_v1._stamp` gave (presence decides)."""
    return None if stamp is None else stamp[0] + stamp[1] * 1e-9


def _was_v1beta2(stamp: Stamp) -> float | None:
    """What `adapter_v1beta2._stamp` gave (all zero is not set)."""
    return None if stamp is None or stamp == (0, 0) else stamp[0] + stamp[1] * 1e-9


def _triples() -> list[tuple[Stamp, Stamp, Stamp]]:
    return [(a, EDGES[(i + 3) % len(EDGES)], EDGES[(i + 5) % len(EDGES)])
            for i, a in enumerate(EDGES)]


@pytest.mark.parametrize("stamps", _triples())
def test_v1_conversion_is_unchanged(stamps: tuple[Stamp, Stamp, Stamp]) -> None:
    created, updated, completed = stamps
    m = v1pb.FileSystemSnapshot(
        file_system_snapshot_id="fss-1", state=v1pb.SNAPSHOT_STATE_READY, state_reason="why",
        size_bytes=2**40, source_sandbox_id="sb-1", trigger=v1pb.SNAPSHOT_TRIGGER_ON_DELETE,
        request_id="k", object_bucket="bucket")
    _set(m.create_time, created)
    _set(m.updated_at, updated)
    _set(m.complete_time, completed)
    m = v1pb.FileSystemSnapshot.FromString(m.SerializeToString())  # as it comes off the wire
    old = adapter_v1._stamp
    assert adapter_v1.snapshot_from(m) == Snapshot(
        "fss-1", SnapshotStatus.READY, "why", 2**40,
        old(m.create_time, m.HasField("create_time")),
        old(m.updated_at, m.HasField("updated_at")),
        old(m.complete_time, m.HasField("complete_time")),
        "sb-1", SnapshotTrigger.STOP, "k", "bucket")
    converted = adapter_v1.snapshot_from(m)
    assert (converted.created_at, converted.updated_at, converted.completed_at) == (
        _was_v1(created), _was_v1(updated), _was_v1(completed))
    for value in (converted.created_at, converted.updated_at, converted.completed_at):
        assert value is None or type(value) is float


@pytest.mark.parametrize("stamps", _triples())
def test_v1beta2_conversion_is_unchanged(stamps: tuple[Stamp, Stamp, Stamp]) -> None:
    created, updated, completed = stamps
    m = betapb.FileSystemSnapshot(
        file_system_snapshot_id="fss-1", status=betapb.FILE_SYSTEM_SNAPSHOT_STATUS_FAILED,
        status_reason="disk full", size_bytes=7, source_sandbox_id="sb-1",
        trigger=betapb.FILE_SYSTEM_SNAPSHOT_TRIGGER_MANUAL, idempotency_key="k",
        object_bucket="bucket")
    _set(m.created_at, created)
    _set(m.updated_at, updated)
    _set(m.completed_at, completed)
    m = betapb.FileSystemSnapshot.FromString(m.SerializeToString())
    old = adapter_v1beta2._stamp
    assert adapter_v1beta2.snapshot_from(m) == Snapshot(
        "fss-1", SnapshotStatus.FAILED, "disk full", 7, old(m.created_at), old(m.updated_at),
        old(m.completed_at), "sb-1", SnapshotTrigger.MANUAL, "k", "bucket")
    converted = adapter_v1beta2.snapshot_from(m)
    assert (converted.created_at, converted.updated_at, converted.completed_at) == (
        _was_v1beta2(created), _was_v1beta2(updated), _was_v1beta2(completed))


def test_unknown_enum_numbers_and_an_empty_message() -> None:
    assert adapter_v1.snapshot_from(v1pb.FileSystemSnapshot(
        state=99, trigger=42)) == Snapshot("", SnapshotStatus.UNSPECIFIED)  # type: ignore[arg-type]
    assert adapter_v1beta2.snapshot_from(betapb.FileSystemSnapshot(
        status=99, trigger=42)) == Snapshot("", SnapshotStatus.UNSPECIFIED)  # type: ignore[arg-type]


@pytest.mark.parametrize("generation", ["v1", "v1beta2"])
def test_rows_of_one_source_share_its_id_and_bucket_strings(generation: str) -> None:
    """A listing's rows hold one string per source sandbox and per bucket, not a copy each:
    at a million rows that is ~120 MB (and the usage grouping finds them hashed)."""
    def page(count: int) -> list[Snapshot]:
        if generation == "v1":
            v1 = v1pb.ListFileSystemSnapshotsResponse(file_system_snapshots=[
                v1pb.FileSystemSnapshot(file_system_snapshot_id=f"fss-{n}",
                                        source_sandbox_id=f"sb-{n % 2}",
                                        object_bucket="the-bucket") for n in range(count)])
            wire = v1pb.ListFileSystemSnapshotsResponse.FromString(v1.SerializeToString())
            return [adapter_v1.snapshot_from(m) for m in wire.file_system_snapshots]
        beta = betapb.ListFileSystemSnapshotsResponse(file_system_snapshots=[
            betapb.FileSystemSnapshot(file_system_snapshot_id=f"fss-{n}",
                                      source_sandbox_id=f"sb-{n % 2}",
                                      object_bucket="the-bucket") for n in range(count)])
        wire_beta = betapb.ListFileSystemSnapshotsResponse.FromString(beta.SerializeToString())
        return [adapter_v1beta2.snapshot_from(m) for m in wire_beta.file_system_snapshots]

    rows = page(6) + page(6)  # two pages, as two answers decode them
    assert {s.source_sandbox_id for s in rows} == {"sb-0", "sb-1"}
    assert len({id(s.source_sandbox_id) for s in rows}) == 2
    assert len({id(s.object_bucket) for s in rows}) == 1
    assert len({id(s.id) for s in rows}) == 12  # ids are each their own


def test_a_completion_time_equal_to_the_last_update_is_one_float() -> None:
    """A settled snapshot's last update is its completion (the service's and our backend's
    way): one float object holds both. Different times stay different."""
    def both(updated: Stamp, completed: Stamp) -> tuple[Snapshot, Snapshot]:
        v1 = v1pb.FileSystemSnapshot(file_system_snapshot_id="fss-1")
        beta = betapb.FileSystemSnapshot(file_system_snapshot_id="fss-1")
        _set(v1.updated_at, updated)
        _set(v1.complete_time, completed)
        _set(beta.updated_at, updated)
        _set(beta.completed_at, completed)
        return (adapter_v1.snapshot_from(v1pb.FileSystemSnapshot.FromString(
                    v1.SerializeToString())),
                adapter_v1beta2.snapshot_from(betapb.FileSystemSnapshot.FromString(
                    beta.SerializeToString())))

    for snap in both((1_795_950_494, 5), (1_795_950_494, 5)):
        assert snap.completed_at == 1_795_950_494 + 5e-9
        assert snap.completed_at is snap.updated_at
    for snap in both((1_795_950_494, 5), (1_795_950_494, 1_000_005)):  # a ms later
        assert snap.completed_at is not None and snap.updated_at is not None
        assert snap.completed_at > snap.updated_at
    for snap in both((1_795_950_494, 5), None):
        assert snap.completed_at is None and snap.updated_at is not None
