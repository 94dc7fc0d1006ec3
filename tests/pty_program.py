"""The real program on a real pseudo-terminal: what it writes is kept, byte for byte.

Not Textual's test harness (`run_test`): that one runs the app without the event loop's
task factory the app sets on Python 3.12+, so a start-up that only fails there passes it.
"""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# A program's first frame, under the load of a shared machine: a bound, not a wait.
START_LIMIT = 90.0
EXIT_LIMIT = 30.0

ALT_SCREEN_ON = b"\x1b[?1049h"
ALT_SCREEN_OFF = b"\x1b[?1049l"
# Textual's reset on exit: mouse reporting (1000, 1003, 1006) and bracketed paste (2004) off.
MODE_RESETS = (b"\x1b[?1000l", b"\x1b[?1003l", b"\x1b[?1006l", b"\x1b[?2004l")
_ESCAPE = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[\]P_^].*?(?:\x07|\x1b\\)|\x1b[@-Z\\-_]",
                     re.DOTALL)
SANDBOX_ID = re.compile(r"sb-[0-9a-f]{12}")


def plain(data: bytes) -> str:
    """The text of terminal output with its escape sequences taken out."""
    return _ESCAPE.sub(b"", data).decode("utf-8", "replace")


class PtyProgram:
    """`argv` on a new pseudo-terminal of `cols` x `rows`; stdin, stdout and stderr are it."""

    def __init__(self, argv: Sequence[str | Path], *, env: dict[str, str],
                 cwd: Path | None = None, cols: int = 120, rows: int = 40) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self._master = master
        self._output = bytearray()
        self._lock = threading.Lock()
        self.process = subprocess.Popen(
            [str(a) for a in argv], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
            start_new_session=True, close_fds=True)
        os.close(slave)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # EIO: every writer of the terminal has gone
                return
            if not chunk:
                return
            with self._lock:
                self._output += chunk

    @property
    def output(self) -> bytes:
        with self._lock:
            return bytes(self._output)

    def text(self) -> str:
        return plain(self.output)

    def wait_for(self, condition: Callable[[str], bool], what: str,
                 timeout: float = START_LIMIT) -> None:
        """Until `condition(text so far)` holds; fails naming `what` and showing the text."""
        give_up = time.monotonic() + timeout
        while not condition(self.text()):
            if self.process.poll() is not None:
                self._reader.join(5)
                if condition(self.text()):
                    return
                raise AssertionError(f"the program exited ({self.process.returncode}) before "
                                     f"{what}; it wrote:\n{self.text()[-3000:]}")
            if time.monotonic() > give_up:
                raise AssertionError(f"no {what} within {timeout} s; the program wrote:\n"
                                     f"{self.text()[-3000:]}")
            time.sleep(0.05)  # polling the output, not waiting for time to pass

    def press(self, keys: str) -> None:
        os.write(self._master, keys.encode())

    def wait_exit(self, timeout: float = EXIT_LIMIT) -> int:
        code = self.process.wait(timeout)
        self._reader.join(5)
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._reader.join(5)
        os.close(self._master)


def demo_rows(text: str) -> bool:
    """The demo's sandboxes are on the screen (the demo has six)."""
    return len(set(SANDBOX_ID.findall(text))) >= 3 and "RUNNING" in text


def after_alt_screen(output: bytes) -> bytes:
    """What the program wrote after it left the alternate screen for the last time; fails if
    it did not leave it."""
    entered, left = output.rfind(ALT_SCREEN_ON), output.rfind(ALT_SCREEN_OFF)
    assert entered >= 0, "the program never drew on the alternate screen"
    assert left > entered, "the program did not leave the alternate screen"
    return output[left + len(ALT_SCREEN_OFF):]


def assert_terminal_restored(output: bytes) -> None:
    """The alternate screen was left and the modes it set were reset after that."""
    after = after_alt_screen(output)
    tail = output[output.rfind(ALT_SCREEN_ON):]
    for reset in MODE_RESETS:
        assert reset in tail, f"{reset!r} was not sent after the alternate screen was entered"
    assert b"\x1b[?25h" in after, "the cursor was not shown again"


def inject_failure(directory: Path, module: str, attribute: str, message: str) -> dict[str, str]:
    """The environment for a program in which `module`'s `attribute` (a function, or a method
    as `Class.method`) raises RuntimeError(message): a bug as it could happen, put in by a
    `sitecustomize` of the test's, not by a hook in the program."""
    owner, _, name = attribute.rpartition(".")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "sitecustomize.py").write_text(
        "import importlib\n"
        f"target = importlib.import_module({module!r})\n"
        f"for part in {owner!r}.split('.') if {owner!r} else []:\n"
        "    target = getattr(target, part)\n"
        "def failing(*args, **kwargs):\n"
        f"    raise RuntimeError({message!r})\n"
        f"setattr(target, {name!r}, failing)\n")
    return {"PYTHONPATH": str(directory)}


def leaked_request(key: str, wandb_key: str) -> str:
    """An error message with secrets in it, as a careless one could be."""
    return (f"injected by the test; the request had authorization: Bearer {key} and "
            f"(('x-wandb-api-key', '{wandb_key}'),)")
