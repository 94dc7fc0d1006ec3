"""The volumes view (`:volumes`): registered volumes, which only API v1 offers.

On a v1beta2 connection it says so instead of a table. Loads when shown and on ctrl+r;
`ctrl+d` deletes the volume under the cursor after a confirmation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Static

from ...client.errors import CwsError
from ...client.models import Volume
from ...formatting import iso
from ...textsafe import inert
from ..messages import ViewShown
from ..store import RowStore
from ..widgets.header import HeaderBar
from ..widgets.tasks import TaskPanel
from .dialogs import ConfirmDialog

if TYPE_CHECKING:
    from textual.widgets import DataTable

COLUMNS = ("ID", "STATE", "RUNNER", "CLAIM", "CAPACITY", "CREATED", "DESCRIPTION")
NOT_OFFERED = ("Volumes are not offered by the coreweave.sandbox.v1beta2 API this connection "
               "speaks. Connect with --api v1 (or api = \"v1\" in the profile) to see them.")


class VolumesScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+d", "delete", "Delete", id="volumes.delete"),
    ]
    mode_name = "volumes"

    def __init__(self, store: RowStore) -> None:
        super().__init__()
        self.store = store
        self.volumes: list[Volume] = []

    def compose(self) -> ComposeResult:
        yield HeaderBar()
        yield Static("loading...", id="volumes-status", markup=False)
        # Imported here: DataTable is the dearest widget to import, and only this seldom
        # shown view uses it (the dashboard's first frame waits for every import at the top).
        from textual.widgets import DataTable

        table: DataTable[Text] = DataTable(id="volumes-table", cursor_type="row")
        table.add_columns(*COLUMNS)
        yield table
        yield TaskPanel()
        yield Footer()

    def _table(self) -> DataTable[Text]:
        from textual.widgets import DataTable

        return self.query_one("#volumes-table", DataTable)

    def on_screen_resume(self) -> None:  # the first showing too
        self.load()
        self.app.post_message(ViewShown())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "delete" and (self.store.client.read_only or not self.volumes):
            return None
        return True

    @work(group="volumes", exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        client = self.store.client
        status = self.query_one("#volumes-status", Static)
        table = self._table()
        try:
            await client.resolve_api()
            if not client.has_volumes:
                self.volumes = []
                table.display = False
                status.update(NOT_OFFERED)
                return
            self.volumes = await client.list_volumes()
        except CwsError as error:
            status.update(inert(f"Could not list volumes: {error}"))
            return
        table.display = True
        table.clear()
        for v in self.volumes:
            claim = f"{v.namespace}/{v.claim_name}" if v.claim_name else "-"
            # Text, never a str: a DataTable reads a str cell as markup
            table.add_row(*(Text(inert(cell)) for cell in (
                v.id, v.state, v.runner_id or "-", claim, v.capacity or "-", iso(v.created_at),
                v.description)), key=v.id)
        count = len(self.volumes)
        status.update(f"{count} volume{'' if count == 1 else 's'}" if count else "No volumes.")
        self.refresh_bindings()

    def action_delete(self) -> None:
        table = self._table()
        if not self.volumes or table.cursor_row >= len(self.volumes):
            return
        volume = self.volumes[table.cursor_row]

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(volume.id)

        self.app.push_screen(ConfirmDialog(
            f"Delete volume {volume.id}?",
            [f"Claim {volume.namespace}/{volume.claim_name} on {volume.runner_id}.",
             "Its registration is removed; sandboxes can no longer mount it."]), answered)

    @work(group="volumes-delete", exit_on_error=False)
    async def _delete(self, volume_id: str) -> None:
        try:
            await self.store.client.delete_volume(volume_id)
        except CwsError:
            pass  # the client's Failed event already told the person
        self.load()
