"""A sandbox's output log: timestamped lines on disk, with followers woken on new data.

Each record is `<epoch ns>:<offset>[-] <data>`: `offset` counts the bytes of output up to
and including this record's, so a tail read from the end of the file knows its offsets
without reading what came before; `-` marks output that had no newline there (a partial
last line, or a piece of a line longer than `LINE_LIMIT`). Files written before offsets were
stored (`<epoch ns> <data>`) are still read. File I/O runs in threads, never on the loop,
and no read holds more than a block of the file plus the records asked for.

Output without a newline is not held back: after `FRAGMENT_DELAY` it is written as a piece,
so a process that prints a progress line (or anything unterminated) is seen as it prints. A
reader may resume at any byte offset, inside a line too.
"""


from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .blocking import Left, run_io, run_io_stoppable

LINE_LIMIT = 64 * 1024  # output without a newline is stored in pieces of at most this
FRAGMENT_DELAY = 0.2  # seconds an unterminated line waits for its newline
READ_BLOCK = 1 << 20
TAIL_BLOCK = 64 * 1024


@dataclass(frozen=True)
class LogLine:
    timestamp: float
    data: bytes  # one line, with its trailing newline when it had one
    offset: int  # cumulative bytes of data up to and including this line


class TimePrefix:
    """Log text as `kubectl logs --timestamps` shows it (and the SDKs document): each line
    starts with its RFC 3339 time; a line stored in pieces is prefixed once."""

    def __init__(self) -> None:
        self._at_line_start = True

    def __call__(self, line: LogLine) -> bytes:
        text = line.data
        if self._at_line_start:
            text = rfc3339(line.timestamp).encode() + b" " + text
        self._at_line_start = line.data.endswith(b"\n")
        return text


def rfc3339(seconds: float) -> str:
    """`2026-11-29T07:22:49.123456789Z`, the form Kubernetes prefixes log lines with."""
    whole = int(seconds)
    nanos = min(int(round((seconds - whole) * 1e9)), 999_999_999)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
    return f"{stamp}.{nanos:09d}Z"


class LogBook:
    def __init__(self, path: Path, keep_bytes: int = 0) -> None:
        self.path = path
        self.rotated = path.with_name(path.name + ".1")
        self.keep_bytes = keep_bytes  # 0: the log is never rotated
        self._file_bytes: int | None = None  # the size of `path` (read at the first write)
        self._changed = asyncio.Event()
        self._closed = False
        self._pending: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._offset: int | None = None  # output bytes written so far (read from the file)
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._fragments: set[asyncio.Task[None]] = set()

    # writing
    async def feed(self, stream: str, chunk: bytes) -> None:
        """Take raw output from one stream; complete lines (and over-long pieces) are written."""
        await run_io(self._feed, stream, chunk)
        self._wake()
        if self._pending.get(stream) and stream not in self._timers:
            self._timers[stream] = asyncio.get_running_loop().call_later(
                FRAGMENT_DELAY, self._fragment_due, stream)

    def _fragment_due(self, stream: str) -> None:
        self._timers.pop(stream, None)
        task = asyncio.ensure_future(self.flush(stream))
        self._fragments.add(task)
        task.add_done_callback(self._fragments.discard)

    async def flush(self, stream: str) -> None:
        timer = self._timers.pop(stream, None)
        if timer is not None:
            timer.cancel()
        await run_io(self._flush, stream)
        self._wake()

    async def size(self) -> int:
        """Bytes of output logged so far (the offset of a reader at the end)."""
        return await run_io(self._size)

    def _size(self) -> int:
        with self._lock:
            return self._offset if self._offset is not None else self._last_offset()

    def _feed(self, stream: str, chunk: bytes) -> None:
        with self._lock:
            buffer = self._pending.get(stream, b"") + chunk
            *lines, rest = buffer.split(b"\n")
            records: list[tuple[bytes, bool]] = []
            for line in lines:
                # a line finished by this chunk may still be longer than a piece (what was
                # pending plus up to a whole read)
                while len(line) > LINE_LIMIT:
                    records.append((line[:LINE_LIMIT], False))
                    line = line[LINE_LIMIT:]
                records.append((line, True))
            while len(rest) >= LINE_LIMIT:
                records.append((rest[:LINE_LIMIT], False))
                rest = rest[LINE_LIMIT:]
            self._pending[stream] = rest
            if records:
                self._write(records)

    def _flush(self, stream: str) -> None:
        with self._lock:
            rest = self._pending.pop(stream, b"")
            if rest:
                self._write([(rest, False)])

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for stream in list(self._pending):
            self._flush(stream)  # at most LINE_LIMIT bytes per stream
        self._closed = True
        self._wake()

    def reopen(self) -> None:
        self._closed = False

    def _write(self, records: list[tuple[bytes, bool]]) -> None:
        if self._offset is None:
            self._offset = self._last_offset()
        if self._file_bytes is None:
            try:
                self._file_bytes = os.stat(self.path).st_size
            except FileNotFoundError:
                self._file_bytes = 0
        half = self.keep_bytes // 2
        now = time.time_ns()
        out = bytearray()
        for data, newline in records:
            self._offset += len(data) + (1 if newline else 0)
            mark = b"" if newline else b"-"
            record = b"%d:%d%s " % (now, self._offset, mark) + data + b"\n"
            if half and self._file_bytes + len(out) + len(record) > half \
                    and self._file_bytes + len(out) > 0:
                self._append(out)
                out = bytearray()
                os.replace(self.path, self.rotated)
                self._file_bytes = 0
            out += record
        self._append(out)

    def _append(self, out: bytearray) -> None:
        if out:
            with open(self.path, "ab") as sink:
                sink.write(out)
            assert self._file_bytes is not None
            self._file_bytes += len(out)

    def _last_offset(self) -> int:
        records, _ = self._tail(1, None)
        if not records and self.rotated.exists():  # rotated just before a crash
            return LogBook(self.rotated)._last_offset()
        return records[-1].offset if records else 0

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # reading (in threads)
    def _open_at(self, cursor: Cursor) -> tuple[BinaryIO, Cursor] | None:
        """The file a reader at `cursor` reads on from, and where in it.

        A cursor on a file that was rotated reads on in `output.log.1`; one whose file is gone
        too (rotated twice since) starts over at the oldest output kept. The current file is
        missing for a moment while it is rotated: a reader of it then finds nothing yet.
        """
        if cursor.file == CURRENT:
            try:
                src = open(self.path, "rb")
            except FileNotFoundError:
                return None
            return src, Cursor(_head(src), cursor.position)
        for path in (self.path, self.rotated):
            try:
                src = open(path, "rb")
            except FileNotFoundError:
                continue
            if _head(src) == cursor.file:
                return src, cursor
            src.close()
        for path in (self.rotated, self.path):
            try:
                src = open(path, "rb")
            except FileNotFoundError:
                continue
            return src, Cursor(_head(src), 0)
        return None

    def _forward(self, cursor: Cursor, legacy: int, limit: int | None = None
                 ) -> tuple[list[LogLine], Cursor, int, bool]:
        """Records from `cursor` on (up to byte `limit` of its file), at most about a block.

        Returns the records, the cursor after them, the running offset of legacy records
        and whether the end of the log (or `limit`) was reached.
        """
        opened = self._open_at(cursor)
        if opened is None:
            return [], cursor, legacy, True
        src, found = opened
        if limit is not None and found.file != cursor.file:  # a span of a file now gone
            src.close()
            return [], Cursor(cursor.file, limit), legacy, True
        position = found.position
        with src:
            end = os.fstat(src.fileno()).st_size if limit is None else limit
            src.seek(position)
            raw = bytearray(src.read(max(0, min(READ_BLOCK, end - position))))
            while raw and b"\n" not in raw and position + len(raw) < end:
                # a record longer than a block (legacy files)
                more = src.read(min(READ_BLOCK, end - position - len(raw)))
                if not more:
                    break
                raw += more
            at_end = position + len(raw) >= end and (limit is not None or not src.read(1))
            if at_end and limit is None and self._rotated_from(src):  # a newer file follows
                raw += src.read(READ_BLOCK)  # (written just before the rotation)
                if not raw:  # the end of a rotated file: read on at the current one's start
                    return self._forward(Cursor(CURRENT, 0), legacy)
                at_end = False
        cut = raw.rfind(b"\n") + 1
        records, legacy = _parse(bytes(raw[:cut]), legacy)
        at_end = at_end and cut == len(raw)
        return records, Cursor(found.file, position + cut), legacy, at_end

    def _rotated_from(self, src: BinaryIO) -> bool:
        """Whether `src` is no longer the current log file (a newer one has started)."""
        return self.rotated.exists() and _head_of(self.path) != _head(src)

    def _tail_span_at(self, left: Left | None, count: int) -> tuple[Cursor, int]:
        """`_tail_span`, as a cursor on the file it read (found again if it was rotated
        meanwhile) and the end of the span."""
        while True:
            before = _head_of(self.path)
            position, end = self._tail_span(left, count)
            if _head_of(self.path) == before:
                return Cursor(before, position), end

    def _tail_span(self, left: Left | None, count: int) -> tuple[int, int]:
        """Where the last `count` complete records start and end, found by reading backwards
        from the end in blocks and counting newlines: the cost is the bytes of the tail, and
        a tail asking for more records than the file has bytes starts at 0 without a read."""
        try:
            src = open(self.path, "rb")
        except FileNotFoundError:
            return 0, 0
        with src:
            size = os.fstat(src.fileno()).st_size
            end = self._last_newline(src, size, left)  # a record being written: leave it
            if count >= end:  # every record takes at least its newline
                return 0, end
            newlines = 0
            for position, block in _backwards(src, end, left):
                found = block.count(b"\n")
                if newlines + found > count:
                    # the record before the tail ends at the (count+1)-th newline from the end
                    cut = len(block)
                    for _ in range(count + 1 - newlines):
                        cut = block.rfind(b"\n", 0, cut)
                    return position + cut + 1, end
                newlines += found
            return 0, end

    @staticmethod
    def _last_newline(src: BinaryIO, size: int, left: Left | None) -> int:
        """The position after the file's last newline (0 if it has none)."""
        for position, block in _backwards(src, size, left):
            found = block.rfind(b"\n")
            if found >= 0:
                return position + found + 1
        return 0

    def _tail(self, count: int, since: float | None) -> tuple[list[LogLine], int]:
        """The last `count` records (not older than `since`), read from the end of the file."""
        cursor, end = self._tail_span_at(None, count)
        records: list[LogLine] = []
        legacy = 0
        while cursor.position < end:
            more, cursor, legacy, _ = self._forward(cursor, legacy, end)
            records += more
        if since is not None:
            records = [r for r in records if r.timestamp >= since]
        return records, end

    async def lines(
        self,
        *,
        follow: bool,
        tail: int = 0,
        since: float | None = None,
        skip_bytes: int = 0,
    ) -> AsyncIterator[LogLine]:
        legacy = 0
        if tail > 0:
            # the tail is found backwards, then read forwards a block at a time: the first
            # line goes out before the rest of a huge tail is read
            cursor, end = await run_io_stoppable(self._tail_span_at, tail)
            while cursor.position < end:
                records, cursor, legacy, _ = await run_io(self._forward, cursor, legacy, end)
                for line in records:
                    if line.offset > skip_bytes and (since is None or line.timestamp >= since):
                        yield _after(line, skip_bytes)
            cursor = Cursor(cursor.file, end)
        else:
            cursor, at_end = Cursor(OLDEST, 0), False
            while not at_end:
                records, cursor, legacy, at_end = await run_io(self._forward, cursor, legacy)
                for line in records:
                    if line.offset > skip_bytes and (since is None or line.timestamp >= since):
                        yield _after(line, skip_bytes)
        while follow:
            waiter = self._changed
            more, cursor, legacy, _ = await run_io(self._forward, cursor, legacy)
            if not more:
                if self._closed:
                    return
                await waiter.wait()
                continue
            for line in more:
                if line.offset > skip_bytes:
                    yield _after(line, skip_bytes)


@dataclass(frozen=True)
class Cursor:
    """Where a reader is: a byte position in one log file, known by its first record's head
    (`<epoch ns>:<offset>`, which no other file of the log starts with; inode numbers are
    reused once a rotated file is removed)."""

    file: bytes
    position: int


CURRENT = b""  # whichever file is current (one still empty has this head too)
OLDEST = b"-"  # the oldest output kept: `output.log.1` if there is one


def _backwards(src: BinaryIO, end: int, left: Left | None) -> Iterator[tuple[int, bytes]]:
    """The file's bytes before `end` in blocks of TAIL_BLOCK, last first, each with its
    position (checking the caller is still there before each read)."""
    position = end
    while position > 0:
        if left is not None:
            left.check()
        step = min(TAIL_BLOCK, position)
        position -= step
        src.seek(position)
        yield position, src.read(step)


def _head(src: BinaryIO) -> bytes:
    """The head of the first record of an open log file; its position is kept."""
    at = src.tell()
    src.seek(0)
    head = src.read(64).split(b" ", 1)[0]
    src.seek(at)
    return head


def _head_of(path: Path) -> bytes:
    try:
        with open(path, "rb") as src:
            return _head(src)
    except FileNotFoundError:
        return CURRENT


def _after(line: LogLine, skip_bytes: int) -> LogLine:
    """The part of a line past byte `skip_bytes` (a resume may stop inside a line)."""
    start = line.offset - len(line.data)
    if start >= skip_bytes:
        return line
    return LogLine(line.timestamp, line.data[skip_bytes - start:], line.offset)


def _parse(raw: bytes, legacy: int) -> tuple[list[LogLine], int]:
    """Complete records of `raw`; `legacy` is the running offset for records without one."""
    found: list[LogLine] = []
    for record in raw.split(b"\n")[:-1]:
        head, _, data = record.partition(b" ")
        stamp, colon, rest = head.partition(b":")
        try:
            when = int(stamp) / 1e9
            if colon:
                newline = not rest.endswith(b"-")
                offset = int(rest.rstrip(b"-"))
            else:
                newline = True
                legacy += len(data) + 1
                offset = legacy
        except ValueError:
            continue  # not a record this book wrote
        found.append(LogLine(when, data + b"\n" if newline else data, offset))
    return found, legacy
