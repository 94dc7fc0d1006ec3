"""The one reading of sizes and durations, for the CLI, the dashboard's filters and forms,
and the backend's checks: `10M` means the same everywhere.

Sizes: a number of bytes, optionally with a unit. SI units are powers of 1000 (`k`/`K`,
`M`, `G`, `T`, `P`, `E`, with or without a trailing `B`: `10M` = `10MB` = 10,000,000);
IEC units are powers of 1024 (`Ki`, `Mi`, `Gi`, ..., with or without `B`: `10Mi` = `10MiB`
= 10,485,760). Letters are read without regard to case (`10gib` = `10GiB`), except that the
milli `m` of Kubernetes quantities has no meaning for bytes and is read as mega.

Durations: a number with `ms`, `s`, `m`, `h`, `d` or `w` (`90s`, `30m`, `12h`, `7d`, `2w`);
a bare number is seconds where a caller allows it.
"""

from __future__ import annotations

import re

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(?:([kmgtpe])(i)?)?(b)?$", re.IGNORECASE)
_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?$", re.IGNORECASE)
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0,
            None: 1.0}

SIZE_EXAMPLES = "512Mi, 10Gi, 500MB or 1TiB"
DURATION_EXAMPLES = "90s, 30m, 12h, 7d or 2w"


MAX_TEXT = 64  # longer input is refused unread (it comes from requests too)


def parse_size(text: str) -> int | None:
    """Bytes, or None if `text` is not a size."""
    match = _SIZE.match(text.strip()) if len(text) <= MAX_TEXT else None
    if not match:
        return None
    number, letter, iec, _ = match.groups()
    if iec and not letter:
        return None
    base = 1024 if iec else 1000
    power = _POWERS[letter.lower()] if letter else 0
    amount = float(number) * base**power
    if amount != amount or amount == float("inf"):
        return None  # 1e400-like digits: not a size
    return int(amount)


def parse_duration(text: str, *, unit_required: bool = False) -> float | None:
    """Seconds, or None if `text` is not a duration (or, with `unit_required`, has no unit:
    an age of `7` is more likely a slip than seven seconds)."""
    match = _DURATION.match(text.strip())
    if not match:
        return None
    unit = match.group(2)
    if unit is None and unit_required:
        return None
    return float(match.group(1)) * _SECONDS[unit.lower() if unit else None]
