"""Attacks from inside a real sandbox on its privileges: capabilities, mounts, devices,
user namespaces, the backend's process and root-only host files.

Each test runs the attack in a sandbox of the real backend and checks both that the attack
failed inside and that nothing changed on the host. They hold whether the backend runs as
root or as a normal user (CI runs them both ways).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from cwsandbox_tui.backend.isolation import SANDBOX_UID
from cwsandbox_tui.backend.server import BackendServer, ServerConfig
from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc, streaming_pb2_grpc
from tests.backend.helpers import (
    MOUNT,
    Gateway,
    Streaming,
    add_file,
    read_file,
    sh,
    sh_ok,
    start_sandbox,
    until_logged,
)

from .conftest import require_isolation

CAP_FIELDS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")
# The main process records what it was given before it sleeps.
RECORDING_SLEEPER = ["-c", 'cat /proc/self/status > /tmp/main-status; echo recorded; '
                           'trap "exit 0" TERM INT; sleep infinity & wait']


def status_fields(text: bytes) -> dict[str, str]:
    fields = {}
    for line in text.decode().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def assert_unprivileged(status: dict[str, str]) -> None:
    for name in CAP_FIELDS:
        assert int(status[name], 16) == 0, (name, status[name])
    assert status["NoNewPrivs"] == "1"
    assert status["Seccomp"] in ("0", "2")  # present; bubblewrap adds no filter of its own


async def test_no_capability_anywhere_and_no_way_to_gain_one(
        isolated: BackendServer, gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway, args=RECORDING_SLEEPER)
    await until_logged(streaming, sid, b"recorded")
    # the sandbox's main process and an exec both: every capability set is empty
    main = status_fields(await read_file(gateway, sid, "/tmp/main-status"))
    assert_unprivileged(main)
    in_exec = status_fields(await sh_ok(streaming, sid, "cat /proc/self/status"))
    assert_unprivileged(in_exec)
    # it looks like root inside, and is not root outside when the backend is
    assert await sh_ok(streaming, sid, "id -u") == b"0\n"
    await sh_ok(streaming, sid, f"touch {MOUNT}/whose")
    assert isolated.engine is not None
    made = isolated.engine.runtime.sandbox_dir(sid) / "mount" / "whose"
    assert made.stat().st_uid == (SANDBOX_UID if os.geteuid() == 0 else os.geteuid())
    # a setuid binary gives nothing (no_new_privs), and no user namespace can be made
    # in which capabilities would come back
    assert (await sh(streaming, sid, "unshare --user --map-root-user true")).exit_code != 0
    assert (await sh(streaming, sid, "unshare --mount true")).exit_code != 0
    su = await sh(streaming, sid, "su -c 'cat /proc/self/status' root </dev/null")
    assert su.exit_code != 0 or b"CapEff:\t0000000000000000" in su.stdout


async def test_remount_read_write_fails_and_the_host_is_unchanged(
        isolated: BackendServer, gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    probe = f"cwsandbox-probe-{uuid.uuid4().hex[:8]}"
    for target in ("/var", "/etc", "/usr", "/"):
        attack = await sh(streaming, sid, f"mount -o remount,rw,bind {target} && "
                                          f"echo pwned > {target.rstrip('/')}/{probe}")
        assert attack.exit_code != 0, (target, attack.stdout, attack.stderr)
        assert not Path(target, probe).exists(), target
    attack = await sh(streaming, sid, f"mount -o remount,rw / ; echo pwned > /var/tmp/{probe}")
    assert attack.exit_code != 0
    assert not Path("/var/tmp", probe).exists()


async def test_mount_mknod_and_ptrace_fail(isolated: BackendServer, gateway: Gateway,
                                           streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    for attack in ("mount -t tmpfs none /mnt", f"mount -t tmpfs none {MOUNT}",
                   "mount --bind /tmp /mnt", "mount -t proc proc /mnt",
                   "mknod /tmp/mem c 1 1", f"mknod {MOUNT}/sda b 8 0", "mknod /tmp/null c 1 3",
                   "mkfifo /tmp/fifo && mount --bind /tmp/fifo /mnt"):
        result = await sh(streaming, sid, attack)
        assert result.exit_code != 0, (attack, result.stdout, result.stderr)
    assert (await sh(streaming, sid, f"ls -A {MOUNT} /tmp")).stdout.count(b"mem") == 0
    # the backend's process is nowhere to be seen or signalled
    backend_pid = os.getpid()
    for attack in (f"ls /proc/{backend_pid}/", f"cat /proc/{backend_pid}/environ",
                   f"kill -0 {backend_pid}", f"kill -STOP {backend_pid}"):
        result = await sh(streaming, sid, attack)
        assert result.exit_code != 0, attack
    # nor is any other host process: the sandbox has its own pid, user and network
    # namespaces, so no /proc entry of the host's is there to ptrace
    for kind in ("pid", "user", "net", "mnt", "ipc", "uts"):
        inside = (await sh_ok(streaming, sid, f"readlink /proc/self/ns/{kind}")).strip()
        assert inside.decode() != os.readlink(f"/proc/self/ns/{kind}"), kind
    attach = await sh(streaming, sid, 'python3 -c "import ctypes, sys; '
                                      'libc = ctypes.CDLL(None, use_errno=True); '
                                      f'sys.exit(0 if libc.ptrace(16, {backend_pid}, 0, 0) == 0 '
                                      'else 1)"')
    assert attach.exit_code == 1, "PTRACE_ATTACH to the backend must fail"


@pytest.fixture
def secret_dir() -> Iterator[Path]:
    """A host directory outside /tmp holding a secret, which a backend is told to hide."""
    base = Path("/var/tmp") if os.access("/var/tmp", os.W_OK) else Path.home()
    path = base / f"cwsandbox-secret-{uuid.uuid4().hex[:12]}"
    path.mkdir(mode=0o755)
    (path / "secret").write_text("the secret")
    (path / "secret").chmod(0o644)
    try:
        yield path
    finally:
        (path / "secret").unlink(missing_ok=True)
        path.rmdir()


async def test_umount_of_a_hidden_directory_fails_and_reveals_nothing(
        tmp_path: Path, secret_dir: Path) -> None:
    server = BackendServer(ServerConfig(data_dir=tmp_path / "hiding", port=0,
                                        hidden=(secret_dir,)))
    await server.start()
    try:
        require_isolation(server)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            await _attack_hidden(gateway_pb2_grpc.GatewayServiceStub(channel),
                                 streaming_pb2_grpc.GatewayStreamingServiceStub(channel),
                                 secret_dir)
    finally:
        await server.stop(grace=0)


async def _attack_hidden(gateway: Gateway, streaming: Streaming, secret_dir: Path) -> None:
    sid = await start_sandbox(gateway)
    assert (await sh(streaming, sid, f"ls -A {secret_dir}")).stdout == b""
    for attack in (f"umount {secret_dir}", f"umount -l {secret_dir}",
                   f"umount -R {secret_dir}"):
        result = await sh(streaming, sid, f"{attack} && cat {secret_dir}/secret")
        assert result.exit_code != 0, attack
        assert b"the secret" not in result.stdout
    assert (await sh(streaming, sid, f"cat {secret_dir}/secret")).exit_code != 0


async def test_root_only_host_files_are_not_there(isolated: BackendServer, gateway: Gateway,
                                                  streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    # the curated /etc holds no secret of the host's: no shadow files, no private keys
    for secret in ("/etc/shadow", "/etc/gshadow", "/etc/ssl/private", "/etc/ssh",
                   "/root/.bashrc", "/etc/sudoers", "/etc/machine-id"):
        result = await sh(streaming, sid, f"ls -d {secret}")
        assert result.exit_code != 0 and b"No such file or directory" in result.stderr, secret
    # and its passwd and group are the sandbox's own, not the host's list of accounts
    assert await sh_ok(streaming, sid, "cut -d: -f1 /etc/passwd") == b"root\nnobody\n"
    assert await sh_ok(streaming, sid, "cut -d: -f1 /etc/group") == b"root\nnogroup\n"
    assert await read_file(gateway, sid, "/etc/hostname") == f"{sid}\n".encode()


async def test_writes_outside_the_mount_and_tmp_fail(isolated: BackendServer, gateway: Gateway,
                                                     streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    probe = f"cwsandbox-probe-{uuid.uuid4().hex[:8]}"
    for directory in ("/", "/etc", "/usr/local/bin", "/var/tmp", "/opt", "/srv", "/run"):
        result = await sh(streaming, sid, f"echo pwned > {directory}/{probe}")
        assert result.exit_code != 0, directory
        assert not Path(os.path.normpath(f"{directory}/{probe}")).exists(), directory
    assert (await sh(streaming, sid, "touch /etc/passwd")).exit_code != 0
    assert (await sh(streaming, sid, "chmod 777 /usr/bin/env")).exit_code != 0


async def test_the_mount_and_tmp_are_writable_and_files_added_stay_usable(
        isolated: BackendServer, gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    await sh_ok(streaming, sid, f"mkdir -p {MOUNT}/a/b && echo one > {MOUNT}/a/b/f && "
                                "echo two > /tmp/g && chmod 600 /tmp/g")
    # the backend reads what the sandbox wrote, even mode 0600
    assert await read_file(gateway, sid, f"{MOUNT}/a/b/f") == b"one\n"
    assert await read_file(gateway, sid, "/tmp/g") == b"two\n"
    # what the backend writes (with the directories it makes) the sandbox can change
    await add_file(gateway, sid, f"{MOUNT}/new/dir/added.txt", b"from the API")
    await sh_ok(streaming, sid, f"echo more >> {MOUNT}/new/dir/added.txt && "
                                f"touch {MOUNT}/new/dir/sibling && rm {MOUNT}/new/dir/sibling")
    assert await read_file(gateway, sid, f"{MOUNT}/new/dir/added.txt") == b"from the APImore\n"
    assert isolated.engine is not None
    mount = isolated.engine.runtime.sandbox_dir(sid) / "mount"
    owner = SANDBOX_UID if os.geteuid() == 0 else os.geteuid()
    for path in (mount, mount / "a" / "b" / "f", mount / "new" / "dir" / "added.txt"):
        assert path.stat().st_uid == owner, path
