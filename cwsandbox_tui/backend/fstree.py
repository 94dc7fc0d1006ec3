"""Directory trees a sandbox wrote, walked by file descriptor whatever their modes and depth.

A sandbox owns what it writes: it may leave a directory or file with mode 000, nest names until
the host path is longer than PATH_MAX, or swap a directory for a link while the backend works.
Everything here goes through directory fds opened without following links, so no path handed
to the kernel is longer than one name and no link is ever followed.

A backend that is not root cannot open its sandboxes' mode-000 entries, though it owns them
(the sandbox's uid 0 is the backend's uid). `opened` then grants the owner the access it needs
through an O_PATH descriptor (so the mode change lands on the very inode that was looked up,
never on what a link points to) and says which mode to put back.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from dataclasses import dataclass

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
# A walk of a tree a sandbox may still be changing holds a descriptor per level (walking back
# up by '..' could leave the tree if the sandbox moved a directory meanwhile), so archives
# refuse deeper trees rather than run out of descriptors.
MAX_DEPTH = 256


@dataclass(frozen=True)
class Opened:
    """An open descriptor, and the entry's own mode if access had to be granted to open it."""

    fd: int
    restore_mode: int | None = None

    def close(self) -> None:
        """Close the descriptor, putting the entry's own mode back first."""
        try:
            if self.restore_mode is not None:
                with contextlib.suppress(OSError):
                    os.fchmod(self.fd, self.restore_mode)
        finally:
            os.close(self.fd)


def opened(name: str, dir_fd: int, *, directory: bool) -> Opened:
    """Open the entry `name` of `dir_fd` for reading, without following a link.

    If the entry's mode keeps its owner out and the backend is that owner, the owner's read
    (and, for a directory, search) bits are added until `Opened.close`.
    """
    flags = DIR_FLAGS if directory else FILE_FLAGS
    try:
        return Opened(os.open(name, flags, dir_fd=dir_fd))
    except PermissionError:
        pass
    path_fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        info = os.fstat(path_fd)
        wanted = stat.S_ISDIR(info.st_mode) if directory else stat.S_ISREG(info.st_mode)
        if not wanted or info.st_uid != os.geteuid():
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)
        mode = stat.S_IMODE(info.st_mode)
        handle = f"/proc/self/fd/{path_fd}"  # the inode looked up above, not a path
        os.chmod(handle, mode | (0o700 if directory else 0o600))
        try:
            fd = os.open(handle, flags & ~os.O_NOFOLLOW)
        except BaseException:
            os.chmod(handle, mode)
            raise
        return Opened(fd, mode)
    finally:
        os.close(path_fd)


def remove_tree(path: os.PathLike[str] | str) -> None:
    """Delete a file or a directory and everything under it, whatever the modes, depth and
    length of the paths inside; a missing one is fine. What cannot go is left, silently, as
    `shutil.rmtree(path, ignore_errors=True)` would leave it.

    Only for trees no sandbox is changing any more: it holds one descriptor and climbs back
    up by '..', so its depth is unbounded.
    """
    parent_path, name = os.path.split(os.path.abspath(os.fspath(path)))
    try:
        parent = os.open(parent_path, DIR_FLAGS)
    except OSError:
        return
    try:
        if _unlinked(parent, name):
            return
        try:
            here = opened(name, parent, directory=True).fd
        except OSError:
            return
        names, pending = [name], [_entries(here)]
        while names:
            if pending[-1]:
                entry = pending[-1].pop()
                if _unlinked(here, entry):
                    continue
                try:
                    child = opened(entry, here, directory=True).fd  # its mode is not put back
                except OSError:
                    continue
                os.close(here)
                here = child
                names.append(entry)
                pending.append(_entries(here))
                continue
            done = names.pop()
            pending.pop()
            up = os.open("..", DIR_FLAGS, dir_fd=here) if names else parent
            os.close(here)
            with contextlib.suppress(OSError):
                os.rmdir(done, dir_fd=up)
            here = up
    finally:
        os.close(parent)


def _unlinked(dir_fd: int, name: str) -> bool:
    """Unlink `name` if it is not a directory; True unless it is one to descend into."""
    try:
        os.unlink(name, dir_fd=dir_fd)
    except IsADirectoryError:
        return False
    except OSError:
        pass
    return True


def _entries(fd: int) -> list[str]:
    try:
        return os.listdir(fd)
    except OSError:
        return []
