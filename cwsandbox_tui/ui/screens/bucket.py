"""The bucket settings view: what is configured, and a form to change or revert it."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Static

from ...client.models import BucketConfig, BucketMode
from ...textsafe import inert
from ..messages import BucketRefused, RowsChanged, SetBucket, ViewShown
from ..store import RowStore
from ..widgets.footer import KeysFooter
from ..widgets.header import HeaderBar
from ..widgets.tasks import TaskPanel
from .dialogs import ConfirmDialog, FormResult
from .forms import bucket_form


class BucketScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "edit", "Change", id="bucket.edit"),
        Binding("R", "revert", "Revert to managed", id="bucket.revert"),
    ]
    mode_name = "bucket"

    def __init__(self, store: RowStore) -> None:
        super().__init__()
        self.store = store

    def compose(self) -> ComposeResult:
        yield HeaderBar()
        with Vertical(id="bucket-panel"):
            yield Static("Snapshot bucket", classes="panel-title")
            yield Static("loading...", id="bucket-config", markup=False)
            yield Static("Press e to change the bucket, R to go back to the managed bucket. "
                         "Changing it does not move existing snapshots: they stay in their "
                         "bucket, and restoring one from another bucket is refused until you "
                         "switch back.", classes="panel-help", markup=False)
        yield TaskPanel()
        yield KeysFooter(compact=True)

    def on_mount(self) -> None:
        self.load()

    def on_screen_resume(self) -> None:
        self.load()
        self.app.post_message(ViewShown())

    def load(self) -> None:
        self.show(self.store.bucket)

    def on_rows_changed(self, message: RowsChanged) -> None:
        if message.which == "bucket":
            self.load()

    def on_bucket_refused(self, message: BucketRefused) -> None:
        self.action_edit(errors=message.errors, values=message.values)

    def show(self, config: BucketConfig | None) -> None:
        panel = self.query_one("#bucket-config", Static)
        if config is None:
            panel.update("not loaded yet (ctrl+r refreshes)")
            return
        mode = {BucketMode.CW_MANAGED: "managed by CoreWeave",
                BucketMode.BRING_YOUR_OWN: "your own bucket"}.get(config.mode, config.mode.value)
        panel.update(f"Mode:              {inert(mode)}\n"
                     f"Bucket:            {inert(config.bucket_name or '-')}\n"
                     f"Region:            {inert(config.region or '-')}\n"
                     f"Effective bucket:  {inert(config.effective_bucket_name or '-')}")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("edit", "revert") and self.store.client.read_only:
            return None
        return True

    def action_edit(self, errors: dict[str, str] | None = None,
                    values: dict[str, str] | None = None) -> None:
        config = self.store.bucket
        name = (values or {}).get("bucket_name", config.bucket_name if config else "")
        region = (values or {}).get("region", config.region if config else "")

        def submitted(result: FormResult | None) -> None:
            if result is None:
                return
            new_name, new_region = result.values["bucket_name"], result.values["region"]
            what = f"bucket {new_name}" if new_name else "the managed bucket"
            if new_region:
                what += f" (region {new_region})"
            lines = [f"Send new snapshots to {what}?", "",
                     "Existing snapshots stay in their current bucket."]

            def confirmed(yes: bool | None) -> None:
                if yes:
                    self.app.post_message(SetBucket(new_name, new_region))

            self.app.push_screen(ConfirmDialog("Change the snapshot bucket", lines,
                                               confirm="Save", danger=False), confirmed)

        self.app.push_screen(bucket_form(name, region, errors), submitted)

    def action_revert(self) -> None:
        def confirmed(yes: bool | None) -> None:
            if yes:
                self.app.post_message(SetBucket("", ""))

        self.app.push_screen(ConfirmDialog(
            "Revert to the managed bucket",
            ["New snapshots will go to the managed bucket.",
             "Snapshots in your bucket stay there and cannot be restored until you switch back."],
            confirm="Revert", danger=False), confirmed)
