"""Attacks from an exec, which joins its sandbox's namespaces (joining.py) rather than making
its own: it must end exactly as unprivileged as the sandbox's own processes, in the
sandbox's namespaces and nowhere else, with nothing of the host's left open to it.

They hold whether the backend runs as root or as a normal user (CI runs them both ways).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from cwsandbox_tui.backend.isolation import SANDBOX_UID
from cwsandbox_tui.backend.server import BackendServer
from tests.backend.helpers import (
    Gateway,
    Streaming,
    own_processes,
    poll,
    read_file,
    sh,
    sh_ok,
    start_sandbox,
    stop,
    until_logged,
)

from .test_isolation_privileges import RECORDING_SLEEPER, assert_unprivileged, status_fields

NAMESPACES = ("user", "mnt", "pid", "net", "uts", "ipc", "cgroup")


def host_pids_running(argv: bytes) -> list[int]:
    """This backend's processes that run `argv` (another run's are not ours to count)."""
    found = []
    ours = own_processes()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) in ours:
            try:
                if Path(entry.path, "cmdline").read_bytes() == argv:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


async def test_an_exec_has_no_privilege_and_the_groups_of_the_sandbox(
        isolated: BackendServer, gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway, args=RECORDING_SLEEPER)
    await until_logged(streaming, sid, b"recorded")
    main = status_fields(await read_file(gateway, sid, "/tmp/main-status"))
    in_exec = status_fields(await sh_ok(streaming, sid, "cat /proc/self/status"))
    assert_unprivileged(in_exec)
    assert in_exec["Uid"].split() == ["0"] * 4 and in_exec["Gid"].split() == ["0"] * 4
    assert in_exec["Groups"] == main["Groups"]  # no supplementary group beyond the sandbox's
    # a session of its own, not the one of the sandbox's command (nor the backend's)
    sessions = (await sh_ok(streaming, sid, "cut -d' ' -f6 /proc/self/stat; "
                                            "for p in /proc/[0-9]*; do "
                                            "grep -qs 'sleep infinit[y]' $p/cmdline && "
                                            "cut -d' ' -f6 $p/stat; done; true")).split()
    assert len(sessions) >= 2 and sessions[0] not in sessions[1:], sessions
    for attack in ("unshare -U true", "unshare --user --map-root-user true",
                   "unshare --mount true", "unshare --net true"):
        result = await sh(streaming, sid, attack)
        assert result.exit_code != 0, (attack, result.stdout, result.stderr)
    await stop(gateway, sid)


async def test_an_exec_runs_in_the_sandboxs_namespaces_as_its_uid_on_the_host(
        isolated: BackendServer, gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    await sh_ok(streaming, sid, "nohup sleep 8642.5 > /dev/null 2>&1 &")
    found = await poll(lambda: _async(host_pids_running(b"sleep\x008642.5\x00") or None),
                       timeout=20, what="the exec's process on the host")
    assert len(found) == 1
    pid = found[0]
    status = status_fields(Path(f"/proc/{pid}/status").read_bytes())
    assert_unprivileged(status)
    owner = SANDBOX_UID if os.geteuid() == 0 else os.geteuid()
    assert status["Uid"].split() == [str(owner)] * 4
    assert isolated.engine is not None
    live = isolated.engine.runtime.live[sid]
    init = await isolated.engine.runtime.namespace_pid(live)
    assert init is not None
    for kind in NAMESPACES:
        theirs = os.readlink(f"/proc/{init}/ns/{kind}")
        assert os.readlink(f"/proc/{pid}/ns/{kind}") == theirs, kind
        if kind != "cgroup":  # where the host has no cgroup namespace to tell apart
            assert theirs != os.readlink(f"/proc/self/ns/{kind}"), kind
    assert os.readlink(f"/proc/{pid}/root") == "/"  # the sandbox's root, seen from itself
    await stop(gateway, sid)


async def test_nothing_of_the_hosts_namespaces_is_open_to_the_sandbox(
        isolated: BackendServer, gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_sandbox(gateway)
    # a long exec, so that the processes that started it are there to be looked at
    await sh_ok(streaming, sid, "nohup sleep 9753 > /dev/null 2>&1 &")
    seen = await sh_ok(streaming, sid,
                       "for p in /proc/[0-9]*; do for f in $p/ns/* $p/fd/* $p/root $p/cwd "
                       "$p/exe; do readlink $f; done; done 2>/dev/null; echo done")
    assert seen.endswith(b"done\n")
    host = {os.readlink(f"/proc/self/ns/{kind}") for kind in NAMESPACES
            if kind != "cgroup"}
    leaked = sorted(set(seen.decode().splitlines()) & host)
    assert not leaked, leaked
    # and no process of the sandbox shows a path of the backend's interpreter or tree
    assert not re.search(rb"\.venv|/root/|pyenv", seen), seen
    await stop(gateway, sid)


async def _async(value: list[int] | None) -> list[int] | None:
    return value


async def test_no_command_line_in_the_sandbox_names_the_hosts_interpreter(
        isolated: BackendServer, gateway: Gateway, streaming: Streaming) -> None:
    """The joiner that starts an exec stays in the sandbox's pid namespace as its parent:
    `ps` there showed its argv[0], the backend interpreter's path on the host."""
    sid = await start_sandbox(gateway)
    seen = await sh_ok(streaming, sid, "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '; "
                                       "echo; echo done")
    assert seen.endswith(b"done\n") and b"cwsandbox-exec" in seen, seen
    host = {sys.executable, os.path.realpath(sys.executable), str(Path(__file__).parents[2])}
    assert not [path for path in host if path.encode() in seen], seen
    await stop(gateway, sid)
