"""Running `python -m cwsandbox_tui ...` as a subprocess from an async test.

The subprocess is awaited with asyncio, so an in-process backend fixture (served by the
test's event loop) keeps answering while the command runs.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.backend.store import SnapshotRow

REPO = Path(__file__).resolve().parents[2]
DAY = 86400.0


@dataclass
class Run:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    raw_stdout: bytes = b""  # the bytes a terminal would receive
    raw_stderr: bytes = b""

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return (f"$ cwsandbox-tui {' '.join(self.args)}\nexit {self.code}\n"
                f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}")


async def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 30.0,
              cold: bool = False) -> Run:
    """Run the CLI with the test's environment (its data/state/config dirs) plus `env`.

    Forked from a warm interpreter (tests/cli/forkserver.py) unless `cold` (a new interpreter,
    for what measures the start-up itself) or CWSANDBOX_TESTS_COLD_CLI=1 (all of them)."""
    environment = {**os.environ, **(env or {})}
    environment.pop("COLUMNS", None)
    if not cold and os.environ.get("CWSANDBOX_TESTS_COLD_CLI") != "1" \
            and _read_at_start(environment) == _read_at_start(os.environ):
        return await _forked(args, environment, timeout)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cwsandbox_tui", *args, cwd=REPO, env=environment,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Run(args, process.returncode, out.decode(), err.decode(), out, err)


def _read_at_start(environment: Mapping[str, str]) -> dict[str, str]:
    """What only an interpreter's start reads (PYTHONPATH, a test's sitecustomize ...): a
    command whose environment changes these needs a new interpreter, not a fork."""
    return {k: v for k, v in environment.items() if k.startswith("PYTHON")}


class _Forkserver:
    """The warm interpreter of this test process, started on first use."""

    process: subprocess.Popen[bytes] | None = None
    folder = ""
    stopped_at_exit = False  # its atexit hook is registered (once, however often it starts)

    @classmethod
    def path(cls) -> str:
        if cls.process is not None and cls.process.poll() is None:
            return os.path.join(cls.folder, "s")
        cls.folder = tempfile.mkdtemp(prefix="cwsandbox-cli-")  # 0700: this account's alone
        environment = dict(os.environ)
        environment.pop("COLUMNS", None)
        cls.process = subprocess.Popen(
            [sys.executable, "-m", "tests.cli.forkserver", os.path.join(cls.folder, "s")],
            cwd=REPO, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        assert cls.process.stdout is not None
        ready = cls.process.stdout.readline()
        assert ready == b"ready\n", f"the CLI's fork server did not start: {ready!r}"
        if not cls.stopped_at_exit:
            cls.stopped_at_exit = True
            atexit.register(cls.stop)
        return os.path.join(cls.folder, "s")

    @classmethod
    def stop(cls) -> None:
        if cls.process is not None:
            cls.process.kill()
            cls.process.wait()
            cls.process = None
        shutil.rmtree(cls.folder, ignore_errors=True)


async def _forked(args: tuple[str, ...], environment: dict[str, str], timeout: float) -> Run:
    loop = asyncio.get_running_loop()
    request = json.dumps({"argv": list(args), "env": environment, "cwd": str(REPO)})
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    stdin = os.open(os.devnull, os.O_RDONLY)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(_Forkserver.path())
        socket.send_fds(sock, [request.encode() + b"\n"], [stdin, out_w, err_w])
    finally:
        for fd in (stdin, out_w, err_w):
            os.close(fd)
    readers = []
    for fd in (out_r, err_r):
        reader = asyncio.StreamReader(limit=2**26)
        await loop.connect_read_pipe(functools.partial(asyncio.StreamReaderProtocol, reader),
                                     os.fdopen(fd, "rb", 0))
        readers.append(reader)
    status, writer = await asyncio.open_unix_connection(sock=sock)
    pid = int((await status.readline()).split()[1])

    async def ended() -> int:
        line = await status.readline()
        assert line.startswith(b"exit "), f"the fork server lost the command: {line!r}"
        return int(line.split()[1])

    try:
        out, err, code = await asyncio.wait_for(
            asyncio.gather(readers[0].read(), readers[1].read(), ended()), timeout)
    except TimeoutError:
        os.kill(pid, signal.SIGKILL)
        # reaped by the server: no command outlives its test
        assert await asyncio.wait_for(ended(), 20) == -signal.SIGKILL
        raise
    finally:
        writer.close()
    return Run(args, code, out.decode(), err.decode(), out, err)


def seed(backend: BackendServer, ids: list[str], *, age_days: float = 0.0,
         status: states.SnapshotState = states.FSS_READY, source: str = "sb-seeded"
         ) -> list[str]:
    assert backend.engine is not None
    created = time.time() - age_days * DAY
    backend.engine.store.insert_snapshots([
        SnapshotRow(id=i, status=status, created_at=created, updated_at=created,
                    source_sandbox_id=source, trigger=states.TRIGGER_MANUAL,
                    object_bucket="cwsandbox-managed", archive="", size_bytes=2048,
                    completed_at=created)
        for i in ids])
    return ids


def remaining(backend: BackendServer) -> set[str]:
    assert backend.engine is not None
    return {row.id for row in backend.engine.store.snapshots_page(0, 1_000_000)}
