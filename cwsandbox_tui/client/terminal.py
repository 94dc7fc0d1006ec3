"""Attach this process's terminal to a shell in a sandbox (the way `kubectl exec -it` does).

The local terminal goes into raw mode, so every key (ctrl+c included) reaches the remote
shell; a change of window size (SIGWINCH) becomes a resize frame. The terminal is restored
however the session ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import termios
import tty
from collections.abc import Iterator, Sequence

from .client import Client
from .models import ExecExit, TerminalInput

# bash where the sandbox has it, else sh; not a login shell, which would reset the PATH.
DEFAULT_SHELL = ("/bin/sh", "-c", "if command -v bash >/dev/null; then exec bash; "
                                  "else exec sh; fi")


def window_size(fd: int) -> tuple[int, int]:
    """(columns, rows) of the terminal on `fd`, or of whatever stands in for one."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        size = shutil.get_terminal_size()
    return size.columns, size.lines


@contextlib.contextmanager
def raw_mode(fd: int) -> Iterator[None]:
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


async def attach(client: Client, sandbox_id: str, argv: Sequence[str] = DEFAULT_SHELL, *,
                 stdin_fd: int = 0, stdout_fd: int = 1) -> int:
    """Run a shell in the sandbox on this terminal; its exit code."""
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[TerminalInput | None] = asyncio.Queue()
    columns, rows = window_size(stdout_fd)
    sent = [(columns, rows)]  # the window size the sandbox knows
    watching = os.isatty(stdout_fd)

    def resized() -> None:
        size = window_size(stdout_fd)
        if size != sent[0]:
            sent[0] = size
            inbox.put_nowait(TerminalInput(resize=size))

    def typed() -> None:
        try:
            data = os.read(stdin_fd, 65536)
        except OSError:
            data = b""
        if watching:
            # Keys typed after a resize reach the shell after it, even when the loop reads
            # them before it runs the SIGWINCH handler.
            resized()
        if data:
            inbox.put_nowait(TerminalInput(data=data))
        else:  # end of our input: no more keys will come
            loop.remove_reader(stdin_fd)
            inbox.put_nowait(TerminalInput(data=b"\x04"))

    code = 1
    with raw_mode(stdin_fd):
        try:
            loop.add_reader(stdin_fd, typed)
        except PermissionError:
            # a file (or /dev/null) cannot be watched for input: it is all there already
            with os.fdopen(os.dup(stdin_fd), "rb") as source:
                inbox.put_nowait(TerminalInput(data=source.read() + b"\x04"))
        if watching:
            loop.add_signal_handler(signal.SIGWINCH, resized)
        try:
            async for item in client.terminal(sandbox_id, argv, width=columns, height=rows,
                                              inbox=inbox):
                if isinstance(item, ExecExit):
                    code = item.exit_code
                else:
                    _write_all(stdout_fd, item)
        finally:
            loop.remove_reader(stdin_fd)
            if watching:
                loop.remove_signal_handler(signal.SIGWINCH)
            inbox.put_nowait(None)
    return code


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            continue
