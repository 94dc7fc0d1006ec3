"""Plain-text rendering for the scriptable commands."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from enum import Enum
from typing import Any

from ..textsafe import inert, inert_lines


def out(text: str) -> None:
    """Write to stdout, the last step before the terminal: whatever a server or a sandbox
    put in `text` is made inert (see textsafe)."""
    sys.stdout.write(inert_lines(text) + "\n")


def err(text: str) -> None:
    sys.stderr.write(inert_lines(text) + "\n")
    sys.stderr.flush()


def fields(pairs: Sequence[tuple[str, str]]) -> str:
    """`KEY       value` lines; a value's own newlines are shown, not followed."""
    return "\n".join(f"{k:<10} {inert(v)}" for k, v in pairs)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns of cells, each cell on one line (its newlines and controls shown escaped,
    before widths are measured, so the columns stay aligned)."""
    rows = [[inert(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in rows]
    return "\n".join(lines)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):  # a NamedTuple model
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def to_json(value: Any) -> str:
    # ASCII only: every control and bidirectional character is a \\u escape, never raw
    return json.dumps(_plain(value), indent=2, sort_keys=True, ensure_ascii=True)
