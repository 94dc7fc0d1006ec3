"""`sandboxes shell ID` on a real pseudo-terminal: raw keys in, output out, resize, exit code.

Run against a v1beta2-only and a v1-only backend (conftest.PER_GENERATION)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import shutil
import struct
import sys
import termios
from pathlib import Path

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client.client import Client, EndpointInfo
from cwsandbox_tui.client.generations import choose
from cwsandbox_tui.client.models import SandboxSpec
from cwsandbox_tui.client.wire import open_channel
from tests.backend.helpers import in_foreground, until

from .helpers import REPO

SETSID = shutil.which("setsid") or "setsid"


class LocalTerminal:
    """The CLI run on a pty of ours, as a person's terminal emulator would run it."""

    def __init__(self, master: int, process: asyncio.subprocess.Process) -> None:
        self.master = master
        self.process = process
        self.screen = b""

    @classmethod
    async def open(cls, *args: str, env: dict[str, str], columns: int = 90, rows: int = 28
                   ) -> LocalTerminal:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        # `setsid --ctty --wait` makes the pty the CLI's controlling terminal, as a terminal
        # emulator does, so that the kernel sends it SIGWINCH when the window changes.
        process = await asyncio.create_subprocess_exec(
            SETSID, "--ctty", "--wait", sys.executable, "-m", "cwsandbox_tui", *args, cwd=REPO,
            env={**os.environ, **env}, stdin=slave, stdout=slave, stderr=slave)
        os.close(slave)
        os.set_blocking(master, False)
        return cls(master, process)

    async def prompt(self, timeout: float = 20) -> None:
        """Wait until the shell shows its prompt: typing before it would race its start."""
        try:
            async with asyncio.timeout(timeout):
                while not self.screen.rpartition(b"\n")[2].rstrip(b" ").endswith((b"#", b"$")):
                    await self._read()
        except TimeoutError:
            raise AssertionError(f"no prompt; the screen: {self.screen!r}") from None

    def type(self, text: bytes) -> None:
        os.write(self.master, text)

    def resize(self, columns: int, rows: int) -> None:
        # what a terminal emulator does: the kernel then sends SIGWINCH to the foreground
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    async def until(self, text: bytes, timeout: float = 20) -> None:
        try:
            async with asyncio.timeout(timeout):
                while text not in self.screen:
                    await self._read()
        except TimeoutError:
            raise AssertionError(f"{text!r} never shown; the screen: {self.screen!r}") from None

    async def _read(self) -> None:
        try:
            self.screen += os.read(self.master, 65536)
        except BlockingIOError:
            await asyncio.sleep(0.02)  # a pty has no awaitable reader: poll it, bounded above
        except OSError:
            await asyncio.sleep(0.02)

    async def exit_code(self, timeout: float = 20) -> int:
        async with asyncio.timeout(timeout):
            while self.process.returncode is None:
                await self._read()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.process.wait(), 0.05)
        os.close(self.master)
        assert self.process.returncode is not None
        return self.process.returncode


async def _sleeping_sandbox(backend: BackendServer) -> str:
    """Started through the generation the backend serves (the CLI finds it by itself)."""
    channel = open_channel(f"127.0.0.1:{backend.port}", tls=False, root_certificates=None)
    client = Client(choose("auto", channel, []), EndpointInfo(
        url=backend.url, source="test", auth_mode="none", read_only=False))
    sandbox_id = (await client.start_sandbox(SandboxSpec(args=("-c", "exec sleep infinity")))).id
    await client.close()
    return sandbox_id


async def test_shell_attaches_the_terminal(backend: BackendServer) -> None:
    sandbox_id = await _sleeping_sandbox(backend)
    term = await LocalTerminal.open("sandboxes", "shell", sandbox_id,
                                    env={"CWSANDBOX_BASE_URL": backend.url})
    await term.prompt()
    term.type(b"stty size; echo marker-$((6*7))\n")
    await term.until(b"marker-42")
    assert b"28 90" in term.screen
    term.resize(120, 33)
    await term.prompt()
    term.type(b"stty size\n")
    await term.until(b"33 120")
    term.type(b"sleep 30\n")
    await term.until(b"sleep 30\r\n")
    # ctrl+c sent while the shell still puts sleep in the foreground hits the shell alone,
    # and sleep runs its 30 s: wait until sleep holds the terminal
    await until(lambda: in_foreground(b"sleep\x0030\x00"), timeout=20,
                what="sleep 30 to hold its terminal")
    term.type(b"\x03")  # raw mode: ctrl+c goes to the remote shell, not to the CLI
    term.type(b"echo still-here; exit 5\n")
    await term.until(b"still-here")
    assert await term.exit_code() == 5


async def test_shell_reads_a_script_from_a_file(backend: BackendServer, tmp_path: Path) -> None:
    sandbox_id = await _sleeping_sandbox(backend)
    script = tmp_path / "script.sh"
    script.write_bytes(b"echo from-a-file-$((2+3))\nexit 6\n")
    with open(script, "rb") as stdin:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cwsandbox_tui", "sandboxes", "shell", sandbox_id,
            "--command", "/bin/sh", cwd=REPO,
            env={**os.environ, "CWSANDBOX_BASE_URL": backend.url}, stdin=stdin,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 6, err
    assert b"from-a-file-5" in out
