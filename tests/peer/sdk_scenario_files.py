"""Drive our backend's files with the UNMODIFIED official SDK (cwsandbox 0.26.0).

Runs inside the SDK's own virtualenv (see test_official_sdk.py) against CWSANDBOX_BASE_URL.
One sandbox with a mount at /workspace; `read_file` / `write_file` (unary RetrieveFile /
AddFile) and `read_file_streaming` / `write_file_streaming` (the SDK runs `cat` over StreamExec)
move a few MB of random bytes through the mount and /tmp, both ways, checked by hash on both
sides; then a world-readable file of the read-only root, and the error paths: a missing file,
a directory, `/etc/shadow`, a write on the read-only root.

Every step runs on its own and records what the SDK saw or the error it raised (class chain,
reason, filepath, message), so one broken case does not hide the others. It prints one JSON
object: {"sdk_version", "steps"}.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import closing, suppress
from typing import Any

import cwsandbox
from cwsandbox import FileSystemSnapshotOptions, Sandbox
from scenario_steps import raised, step, steps

TAG = "sdk-peer-files"
MOUNT = "/workspace"
SIZE = 3 * 2**20 + 12345  # a few MB, not a multiple of the SDK's 1 MiB chunks


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def in_sandbox_sha(path: str) -> str:
    """The file's hash as the sandbox itself sees it (not through the file RPCs)."""
    result = sb.exec(["sha256sum", path]).result()
    return result.stdout.split()[0] if result.returncode == 0 else f"rc={result.returncode}"


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def read_streaming(path: str) -> bytes:
    with closing(sb.read_file_streaming(path, timeout_seconds=30)) as reader:
        return b"".join(reader)


def round_trip(directory: str) -> dict[str, Any]:
    unary, streamed = os.urandom(SIZE), os.urandom(SIZE)
    unary_path, streamed_path = f"{directory}/peer/unary.bin", f"{directory}/streamed.bin"
    sb.write_file(unary_path, unary).result()
    # odd-sized chunks from a generator: the SDK sends each one as it comes
    sb.write_file_streaming(streamed_path, chunks(streamed, 300_001)).result()
    made = sb.exec(["/bin/sh", "-c", f"head -c {SIZE} /dev/urandom > {directory}/made.bin"])
    made_rc = made.result().returncode
    # overwriting with less leaves only the new bytes
    sb.write_file(f"{directory}/short.txt", b"x" * 1000).result()
    sb.write_file(f"{directory}/short.txt", b"short").result()
    sb.write_file(f"{directory}/empty.txt", b"").result()
    return {
        "unary_local": sha(unary), "streamed_local": sha(streamed),
        "unary_in_sandbox": in_sandbox_sha(unary_path),
        "streamed_in_sandbox": in_sandbox_sha(streamed_path),
        "unary_read": sha(sb.read_file(unary_path).result()),
        "unary_read_streaming": sha(read_streaming(unary_path)),
        "streamed_read": sha(sb.read_file(streamed_path).result()),
        "streamed_read_streaming": sha(read_streaming(streamed_path)),
        "made_rc": made_rc, "made_in_sandbox": in_sandbox_sha(f"{directory}/made.bin"),
        "made_read": sha(sb.read_file(f"{directory}/made.bin").result()),
        "made_read_streaming": sha(read_streaming(f"{directory}/made.bin")),
        "short": sb.read_file(f"{directory}/short.txt").result().decode(),
        "empty": [sb.read_file(f"{directory}/empty.txt").result().decode(),
                  read_streaming(f"{directory}/empty.txt").decode()],
    }


sb = Sandbox.run("/bin/sh", "-c", "exec sleep infinity", tags=[TAG],
                 file_system_snapshot=FileSystemSnapshotOptions(mount_path=MOUNT))
try:
    sb.wait()

    @step("mount")
    def _() -> Any:
        return round_trip(MOUNT)

    @step("tmp")
    def _() -> Any:
        return round_trip("/tmp")

    @step("os_release")
    def _() -> Any:
        return {"read": sb.read_file("/etc/os-release").result().decode(),
                "read_streaming": read_streaming("/etc/os-release").decode(),
                "sandbox_cat": sb.exec(["cat", "/etc/os-release"]).result().stdout}

    @step("read_errors")
    def _() -> Any:
        cases = {"missing_mount": f"{MOUNT}/no-such-file.txt", "missing_tmp": "/tmp/no/such",
                 "missing_root": "/etc/no-such-file.conf", "dir_mount": MOUNT, "dir_tmp": "/tmp",
                 "dir_root": "/etc", "shadow": "/etc/shadow"}
        return {case: {"unary": raised(lambda p=path: sb.read_file(p).result()),
                       "streaming": raised(lambda p=path: read_streaming(p))}
                for case, path in cases.items()}

    @step("write_errors")
    def _() -> Any:
        cases = {"root_etc": "/etc/cwsandbox-peer-files.txt",
                 "root_new_dir": "/usr/cwsandbox-peer-files/x.txt",
                 "root_existing": "/etc/os-release", "dir_tmp": "/tmp"}
        return {case: {"unary": raised(lambda p=path: sb.write_file(p, b"nope").result()),
                       "streaming": raised(
                           lambda p=path: sb.write_file_streaming(p, [b"no", b"pe"]).result())}
                for case, path in cases.items()}
finally:
    with suppress(Exception):
        sb.stop().result()

json.dump({"sdk_version": cwsandbox.__version__, "steps": steps}, sys.stdout)
sys.stdout.write("\n")
