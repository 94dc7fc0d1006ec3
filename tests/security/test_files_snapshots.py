"""READY means restorable: links survive a snapshot as links (a venv runs after a restore),
special files are left out with a warning on the snapshot, and restores stay strict about
archive members that would land outside the mount."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb
from tests.backend.helpers import (
    FAILED,
    FSS_READY,
    get_snapshot,
    sh_ok,
    snapshot,
    start_request,
    start_sandbox,
    wait_status,
)

from .support import Guarded, guarded_fixture, report  # noqa: F401

VENV_CHECK = ("venv/bin/python -c 'import sys, json; "
              "print(json.dumps([sys.prefix != sys.base_prefix, sys.prefix.endswith(\"/venv\")]))'")


async def test_a_venv_survives_snapshot_and_restore(guarded: Guarded) -> None:
    gateway, streaming = guarded.gateway, guarded.streaming
    sid = await start_sandbox(gateway)
    await sh_ok(streaming, sid, "python3 -m venv --without-pip venv && mkdir data && "
                                "echo kept > data/file && ln -s data/file rel-link && "
                                "ln -s /etc/os-release abs-link && ln -s /nowhere dangling")
    assert await sh_ok(streaming, sid, VENV_CHECK) == b"[true, true]\n"
    links_before = await sh_ok(streaming, sid, "find . -type l | sort | xargs -n1 readlink")
    assert b"/" in links_before  # the venv's interpreter link is absolute
    snap_id = (await snapshot(gateway, sid)).file_system_snapshot_id
    snap = await get_snapshot(gateway, snap_id)
    assert snap.status == FSS_READY and snap.status_reason == ""
    restored = await start_sandbox(gateway, restore=snap_id)
    assert await sh_ok(streaming, restored, VENV_CHECK) == b"[true, true]\n"
    assert await sh_ok(streaming, restored, "find . -type l | sort | xargs -n1 readlink"
                       ) == links_before
    assert await sh_ok(streaming, restored, "cat rel-link") == b"kept\n"
    assert await sh_ok(streaming, restored, "cat abs-link") == Path("/etc/os-release").read_bytes()
    report("venv restore", links=len(links_before.splitlines()), runs_after_restore=True)


async def test_special_files_are_left_out_with_a_warning(guarded: Guarded) -> None:
    gateway, streaming = guarded.gateway, guarded.streaming
    sid = await start_sandbox(gateway)
    await sh_ok(streaming, sid, "mkfifo pipe && python3 -c \"import socket; "
                                "socket.socket(socket.AF_UNIX).bind('sock')\" && echo x > file")
    snap_id = (await snapshot(gateway, sid)).file_system_snapshot_id
    snap = await get_snapshot(gateway, snap_id)
    assert snap.status == FSS_READY
    assert "pipe (FIFO)" in snap.status_reason and "sock (socket)" in snap.status_reason
    restored = await start_sandbox(gateway, restore=snap_id)
    assert await sh_ok(streaming, restored, "ls") == b"file\n"
    report("special files", status_reason=repr(snap.status_reason))


def crafted(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return out.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


async def test_restore_refuses_members_that_would_land_outside(guarded: Guarded,
                                                               tmp_path: Path) -> None:
    gateway = guarded.gateway
    outside = guarded.secret_dir
    before = guarded.host_state()
    attacks = {
        "dot-dot": [(member("../escape"), b"x")],
        "through a link": [(member("lnk", tarfile.SYMTYPE, str(outside)), b""),
                           (member("lnk/planted"), b"x")],
        "link then file in it": [(member("d/lnk", tarfile.SYMTYPE, str(outside)), b""),
                                 (member("d/lnk/x"), b"x")],
        "hard link out": [(member("hard", tarfile.LNKTYPE, f"{outside}/secret.txt"), b"")],
        "device": [(member("dev", tarfile.CHRTYPE), b"")],
    }
    sid = await start_sandbox(gateway)
    snap_id = (await snapshot(gateway, sid)).file_system_snapshot_id
    engine = guarded.server.engine
    assert engine is not None
    archive = engine.buckets_dir / engine.get_snapshot(snap_id).archive
    failed = {}
    for name, members in attacks.items():
        archive.write_bytes(crafted(members))
        response = await gateway.Start(start_request(restore=snap_id))
        info = await wait_status(gateway, response.sandbox_id, FAILED)
        failed[name] = info.status_reason
        assert str(guarded.data_dir) not in info.status_reason
        await gateway.Delete(pb.DeleteSandboxRequest(sandbox_id=response.sandbox_id))
        assert guarded.host_state() == before, name
        assert not (tmp_path.parent / "escape").exists()
    # an absolute member name is made relative (as tar does): it lands inside the mount
    archive.write_bytes(crafted([(member(f"{outside}/abs"), b"inside")]))
    restored = await start_sandbox(gateway, restore=snap_id)
    script = f"cat .{outside}/abs"  # the working directory is the mount
    assert await sh_ok(guarded.streaming, restored, script) == b"inside"
    assert guarded.host_state() == before
    report("strict restore", refused=len(failed), of=len(attacks))
