"""Peer test: the UNMODIFIED SDK 0.26.0 reads and writes files in our sandboxes (see
sdk_scenario_files.py for what it does).

`read_file` / `write_file` go through RetrieveFile / AddFile, whose errors carry our AIP-193
reasons; the SDK turns them into `SandboxFileError` with that `reason` and `filepath`.
`read_file_streaming` / `write_file_streaming` run `cat` in the sandbox over StreamExec; the
SDK reports their failures as `SandboxFileError` carrying cat's own words, with reason
CWSANDBOX_FILE_IO_FAILED for a streamed read and none for a streamed write (SDK 0.26.0's
`_read_file_streaming_async` / `_write_file_streaming_async`).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import test_official_sdk as official
from test_official_sdk import ok

from cwsandbox_tui.backend.server import BackendServer, ServerConfig

SCENARIO = Path(__file__).with_name("sdk_scenario_files.py")
sdk_python = official.sdk_python  # the cached SDK venv (built once, under a lock)
TIMEOUT = 120
MOUNT = "/workspace"
FILE_ERROR = ["SandboxFileError", "SandboxError", "CWSandboxError"]


def _run(sdk_python: Path, url: str, cwd: Path) -> dict[str, Any]:
    return official.run_scenario_json(sdk_python, SCENARIO, url, cwd, TIMEOUT)


@pytest.fixture(scope="module")
def steps(sdk_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    async def scenario() -> dict[str, Any]:
        server = BackendServer(ServerConfig(data_dir=tmp_path_factory.mktemp("files"), port=0))
        await server.start()
        try:
            return await asyncio.to_thread(_run, sdk_python, server.url,
                                           tmp_path_factory.mktemp("cwd"))
        finally:
            await server.stop(grace=0)

    result = asyncio.run(scenario())
    assert result["sdk_version"] == official.SDK_VERSION
    return result["steps"]  # type: ignore[no-any-return]


def file_error(seen: dict[str, Any], path: str, reason: str | None) -> str:
    """`seen` is the SDK's SandboxFileError for `path` with `reason`; returns its message."""
    assert seen["raised"] == "SandboxFileError", json.dumps(seen, indent=1)
    assert seen["mro"][:3] == FILE_ERROR
    assert (seen["reason"], seen["filepath"]) == (reason, path), seen
    return seen["message"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("where", ["mount", "tmp"])
def test_round_trip_of_random_megabytes(steps: dict[str, Any], where: str) -> None:
    s = ok(steps, where)
    # write_file (unary AddFile, into a directory it makes) and write_file_streaming (cat over
    # StreamExec, odd-sized chunks): the sandbox itself hashes what landed
    assert s["unary_in_sandbox"] == s["unary_local"]
    assert s["streamed_in_sandbox"] == s["streamed_local"]
    assert s["unary_local"] != s["streamed_local"]
    # each file read back both ways
    assert s["unary_read"] == s["unary_read_streaming"] == s["unary_local"]
    assert s["streamed_read"] == s["streamed_read_streaming"] == s["streamed_local"]
    # a file the sandbox made, read by the SDK both ways
    assert s["made_rc"] == 0 and len(s["made_in_sandbox"]) == 64
    assert s["made_read"] == s["made_read_streaming"] == s["made_in_sandbox"]
    assert s["short"] == "short"  # a shorter write replaces all of a longer file
    assert s["empty"] == ["", ""]


def test_read_only_root_serves_what_anyone_may_read(steps: dict[str, Any]) -> None:
    s = ok(steps, "os_release")
    host = Path("/etc/os-release").read_text()  # a link to ../usr/lib/os-release on Debian
    assert host.strip()
    assert s["read"] == s["read_streaming"] == s["sandbox_cat"] == host


@pytest.mark.parametrize("case,path", [("missing_mount", f"{MOUNT}/no-such-file.txt"),
                                       ("missing_tmp", "/tmp/no/such"),
                                       ("missing_root", "/etc/no-such-file.conf")])
def test_missing_file(steps: dict[str, Any], case: str, path: str) -> None:
    seen = ok(steps, "read_errors")[case]
    message = file_error(seen["unary"], path, "CWSANDBOX_FILE_NOT_FOUND")
    assert seen["unary"]["metadata"] == {"filepath": path}
    assert message.startswith("File operation failed (CWSANDBOX_FILE_NOT_FOUND): ")
    assert f"'{path}': does not exist" in message
    streamed = file_error(seen["streaming"], path, "CWSANDBOX_FILE_IO_FAILED")
    assert f"{path}: No such file or directory" in streamed


@pytest.mark.parametrize("case,path", [("dir_mount", MOUNT), ("dir_tmp", "/tmp"),
                                       ("dir_root", "/etc")])
def test_reading_a_directory(steps: dict[str, Any], case: str, path: str) -> None:
    seen = ok(steps, "read_errors")[case]
    message = file_error(seen["unary"], path, "CWSANDBOX_FILE_IS_DIRECTORY")
    assert message.endswith(f"'{path}': is a directory")
    streamed = file_error(seen["streaming"], path, "CWSANDBOX_FILE_IO_FAILED")
    assert f"{path}: Is a directory" in streamed


def test_etc_shadow_is_not_served(steps: dict[str, Any]) -> None:
    # not in the sandbox's curated /etc at all (what it sees is an allow-list, not the host)
    seen = ok(steps, "read_errors")["shadow"]
    message = file_error(seen["unary"], "/etc/shadow", "CWSANDBOX_FILE_NOT_FOUND")
    assert message.endswith("'/etc/shadow': does not exist (no such file or directory)")
    streamed = file_error(seen["streaming"], "/etc/shadow", "CWSANDBOX_FILE_IO_FAILED")
    assert "/etc/shadow: No such file or directory" in streamed
    assert "root:" not in json.dumps(seen)  # not a byte of it came back


@pytest.mark.parametrize("case,path,words", [
    ("root_etc", "/etc/cwsandbox-peer-files.txt", ("Read-only file system",)),
    ("root_existing", "/etc/os-release", ("Read-only file system",)),
    # the sandbox's /bin/sh is the host's: dash or bash words it
    ("root_new_dir", "/usr/cwsandbox-peer-files/x.txt",
     ("Directory nonexistent", "No such file or directory"))])
def test_writing_on_the_read_only_root(steps: dict[str, Any], case: str, path: str,
                                       words: tuple[str, ...]) -> None:
    seen = ok(steps, "write_errors")[case]
    message = file_error(seen["unary"], path, "CWSANDBOX_FILE_PERMISSION_DENIED")
    assert "read-only file system" in message
    streamed = file_error(seen["streaming"], path, None)
    assert any(f"{path}: {w}" in streamed for w in words), streamed
    # the backend runs as root here: nothing reached the host
    assert not Path("/etc/cwsandbox-peer-files.txt").exists()
    assert not Path("/usr/cwsandbox-peer-files").exists()
    assert "PRETTY_NAME=" in Path("/etc/os-release").read_text()


def test_writing_over_a_directory(steps: dict[str, Any]) -> None:
    seen = ok(steps, "write_errors")["dir_tmp"]
    message = file_error(seen["unary"], "/tmp", "CWSANDBOX_FILE_IS_DIRECTORY")
    assert message.endswith("'/tmp': is a directory")
    assert "/tmp: Is a directory" in file_error(seen["streaming"], "/tmp", None)
