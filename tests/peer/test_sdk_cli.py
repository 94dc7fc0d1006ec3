"""Peer test: the UNMODIFIED SDK 0.26.0's own command line, `cwsandbox` (its `cli` extra), as a
person types it against our backend: `ls` (table, JSON, filters), `exec` (cwd, stderr, exit
code), `logs` (tail, timestamps, since), `sh` on a real pseudo-terminal, and a missing sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import pty
import re
import shutil
import struct
import subprocess
import termios
from pathlib import Path

import grpc
import test_official_sdk as official

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb
from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc
from tests.backend.helpers import wait_status

sdk_python = official.sdk_python  # the cached SDK venv (built once, under a lock)
SETSID = shutil.which("setsid") or "setsid"
TIMEOUT = 60


def cli(sdk_python: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(sdk_python.with_name("cwsandbox")), *args],
                          env=official._scenario_env(url, None, False), capture_output=True,
                          text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)


async def start(gateway: gateway_pb2_grpc.GatewayServiceStub, script: str, tag: str) -> str:
    started = await gateway.Start(pb.StartSandboxRequest(
        command="/bin/sh", args=["-c", script], tags=["sdk-peer-cli", tag],
        container_image="python:3.11"))
    async with asyncio.timeout(30):
        while (await gateway.Get(pb.GetSandboxRequest(sandbox_id=started.sandbox_id))
               ).sandbox_status != pb.SANDBOX_STATUS_RUNNING:
            await asyncio.sleep(0.05)
    return started.sandbox_id


async def shell_on_a_pty(sdk_python: Path, url: str, sandbox_id: str) -> tuple[int, bytes]:
    """`cwsandbox sh ID --cmd /bin/sh` on a pty of ours, as a terminal emulator runs it."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
    process = await asyncio.create_subprocess_exec(
        SETSID, "--ctty", "--wait", str(sdk_python.with_name("cwsandbox")), "sh", sandbox_id,
        "--cmd", "/bin/sh", env=official._scenario_env(url, None, False),
        stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    os.set_blocking(master, False)
    screen = b""

    async def until(done: object) -> None:
        nonlocal screen
        while not done():  # type: ignore[operator]
            with contextlib.suppress(BlockingIOError, OSError):
                screen += os.read(master, 65536)
                continue
            await asyncio.sleep(0.02)  # a pty has no awaitable reader: poll it, bounded above

    def prompted() -> bool:
        return screen.rpartition(b"\n")[2].rstrip(b" ").endswith((b"#", b"$"))

    try:
        async with asyncio.timeout(TIMEOUT):
            # the CLI flushes what was typed before it made the terminal raw: wait for sh
            await until(prompted)
            os.write(master, b"stty size; echo cli-$((6*7))\r")
            await until(lambda: b"cli-42" in screen)
            os.write(master, b"exit 4\r")
            await until(lambda: process.returncode is not None)
            await process.wait()
    except TimeoutError:
        raise AssertionError(f"the shell stalled; the screen: {screen!r}") from None
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        os.close(master)
    assert process.returncode is not None
    return process.returncode, screen


async def test_the_sdk_command_line(sdk_python: Path, backend: BackendServer) -> None:
    url = backend.url
    channel = grpc.aio.insecure_channel(url.removeprefix("http://"))
    try:
        gateway = gateway_pb2_grpc.GatewayServiceStub(channel)
        talker = await start(gateway, "echo first; echo second; exec sleep infinity", "talker")
        other = await start(gateway, "exec sleep infinity", "other")
        await gateway.Stop(pb.StopSandboxRequest(sandbox_id=other, graceful_shutdown_seconds=1))
        # Stop answers while the sandbox is still terminating (as the service does); the
        # listings below are of it ended (a CI run listed it `terminating` among the live)
        await wait_status(gateway, other, pb.SANDBOX_STATUS_COMPLETED, timeout=20)
    finally:
        await channel.close()

    commands = {  # independent of each other: run side by side
        "listed": ("ls", "-o", "json", "--tag", "sdk-peer-cli"),
        "stopped": ("ls", "-o", "json", "--status", "completed", "-t", "other"),
        "table": ("ls", "--runner-id", "local-runner", "--profile-name", "default"),
        "nothing": ("ls", "--runner-id", "elsewhere"),
        "pwd": ("exec", talker, "--cwd", "/tmp", "pwd"),
        "failing": ("exec", talker, "sh", "-c", "echo out; echo err >&2; exit 3"),
        "timed": ("exec", talker, "--timeout", "1", "sleep", "30"),
        "logs": ("logs", talker),
        "tail": ("logs", talker, "--tail", "1", "-t"),
        "since": ("logs", talker, "--since", "2099-01-01"),
        "missing": ("exec", "sb-missing", "true"),
    }
    done = await asyncio.gather(*(asyncio.to_thread(cli, sdk_python, url, *args)
                                  for args in commands.values()))
    ran = dict(zip(commands, done, strict=True))

    listed = ran["listed"]
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["sandbox_id"], r["status"], r["runner_id"]) for r in rows] == \
        [(talker, "running", "local-runner")]
    assert rows[0]["started_at"] and rows[0]["profile_id"] and rows[0]["runner_group_id"]
    assert [r["sandbox_id"] for r in json.loads(ran["stopped"].stdout)] == [other], ran
    table = ran["table"]
    assert table.returncode == 0 and talker in table.stdout and "SANDBOX ID" in table.stdout
    assert ran["nothing"].stdout == "No sandboxes found.\n", ran["nothing"]

    assert (ran["pwd"].returncode, ran["pwd"].stdout) == (0, "/tmp\n"), ran["pwd"]
    failing = ran["failing"]
    assert (failing.returncode, failing.stdout, failing.stderr) == (3, "out\n", "err\n")
    timed = ran["timed"]
    assert timed.returncode == 1 and "Error:" in timed.stderr and "timed out" in timed.stderr

    assert ran["logs"].stdout == "first\nsecond\n", ran["logs"]
    assert re.fullmatch(r"\S+Z second\n", ran["tail"].stdout), ran["tail"]
    assert ran["since"].returncode == 0 and ran["since"].stdout == "", ran["since"]

    missing = ran["missing"]
    assert missing.returncode == 1 and "Error:" in missing.stderr
    assert "sb-missing" in missing.stderr and "Traceback" not in missing.stderr

    code, screen = await shell_on_a_pty(sdk_python, url, talker)
    assert b"33 111" in screen and b"cli-42" in screen, screen
    assert code == 4, screen
