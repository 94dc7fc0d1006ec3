"""AddFile and RetrieveFile: round trips, and confinement to the sandbox's own areas."""

from __future__ import annotations

import os
from pathlib import Path

import grpc

from cwsandbox_tui.backend.engine import MAX_FILE_BYTES
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb

from .helpers import (
    COMPLETED,
    INVALID,
    MOUNT,
    Gateway,
    Streaming,
    add_file,
    expect_error,
    read_file,
    sh_ok,
    start_sandbox,
    stop,
    wait_status,
)


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def sandbox_dir(backend: BackendServer, sandbox_id: str) -> Path:
    assert backend.engine is not None
    return backend.engine.runtime.sandbox_dir(sandbox_id)


async def test_add_and_retrieve_round_trip(gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    payload = bytes(range(256)) * 1000
    assert (await add_file(gateway, sid, f"{MOUNT}/deep/er/data.bin", payload)).success
    assert await read_file(gateway, sid, f"{MOUNT}/deep/er/data.bin") == payload
    # the sandbox sees the same file at its mount path
    assert await sh_ok(streaming, sid, f"wc -c < {MOUNT}/deep/er/data.bin") == b"256000\n"
    # relative paths are relative to the working directory (the mount)
    await add_file(gateway, sid, "rel.txt", b"relative")
    assert await sh_ok(streaming, sid, f"cat {MOUNT}/rel.txt") == b"relative"
    # /tmp is the sandbox's own too
    await add_file(gateway, sid, "/tmp/scratch.txt", b"scratch")
    assert await sh_ok(streaming, sid, "cat /tmp/scratch.txt") == b"scratch"
    # what the sandbox writes can be fetched; an overwrite replaces the contents
    await sh_ok(streaming, sid, f"printf made-inside > {MOUNT}/inside.txt")
    assert await read_file(gateway, sid, f"{MOUNT}/inside.txt") == b"made-inside"
    await add_file(gateway, sid, f"{MOUNT}/inside.txt", b"new")
    assert await read_file(gateway, sid, "inside.txt") == b"new"
    await add_file(gateway, sid, f"{MOUNT}/empty", b"")
    assert await read_file(gateway, sid, f"{MOUNT}/empty") == b""


async def test_paths_escaping_the_sandbox_are_refused_and_touch_nothing(
        backend: BackendServer, gateway: Gateway, streaming: Streaming, tmp_path: Path) -> None:
    sid = await start_sandbox(gateway)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host secret")
    # symlinks made inside the sandbox, pointing out of it (host paths and sandbox paths)
    await sh_ok(streaming, sid, f"ln -s /etc {MOUNT}/etc-link; ln -s {outside} {MOUNT}/host-link; "
                                f"ln -s {outside}/secret {MOUNT}/secret-link; "
                                f"ln -s ../../.. {MOUNT}/up-link; mkdir {MOUNT}/sub")
    root = sandbox_dir(backend, sid)
    before = tree(root)
    inside_passwd = await sh_ok(streaming, sid, "cat /etc/passwd")
    # outside its mount and /tmp the sandbox sees a read-only root: writes are refused there
    read_only_paths = [
        "/etc/passwd",
        "/etc/cwsandbox-test",
        "/usr/local/cwsandbox-test",
        f"{MOUNT}/../etc/passwd",
        f"{MOUNT}/sub/../../x",
        "../escape",
        "sub/../../../escape",
        "/tmp/../etc/passwd",
        f"{MOUNT}/etc-link/passwd",
        f"{MOUNT}/etc-link/cwsandbox-test",
        f"{MOUNT}/up-link/escape",
    ]
    for path in read_only_paths:
        await expect_error(add_file(gateway, sid, path, b"pwned"),
                           grpc.StatusCode.PERMISSION_DENIED,
                           reason="CWSANDBOX_FILE_PERMISSION_DENIED")
        # reading gives what the sandbox itself reads there: its own passwd, read-only
        try:
            data = await read_file(gateway, sid, path)
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.NOT_FOUND, (path, error.details())
        else:
            assert data == inside_passwd, path
    await expect_error(add_file(gateway, sid, f"{MOUNT}/x\x00y", b"pwned"), INVALID,
                       field_name="filepath")
    await expect_error(gateway.RetrieveFile(pb.RetrieveFileSandboxRequest(
        sandbox_id=sid, filepath=f"{MOUNT}/x\x00y")), INVALID, field_name="filepath")
    assert tree(root) == before, "a refused path must not create anything"
    # a link to a host path is read inside the sandbox, where that path is not the host's
    for path in (f"{MOUNT}/host-link/secret", f"{MOUNT}/secret-link"):
        try:
            assert await read_file(gateway, sid, path) != b"host secret"
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.NOT_FOUND
    for path in (f"{MOUNT}/host-link/new-file", f"{MOUNT}/host-link/new-dir/file",
                 f"{MOUNT}/secret-link"):
        try:
            await add_file(gateway, sid, path, b"pwned")
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.PERMISSION_DENIED, error.details()
    assert sorted(os.listdir(outside)) == ["secret"]
    assert (outside / "secret").read_text() == "host secret"
    assert not Path("/etc/cwsandbox-test").exists()
    assert not Path("/usr/local/cwsandbox-test").exists()
    await expect_error(add_file(gateway, sid, "", b"x"), INVALID, field_name="filepath")


async def test_symlinks_that_stay_inside_are_followed(gateway: Gateway, streaming: Streaming
                                                     ) -> None:
    sid = await start_sandbox(gateway)
    await sh_ok(streaming, sid, f"mkdir {MOUNT}/real; echo hi > {MOUNT}/real/f; "
                                f"ln -s real {MOUNT}/alias")
    assert await read_file(gateway, sid, f"{MOUNT}/alias/f") == b"hi\n"
    await add_file(gateway, sid, f"{MOUNT}/alias/g", b"via alias")
    assert await sh_ok(streaming, sid, f"cat {MOUNT}/real/g") == b"via alias"


async def test_absolute_symlinks_are_followed_as_the_sandbox_sees_them(
        backend: BackendServer, gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    other = await start_sandbox(gateway)
    other_mount = sandbox_dir(backend, other) / "mount"
    await sh_ok(streaming, sid, f"mkdir -p {MOUNT}/real /tmp/scratch; echo hi > {MOUNT}/real/f; "
                                f"ln -s {MOUNT}/real {MOUNT}/abs-alias; "
                                f"ln -s /tmp/scratch {MOUNT}/to-tmp; "
                                f"ln -s {MOUNT}/real/f /tmp/to-file; "
                                f"ln -s {other_mount} {MOUNT}/to-other; "
                                f"ln -s {MOUNT}/loop-b {MOUNT}/loop-a; "
                                f"ln -s {MOUNT}/loop-a {MOUNT}/loop-b")
    assert await read_file(gateway, sid, f"{MOUNT}/abs-alias/f") == b"hi\n"
    assert await read_file(gateway, sid, "/tmp/to-file") == b"hi\n"
    await add_file(gateway, sid, f"{MOUNT}/to-tmp/new", b"in tmp")
    assert await sh_ok(streaming, sid, "cat /tmp/scratch/new") == b"in tmp"
    # a host path means nothing inside the sandbox: it is not another sandbox's mount
    before = tree(other_mount)
    try:
        await add_file(gateway, sid, f"{MOUNT}/to-other/x", b"mine")
    except grpc.aio.AioRpcError as error:  # the host path is outside the sandbox's areas
        assert error.code() == INVALID
    else:  # the host path lies under /tmp: in the sandbox that is its own /tmp
        assert await sh_ok(streaming, sid, f"cat {MOUNT}/to-other/x") == b"mine"
    assert tree(other_mount) == before
    await expect_error(read_file(gateway, sid, f"{MOUNT}/loop-a"), INVALID, field_name="filepath")


async def test_file_errors(gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    missing = await expect_error(
        gateway.RetrieveFile(pb.RetrieveFileSandboxRequest(sandbox_id=sid,
                                                           filepath=f"{MOUNT}/nope")),
        grpc.StatusCode.NOT_FOUND, reason="CWSANDBOX_FILE_NOT_FOUND")
    assert missing.metadata["filepath"] == f"{MOUNT}/nope"
    await sh_ok(streaming, sid, f"mkdir -p {MOUNT}/dir")
    for call in (add_file(gateway, sid, f"{MOUNT}/dir", b"x"),
                 gateway.RetrieveFile(pb.RetrieveFileSandboxRequest(sandbox_id=sid,
                                                                    filepath=f"{MOUNT}/dir"))):
        await expect_error(call, grpc.StatusCode.FAILED_PRECONDITION,
                           reason="CWSANDBOX_FILE_IS_DIRECTORY")
    await expect_error(add_file(gateway, "", "x", b""), INVALID, field_name="sandbox_id")
    await expect_error(add_file(gateway, "sb-nope", "x", b""), grpc.StatusCode.NOT_FOUND,
                       reason="CWSANDBOX_SANDBOX_NOT_FOUND")
    await expect_error(gateway.RetrieveFile(pb.RetrieveFileSandboxRequest(filepath="x")),
                       INVALID, field_name="sandbox_id")
    await expect_error(gateway.RetrieveFile(pb.RetrieveFileSandboxRequest(
        sandbox_id="sb-nope", filepath="x")), grpc.StatusCode.NOT_FOUND,
        reason="CWSANDBOX_SANDBOX_NOT_FOUND")
    await stop(gateway, sid)
    await wait_status(gateway, sid, COMPLETED)
    await expect_error(add_file(gateway, sid, "x", b""), grpc.StatusCode.FAILED_PRECONDITION)
    await expect_error(gateway.RetrieveFile(pb.RetrieveFileSandboxRequest(
        sandbox_id=sid, filepath="x")), grpc.StatusCode.FAILED_PRECONDITION)


async def test_files_over_the_limit_are_refused_with_sizes(gateway: Gateway,
                                                          streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    too_big = b"\0" * (MAX_FILE_BYTES + 1)
    found = await expect_error(add_file(gateway, sid, f"{MOUNT}/big", too_big),
                               grpc.StatusCode.RESOURCE_EXHAUSTED,
                               reason="CWSANDBOX_FILE_TOO_LARGE")
    assert found.metadata["size_bytes"] == str(len(too_big))
    assert found.metadata["max_size_bytes"] == str(MAX_FILE_BYTES)
    await expect_error(read_file(gateway, sid, f"{MOUNT}/big"), grpc.StatusCode.NOT_FOUND)
    await sh_ok(streaming, sid, f"head -c {MAX_FILE_BYTES + 1} /dev/zero > {MOUNT}/big")
    found = await expect_error(read_file(gateway, sid, f"{MOUNT}/big"),
                               grpc.StatusCode.RESOURCE_EXHAUSTED,
                               reason="CWSANDBOX_FILE_TOO_LARGE")
    assert found.metadata["size_bytes"] == str(MAX_FILE_BYTES + 1)
    assert found.metadata["filepath"] == f"{MOUNT}/big"


async def test_sandbox_without_a_mount_has_only_tmp(gateway: Gateway, streaming: Streaming
                                                   ) -> None:
    sid = await start_sandbox(gateway, mount_path=None)
    await add_file(gateway, sid, "/tmp/x", b"tmp only")
    assert await read_file(gateway, sid, "x") == b"tmp only"  # the working directory is /tmp
    await expect_error(add_file(gateway, sid, f"{MOUNT}/x", b""), grpc.StatusCode.PERMISSION_DENIED,
                       reason="CWSANDBOX_FILE_PERMISSION_DENIED")
    await expect_error(read_file(gateway, sid, f"{MOUNT}/x"), grpc.StatusCode.NOT_FOUND,
                       reason="CWSANDBOX_FILE_NOT_FOUND")
