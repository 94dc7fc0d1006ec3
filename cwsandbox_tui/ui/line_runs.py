"""Line numbers grouped into runs of consecutive lines (what a repaint asks for at once)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


def runs(lines: Iterable[int]) -> Iterator[tuple[int, int]]:
    """Ascending line numbers as runs of consecutive lines, each as (first, end)."""
    start = end = -1
    for y in lines:
        if y != end:
            if end > start:
                yield start, end
            start = y
        end = y + 1
    if end > start:
        yield start, end
