"""Files given at Start (`mounted_files`): checked when asked, written before the workload runs.

A cluster mounts them into the container; here they are written into the sandbox's own writable
areas (its /tmp and its file-system mount), the only places a sandbox has that are its own, so a
path elsewhere is refused at Start rather than silently dropped.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from . import sandboxfs
from .errors import invalid


@dataclass(frozen=True)
class StartFile:
    path: str  # absolute and normalised, inside a writable area
    content: bytes


@dataclass(frozen=True)
class FileFields:
    """How a request names its list of files and an entry's path and content."""

    entries: str = "mounted_files"
    path: str = "mount_path"
    content: str = "file_content"


MOUNTED_FILES = FileFields()  # v1beta2's Start

def check_start_files(given: Sequence[tuple[str, bytes]], mount_path: str,
                      max_bytes: int, names: FileFields = MOUNTED_FILES) -> list[StartFile]:
    """The files of a Start request, or INVALID_ARGUMENT naming the entry that cannot be."""
    areas = ["/tmp", *([mount_path] if mount_path else [])]
    files: list[StartFile] = []
    seen: set[str] = set()
    for index, (path, content) in enumerate(given):
        where = f"{names.entries}[{index}].{names.path}"
        if not path:
            raise invalid(where, "is required")
        if "\x00" in path:
            raise invalid(where, "must not contain NUL bytes")
        if len(path.encode()) > sandboxfs.MAX_PATH_BYTES:
            raise invalid(where, f"must be at most {sandboxfs.MAX_PATH_BYTES} bytes long")
        if not path.startswith("/"):
            raise invalid(where, f"{path!r} must be an absolute path")
        normal = "/" + posixpath.normpath(path).lstrip("/")
        if not any(normal.startswith(area.rstrip("/") + "/") for area in areas):
            raise invalid(where, f"{path!r} is outside the sandbox's writable areas "
                                 f"({', '.join(areas)}); files can be mounted only there")
        if normal in seen:
            raise invalid(where, f"{path!r} is given twice")
        if len(content) > max_bytes:
            raise invalid(f"{names.entries}[{index}].{names.content}",
                          f"is {len(content)} bytes, more than the limit of {max_bytes} bytes")
        seen.add(normal)
        files.append(StartFile(normal, content))
    return files
