"""Snapshot archives made and restored on disk: what a restore keeps, and what it refuses.

The attacks through the running backend are in tests/security/test_files_snapshots.py; these
pin the restorer's own rules, on any Python 3.11 (Debian 12's 3.11.2 has no tarfile filters).
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from cwsandbox_tui.backend.archives import ArchiveError, create_archive, restore_archive
from cwsandbox_tui.backend.fstree import MAX_DEPTH

MTIME = 1_700_000_000


Member = tuple[str, bytes, bytes | str, int]  # name, tar type, data or link target, mode
REG, DIR, SYM = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE


def _tar(path: Path, members: list[Member]) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, what, mode in members:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = kind, mode, MTIME
            if isinstance(what, str):
                info.linkname = what
            info.size = len(what) if kind == REG and isinstance(what, bytes) else 0
            tar.addfile(info, io.BytesIO(what) if info.size else None)
    return path


def test_a_tree_comes_back_as_it_was_archived(tmp_path: Path) -> None:
    source = tmp_path / "mount"
    (source / "venv" / "bin").mkdir(parents=True)
    (source / "venv" / "bin" / "python3").write_bytes(b"#!/bin/sh\n")
    (source / "venv" / "bin" / "python3").chmod(0o755)
    (source / "venv" / "bin" / "python").symlink_to("/usr/bin/python3")
    (source / "big").write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # more than one chunk
    (source / "empty").write_bytes(b"")
    os.utime(source / "big", (MTIME, MTIME))
    archive = tmp_path / "a.tar"
    create_archive(source, archive, limit_bytes=1 << 30)
    dest = tmp_path / "restored"
    restore_archive(archive, dest)
    assert (dest / "big").read_bytes() == (source / "big").read_bytes()
    assert (dest / "empty").read_bytes() == b""
    assert os.readlink(dest / "venv" / "bin" / "python") == "/usr/bin/python3"  # kept as is
    assert stat.S_IMODE((dest / "venv" / "bin" / "python3").stat().st_mode) == 0o755
    assert int((dest / "big").stat().st_mtime) == MTIME


def test_set_id_sticky_and_others_write_bits_are_dropped(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "a.tar", [("d", DIR, b"", 0o1777), ("d/suid", REG, b"x", 0o4777),
                                        ("d/ro", REG, b"y", 0o400)])
    restore_archive(archive, tmp_path / "out")
    assert stat.S_IMODE((tmp_path / "out" / "d").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "out" / "d" / "suid").stat().st_mode) == 0o755
    # the owner's own bits are kept as archived, even those that shut the owner out
    assert stat.S_IMODE((tmp_path / "out" / "d" / "ro").stat().st_mode) == 0o400


def test_the_mount_itself_and_absolute_names_land_inside(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "a.tar", [(".", DIR, b"", 0o755),
                                        ("/etc/planted", REG, b"inside", 0o644)])
    restore_archive(archive, tmp_path / "out")
    assert (tmp_path / "out" / "etc" / "planted").read_bytes() == b"inside"


@pytest.mark.parametrize(("members", "why"), [
    ([("../escape", REG, b"x", 0o644)], "'..' in its name"),
    ([("a/../../escape", REG, b"x", 0o644)], "'..' in its name"),
    ([("hard", tarfile.LNKTYPE, "../escape", 0o644)], "not a file, directory or symbolic link"),
    ([("dev", tarfile.CHRTYPE, b"", 0o644)], "not a file, directory or symbolic link"),
    ([("fifo", tarfile.FIFOTYPE, b"", 0o644)], "not a file, directory or symbolic link"),
])
def test_members_that_would_land_outside_are_refused(tmp_path: Path, members: list[Member],
                                                     why: str) -> None:
    archive = _tar(tmp_path / "a.tar", members)
    with pytest.raises(ArchiveError) as caught:
        restore_archive(archive, tmp_path / "out")
    assert why in str(caught.value)
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize("order", ["link first", "file first"])
def test_nothing_is_written_through_a_link(tmp_path: Path, order: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    link: Member = ("lnk", SYM, str(outside), 0o777)
    planted: Member = ("lnk/planted", REG, b"x", 0o644)
    archive = _tar(tmp_path / "a.tar", [link, planted] if order == "link first"
                   else [planted, link])
    with pytest.raises(ArchiveError) as caught:
        restore_archive(archive, tmp_path / "out")
    assert str(tmp_path) not in str(caught.value)  # no host path in the reason
    assert list(outside.iterdir()) == []


def test_a_link_already_in_the_mount_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "d").symlink_to(outside)
    outside.chmod(0o750)
    archive = _tar(tmp_path / "a.tar", [("d", DIR, b"", 0o777), ("d/f", REG, b"x", 0o644)])
    with pytest.raises(ArchiveError):
        restore_archive(archive, dest)
    assert list(outside.iterdir()) == []
    assert stat.S_IMODE(outside.stat().st_mode) == 0o750  # not chmodded through the link


def test_a_truncated_archive_is_said_to_be_damaged(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "a.tar", [("f", REG, os.urandom(100_000), 0o644)])
    archive.write_bytes(archive.read_bytes()[:60_000])
    with pytest.raises(ArchiveError, match="damaged or unreadable"):
        restore_archive(archive, tmp_path / "out")


def test_a_tree_deeper_than_the_walk_allows_is_refused_with_the_reason(tmp_path: Path) -> None:
    source = tmp_path / "mount"
    source.mkdir()
    fd = os.open(source, os.O_RDONLY)
    for _ in range(MAX_DEPTH + 5):
        os.mkdir("d", dir_fd=fd)
        child = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(fd)
    archive = tmp_path / "a.tar"
    with pytest.raises(ArchiveError, match=f"more than {MAX_DEPTH} deep"):
        create_archive(source, archive, limit_bytes=1 << 30)
    assert not archive.exists() and not list(tmp_path.glob(".*.partial"))
