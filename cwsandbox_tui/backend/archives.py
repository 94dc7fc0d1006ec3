"""Snapshot archives: tar files of a sandbox's mount directory, written atomically."""

from __future__ import annotations

import os
import tarfile
import time
from pathlib import Path
from typing import BinaryIO

PARTIAL_SUFFIX = ".partial"


class ArchiveError(Exception):
    """The archive could not be made; the message is the snapshot's status_reason."""


class _Throttled:
    """A file wrapper that writes no faster than `rate` bytes per second."""

    def __init__(self, raw: BinaryIO, rate: float) -> None:
        self.raw = raw
        self.rate = rate
        self.written = 0
        self.started = time.monotonic()

    def write(self, data: bytes) -> int:
        count = self.raw.write(data)
        self.written += count
        ahead = self.written / self.rate - (time.monotonic() - self.started)
        if ahead > 0:
            time.sleep(ahead)
        return count

    def tell(self) -> int:
        return self.raw.tell()


def create_archive(source: Path, dest: Path, limit_bytes: int, rate: float | None = None) -> int:
    """Archive `source` into `dest` and return the archive's size in bytes.

    The archive is written under a temporary name, flushed to disk and then renamed, so a
    crash at any point never leaves a complete-looking archive that is not complete.
    """
    partial = dest.with_name(f".{dest.name}{PARTIAL_SUFFIX}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    total = 0

    def account(info: tarfile.TarInfo) -> tarfile.TarInfo:
        nonlocal total
        total += info.size
        if total > limit_bytes:
            raise ArchiveError(
                f"the mount holds more than its size limit of {limit_bytes} bytes"
            )
        return info

    try:
        with open(partial, "wb") as raw:
            target = _Throttled(raw, rate) if rate else raw
            with tarfile.open(fileobj=target, mode="w", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                for entry in sorted(os.listdir(source)):
                    tar.add(source / entry, arcname=entry, recursive=True, filter=account)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, dest)
        _fsync_dir(dest.parent)
    except ArchiveError:
        partial.unlink(missing_ok=True)
        raise
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ArchiveError(f"archiving failed: {exc.strerror or exc}") from exc
    return dest.stat().st_size


def restore_archive(archive: Path, dest: Path) -> None:
    """Unpack an archive into `dest`, refusing members that would land outside it."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, mode="r") as tar:
            tar.extractall(dest, filter="data")
    except (OSError, tarfile.TarError) as exc:
        raise ArchiveError(f"restoring the archive failed: {exc}") from exc


def remove_partials(root: Path) -> int:
    """Delete archives a crash left half-written; returns how many."""
    removed = 0
    if root.exists():
        for partial in root.rglob(f".*{PARTIAL_SUFFIX}"):
            partial.unlink(missing_ok=True)
            removed += 1
    return removed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
