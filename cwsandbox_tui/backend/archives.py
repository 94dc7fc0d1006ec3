"""Snapshot archives: tar files of a sandbox's mount directory, written atomically."""

from __future__ import annotations

import errno
import os
import stat
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .fstree import DIR_FLAGS, MAX_DEPTH, Opened, opened

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
                root = os.open(source, DIR_FLAGS)
                try:
                    walker.add_tree(tar, root)
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


_SPECIAL = ((stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "device"),
            (stat.S_ISBLK, "device"))


class _Archiver:
    """Walks the tree by directory fd, a descriptor per level, in sorted order, without
    recursion; entries the owner is kept out of by their mode are read all the same (see
    `fstree.opened`) and archived with that mode."""

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

    def add_tree(self, tar: tarfile.TarFile, root_fd: int) -> None:
        stack: list[tuple[Opened | None, int, str, list[str]]] = [
            (None, root_fd, "", sorted(os.listdir(root_fd), reverse=True))]
        try:
            while stack:
                _, dir_fd, prefix, entries = stack[-1]
                if not entries:
                    done = stack.pop()[0]
                    if done is not None:
                        done.close()
                    continue
                entry = entries.pop()
                child = self._add_entry(tar, dir_fd, entry, f"{prefix}{entry}")
                if child is not None:
                    if len(stack) > MAX_DEPTH:
                        child.close()
                        raise ArchiveError(f"the mount nests directories more than {MAX_DEPTH} "
                                           f"deep (at {prefix[:200]!r}...)")
                    stack.append((child, child.fd, f"{prefix}{entry}/",
                                  sorted(os.listdir(child.fd), reverse=True)))
        finally:
            for opened_dir, _, _, _ in stack:
                if opened_dir is not None:
                    opened_dir.close()

    def _add_entry(self, tar: tarfile.TarFile, dir_fd: int, entry: str, name: str
                   ) -> Opened | None:
        """Archive one entry; a directory comes back open, for its contents to follow."""
        try:
            info = os.stat(entry, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None  # removed while archiving
        mode = info.st_mode
        if stat.S_ISLNK(mode):
            member = self._info(name, info)
            member.type = tarfile.SYMTYPE
            member.linkname = os.readlink(entry, dir_fd=dir_fd)
            tar.addfile(member)
        elif stat.S_ISDIR(mode):
            try:
                child = opened(entry, dir_fd, directory=True)
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                    return None  # replaced while archiving: what it became is not a directory
                raise
            member = self._info(name, os.fstat(child.fd))
            if child.restore_mode is not None:
                member.mode = child.restore_mode
            member.type = tarfile.DIRTYPE
            tar.addfile(member)
            return child
        elif stat.S_ISREG(mode):
            self._add_file(tar, dir_fd, entry, name)
        else:
            kind = next((k for test, k in _SPECIAL if test(mode)), "special file")
            self.skipped.append(f"{name} ({kind})")
        return None

    def _add_file(self, tar: tarfile.TarFile, dir_fd: int, entry: str, name: str) -> None:
        try:
            handle = opened(entry, dir_fd, directory=False)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENXIO):
                return  # replaced while archiving
            raise
        try:
            info = os.fstat(handle.fd)
            if not stat.S_ISREG(info.st_mode):
                return
            self.total += info.st_size
            if self.total > self.limit_bytes:
                raise ArchiveError(
                    f"the mount holds more than its size limit of {self.limit_bytes} bytes")
            member = self._info(name, info)
            if handle.restore_mode is not None:
                member.mode = handle.restore_mode
            member.size = info.st_size
            with os.fdopen(os.dup(handle.fd), "rb") as src:
                tar.addfile(member, _Exactly(src, info.st_size))
        finally:
            handle.close()


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


def restore_archive(archive: Path, dest: Path, owner: tuple[int, int] | None = None) -> None:
    """Unpack an archive into `dest`, refusing members that would land outside it.

    Every member is written through directory fds opened without following links, so no
    member is ever written through one and no path is longer than one name, however deep the
    tree; links are made last. Only directories, regular files and symbolic links (what
    `create_archive` writes) are restored; anything else refuses the whole archive. A link's
    target is kept as it was: it is read inside the sandbox, where an absolute target starts at
    the sandbox's own root. Modes are restored as archived (a mode-000 directory too, once its
    contents are in), less their set-id, sticky and group/other write bits. With `owner`
    (uid, gid), everything restored is given to it as it is made. (tarfile's own `data` filter
    does much the same, but Debian 12's Python 3.11.2 predates it.)
    """
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, mode="r") as tar:
            _Restorer(tar, dest, owner).run()
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
_KEPT_BITS = 0o755  # no set-id, sticky or group/other write bits


class _Chain:
    """Open descriptors of the directories from `dest` down to the last member's parent, so
    that members in walk order cost one open each, not one per level."""

    def __init__(self, root: Path) -> None:
        self.names: list[str] = []
        self.fds = [os.open(root, DIR_FLAGS)]

    def parent(self, parts: list[str], made: Callable[[int, str], None]) -> int:
        """The directory holding `parts[-1]`; missing ones are made (and passed to `made`)."""
        wanted = parts[:-1]
        keep = 0
        while keep < min(len(wanted), len(self.names)) and wanted[keep] == self.names[keep]:
            keep += 1
        while len(self.names) > keep:
            self.names.pop()
            os.close(self.fds.pop())
        for part in wanted[keep:]:
            try:
                os.mkdir(part, 0o700, dir_fd=self.fds[-1])
            except FileExistsError:
                pass
            else:
                made(self.fds[-1], part)
            self.fds.append(os.open(part, DIR_FLAGS, dir_fd=self.fds[-1]))  # a link: ELOOP
            self.names.append(part)
        return self.fds[-1]

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds, self.names = [], []


class _Restorer:
    def __init__(self, tar: tarfile.TarFile, dest: Path, owner: tuple[int, int] | None) -> None:
        self.tar = tar
        self.dest = dest
        self.owner = owner
        self.dirs: dict[tuple[str, ...], tuple[int, int]] = {}  # path -> (mode, mtime)

    def run(self) -> None:
        links: list[tuple[list[str], tarfile.TarInfo]] = []
        chain = _Chain(self.dest)
        try:
            for member in self.tar:
                parts = _parts(member)
                if not parts:  # the mount itself, as `tar -C mount .` names it
                    continue
                if len(parts) > MAX_DEPTH + 1:
                    raise _Refused(member, f"nested more than {MAX_DEPTH} directories deep")
                if member.issym():
                    if "\0" in member.linkname:
                        raise _Refused(member, "a NUL byte in the link's target")
                    links.append((parts, member))
                elif member.isdir():
                    self._directory(chain.parent(parts, self._made), parts[-1])
                    self.dirs[tuple(parts)] = (member.mode & _KEPT_BITS, int(member.mtime))
                elif member.isreg():
                    self._file(chain.parent(parts, self._made), parts[-1], member)
                else:
                    raise _Refused(member, "not a file, directory or symbolic link")
            for parts, member in links:
                parent = chain.parent(parts, self._made)
                os.symlink(member.linkname, parts[-1], dir_fd=parent)
                if self.owner is not None:
                    os.chown(parts[-1], *self.owner, dir_fd=parent, follow_symlinks=False)
            # deepest first: a directory's mode may shut out its own contents, and its time
            # changes with them
            for path in sorted(self.dirs, key=len, reverse=True):
                mode, mtime = self.dirs[path]
                fd = os.open(path[-1], DIR_FLAGS, dir_fd=chain.parent(list(path), self._made))
                try:
                    os.fchmod(fd, mode)
                    os.utime(fd, (mtime, mtime))
                finally:
                    os.close(fd)
        finally:
            chain.close()

    def _made(self, parent: int, name: str) -> None:
        """A directory made for a member whose own entry comes later (or never)."""
        if self.owner is not None:
            os.chown(name, *self.owner, dir_fd=parent, follow_symlinks=False)

    def _directory(self, parent: int, name: str) -> None:
        try:
            os.mkdir(name, 0o700, dir_fd=parent)
        except FileExistsError:
            os.close(os.open(name, DIR_FLAGS, dir_fd=parent))  # an existing link is refused
        else:
            self._made(parent, name)

    def _file(self, parent: int, name: str, member: tarfile.TarInfo) -> None:
        source = self.tar.extractfile(member)
        if source is None:
            raise tarfile.ReadError("a file member without data")
        fd = os.open(name, _NEW_FILE_FLAGS, 0o600, dir_fd=parent)
        try:
            left = member.size
            while left > 0:
                chunk = source.read(min(left, _COPY_CHUNK))
                if not chunk:
                    raise tarfile.ReadError("the archive ends inside a file")
                _write_all(fd, chunk)
                left -= len(chunk)
            if self.owner is not None:
                os.fchown(fd, *self.owner)
            os.fchmod(fd, member.mode & _KEPT_BITS)  # not narrowed by the umask
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
