"""An exec runs in its sandbox's own namespaces, as on the service, where every exec runs in
the sandbox's container: it sees the sandbox's processes and reaches what they serve on the
sandbox's loopback, and what an exec serves is reached from other execs and at the
sandbox's service address (what the SDK's own integration tests rely on)."""

from __future__ import annotations

import asyncio
import os
import shlex
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb
from cwsandbox_tui.proto.v1beta2 import streaming_pb2 as spb
from tests.backend.helpers import (
    RUNNING,
    Gateway,
    Streaming,
    collect_exec,
    exec_init,
    poll,
    read_file,
    sh_ok,
    start_request,
    start_sandbox,
    stop,
    until,
    until_logged,
    wait_status,
)
from tests.backend.test_sandboxes import BOUND_TO_STOP, _bound
from tests.backend.test_services import fetch
from tests.security.conftest import require_isolation

# Serves the sandbox's mount on 127.0.0.1:8000; says so once it listens.
SERVING_COMMAND = ["-c", "echo from-the-command > index.html && "
                         "exec python3 -u -m http.server 8000 --bind 127.0.0.1"]


def fetch_inside(port: int, path: str = "index.html") -> str:
    """A script that prints a page of the sandbox's loopback (no retry: it must be there)."""
    code = ("import urllib.request; print(urllib.request.urlopen("
            f"'http://127.0.0.1:{port}/{path}', timeout=10).read().decode(), end='')")
    return f"python3 -c {shlex.quote(code)}"


async def test_an_exec_reaches_a_server_of_the_sandboxs_command_on_its_loopback(
        backend: BackendServer, gateway: Gateway, streaming: Streaming) -> None:
    require_isolation(backend)
    sid = await start_sandbox(gateway, args=SERVING_COMMAND)
    await until_logged(streaming, sid, b"Serving HTTP", timeout=20)
    assert await sh_ok(streaming, sid, fetch_inside(8000)) == b"from-the-command\n"
    await stop(gateway, sid)


async def test_a_server_an_exec_started_is_reached_from_another_exec_and_the_service_address(
        backend: BackendServer, gateway: Gateway, streaming: Streaming) -> None:
    require_isolation(backend)
    request = start_request()
    request.ports.add(container_port=8000, name="web", protocol="TCP")
    request.network.ingress_mode = "public"
    started = await gateway.Start(request)
    sid = started.sandbox_id
    await wait_status(gateway, sid, RUNNING)
    # the exec returns at once; the server it left running lives on in the sandbox
    await sh_ok(streaming, sid, "mkdir -p /tmp/site && cd /tmp/site && "
                                "echo from-an-exec > index.html && "
                                "nohup python3 -u -m http.server 8000 --bind 127.0.0.1 "
                                "> /tmp/server.log 2>&1 &")

    async def listening() -> bool | None:
        return True if b"Serving HTTP" in await read_file(gateway, sid, "/tmp/server.log") \
            else None

    await poll(listening, timeout=20, what="the exec's server to listen")
    assert await sh_ok(streaming, sid, fetch_inside(8000)) == b"from-an-exec\n"
    assert await fetch(f"http://{started.service_address}/index.html") == b"from-an-exec\n"
    await stop(gateway, sid)


async def test_ps_in_an_exec_shows_the_sandboxs_command_and_other_execs(
        backend: BackendServer, gateway: Gateway, streaming: Streaming) -> None:
    require_isolation(backend)
    sid = await start_sandbox(gateway)  # the SDK's sleeper: `sleep infinity` under a shell
    await sh_ok(streaming, sid, "nohup sleep 7531 > /dev/null 2>&1 &")
    listed = await sh_ok(streaming, sid, "ps -eo args")
    assert b"sleep infinity" in listed and b"sleep 7531" in listed, listed
    # the same from /proc, and its pid 1 is the sandbox's, not the exec's own
    cmdlines = await sh_ok(streaming, sid, "cat /proc/[0-9]*/cmdline | tr '\\0' ' '")
    assert b"sleep infinity" in cmdlines
    pid_one = await sh_ok(streaming, sid, "cat /proc/1/cmdline; : exec-token-8642")
    assert b"sleep infinity" in pid_one and b"exec-token-8642" not in pid_one
    await stop(gateway, sid)


def _pid_namespace_states(init: int) -> dict[int, str]:
    """The /proc states of every process in the pid namespace of `init`, seen from the host,
    but `init` and the keepers of execs (whose parent is outside the namespace)."""
    namespace = os.readlink(f"/proc/{init}/ns/pid")
    states: dict[int, tuple[int, str]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(f"{entry.path}/ns/pid") != namespace:
                continue
            fields = Path(entry.path, "stat").read_bytes().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        states[int(entry.name)] = (int(fields[1]), fields[0].decode())
    return {pid: _bound(pid, state) for pid, (ppid, state) in states.items()
            if pid != init and ppid in states}


async def test_pause_stops_what_execs_run_and_resume_continues_it(
        backend: BackendServer, gateway: Gateway, streaming: Streaming) -> None:
    require_isolation(backend)
    sid = await start_sandbox(gateway)
    counter = "i=0; while :; do i=$((i+1)); echo $i > /tmp/{0}; sleep 0.02; done"
    # one left behind by an exec that ended, one of an exec still running
    await sh_ok(streaming, sid, f"nohup sh -c '{counter.format('left')}' >/dev/null 2>&1 &")
    hold = asyncio.Event()

    async def requests() -> AsyncIterator[spb.ExecStreamRequest]:
        yield exec_init(sid, ["/bin/sh", "-c", counter.format("running")])
        await hold.wait()

    running = asyncio.ensure_future(collect_exec(streaming.StreamExec(requests())))
    try:
        async def counts() -> tuple[int, int]:
            found = []
            for name in ("left", "running"):
                try:
                    found.append(int((await read_file(gateway, sid, f"/tmp/{name}")).strip()
                                     or b"0"))
                except grpc.aio.AioRpcError:
                    found.append(0)
            return found[0], found[1]

        async def both_past(before: tuple[int, int]) -> tuple[int, int] | None:
            now = await counts()
            return now if now[0] > before[0] and now[1] > before[1] else None

        await poll(lambda: both_past((0, 0)), timeout=20, what="both counters to start")
        assert (await gateway.Pause(pb.PauseSandboxRequest(sandbox_id=sid))).success
        assert backend.engine is not None
        init = await backend.engine.runtime.namespace_pid(backend.engine.runtime.live[sid])
        assert init is not None
        stopped = {"T", "Z", BOUND_TO_STOP}
        await until(lambda: set(_pid_namespace_states(init).values()) <= stopped,
                    timeout=20, what="every process of the sandbox and its execs stopped")
        frozen = await counts()
        assert set(_pid_namespace_states(init).values()) <= stopped
        assert await counts() == frozen
        assert (await gateway.Resume(pb.ResumeSandboxRequest(sandbox_id=sid))).success
        await poll(lambda: both_past(frozen), timeout=20, what="both counters to move again")
    finally:
        hold.set()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    await stop(gateway, sid)
