"""A refused endpoint fails the CLI at once (within 5 s) with one line naming it."""

from __future__ import annotations

import socket
import time

from .helpers import cli


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_refused_endpoint_fails_in_5_s_with_one_line() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    for command in (("snapshots", "list"), ("sandboxes", "list", "--json")):
        started = time.monotonic()
        run = await cli("--endpoint", url, *command)
        elapsed = time.monotonic() - started
        print(f"{' '.join(command)}: failed after {elapsed:.2f} s")
        assert run.code == 1, run
        assert run.stdout == ""
        assert run.stderr.splitlines() == [f"error: cannot reach {url}: Connection refused"]
        assert elapsed < 5.0, f"{elapsed:.2f} s"
