"""The dashboard in a real tmux, as a person runs it: a private tmux server (its own socket,
no configuration file), keys sent in bursts, the pane read back as text."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WAIT = 20.0


class Tmux:
    """One tmux server on a private socket, with one window running a command."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    async def run(self, *args: str, check: bool = True) -> str:
        process = await asyncio.create_subprocess_exec(
            "tmux", "-L", self.socket, *args, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), WAIT)
        if check and process.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)}: exit {process.returncode}: "
                                 f"{err.decode(errors='replace')}")
        return out.decode(errors="replace")

    async def keys(self, *keys: str) -> None:
        """tmux key names (Escape, C-c, Enter, ...) and text, written to the pane in one go."""
        await self.run("send-keys", "-t", "main", *keys)

    async def literal(self, text: str) -> None:
        """Bytes as they are (one write to the pane: a burst)."""
        await self.run("send-keys", "-t", "main", "-l", text)

    async def pane(self) -> str:
        return await self.run("capture-pane", "-p", "-t", "main")

    async def wait_pane(self, condition: Callable[[str], object], what: str,
                        timeout: float = WAIT) -> str:
        give_up = time.monotonic() + timeout
        while True:
            text = await self.pane()
            if condition(text):
                return text
            if time.monotonic() > give_up:
                raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; "
                                     f"the pane:\n{text}")
            await asyncio.sleep(0.05)

    async def alive(self) -> bool:
        out = await self.run("list-panes", "-t", "main", "-F", "#{pane_dead}", check=False)
        return out.strip() == "0"


@asynccontextmanager
async def dashboard_in_tmux(tmp_path: Path, port: int, *, size: tuple[int, int] = (120, 40),
                            term: str = "xterm-256color", options: tuple[str, ...] = (),
                            extra: tuple[str, ...] = ()) -> AsyncIterator[Tmux]:
    """The dashboard on the backend at `port`, in a fresh tmux server whose global
    `options` (e.g. "set-clipboard on") are set before the window starts."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    tmux = Tmux(f"cwsandbox-test-{os.getpid()}-{time.monotonic_ns()}")
    env = {name: os.environ[name] for name in os.environ
           if name.startswith("CWSANDBOX_TUI_") or name in ("PATH", "HOME", "LANG")}
    env.update({"TERM": term, "TEXTUAL_ANIMATIONS": "none", "PYTHONPATH": str(REPO)})
    command = " ".join([
        "env", *(shlex.quote(f"{k}={v}") for k, v in env.items()),
        shlex.quote(sys.executable), "-m", "cwsandbox_tui",
        "--endpoint", f"http://127.0.0.1:{port}", "--refresh", "0", *extra,
        ";", "echo", "DASHBOARD-EXITED", ";", "sleep", "600"])
    await tmux.run("-f", "/dev/null", "start-server", ";",
                   *sum((["set", "-g", *o.split(), ";"] for o in options), []),
                   "new-session", "-d", "-s", "main", "-x", str(size[0]), "-y", str(size[1]),
                   command)
    try:
        yield tmux
    finally:
        await tmux.run("kill-server", check=False)
