"""What the sandbox and snapshot views share: a filter bar, a table, marks, delete."""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.reactive import var
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Input, Static

from ...textsafe import inert
from ..export import write_rows
from ..facts import Facts
from ..filter_expr import Fields, FilterError, compile_filter, narrows
from ..messages import CopyText, RowsChanged, SnapshotPage, ViewShown
from ..store import RowStore
from ..widgets.footer import KeysFooter
from ..widgets.header import HeaderBar
from ..widgets.rowtable import RowTable
from ..widgets.tasks import TaskPanel
from ..widgets.textfield import TextField
from .dialogs import ConfirmDialog, FormResult
from .forms import export_form

R = TypeVar("R")
STATUS_INTERVAL = 0.25  # seconds between two status-line counts while a listing streams in


class FilterBar(Horizontal):
    """One row: a prompt, the text being typed, and what is wrong with it (if anything),
    which wraps onto more rows rather than being cut mid-sentence on a narrow terminal."""

    DEFAULT_CSS = """
    FilterBar { height: auto; max-height: 4; display: none; background: $panel; }
    FilterBar.-shown { display: block; }
    FilterBar .filter-prompt { width: auto; padding: 0 0 0 1; text-style: bold; }
    FilterBar Input { width: 1fr; padding: 0 1; }
    FilterBar Input.-invalid { color: $error; }
    FilterBar .filter-error { width: auto; max-width: 60%; height: auto; color: $error;
                              padding: 0 1; }
    """
    # Keys that leave the bar act when they are read, ahead of the keys typed after them.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "done", "Keep filter", show=False, priority=True),
        Binding("escape", "clear", "Clear filter", show=False, priority=True),
    ]

    def compose(self) -> ComposeResult:
        yield Static("filter /", classes="filter-prompt", markup=False)
        yield TextField(placeholder="text, /regex/, status=ready, age>7d, size>1GiB, !term",
                        id="filter-input", compact=True, replace_on_entry=True)
        yield Static("", classes="filter-error", id="filter-error", markup=False)

    def action_done(self) -> None:
        screen = self.screen
        if isinstance(screen, TableScreen):
            screen.filter_done()

    def action_clear(self) -> None:
        screen = self.screen
        if isinstance(screen, TableScreen):
            screen.action_back()


class TableScreen(Screen[None], Generic[R]):
    """A table of rows with a filter bar; subclasses name the columns and the actions."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "filter", "Filter", id="table.filter"),
        Binding("escape", "back", "Clear/back", show=False, id="table.back"),
        Binding("enter", "details", "Details", show=False, id="table.details"),
        Binding("space", "mark", "Mark", id="table.mark"),
        Binding("asterisk", "mark_all", "Mark shown", show=False, id="table.mark_all"),
        Binding("u", "clear_marks", "Unmark all", show=False, id="table.clear_marks"),
        # ctrl+space comes as NUL from xterm and tmux, which Textual names ctrl+@.
        Binding("V,ctrl+space,ctrl+@", "mark_range", "Mark range", show=False,
                id="table.mark_range"),
        Binding("c", "copy_id", "Copy id", show=False, id="table.copy"),
        Binding("X", "export", "Export shown", show=False, id="table.export"),
        Binding("ctrl+d", "delete", "Delete", id="table.delete"),
    ]
    kind = "rows"
    mode_name = ""

    # What the status line shows besides the table's counts and marks; set, it shows itself.
    filter_text: var[str] = var("", init=False)  # the filter applied
    # The text typed into the bar and why it is not applied (("", "") when it is).
    filter_rejected: var[tuple[str, str]] = var(("", ""), init=False)
    status: var[str] = var("", init=False)  # the status line's text

    def __init__(self, store: RowStore) -> None:
        super().__init__()
        self.store = store  # the rows it shows, and through it the client
        self._status_at = -1e9  # when a page's count was last shown
        self._status_later: Timer | None = None  # the count of the pages not shown yet
        self._facts_shown: tuple[bool, bool, str | None] | None = None

    def make_table(self) -> RowTable[R]:
        raise NotImplementedError

    def fields(self) -> Fields[R]:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        yield HeaderBar()
        yield FilterBar()
        table = self.make_table()
        self._empty_text = table.empty_text
        self._say_if_loading(table)
        yield table
        yield Static("", id="status-line", markup=False)
        yield TaskPanel()
        yield KeysFooter(compact=True)

    @property
    def table(self) -> RowTable[R]:
        return self.query_one(RowTable)

    def on_mount(self) -> None:
        self.set_focus(self.table)
        self.load()
        self.watch(self.app, "facts", self._facts_changed)
        self.app.post_message(ViewShown())

    def on_screen_resume(self) -> None:
        self.load()
        self._say_if_loading(self.table)
        self.app.post_message(ViewShown())

    def _facts_changed(self, facts: Facts) -> None:
        """The app's facts (facts.py): rows from a lost connection are shown stale; the
        empty table and the status line say whether the rows are loaded. (Not the counts:
        while a listing streams in, the status line is paced; see on_snapshot_page.)"""
        shown = (facts.stale, facts.loaded, facts.load_error)
        if shown == self._facts_shown:
            return
        self._facts_shown = shown
        self.table.set_stale(facts.stale)
        self._say_if_loading(self.table)
        self.update_status()

    def _say_if_loading(self, table: RowTable[R]) -> None:
        """An empty table says "No sandboxes" only once the endpoint has said so; before
        (the dashboard draws before it connects) it says it is loading."""
        if self.store.loaded:
            text = self._empty_text
        elif self.store.load_error:
            text = f"Could not load {self.kind} (see :ops). ctrl+r tries again."
        else:
            text = f"Loading {self.kind}..."
        if table.empty_text != text:
            table.empty_text = text
            table.refresh()

    def load(self) -> None:
        """Take the app's current rows (only changed lines repaint)."""

    def on_rows_changed(self, message: RowsChanged) -> None:
        if message.which == self.mode_name:
            self.load()
        else:
            self.table.tick(self.store.clock.time())  # ages move on

    def on_snapshot_page(self, message: SnapshotPage) -> None:
        if self.mode_name != "snapshots":
            return
        if message.restarted:
            self.table.replace_all([])
        self.table.append(message.page)  # counted by on_row_table_changed

    # filter
    def action_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.add_class("-shown")
        # At once, not deferred: the next key of the same burst must land in the bar.
        self.set_focus(self.query_one("#filter-input", Input))

    def apply_filter(self, text: str) -> bool:
        """Compile and apply; a bad expression is shown in the bar, the old filter stays."""
        if text == self.filter_text and not self.filter_rejected[1]:
            return True  # already applied (setting the input's value reports it again)
        try:
            row_filter = compile_filter(text, self.fields(), self.store.clock.time())
        except FilterError as exc:
            self.filter_rejected = (text, str(exc))
            return False
        self.table.set_filter(row_filter, narrows(self.filter_text, text))
        self.filter_rejected = ("", "")
        self.filter_text = text
        return True

    def watch_filter_rejected(self, rejected: tuple[str, str]) -> None:
        self.query_one("#filter-error", Static).update(inert(rejected[1]))
        self.query_one("#filter-input", Input).set_class(bool(rejected[1]), "-invalid")
        self.update_status()

    def watch_filter_text(self) -> None:
        self.update_status()

    def set_filter_text(self, text: str) -> bool:
        """Show and apply a filter the dashboard made (from an id, a group, a form). Text
        holding what the terminal would act on (an id a server chose with controls in it) is
        never put into the bar: the filter is refused, and the notice shows it inert."""
        if inert(text) != text:
            self.notify(f"Cannot filter on {inert(text)}: it holds control characters.",
                        severity="warning")
            return False
        field = self.query_one("#filter-input", Input)
        field.value = text
        self.query_one(FilterBar).set_class(bool(text), "-shown")
        return self.apply_filter(text)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter-input":
            # The text as it is now: enter may have applied it before this message arrived.
            self.apply_filter(event.input.value)

    def filter_done(self) -> None:
        """Enter in the bar: keep the filter (the last good one), back to the rows."""
        field = self.query_one("#filter-input", Input)
        if not self.apply_filter(field.value):
            field.value = self.filter_text
            self.apply_filter(self.filter_text)
        self.query_one(FilterBar).set_class(bool(self.filter_text), "-shown")
        self.set_focus(self.table)

    def action_back(self) -> None:
        if self.filter_text or self.query_one(FilterBar).has_class("-shown"):
            self.set_filter_text("")
        self.set_focus(self.table)

    # marks
    def action_mark(self) -> None:
        self.table.toggle_mark()
        self.table.action_cursor(1)

    def action_mark_all(self) -> None:
        self.table.mark_visible()

    def action_clear_marks(self) -> None:
        self.table.clear_marks()

    def action_mark_range(self) -> None:
        count = self.table.mark_range()
        if count < 0:
            self.notify("Mark a row first (space); V then marks from it to the cursor.")

    def action_copy_id(self) -> None:
        row_id = self.table.cursor_id
        if row_id is None:
            self.notify("No row under the cursor.")
            return
        self.app.post_message(CopyText(row_id))

    def action_export(self) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(self.store.clock.time()))
        shown = [self.table.rows[i] for i in self.table.view]

        def write(path: Path) -> None:
            try:
                count = write_rows(path, shown)
            except OSError as error:
                self.notify(f"Cannot write {path}: {error.strerror or error}",
                            title="Export failed", severity="error", markup=False)
                return
            self.notify(f"{count} {self.kind} written to {path}", title="Exported",
                        markup=False)

        def chosen(result: FormResult | None) -> None:
            if result is None:
                return
            path = Path(result.values["path"]).expanduser()
            if not path.exists():
                write(path)
                return

            def answered(yes: bool | None) -> None:
                if yes:
                    write(path)
                else:
                    self.notify(f"Nothing written; {path} is as it was.", markup=False)

            self.app.push_screen(ConfirmDialog(
                "Overwrite?", [f"{path} exists.", "", f"Replace it with the {len(shown)} "
                               f"{self.kind} shown?"], confirm="Overwrite"), answered)

        self.app.push_screen(export_form(f"{self.kind}-{stamp}.csv", len(shown), self.kind),
                             chosen)

    def on_row_table_changed(self, message: RowTable.Changed) -> None:
        """The status line follows the table: whatever changed its rows, view or marks (a
        key, a filter, a load, a delete landing), the line counts again at once; except for
        pages streaming in, whose count changes with every page while each new count repaints
        the whole screen: a few times a second is enough, and the last is shown at most
        STATUS_INTERVAL later (a sorted listing's end shows every row at once: exact then)."""
        change = message.change
        if change.appended is None and not change.pending:
            self.update_status()
            return
        wait = self._status_at + STATUS_INTERVAL - time.monotonic()
        if wait <= 0:
            self._paced_status()
        elif self._status_later is None:
            self._status_later = self.set_timer(wait, self._paced_status)

    def _paced_status(self) -> None:
        self._status_later = None
        self._status_at = time.monotonic()
        self.update_status()

    def update_status(self) -> None:
        """Count again what the table holds. Called as the table's messages come (see
        on_row_table_changed), and by the watchers of what the line shows besides the table:
        the filter's text and errors, the app's facts."""
        self.status = self.status_text()

    def watch_status(self, text: str) -> None:
        # Only a text that changed gets here, so an unchanged one never repaints the line;
        # one line of fixed height and full width: new text never changes the layout.
        self.query_one("#status-line", Static).update(inert(text), layout=False)

    def status_text(self) -> str:
        table = self.table
        if table.rows or self.store.loaded:
            parts = [f"{len(table.view)} of {len(table.rows)} {self.kind}"]
        else:
            parts = ["load failed" if self.store.load_error else f"loading {self.kind}..."]
        if table.marks:
            hidden = len(table.hidden_marks())
            parts.append(f"{len(table.marks)} marked" + (f" ({hidden} hidden by the filter)"
                                                         if hidden else ""))
        if self.filter_text:
            parts.append(f"filter: {self.filter_text}")
        typed, why = self.filter_rejected
        if why:
            parts.append(f"({typed} not applied: see the error above)")
        return "  ".join(parts)

    def targets(self) -> list[R]:
        """The marked rows, else the row under the cursor."""
        table = self.table
        if table.marks:
            return [table.rows[i] for i in table.marks if i in table.rows]
        row = table.cursor_row
        return [row] if row is not None else []

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.MUTATING and self.store.client.read_only:
            return None  # greyed out in the footer
        return True

    MUTATING: ClassVar[frozenset[str]] = frozenset({"delete"})
