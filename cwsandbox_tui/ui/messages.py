"""Messages the app sends its screens: they react to these rather than being driven."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class RowsChanged(Message):
    """The store holds new rows of one kind: "sandboxes", "snapshots", "bucket" or "ops"
    (a view of another kind only moves its clock)."""

    def __init__(self, which: str) -> None:
        super().__init__()
        self.which = which


class SnapshotPage(Message):
    """A page of the first snapshot listing, shown as it comes."""

    def __init__(self, page: list[Any], restarted: bool) -> None:
        super().__init__()
        self.page = page
        self.restarted = restarted


class BucketRefused(Message):
    """The server refused a bucket change; the form opens again with its errors."""

    def __init__(self, errors: dict[str, str], values: dict[str, str]) -> None:
        super().__init__()
        self.errors = errors
        self.values = values
