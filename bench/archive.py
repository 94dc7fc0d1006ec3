"""6. The embedded backend's snapshot archive: 1 GiB mount directory, against `tar -cf`.

16 files of 64 MiB from os.urandom are written once into a temp dir. Then, alternately and
twice each (medians of 2 unless --runs says more), with nothing dropped from the page cache:

* `cwsandbox_tui.backend.archives.create_archive(dir, dest, limit)` in this process (it
  writes a PAX tar under a temporary name, fsyncs it, renames it and fsyncs the directory);
* `tar -cf dest -C dir .` (GNU tar; it does not fsync);
* `tar -cf dest -C dir . && sync dest` (the same durability as create_archive).

Also through the RPC path: a sandbox with a mount is started with our client, the same files
are put straight into DATA_DIR/sandboxes/<id>/mount/ (AddFile is capped at 32 MiB), and
CreateFileSystemSnapshot(wait_for_ready=True) is timed end to end; the snapshot is deleted
after each run, like the archives of the in-process runs.

Disk note: every archive here is fsynced to the VM's disk. When archives are kept instead of
deleted, the third and later 1 GiB archives in a row take ~3.5 s (~300 MB/s) instead of
~1.1 s, for create_archive in-process just the same: the host's write cache fills. So these
figures hold for bursts of a few GiB, not for sustained writing.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .common import LOOPBACK, Context, Figure, backend, figure, log

NAME = "archive"
FILES = 16
FILE_MB = 64
QUICK_FILE_MB = 8
TAR_TIMEOUT = 600.0


def _make_source(root: Path, files: int, file_mb: int) -> int:
    root.mkdir(parents=True, exist_ok=True)
    for n in range(files):
        with open(root / f"blob-{n:02d}.bin", "wb") as out:
            for _ in range(file_mb):
                out.write(os.urandom(2**20))
    return files * file_mb * 2**20


def _ours(source: Path, dest: Path, total: int) -> float:
    from cwsandbox_tui.backend.archives import create_archive

    started = time.perf_counter()
    create_archive(source, dest, limit_bytes=total + 2**20)
    return time.perf_counter() - started


def _tar(source: Path, dest: Path, sync: bool) -> float:
    started = time.perf_counter()
    subprocess.run(["tar", "-cf", str(dest), "-C", str(source), "."], check=True,
                   timeout=TAR_TIMEOUT, stdin=subprocess.DEVNULL)
    if sync:
        subprocess.run(["sync", str(dest)], check=True, timeout=TAR_TIMEOUT)
    return time.perf_counter() - started


async def _through_rpc(url: str, data_dir: Path, source: Path, total: int) -> float:
    from cwsandbox_tui.client.models import SandboxSpec

    from .client_worker import make_client

    client = make_client(url)
    try:
        sandbox = await client.start_sandbox(SandboxSpec(
            mount_path="/workspace", size=f"{total // 2**20 + 64}Mi", tags=("bench",)))
        mount = data_dir / "sandboxes" / sandbox.id / "mount"
        if not mount.is_dir():
            raise RuntimeError(f"no mount directory at {mount}")
        for item in source.iterdir():
            os.link(item, mount / item.name)  # same bytes, no copy
        started = time.perf_counter()
        snap = await client.create_snapshot(sandbox.id, wait_for_ready=True)
        seconds = time.perf_counter() - started
        if snap.size_bytes < total:
            raise RuntimeError(f"the snapshot holds {snap.size_bytes} of {total} bytes")
        # Remove the archive again, as the in-process runs do: on this VM, fsynced writes
        # slow to ~300 MB/s once a few GiB are kept on disk (the host's write cache fills).
        await client.delete_snapshot(snap.id)
        await client.delete_sandbox(sandbox.id, missing_ok=True)
        return seconds
    finally:
        await client.close()


def run(ctx: Context) -> list[Figure]:
    runs = max(2, ctx.runs) if not ctx.quick else 1
    file_mb = QUICK_FILE_MB if ctx.quick else FILE_MB
    ours: list[float] = []
    tar: list[float] = []
    tar_sync: list[float] = []
    rpc: list[float] = []
    with tempfile.TemporaryDirectory(prefix="cws-bench-archive-", dir=ctx.scratch) as tmp:
        root = Path(tmp)
        source = root / "mount"
        total = _make_source(source, FILES, file_mb)
        mb = total / 1e6
        dest = root / "out.tar"
        for n in range(runs):
            for name, samples, measure in (
                    ("create_archive", ours, lambda: _ours(source, dest, total)),
                    ("tar -cf", tar, lambda: _tar(source, dest, False)),
                    ("tar -cf + sync", tar_sync, lambda: _tar(source, dest, True))):
                seconds = measure()
                dest.unlink()
                samples.append(mb / seconds)
                log(f"archive #{n} {name}: {seconds:.2f} s, {mb / seconds:.0f} MB/s")
        with backend() as server:
            for n in range(runs):
                seconds = asyncio.run(_through_rpc(server.url, server.data_dir, source, total))
                rpc.append(mb / seconds)
                log(f"archive #{n} through RPC: {seconds:.2f} s, {mb / seconds:.0f} MB/s")
        shutil.rmtree(source, ignore_errors=True)
    size = f"{total / 2**30:g} GiB" if total >= 2**30 else f"{total / 2**20:g} MiB"
    return [
        figure(NAME, f"create_archive of {size} ({FILES} files)", ours, "MB/s",
               reference=tar, reference_label="tar -cf", ratio="value/ref",
               note="create_archive fsyncs; plain tar -cf does not"),
        figure(NAME, f"create_archive of {size}, against tar -cf + sync", ours, "MB/s",
               reference=tar_sync, reference_label="tar -cf + sync", ratio="value/ref"),
        figure(NAME, f"CreateFileSystemSnapshot (wait_for_ready) of {size}, via RPC"
                     f"{LOOPBACK}", rpc,
               "MB/s", reference=tar, reference_label="tar -cf", ratio="value/ref",
               note="end to end through the backend process"),
    ]

