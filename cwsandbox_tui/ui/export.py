"""Writing the rows a table shows (filter and order as on screen) to CSV or JSON."""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any


def record(row: Any) -> dict[str, Any]:
    """A row's fields by name, with enums as their values (Snapshot is a named tuple,
    Sandbox a dataclass)."""
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        fields = {f.name: getattr(row, f.name) for f in dataclasses.fields(row)}
    else:
        fields = dict(row._asdict())
    return {k: _iso(v) if k.endswith("_at") else _plain(v) for k, v in fields.items()}


def _iso(value: Any) -> Any:
    """A time (seconds since the epoch) as ISO 8601 in UTC; a missing one stays None."""
    if not isinstance(value, int | float):
        return value
    return datetime.fromtimestamp(value, UTC).isoformat().replace("+00:00", "Z")


# A spreadsheet reads a cell starting with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A cell as written to CSV: text that a spreadsheet would run as a formula (a tag or a
    reason that came from a server) gets a leading apostrophe, which shows it as text."""
    if isinstance(value, list):
        value = ",".join(map(str, value))
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


def write_rows(path: Path, rows: Iterable[Any]) -> int:
    """CSV when the name ends in .csv, else JSON (a list of objects). Returns the count.
    The directory must exist (a mistyped one is not created)."""
    records = [record(r) for r in rows]
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", encoding="utf-8", newline="") as out:
        if path.suffix.lower() == ".csv":
            names = list(records[0]) if records else []
            writer = csv.DictWriter(out, fieldnames=names)
            writer.writeheader()
            for rec in records:
                writer.writerow({k: csv_cell(v) for k, v in rec.items()})
        else:
            json.dump(records, out, indent=1, default=str)
            out.write("\n")
    tmp.replace(path)
    return len(records)
