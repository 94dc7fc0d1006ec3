"""Running `python -m cwsandbox_tui ...` as a subprocess from an async test.

The subprocess is awaited with asyncio, so an in-process backend fixture (served by the
test's event loop) keeps answering while the command runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
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


async def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 30.0) -> Run:
    """Run the CLI with the test's environment (its data/state/config dirs) plus `env`."""
    environment = {**os.environ, **(env or {})}
    environment.pop("COLUMNS", None)
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
