"""Snapshot archives: tar files of a sandbox's mount directory, written atomically."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tarfile
import time
from collections.abc import Iterator
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


def create_archive(source: Path, dest: Path, limit_bytes: int, rate: float | None = None,
                   skipped: list[str] | None = None) -> int:
    """Archive `source` into `dest` and return the archive's size in bytes.

    The archive is written under a temporary name, flushed to disk and then renamed, so a
    crash at any point never leaves a complete-looking archive that is not complete. The tree
    is walked by directory fd without following links (a sandbox swapping a directory for a
    link while this runs cannot bring host files into the archive). Links are archived as
    links; FIFOs, sockets and devices are left out and named in `skipped`.
    """
    partial = dest.with_name(f".{dest.name}{PARTIAL_SUFFIX}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    walker = _Archiver(limit_bytes, skipped if skipped is not None else [])
    try:
        with open(partial, "wb") as raw:
            target = _Throttled(raw, rate) if rate else raw
            with tarfile.open(fileobj=target, mode="w", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
                root = os.open(source, _DIR_FLAGS)
                try:
                    walker.add_tree(tar, root, "")
                finally:
                    os.close(root)
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


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_SPECIAL = ((stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "device"),
            (stat.S_ISBLK, "device"))


class _Archiver:
    def __init__(self, limit_bytes: int, skipped: list[str]) -> None:
        self.limit_bytes = limit_bytes
        self.total = 0
        self.skipped = skipped

    def _info(self, name: str, info: os.stat_result) -> tarfile.TarInfo:
        member = tarfile.TarInfo(name)
        member.mode = stat.S_IMODE(info.st_mode)
        member.mtime = int(info.st_mtime)
        member.uid, member.gid = info.st_uid, info.st_gid
        return member

    def add_tree(self, tar: tarfile.TarFile, dir_fd: int, prefix: str) -> None:
        for entry in sorted(os.listdir(dir_fd)):
            name = f"{prefix}{entry}"
            try:
                info = os.stat(entry, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while archiving
            mode = info.st_mode
            if stat.S_ISLNK(mode):
                member = self._info(name, info)
                member.type = tarfile.SYMTYPE
                member.linkname = os.readlink(entry, dir_fd=dir_fd)
                tar.addfile(member)
            elif stat.S_ISDIR(mode):
                try:
                    child = os.open(entry, _DIR_FLAGS, dir_fd=dir_fd)
                except OSError as exc:
                    if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                        continue  # replaced while archiving: what it became is not a directory
                    raise
                try:
                    member = self._info(name, os.fstat(child))
                    member.type = tarfile.DIRTYPE
                    tar.addfile(member)
                    self.add_tree(tar, child, name + "/")
                finally:
                    os.close(child)
            elif stat.S_ISREG(mode):
                self._add_file(tar, dir_fd, entry, name)
            else:
                kind = next((k for test, k in _SPECIAL if test(mode)), "special file")
                self.skipped.append(f"{name} ({kind})")

    def _add_file(self, tar: tarfile.TarFile, dir_fd: int, entry: str, name: str) -> None:
        try:
            fd = os.open(entry, _FILE_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENXIO):
                return  # replaced while archiving
            raise
        with os.fdopen(fd, "rb") as src:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return
            self.total += info.st_size
            if self.total > self.limit_bytes:
                raise ArchiveError(
                    f"the mount holds more than its size limit of {self.limit_bytes} bytes")
            member = self._info(name, info)
            member.size = info.st_size
            tar.addfile(member, _Exactly(src, info.st_size))


class _Exactly:
    """A file read as exactly `size` bytes (zero-padded if it shrank while being read)."""

    def __init__(self, raw: BinaryIO, size: int) -> None:
        self.raw = raw
        self.left = size

    def read(self, count: int = -1) -> bytes:
        want = self.left if count < 0 else min(count, self.left)
        data = self.raw.read(want) if want else b""
        data += b"\0" * (want - len(data))
        self.left -= want
        return data


def restore_archive(archive: Path, dest: Path) -> None:
    """Unpack an archive into `dest`, refusing members that would land outside it.

    Every member is written through directory fds opened without following links, so no
    member is ever written through one, whatever the archive holds; links are made last. Only
    directories, regular files and symbolic links (what `create_archive` writes) are restored;
    anything else refuses the whole archive. A link's target is kept as it was: it is read
    inside the sandbox, where an absolute target starts at the sandbox's own root. Modes lose
    their set-id, sticky and group/other write bits, and nothing is chowned. (tarfile's own
    `data` filter does much the same, but Debian 12's Python 3.11.2 predates it.)
    """
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, mode="r") as tar:
            _Restorer(tar, dest).run()
    except _Refused as exc:
        raise ArchiveError(f"restoring the archive failed: its member {exc.name!r} would land "
                           f"outside the mount or is not allowed there ({exc.why})") from exc
    except (tarfile.TarError, OverflowError, ValueError) as exc:  # the last two: bad times
        raise ArchiveError(f"restoring the archive failed: it is damaged or unreadable "
                           f"({type(exc).__name__})") from exc
    except OSError as exc:  # the message would name host paths: only its cause is given
        raise ArchiveError(f"restoring the archive failed: "
                           f"{exc.strerror or type(exc).__name__}") from exc


class _Refused(Exception):
    def __init__(self, member: tarfile.TarInfo, why: str) -> None:
        super().__init__(why)
        self.name = member.name[:200]
        self.why = why


_NEW_FILE_FLAGS = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_NOCTTY
                   | os.O_CLOEXEC)
_COPY_CHUNK = 1 << 20


class _Restorer:
    def __init__(self, tar: tarfile.TarFile, dest: Path) -> None:
        self.tar = tar
        self.dest = dest
        self.dir_times: list[tuple[list[str], int]] = []

    def run(self) -> None:
        links: list[tuple[list[str], tarfile.TarInfo]] = []
        for member in self.tar:
            parts = _parts(member)
            if not parts:  # the mount itself, as `tar -C mount .` names it
                continue
            if member.issym():
                if "\0" in member.linkname:
                    raise _Refused(member, "a NUL byte in the link's target")
                links.append((parts, member))
            elif member.isdir():
                with self._parent(parts) as fd:
                    self._directory(fd, parts[-1], member)
                self.dir_times.append((parts, int(member.mtime)))
            elif member.isreg():
                with self._parent(parts) as fd:
                    self._file(fd, parts[-1], member)
            else:
                raise _Refused(member, "not a file, directory or symbolic link")
        for parts, member in links:
            with self._parent(parts) as fd:
                os.symlink(member.linkname, parts[-1], dir_fd=fd)
        for parts, mtime in reversed(self.dir_times):  # after their contents changed them
            with self._parent(parts) as fd:
                os.utime(parts[-1], (mtime, mtime), dir_fd=fd, follow_symlinks=False)

    @contextlib.contextmanager
    def _parent(self, parts: list[str]) -> Iterator[int]:
        """The directory holding `parts[-1]`, made where missing, never through a link."""
        fd = os.open(self.dest, _DIR_FLAGS)
        try:
            for part in parts[:-1]:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)  # a link here is ELOOP
                os.close(fd)
                fd = child
            yield fd
        finally:
            os.close(fd)

    @staticmethod
    def _directory(parent: int, name: str, member: tarfile.TarInfo) -> None:
        mode = (member.mode & 0o755) | 0o700
        try:
            os.mkdir(name, mode, dir_fd=parent)
        except FileExistsError:
            fd = os.open(name, _DIR_FLAGS, dir_fd=parent)  # an existing link is refused
            try:
                os.fchmod(fd, mode)
            finally:
                os.close(fd)

    def _file(self, parent: int, name: str, member: tarfile.TarInfo) -> None:
        source = self.tar.extractfile(member)
        if source is None:
            raise tarfile.ReadError("a file member without data")
        fd = os.open(name, _NEW_FILE_FLAGS, (member.mode & 0o755) | 0o600, dir_fd=parent)
        try:
            left = member.size
            while left > 0:
                chunk = source.read(min(left, _COPY_CHUNK))
                if not chunk:
                    raise tarfile.ReadError("the archive ends inside a file")
                _write_all(fd, chunk)
                left -= len(chunk)
            os.fchmod(fd, (member.mode & 0o755) | 0o600)  # not narrowed by the umask
            os.utime(fd, (member.mtime, member.mtime))
        finally:
            os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _parts(member: tarfile.TarInfo) -> list[str]:
    """A member's path inside the mount; an absolute name is made relative, as tar does."""
    if "\0" in member.name:
        raise _Refused(member, "a NUL byte in its name")
    parts = [p for p in member.name.split("/") if p not in ("", ".")]
    if not parts and not member.isdir():
        raise _Refused(member, "an empty name")
    if ".." in parts:
        raise _Refused(member, "'..' in its name")
    return parts


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
