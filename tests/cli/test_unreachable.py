"""A refused endpoint fails the CLI within 5 s with one line naming it, not after the 30 s
retry budget (the client's short connect budget is pinned with a fake clock in tests/client).

Measured past the process's start-up (a run refused by argument parsing, just before), which on a
loaded CI machine has taken seconds on its own: what is left is the client's giving up."""

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
        baseline = await cli("--endpoint", url, *command, "--no-such-flag", cold=True)
        start_up = time.monotonic() - started
        assert baseline.code == 2, baseline
        started = time.monotonic()
        run = await cli("--endpoint", url, *command, cold=True)
        elapsed = time.monotonic() - started - start_up
        print(f"{' '.join(command)}: failed after {elapsed:.2f} s past a start-up of "
              f"{start_up:.2f} s")
        assert run.code == 1, run
        assert run.stdout == ""
        assert run.stderr.splitlines() == [f"error: cannot reach {url}: Connection refused"]
        assert elapsed < 5.0, f"{elapsed:.2f} s past start-up"
