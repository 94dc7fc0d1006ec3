"""Every READY snapshot restores, whatever the sandbox did to its tree: names nested past the
host's PATH_MAX, directories and files whose modes shut their owner out; and deleting a
sandbox removes its directory whatever is inside (also one left by an earlier run).

Run as root and as uid 65534 by .ci/run: a root backend gives what it restores to the
sandbox's uid (the chown that failed past PATH_MAX), an unprivileged one owns what its
sandboxes write but is kept out by a mode of 000 (snapshots FAILED, mounts left on disk)."""

from __future__ import annotations

import os
from pathlib import Path

from cwsandbox_tui.backend.server import BackendServer, ServerConfig
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb
from tests.backend.helpers import (
    FSS_READY,
    RUNNING,
    get_snapshot,
    sh_ok,
    snapshot,
    start_sandbox,
    stop,
    wait_status,
)

from .support import Guarded, guarded_fixture, report  # noqa: F401

LEVELS, NAME_LENGTH = 20, 250
# Made and read inside the sandbox through directory fds: its own view of the path is as long
# as the host's would be, and no path call takes more than PATH_MAX (4,096) bytes.
DEEP_WRITE = f"""python3 - <<'EOF'
import os
fd = os.open(".", os.O_RDONLY)
for level in range({LEVELS}):
    name = "%03d" % level + "d" * {NAME_LENGTH - 3}
    os.mkdir(name, dir_fd=fd)
    fd = os.open(name, os.O_RDONLY, dir_fd=fd)
leaf = os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
os.write(leaf, b"deep")
EOF"""
DEEP_READ = f"""python3 - <<'EOF'
import os, sys
fd = os.open(".", os.O_RDONLY)
for level in range({LEVELS}):
    fd = os.open("%03d" % level + "d" * {NAME_LENGTH - 3}, os.O_RDONLY, dir_fd=fd)
sys.stdout.write(os.read(os.open("leaf", os.O_RDONLY, dir_fd=fd), 100).decode())
EOF"""
LOCK = ("mkdir -p locked/sub && echo inside > locked/sub/file && echo hidden > unreadable && "
        "chmod 000 unreadable locked")
MODES = "stat -c '%a %n' locked unreadable"
UNLOCK = "chmod 700 locked && chmod 600 unreadable && cat locked/sub/file unreadable"


def sandbox_dir(guarded: Guarded, sandbox_id: str) -> Path:
    return guarded.data_dir / "sandboxes" / sandbox_id


async def test_a_tree_nested_past_path_max_snapshots_and_restores(guarded: Guarded) -> None:
    gateway, streaming = guarded.gateway, guarded.streaming
    sid = await start_sandbox(gateway)
    await sh_ok(streaming, sid, DEEP_WRITE)
    host_length = len(str(sandbox_dir(guarded, sid) / "mount")) + LEVELS * (NAME_LENGTH + 1)
    assert host_length > 4096
    snap_id = (await snapshot(gateway, sid)).file_system_snapshot_id
    snap = await get_snapshot(gateway, snap_id)
    assert snap.status == FSS_READY, snap.status_reason
    restored = await start_sandbox(gateway, restore=snap_id)
    info = await wait_status(gateway, restored, RUNNING)
    assert info.status_reason == ""
    assert await sh_ok(streaming, restored, DEEP_READ) == b"deep"
    report("deep restore", host_path_bytes=host_length, restored=True)


async def test_modes_that_shut_the_owner_out_are_archived_and_restored(guarded: Guarded
                                                                       ) -> None:
    gateway, streaming = guarded.gateway, guarded.streaming
    sid = await start_sandbox(gateway)
    await sh_ok(streaming, sid, LOCK)
    assert await sh_ok(streaming, sid, MODES) == b"0 locked\n0 unreadable\n"
    snap_id = (await snapshot(gateway, sid)).file_system_snapshot_id
    snap = await get_snapshot(gateway, snap_id)
    assert snap.status == FSS_READY and snap.status_reason == "", snap.status_reason
    # archiving put the modes back as they were
    assert await sh_ok(streaming, sid, MODES) == b"0 locked\n0 unreadable\n"
    restored = await start_sandbox(gateway, restore=snap_id)
    assert await sh_ok(streaming, restored, MODES) == b"0 locked\n0 unreadable\n"
    assert await sh_ok(streaming, restored, UNLOCK) == b"inside\nhidden\n"
    report("mode-000 restore", euid=os.geteuid(), restored=True)


async def test_deleting_a_sandbox_removes_its_directory_whatever_is_inside(guarded: Guarded
                                                                           ) -> None:
    gateway, streaming = guarded.gateway, guarded.streaming
    sid = await start_sandbox(gateway)
    await sh_ok(streaming, sid, DEEP_WRITE)
    await sh_ok(streaming, sid, f"{LOCK} && mkdir -p /tmp/t && chmod 000 /tmp/t")
    await stop(gateway, sid)
    assert sandbox_dir(guarded, sid).exists()
    assert (await gateway.Delete(pb.DeleteSandboxRequest(sandbox_id=sid))).success
    assert not sandbox_dir(guarded, sid).exists()


def _locked_tree(root: Path) -> None:
    """What a sandbox of an earlier run could leave: a mode-000 directory past PATH_MAX."""
    fd = os.open(root, os.O_RDONLY)
    for level in range(LEVELS):
        name = f"{level:03d}" + "d" * (NAME_LENGTH - 3)
        os.mkdir(name, dir_fd=fd)
        child = os.open(name, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = child
    os.close(os.open("leaf", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    os.close(fd)
    (root / "locked").mkdir()
    (root / "locked" / "file").write_text("x")
    (root / "locked").chmod(0)


async def test_a_directory_left_by_a_deleted_sandbox_goes_at_the_next_start(tmp_path: Path
                                                                           ) -> None:
    data_dir = tmp_path / "backend"
    leftover = data_dir / "sandboxes" / "sb-leftover00000" / "mount"
    leftover.mkdir(parents=True)
    _locked_tree(leftover)
    server = BackendServer(ServerConfig(data_dir=data_dir, port=0))
    await server.start()
    try:
        assert not leftover.parent.exists()
    finally:
        await server.stop(grace=0)
