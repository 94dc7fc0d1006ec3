"""A refused endpoint fails the CLI with one line naming it, after the short connect budget
(2 s, pinned with a fake clock by tests/client/test_unreachable.py), not the 30 s one.

The wall-clock bound here only tells the two budgets apart: a process's start-up under a loaded
CI machine has taken up to 6 s on its own, so a tighter bound would test the machine."""

from __future__ import annotations

import socket
import time

from .helpers import cli


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_refused_endpoint_fails_after_the_connect_budget_with_one_line() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    for command in (("snapshots", "list"), ("sandboxes", "list", "--json")):
        started = time.monotonic()
        run = await cli("--endpoint", url, *command)
        elapsed = time.monotonic() - started
        print(f"{' '.join(command)}: failed after {elapsed:.2f} s")
        assert run.code == 1, run
        assert run.stdout == ""
        assert run.stderr.splitlines() == [f"error: cannot reach {url}: Connection refused"]
        assert elapsed < 20.0, f"{elapsed:.2f} s: the 30 s budget, not the connect budget"
