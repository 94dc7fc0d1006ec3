"""Running operations with their progress: bulk deletes, waits for READY, stops."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Label, ProgressBar

from ...client import events as ev
from ...textsafe import inert


@dataclass
class TaskState:
    label: str
    done: int = 0
    total: int = 0
    failed: int = 0
    elapsed: float = 0.0
    budget: float | None = None
    detail: str = ""

    def describe(self) -> str:
        if self.total > 1:
            text = f"{self.label}: {self.done}/{self.total}"
            if self.failed:
                text += f", {self.failed} failed"
            if 0 < self.done < self.total and self.elapsed > 0:
                eta = self.elapsed / self.done * (self.total - self.done)
                text += f", ETA {eta:.0f}s"
            return text + "  (ctrl+k cancels)"
        text = f"{self.label}: {self.detail or 'working'} {self.elapsed:.0f}s"
        if self.budget and self.indeterminate:
            text += f" (deadline {self.budget:.0f}s)"
        elif self.budget:
            text += f" of {self.budget:.0f}s deadline"
        return text

    @property
    def indeterminate(self) -> bool:
        """No fraction is known (a stop with a snapshot): the bar says only "working"."""
        return self.total == 0


class TaskModel:
    """The app's record of operations that report progress, keyed by operation id."""

    def __init__(self) -> None:
        self.tasks: dict[str, TaskState] = {}

    def apply(self, event: ev.Event) -> bool:
        """Fold an event in; True when the panel must change."""
        if isinstance(event, ev.Progress):
            task = self.tasks.setdefault(event.op_id, TaskState(event.op))
            task.done, task.total, task.failed = event.done, event.total, event.failed
            task.elapsed, task.budget, task.detail = event.elapsed, event.budget, event.detail
            return True
        if isinstance(event, (ev.Finished, ev.Failed)):
            return self.tasks.pop(event.op_id, None) is not None
        return False


class TaskRow(Horizontal):
    """A task's words and its bar; the words wrap onto a second row rather than lose the
    snapshot id and the deadline at 80 columns."""

    DEFAULT_CSS = """
    TaskRow { height: auto; }
    TaskRow Label { width: 1fr; height: auto; padding: 0 1; }
    TaskRow ProgressBar { width: 30; }
    """
    BAR = 30 + 2  # the bar's columns and the label's padding

    @classmethod
    def lines(cls, text: str, width: int) -> int:
        """Rows the words take on a terminal `width` columns wide."""
        return min(2, -(-len(text) // max(1, width - cls.BAR)))

    def __init__(self, op_id: str, task: TaskState) -> None:
        super().__init__(id=f"task-{op_id}")
        self.op_id = op_id
        self.state = task

    def compose(self) -> ComposeResult:
        yield Label(inert(self.state.describe()), markup=False)
        yield ProgressBar(total=1, show_eta=False, show_percentage=True)

    def on_mount(self) -> None:
        self.show(self.state)

    def show(self, task: TaskState) -> None:
        self.state = task
        if not self.query(Label):
            return  # mounted but not composed yet (events come fast): on_mount shows it
        text = inert(task.describe())
        label = self.query_one(Label)
        width = self.app.size.width
        # A relayout only when the words need another number of rows (a bulk run updates
        # for every item, and a layout each time held the loop).
        label.update(text, layout=self.lines(text, width) != self.lines(str(label.content),
                                                                          width))
        bar = self.query_one(ProgressBar)
        if task.indeterminate:
            bar.update(total=None)
        elif task.total > 1:
            bar.update(total=task.total, progress=task.done)
        elif task.budget:
            bar.update(total=task.budget, progress=min(task.elapsed, task.budget))


class TaskPanel(Vertical):
    """Shown above the footer while operations with progress run. Laid out in the screen's
    flow, not docked: docked at the bottom it lay under the footer, and one task's row (one
    line high) was hidden whole.

    A bulk run reports every item; repainting the bars for each held the app's loop for
    milliseconds per item (~3 s over 1,000 deletes). Rows come and go at once; a change of
    progress alone is shown at most every SYNC_INTERVAL, with the latest figures."""

    DEFAULT_CSS = """
    TaskPanel { height: auto; max-height: 4; background: $boost; display: none; }
    TaskPanel.-active { display: block; }
    """
    SYNC_INTERVAL = 0.1

    def __init__(self, *children: Any, **kwargs: Any) -> None:
        super().__init__(*children, **kwargs)
        self._model: TaskModel | None = None
        self._shown_at = -1e9
        self._timer: Timer | None = None

    def _rows(self) -> dict[str, TaskRow]:
        return {row.op_id: row for row in self.children if isinstance(row, TaskRow)}

    def sync(self, model: TaskModel) -> None:
        self._model = model
        wait = self._shown_at + self.SYNC_INTERVAL - time.monotonic()
        if wait > 0 and self._rows().keys() == model.tasks.keys():
            if self._timer is None:
                self._timer = self.set_timer(wait, self._flush)
            return
        self._show(model)

    def _flush(self) -> None:
        self._timer = None
        if self._model is not None:
            self._show(self._model)

    def _show(self, model: TaskModel) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._shown_at = time.monotonic()
        rows = self._rows()
        for op_id, task in model.tasks.items():
            row = rows.pop(op_id, None)
            if row is None:
                self.mount(TaskRow(op_id, task))
            else:
                row.show(task)
        for row in rows.values():
            row.remove()
        self.set_class(bool(model.tasks), "-active")
        # Toasts stand above the panel's rows (app.tcss), not over the progress they report.
        width = self.app.size.width
        shown = min(sum(TaskRow.lines(t.describe(), width) for t in model.tasks.values()), 4)
        # one restyle of the whole screen for the change, not one per class changed
        self.screen.update_classes({f"-tasks-{n}": shown == n for n in range(1, 5)})
