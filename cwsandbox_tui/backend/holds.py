"""Holds that keep snapshot archives CREATING until a test lets them go.

Only the process that runs the backend can set one (the engine's `archive_hold`, or the hidden
`serve --hold-archives-while PATH`); no request can, so a client cannot stall archives.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

HOLD_FILE_POLL = 0.05  # seconds between looks at a hold file


class ArchiveHold(Protocol):
    """Anything an archive can wait on before it is written (an `asyncio.Event` is one)."""

    async def wait(self) -> object: ...


class HoldFile:
    """Released once `path` does not exist (the test that made it removes it, or never does)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def wait(self) -> bool:
        while self.path.exists():
            await asyncio.sleep(HOLD_FILE_POLL)
        return True
