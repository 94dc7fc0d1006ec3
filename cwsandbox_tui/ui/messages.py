"""Messages between the app and its views: down, what changed (the views react rather than
being driven); up, what a view asks the app to do (a view never imports the app)."""

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


# Up: what a view asks the app to do. The views never import the app; it handles these.


class ViewShown(Message):
    """A view came to the front (mounted or resumed): the app opens the connection if it
    has not, and brings the view's task panel up to date."""


class SandboxIntent(Message):
    """Something asked of one sandbox."""

    def __init__(self, sandbox_id: str) -> None:
        super().__init__()
        self.sandbox_id = sandbox_id


class StopSandbox(SandboxIntent):
    def __init__(self, sandbox_id: str, *, snapshot: bool, grace: float) -> None:
        super().__init__(sandbox_id)
        self.snapshot = snapshot
        self.grace = grace


class SnapshotSandbox(SandboxIntent):
    """Take a snapshot of a running sandbox now."""


class PauseSandbox(SandboxIntent):
    pass


class ResumeSandbox(SandboxIntent):
    pass


class DeleteSandbox(SandboxIntent):
    pass


class OpenShell(SandboxIntent):
    """Hand the terminal to a shell in the sandbox."""


class ShowSnapshotsOf(SandboxIntent):
    """Switch to the snapshots view, filtered to the sandbox's snapshots."""


class DeleteSnapshots(Message):
    def __init__(self, ids: list[str]) -> None:
        super().__init__()
        self.ids = ids


class StartSandbox(Message):
    """The new-sandbox form's values, as typed (checked locally already)."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__()
        self.values = values


class SetBucket(Message):
    """Name ("" with region "" clears it) the bucket snapshots go to."""

    def __init__(self, name: str, region: str) -> None:
        super().__init__()
        self.name = name
        self.region = region


class CopyText(Message):
    """Put the text on the clipboard (through the terminal)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
