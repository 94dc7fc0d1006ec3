"""Registered volumes of the local backend: each one a directory under the data directory.

Generation-neutral (v1's `VolumeService` serves them; v1beta2 has no volumes). A volume's
record is a small JSON file beside its directory, written under a temporary name and
renamed. The local backend does not mount registered volumes into sandboxes, so none is
ever attached or in use.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import ApiError, Code, invalid
from .fstree import remove_tree

VALIDATING, READY, ERROR = "validating", "ready", "error"
_ID = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
RECORD = "volume.json"


@dataclass
class VolumeRecord:
    volume_id: str
    runner_id: str
    namespace: str
    claim_name: str
    sub_path: str = ""
    read_only: bool = False
    description: str = ""
    state: str = VALIDATING
    state_reason: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    validated_at: float | None = None
    request_id: str = ""
    extra: dict[str, str] = field(default_factory=dict)


def volume_not_found(volume_id: str) -> ApiError:
    return ApiError(Code.NOT_FOUND, f"volume {volume_id!r} not found",
                    reason="CWSANDBOX_VOLUME_NOT_FOUND", metadata={"volume_id": volume_id})


class VolumeRegistry:
    """The registered volumes under `root`, each a directory with its record, on the one
    runner `runner_id`."""

    def __init__(self, root: Path, runner_id: str) -> None:
        self.root = root
        self.runner_id = runner_id

    def _dir(self, volume_id: str) -> Path:
        return self.root / volume_id

    def data_dir(self, volume_id: str) -> Path:
        return self._dir(volume_id) / "data"

    def _write(self, record: VolumeRecord) -> None:
        target = self._dir(record.volume_id) / RECORD
        partial = target.with_name(f".{RECORD}.partial")
        partial.write_text(json.dumps(asdict(record)))
        os.replace(partial, target)

    def _read(self, volume_id: str) -> VolumeRecord | None:
        try:
            return VolumeRecord(**json.loads((self._dir(volume_id) / RECORD).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def create(self, record: VolumeRecord) -> VolumeRecord:
        if not _ID.match(record.volume_id):
            raise invalid("volume.volume_id", "must be 1 to 63 lower-case letters, digits or "
                                              "'-', starting and ending with a letter or digit")
        for name in ("namespace", "claim_name"):
            if not getattr(record, name):
                raise invalid(f"volume.spec.pvc.{name}", "is required")
        if record.runner_id != self.runner_id:
            raise invalid("volume.spec.pvc.runner_id",
                          f"{record.runner_id!r} is not a runner here (the one runner is "
                          f"{self.runner_id!r})")
        if record.sub_path and (record.sub_path.startswith("/") or ".." in
                                record.sub_path.split("/")):
            raise invalid("volume.spec.pvc.sub_path", "must be relative and stay inside the claim")
        existing = self._read(record.volume_id)
        if existing is not None:
            if record.request_id and existing.request_id == record.request_id:
                return existing  # a retry of the create that made it
            raise ApiError(Code.ALREADY_EXISTS,
                           f"volume {record.volume_id!r} already exists",
                           metadata={"volume_id": record.volume_id})
        now = time.time()
        record.state, record.created_at, record.updated_at = VALIDATING, now, now
        self.data_dir(record.volume_id).mkdir(parents=True, exist_ok=True)
        self._write(record)
        return record

    def get(self, volume_id: str) -> VolumeRecord:
        record = self._read(volume_id) if _ID.match(volume_id) else None
        if record is None:
            raise volume_not_found(volume_id)
        return record

    def list(self) -> list[VolumeRecord]:
        if not self.root.exists():
            return []
        found = [self._read(p.name) for p in sorted(self.root.iterdir()) if p.is_dir()]
        return sorted((r for r in found if r is not None), key=lambda r: r.created_at)

    def update(self, volume_id: str, **changes: object) -> VolumeRecord:
        record = self.get(volume_id)
        for name, value in changes.items():
            setattr(record, name, value)
        record.updated_at = time.time()
        self._write(record)
        return record

    def validate(self, volume_id: str) -> VolumeRecord:
        """Check the directory is there and writable: READY, else ERROR with the reason."""
        data = self.data_dir(volume_id)
        self.get(volume_id)
        if data.is_dir() and os.access(data, os.W_OK):
            state, reason = READY, ""
        else:
            state, reason = ERROR, f"its directory {data} is missing or not writable"
        return self.update(volume_id, state=state, state_reason=reason,
                           validated_at=time.time())

    def delete(self, volume_id: str) -> VolumeRecord:
        record = self.get(volume_id)
        remove_tree(self._dir(volume_id))
        return record

    def capacity(self) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        return shutil.disk_usage(self.root).free
