"""A sandbox's output log: timestamped lines on disk, with followers woken on new data."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LogLine:
    timestamp: float
    data: bytes  # one line, with its trailing newline when it had one
    offset: int  # cumulative bytes of data up to and including this line


class LogBook:
    """Append-only log; each record is `<epoch ns> <line>` so lines keep their own time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._changed = asyncio.Event()
        self._closed = False
        self._pending: dict[str, bytes] = {}

    def feed(self, stream: str, chunk: bytes) -> None:
        """Take raw output from one stream; complete lines are written at once."""
        buffer = self._pending.get(stream, b"") + chunk
        *lines, rest = buffer.split(b"\n")
        self._pending[stream] = rest
        if lines:
            self._write([line + b"\n" for line in lines])

    def flush(self, stream: str) -> None:
        rest = self._pending.pop(stream, b"")
        if rest:
            self._write([rest])

    def close(self) -> None:
        for stream in list(self._pending):
            self.flush(stream)
        self._closed = True
        self._wake()

    def reopen(self) -> None:
        self._closed = False

    def _write(self, lines: list[bytes]) -> None:
        now = time.time_ns()
        with open(self.path, "ab") as out:
            for line in lines:
                # A partial final line (no newline at exit) is stored as a line of its own.
                out.write(b"%d " % now + line.rstrip(b"\n") + b"\n")
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def read(self, position: int = 0) -> tuple[list[tuple[float, bytes]], int]:
        """Records from byte `position` of the file, and the position after them."""
        if not self.path.exists():
            return [], position
        with open(self.path, "rb") as src:
            src.seek(position)
            raw = src.read()
        records: list[tuple[float, bytes]] = []
        consumed = 0
        for record in raw.split(b"\n")[:-1]:
            consumed += len(record) + 1
            stamp, _, data = record.partition(b" ")
            records.append((int(stamp) / 1e9, data + b"\n"))
        return records, position + consumed

    async def lines(
        self,
        *,
        follow: bool,
        tail: int = 0,
        since: float | None = None,
        skip_bytes: int = 0,
    ) -> AsyncIterator[LogLine]:
        records, position = self.read()
        offset = 0
        selected: list[LogLine] = []
        for stamp, data in records:
            offset += len(data)
            selected.append(LogLine(stamp, data, offset))
        if since is not None:
            selected = [line for line in selected if line.timestamp >= since]
        if tail > 0:
            selected = selected[-tail:]
        for line in selected:
            if line.offset > skip_bytes:
                yield line
        while follow:
            waiter = self._changed
            more, position = self.read(position)
            if not more:
                if self._closed:
                    return
                await waiter.wait()
                continue
            for stamp, data in more:
                offset += len(data)
                if offset > skip_bytes:
                    yield LogLine(stamp, data, offset)
