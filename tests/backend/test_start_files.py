"""Start's `mounted_files` and the Start options this machine cannot honour.

Given files are in place before the sandbox's command runs, belong to the sandbox, and can only
land in its own writable areas (its /tmp and its mount), even through a link planted in a
restored snapshot. What the machine has no means to give (secret stores, S3, object storage,
ports without ingress) is refused by field name, never silently dropped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb

from .helpers import (
    FAILED,
    INVALID,
    MOUNT,
    RUNNING,
    Gateway,
    Streaming,
    expect_error,
    get,
    sh,
    sh_ok,
    snapshot,
    start_request,
    start_sandbox,
    until_logged,
    wait_status,
)


def with_files(request: pb.StartSandboxRequest, *files: tuple[str, bytes]
               ) -> pb.StartSandboxRequest:
    request.mounted_files.extend(pb.MountedFile(mount_path=p, file_content=c) for p, c in files)
    return request


async def test_mounted_files_are_there_before_the_command_runs(
        gateway: Gateway, streaming: Streaming) -> None:
    binary = bytes(range(256)) * 3
    request = with_files(
        start_request(args=["-c", f"cat /tmp/conf/app.json; wc -c < {MOUNT}/deep/seed.bin; "
                                  "exec sleep infinity"]),
        ("/tmp/conf/app.json", b'{"given": true}\n'), (f"{MOUNT}/deep/seed.bin", binary))
    response = await gateway.Start(request)
    sid = response.sandbox_id
    await wait_status(gateway, sid, RUNNING)
    logged = await until_logged(streaming, sid, b"768")
    assert logged == b'{"given": true}\n768\n'
    # they belong to the sandbox: it may change and remove them
    assert await sh_ok(streaming, sid, "echo more >> /tmp/conf/app.json && cat /tmp/conf/app.json"
                                       f" && rm {MOUNT}/deep/seed.bin && echo gone"
                       ) == b'{"given": true}\nmore\ngone\n'


async def test_start_refuses_files_outside_the_writable_areas(gateway: Gateway) -> None:
    cases = {
        "/etc/app.conf": "outside the sandbox's writable areas",
        "/tmp/../etc/passwd": "outside the sandbox's writable areas",
        "/tmp": "outside the sandbox's writable areas",  # the area itself is no file
        "relative/x": "absolute",
        "": "required",
        "/tmp/a\x00b": "NUL",
    }
    for path, words in cases.items():
        found = await expect_error(gateway.Start(with_files(start_request(), (path, b"x"))),
                                   INVALID, field_name="mounted_files[0].mount_path")
        assert words in found.message, (path, found.message)
    found = await expect_error(
        gateway.Start(with_files(start_request(mount_path=None), (f"{MOUNT}/x", b"x"))),
        INVALID, field_name="mounted_files[0].mount_path")
    assert "(/tmp)" in found.message  # no mount asked for: only /tmp is the sandbox's
    await expect_error(gateway.Start(with_files(start_request(), ("/tmp/a", b"1"),
                                                ("/tmp/./a", b"2"))),
                       INVALID, field_name="mounted_files[1].mount_path")
    await expect_error(gateway.Start(with_files(start_request(), ("/tmp/big", b"x" * (33 << 20)))),
                       INVALID, field_name="mounted_files[0].file_content")
    listed = await gateway.List(pb.ListSandboxesRequest(include_stopped=True))
    assert not listed.sandboxes, "a refused Start must not leave a sandbox behind"


async def test_a_link_in_a_restored_snapshot_cannot_carry_a_file_out(
        gateway: Gateway, streaming: Streaming, backend: BackendServer) -> None:
    source = await start_sandbox(gateway)
    planted = await sh(streaming, source, f"ln -s /etc {MOUNT}/etc-link && ln -s /etc/hostname "
                                          f"{MOUNT}/host-file")
    assert planted.exit_code == 0, planted
    snap_id = (await snapshot(gateway, source)).file_system_snapshot_id
    for target in ("etc-link/cwsandbox-planted", "host-file"):
        before = Path("/etc/hostname").read_bytes() if target == "host-file" else None
        request = with_files(start_request(restore=snap_id), (f"{MOUNT}/{target}", b"escaped"))
        sid = (await gateway.Start(request)).sandbox_id
        await wait_status(gateway, sid, FAILED)
        reason = (await get(gateway, sid)).status_reason
        assert f"mounted file '{MOUNT}/{target}'" in reason, reason
        assert not Path("/etc/cwsandbox-planted").exists()
        if before is not None:
            assert Path("/etc/hostname").read_bytes() == before


@pytest.mark.parametrize(("field_name", "fill"), [
    ("secret_stores[0].store_name",
     lambda r: r.secret_stores.add(store_name="wandb").secrets.add(path="HF_TOKEN")),
    ("runner_cluster_secrets", lambda r: r.runner_cluster_secrets.add()),
    ("s3_mount", lambda r: r.s3_mount.SetInParent()),
    ("object_storage_access", lambda r: r.object_storage_access.SetInParent()),
])
async def test_start_refuses_what_this_machine_cannot_give(gateway: Gateway, field_name: str,
                                                           fill: object) -> None:
    request = start_request()
    fill(request)  # type: ignore[operator]
    await expect_error(gateway.Start(request), INVALID, field_name=field_name)
    listed = await gateway.List(pb.ListSandboxesRequest(include_stopped=True))
    assert not listed.sandboxes


async def test_ports_follow_the_network_offer(gateway: Gateway, backend: BackendServer) -> None:
    request = start_request()
    request.ports.add(container_port=8080, name="web", protocol="TCP")
    assert backend.engine is not None
    if not backend.engine.network.exposed_ports:  # isolated: no ingress from outside
        await expect_error(gateway.Start(request), INVALID, field_name="ports")
        return
    response = await gateway.Start(request)
    assert [(p.container_port, p.name) for p in response.exposed_ports] == [(8080, "web")]
