"""The engine's states and triggers <-> v1beta2's wire enums, matched by name."""

from __future__ import annotations

from ...proto.v1beta2 import gateway_pb2 as pb
from ..states import SandboxState, SnapshotCause, SnapshotState

SANDBOX_STATUS: dict[SandboxState, int] = {
    state: pb.SandboxStatus.Value(f"SANDBOX_STATUS_{state.name}") for state in SandboxState}
SANDBOX_STATE_OF: dict[int, SandboxState] = {
    number: state for state, number in SANDBOX_STATUS.items()}
# Keyed by the engine's words, so a listing row's stored text finds its number too.
SNAPSHOT_STATUS: dict[str, int] = {
    state: pb.FileSystemSnapshotStatus.Value(f"FILE_SYSTEM_SNAPSHOT_STATUS_{state.name}")
    for state in SnapshotState}
TRIGGER: dict[str, int] = {
    SnapshotCause.NONE: pb.FILE_SYSTEM_SNAPSHOT_TRIGGER_UNSPECIFIED,
    SnapshotCause.STOP: pb.FILE_SYSTEM_SNAPSHOT_TRIGGER_STOP,
    SnapshotCause.MANUAL: pb.FILE_SYSTEM_SNAPSHOT_TRIGGER_MANUAL,
}
