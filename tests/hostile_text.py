"""Text a sandbox (or a server) uses to attack the terminal it is shown on, and the checks of
the bytes that terminal receives."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import os
import pty
import shutil
import struct
import sys
import termios
from pathlib import Path

from cwsandbox_tui.backend.volumes import VolumeRecord, VolumeRegistry
from cwsandbox_tui.client.client import Client
from cwsandbox_tui.client.models import Sandbox, SandboxSpec, Snapshot

B64 = base64.b64encode(b"written-by-a-sandbox").decode()
OSC52 = f"\x1b]52;c;{B64}\x07"  # writes the clipboard
OSC0 = "\x1b]0;retitled\x07"  # retitles the window
CLEAR = "\x1b[2J"  # clears the screen
C1_CSI = "\x9b2J"  # the same, by the 8-bit C1 introducer
RLO = "\u202e"  # right-to-left override: text reads differently from what it is
MARKUP = "[link=https://evil.example/]x[/link][/]"
HOSTILE = OSC52 + OSC0 + CLEAR + C1_CSI + RLO + MARKUP

# The hostile sequences as a terminal receives them (UTF-8): none may reach it. OSC 8 would be
# markup made into a hyperlink.
SEQUENCES = [OSC52.encode(), b"\x1b]52;", OSC0.encode(), b"\x1b]0;retitled", CLEAR.encode(),
             C1_CSI.encode(), RLO.encode(), b"\x1b]8;"]


def octal(text: str) -> str:
    """`text` for a `printf` format in the sandbox: every byte an octal escape, so the command
    itself holds nothing but printable ASCII."""
    return "".join(f"\\{byte:03o}" for byte in text.encode())


def leaked(raw: bytes) -> list[bytes]:
    return [s for s in SEQUENCES if s in raw]


def controls(raw: bytes) -> list[str]:
    """Every terminal control in output that should hold none: ESC, C0 (but newline and tab),
    DEL, C1 and bidirectional controls."""
    text = raw.decode("utf-8", errors="replace")
    bidi = {0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)}
    return sorted({repr(c) for c in text if (ord(c) < 0x20 and c not in "\n\t")
                   or 0x7F <= ord(c) < 0xA0 or ord(c) in bidi})


async def hostile_sandbox(client: Client, mount: str = "/workspace") -> tuple[Sandbox, Snapshot]:
    """A running sandbox whose tags and command hold HOSTILE, which writes HOSTILE to its
    output, and a snapshot of its mount whose reason names a FIFO the sandbox made, named
    HOSTILE's OSC 52 (the sandbox's code alone puts that text in the snapshot record)."""
    # HOSTILE is the shell's $0: printed as it is, and its OSC 52 part names the FIFO
    script = (f'printf "%s\\n" "$0"; mkfifo "{mount}/$(printf "%.{len(OSC52)}s" "$0")"; '
              "exec sleep infinity")
    sandbox = await client.start_sandbox(SandboxSpec(
        args=("-c", script, HOSTILE), tags=(HOSTILE, "plain"), mount_path=mount))
    await client.exec(sandbox.id, ["/bin/sh", "-c", f'until [ -n "$(ls -A {mount})" ]; '
                                   "do sleep 0.05; done"], timeout=20)
    snapshot = await client.create_snapshot(sandbox.id)
    assert OSC52 in snapshot.status_reason, snapshot.status_reason
    return sandbox, snapshot


def hostile_volume(data_dir: Path) -> str:
    """A registered volume (API v1) whose claim and description, given by whoever registered
    it, hold HOSTILE."""
    VolumeRegistry(data_dir / "volumes", "local-runner").create(VolumeRecord(
        volume_id="hostile", runner_id="local-runner", namespace="ns", claim_name=HOSTILE,
        description=HOSTILE))
    return "hostile"


REPO = Path(__file__).resolve().parents[1]


class RawTerminal:
    """A program on a pty of ours; `screen` is every byte the terminal received. Each wait
    fails as soon as a hostile sequence arrives, naming it."""

    def __init__(self, master: int, process: asyncio.subprocess.Process) -> None:
        self.master = master
        self.process = process
        self.screen = b""

    @classmethod
    async def open(cls, *args: str, env: dict[str, str], columns: int = 200, rows: int = 50
                   ) -> RawTerminal:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        process = await asyncio.create_subprocess_exec(
            shutil.which("setsid") or "setsid", "--ctty", "--wait", sys.executable, "-m",
            "cwsandbox_tui", *args, cwd=REPO, env={**os.environ, **env}, stdin=slave,
            stdout=slave, stderr=slave)
        os.close(slave)
        os.set_blocking(master, False)
        return cls(master, process)

    def mark(self) -> int:
        return len(self.screen)

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    async def until(self, text: bytes, since: int = 0, timeout: float = 20) -> None:
        try:
            async with asyncio.timeout(timeout):
                while text not in self.screen[since:]:
                    await self._read()
                    assert not leaked(self.screen), \
                        f"reached the terminal: {leaked(self.screen)}"
        except TimeoutError:
            raise AssertionError(f"{text!r} never shown; after it: {self.screen[since:]!r}"
                                 ) from None

    async def _read(self) -> None:
        try:
            self.screen += os.read(self.master, 65536)
        except OSError:  # nothing yet (BlockingIOError), or the program has gone
            await asyncio.sleep(0.02)  # a pty has no awaitable reader: poll it, bounded above

    async def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.process.wait()
        os.close(self.master)
