"""Files as a sandbox sees them, opened without ever following a link out of its root.

A sandbox sees the allow-list of rootfs.py read-only, its own `/tmp` and mount writable, the
hidden directories as empty, and its own `/proc` and `/dev`, which the backend does not
serve. On the read-only part only what anyone may read is served, whatever the backend's own
privileges.

Paths are walked one component at a time, each directory opened with `O_NOFOLLOW` relative
to the one before; a symbolic link is read and its target walked again from the sandbox's own
root (an absolute target) or from where it stands (a relative one), as the kernel would inside
the sandbox. So a sandbox that swaps a directory for a link while a call runs can change which
of its own files is reached, never reach a host file. Everything here blocks: call it from a
thread.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import rootfs
from .isolation import Layout

MAX_SYMLINKS = 40
MAX_PATH_BYTES = 4096
_RETRIES = 8  # a component that keeps changing between the open and the readlink
_NOT_SERVED = ("/proc", "/dev")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
CHUNK = 1 << 20


class FileProblem(Exception):
    """A file operation that cannot be done; `kind` picks the status code and reason.

    The message says what is wrong without naming a path: the caller names the path it was
    asked for, so a link's target never shows up in an answer.
    """

    def __init__(self, kind: str, message: str, size: int | None = None) -> None:
        super().__init__(message)
        self.size = size
        self.kind = kind  # not_found, is_directory, not_directory, permission, not_regular,
        #                   too_large, too_many_links, io


@dataclass
class _Dir:
    """A directory reached by the walk: an open fd on the host, or a synthetic empty one."""

    path: str  # as the sandbox sees it
    fd: int | None  # None: a directory made in the sandbox's root (holding only its entries),
    #                 a hidden one, or one on the way to the mount
    writable: bool


class _Walk:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.stack: list[_Dir] = []
        self.links = 0
        own = (rootfs.Entry(layout.bin_path, source=str(layout.bin_dir)),) \
            if layout.bin_dir is not None else ()
        etc = str(layout.etc_dir) if layout.etc_dir is not None else ""
        self.root = {e.path: e for e in rootfs.entries(etc, layout.mount_path, extra=own)}

    # the stack of open directories
    def close(self) -> None:
        for entry in self.stack:
            if entry.fd is not None:
                os.close(entry.fd)
        self.stack.clear()

    def to_root(self) -> None:
        self.close()
        self.stack.append(_Dir("/", None, writable=False))

    @property
    def top(self) -> _Dir:
        return self.stack[-1]

    def up(self) -> None:
        if len(self.stack) > 1:
            entry = self.stack.pop()
            if entry.fd is not None:
                os.close(entry.fd)

    # the sandbox's mount table
    def _special(self, path: str) -> _Dir | None | str:
        """The directory a mount puts at `path`, "denied", or None when the host's is seen."""
        layout = self.layout
        if layout.mount_dir is not None and path == layout.mount_path:
            return _Dir(path, _open_area(layout.mount_dir, path), writable=True)
        if path == "/tmp":
            return _Dir(path, _open_area(layout.tmp_dir, path), writable=True)
        if any(path == p or path.startswith(p + "/") for p in _NOT_SERVED):
            return "denied"
        if any(path == str(h) for h in layout.hidden if not _under(str(h), "/tmp")):
            return _Dir(path, None, writable=False)
        entry = self.root.get(path)
        if entry is not None and entry.is_dir and not entry.link:
            fd = None if not entry.source else _open_area(Path(entry.source), path)
            return _Dir(path, fd, writable=False)
        return None

    def root_link(self, path: str, pending: list[str]) -> bool:
        """If `path` is a link the sandbox's root holds, queue its target as `queue_link`."""
        entry = self.root.get(path)
        if entry is None or not entry.link:
            return False
        self._queue_target(entry.link, pending)
        return True

    def _mount_ancestor(self, path: str) -> bool:
        mount = self.layout.mount_path if self.layout.mount_dir is not None else ""
        return bool(mount) and mount.startswith(path.rstrip("/") + "/")

    def child_path(self, name: str) -> str:
        return ("/" if self.top.path == "/" else self.top.path + "/") + name

    def enter(self, name: str, pending: list[str]) -> bool:
        """Step into directory `name`; False when it is a link whose target was queued."""
        path = self.child_path(name)
        special = self._special(path)
        if special == "denied":
            raise FileProblem("permission", "is not served by the backend")
        if isinstance(special, _Dir):
            self.stack.append(special)
            return True
        parent = self.top
        if parent.fd is None:  # a made directory holds only its entries and the way to the mount
            if self.root_link(path, pending):
                return False
            if self._mount_ancestor(path):
                self.stack.append(_Dir(path, None, writable=False))
                return True
            if path in self.root:
                raise FileProblem("not_directory", "has a component that is not a directory")
            raise FileProblem("not_found", "does not exist (no such file or directory)")
        for _ in range(_RETRIES):
            try:
                fd = os.open(name, _DIR_FLAGS, dir_fd=parent.fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    if self.queue_link(name, pending):
                        return False
                    if not self._is_dir_at(name):
                        if self._mount_ancestor(path):  # bubblewrap makes this directory
                            self.stack.append(_Dir(path, None, writable=False))
                            return True
                        raise FileProblem("not_directory",
                                          "has a component that is not a directory") from None
                    continue  # it changed under us: look again
                if exc.errno == errno.ENOENT and self._mount_ancestor(path):
                    self.stack.append(_Dir(path, None, writable=False))
                    return True
                raise _problem(exc, path) from None
            if not parent.writable and not os.fstat(fd).st_mode & stat.S_IXOTH:
                os.close(fd)  # the host's own (say /root or a 0700 directory)
                raise FileProblem("permission", "permission denied")
            self.stack.append(_Dir(path, fd, writable=parent.writable))
            return True
        raise FileProblem("io", "keeps changing")

    def _is_dir_at(self, name: str) -> bool:
        try:
            info = os.stat(name, dir_fd=self.top.fd, follow_symlinks=False)
        except OSError:
            return False
        return stat.S_ISDIR(info.st_mode)

    def queue_link(self, name: str, pending: list[str]) -> bool:
        """If `name` is a link, put its target's components in front of `pending`."""
        try:
            target = os.readlink(name, dir_fd=self.top.fd)
        except OSError as exc:
            if exc.errno in (errno.EINVAL, errno.ENOENT):
                return False  # not a link (any more)
            raise _problem(exc, self.child_path(name)) from None
        self._queue_target(target, pending)
        return True

    def _queue_target(self, target: str, pending: list[str]) -> None:
        self.links += 1
        if self.links > MAX_SYMLINKS:
            raise FileProblem("too_many_links", "too many levels of symbolic links")
        if target.startswith("/"):
            self.to_root()
        pending[:0] = [p for p in target.split("/") if p not in ("", ".")]

    def parent_of(self, sandbox_path: str, *, create: bool) -> str:
        """Walk to the directory holding the last component; returns that component's name."""
        if not sandbox_path.startswith("/"):
            sandbox_path = os.path.join(self.layout.workdir, sandbox_path)
        parts = [p for p in sandbox_path.split("/") if p not in ("", ".")]
        self.to_root()
        return self.walk(parts, create=create)

    def walk(self, parts: list[str], *, create: bool) -> str:
        pending = list(parts)
        while pending:
            part = pending.pop(0)
            if part == "..":
                self.up()
                continue
            if not pending:
                return part
            try:
                self.enter(part, pending)
            except FileProblem as problem:
                if problem.kind != "not_found" or not create:
                    raise
                self.make_dir(part)
                self.enter(part, pending)
        return ""

    def make_dir(self, name: str) -> None:
        parent = self.top
        path = self.child_path(name)
        if parent.fd is None or not parent.writable:
            raise FileProblem("permission", "cannot be created: read-only file system")
        try:
            os.mkdir(name, 0o755, dir_fd=parent.fd)
            owner = self.layout.owner
            if owner is not None:  # a root backend's sandbox is another uid: it must own it
                os.chown(name, owner.uid, owner.gid, dir_fd=parent.fd, follow_symlinks=False)
        except FileExistsError:
            pass
        except OSError as exc:
            raise _problem(exc, path) from None


def _open_area(host_dir: Path, path: str) -> int:
    """A sandbox's own writable area (its mount or /tmp), opened without following a link."""
    try:
        return os.open(host_dir, _DIR_FLAGS)
    except OSError as exc:
        raise _problem(exc, path) from None


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _problem(exc: OSError, path: str) -> FileProblem:
    kinds = {errno.ENOENT: "not_found", errno.ENOTDIR: "not_directory",
             errno.EISDIR: "is_directory", errno.EACCES: "permission", errno.EPERM: "permission",
             errno.EROFS: "permission", errno.ELOOP: "too_many_links",
             errno.ENAMETOOLONG: "io", errno.ENOSPC: "io", errno.EDQUOT: "io"}
    kind = kinds.get(exc.errno or 0, "io")
    words = {"not_found": "does not exist", "not_directory": "is not a directory",
             "is_directory": "is a directory", "permission": "permission denied",
             "too_many_links": "too many levels of symbolic links"}
    return FileProblem(kind, words.get(kind, os.strerror(exc.errno or 0).lower()))


def _kind_name(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _check_regular(mode: int, path: str) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise FileProblem("is_directory", "is a directory")
    raise FileProblem("not_regular", f"is {_kind_name(mode)}, not a regular file")


def _check_path(sandbox_path: str) -> None:
    if len(sandbox_path.encode()) > MAX_PATH_BYTES:
        raise FileProblem("io", "the path is too long")


@contextmanager
def _walking(layout: Layout) -> Iterator[_Walk]:
    walk = _Walk(layout)
    try:
        yield walk
    finally:
        walk.close()


def _open_last(walk: _Walk, name: str, flags: int, *, create: bool) -> tuple[int, str]:
    """Open the last component (following a final link inside the sandbox); the fd and path."""
    while True:
        path = walk.child_path(name) if name else walk.top.path
        if not name:  # the path named a directory ("/", "/tmp/", "..")
            raise FileProblem("is_directory", "is a directory")
        special = walk._special(path)
        if special == "denied":
            raise FileProblem("permission", "is not served by the backend")
        if isinstance(special, _Dir) or walk._mount_ancestor(path):
            if isinstance(special, _Dir) and special.fd is not None:
                os.close(special.fd)
            raise FileProblem("is_directory", "is a directory")
        parent = walk.top
        if parent.fd is None:
            pending: list[str] = []
            if walk.root_link(path, pending):
                name = walk.walk(pending, create=create) if pending else ""
                continue
            if create:
                raise FileProblem("permission", "cannot be created: read-only file system")
            entry = walk.root.get(path)
            if entry is None or not entry.source:
                raise FileProblem("not_found", "does not exist (no such file or directory)")
            return _open_shown(entry.source, path), path
        if create and not parent.writable:
            raise FileProblem("permission", "cannot be written: read-only file system")
        try:
            before = os.stat(name, dir_fd=parent.fd, follow_symlinks=False)
        except FileNotFoundError:
            before = None
        except OSError as exc:
            raise _problem(exc, path) from None
        if before is not None and stat.S_ISLNK(before.st_mode):
            pending = []
            if walk.queue_link(name, pending):
                name = walk.walk(pending, create=create) if pending else ""
                continue
            continue  # no longer a link: look again
        if before is None and not create:
            raise FileProblem("not_found", "does not exist (no such file or directory)")
        if before is not None:
            _check_regular(before.st_mode, path)
            if not parent.writable and not before.st_mode & stat.S_IROTH:
                # On the read-only root only what anyone may read is served: the backend's
                # own privileges are not the sandbox's.
                raise FileProblem("permission", "permission denied")
        open_flags = flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
        if create:
            open_flags |= os.O_CREAT
        try:
            fd = os.open(name, open_flags, 0o644, dir_fd=parent.fd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                continue  # became a link in between: resolve it
            if exc.errno == errno.ENXIO:  # a FIFO with no reader, swapped in
                raise FileProblem("not_regular", "is a FIFO, not a regular file") from None
            raise _problem(exc, path) from None
        try:
            _check_regular(os.fstat(fd).st_mode, path)
        except BaseException:
            os.close(fd)
            raise
        return fd, path


def _open_shown(source: str, path: str) -> int:
    """A file of the sandbox's root (one of the host's or one written for it), if anyone may
    read it."""
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
                     | os.O_CLOEXEC)
    except OSError as exc:
        raise _problem(exc, path) from None
    mode = os.fstat(fd).st_mode
    try:
        _check_regular(mode, path)
        if not mode & stat.S_IROTH:
            raise FileProblem("permission", "permission denied")
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_file(layout: Layout, sandbox_path: str, limit: int) -> bytes:
    """The contents of a regular file the sandbox can read, at most `limit` bytes."""
    _check_path(sandbox_path)
    with _walking(layout) as walk:
        name = walk.parent_of(sandbox_path, create=False)
        fd, path = _open_last(walk, name, os.O_RDONLY, create=False)
    with os.fdopen(fd, "rb", buffering=0) as src:
        size = os.fstat(src.fileno()).st_size
        if size > limit:
            raise FileProblem("too_large",
                              f"is {size} bytes, more than the limit of {limit} bytes", size)
        chunks: list[bytes] = []
        total = 0
        try:
            while chunk := src.read(min(CHUNK, limit + 1 - total)):
                chunks.append(chunk)
                total += len(chunk)
                if total > limit:
                    raise FileProblem("too_large", f"grew beyond the limit of {limit} bytes",
                                      total)
        except OSError as exc:
            raise _problem(exc, path) from None
    return b"".join(chunks)


def write_file(layout: Layout, sandbox_path: str, contents: bytes) -> None:
    """Write a regular file where the sandbox can write, making missing directories."""
    _check_path(sandbox_path)
    with _walking(layout) as walk:
        name = walk.parent_of(sandbox_path, create=True)
        fd, path = _open_last(walk, name, os.O_WRONLY, create=True)
    with os.fdopen(fd, "wb", buffering=0) as out:
        try:
            if layout.owner is not None:  # the sandbox must be able to change what it is given
                os.fchown(out.fileno(), layout.owner.uid, layout.owner.gid)
            os.ftruncate(out.fileno(), 0)
            view = memoryview(contents)
            for start in range(0, len(view), CHUNK):
                out.write(view[start:start + CHUNK])
        except OSError as exc:
            raise _problem(exc, path) from None
