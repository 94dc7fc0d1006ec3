"""Modal dialogs: confirmations, forms, details, help. They never run long work."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Static

from ...textsafe import inert, inert_lines
from ..widgets.textfield import TextField

Validator = Callable[[str], str | None]  # returns an error message, or None when fine
# Checks fields against each other: every value in, {field name: error} out.
Relation = Callable[[dict[str, str]], dict[str, str]]


class ConfirmDialog(ModalScreen[bool]):
    """Yes/no with Cancel focused; `y` confirms, `n` or `esc` cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="dialog.yes"),
        Binding("n,escape", "answer(False)", "No", id="dialog.no"),
        Binding("left,right,tab", "app.focus_next", "Move", show=False),
    ]

    def __init__(self, title: str, lines: Sequence[str], confirm: str = "Delete",
                 danger: bool = True) -> None:
        super().__init__()
        self.title_text = title
        self.lines = list(lines)
        self.confirm_label = confirm
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(inert(self.title_text), classes="dialog-title", markup=False)
            with VerticalScroll(classes="dialog-body"):
                for line in self.lines:
                    yield Static(inert(line), markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel (n)", id="cancel", compact=True)
                yield Button(f"{self.confirm_label} (y)", id="confirm", compact=True,
                             variant="error" if self.danger else "primary")

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#cancel", Button))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


@dataclass
class FormField:
    name: str
    label: str
    value: str = ""
    placeholder: str = ""
    validate: Validator | None = None
    kind: str = "text"  # "text" or "check"
    help: str = ""
    error: str = ""


@dataclass
class FormResult:
    values: dict[str, str] = field(default_factory=dict)


class FormDialog(ModalScreen[FormResult | None]):
    """Fields checked before anything is sent; errors (local or the server's) at the field."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
        Binding("ctrl+s", "submit", "Submit", id="form.submit"),
        # enter in a field submits when read, ahead of any key typed after it
        Binding("enter", "submit_field", "Submit", show=False, priority=True),
    ]

    def __init__(self, title: str, fields: Sequence[FormField], submit: str = "OK",
                 note: str = "", relation: Relation | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.fields = list(fields)
        self.relation = relation
        self.submit_label = submit
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog form"):
            yield Label(inert(self.title_text), classes="dialog-title", markup=False)
            with VerticalScroll(classes="dialog-body"):
                if self.note:
                    yield Static(inert_lines(self.note), classes="form-note", markup=False)
                for f in self.fields:
                    with Horizontal(classes="field-row"):
                        yield Label(f.label, classes="field-label")
                        if f.kind == "check":
                            checked = f.value == "true"
                            # The state in words too, not by colour alone.
                            yield Checkbox(_yes_no(checked), value=checked,
                                           id=f"field-{f.name}", compact=True)
                        else:
                            yield TextField(value=inert(f.value), placeholder=f.placeholder,
                                            id=f"field-{f.name}", compact=True,
                                            replace_on_entry=True)
                    yield Static(inert_lines(f.error or f.help), id=f"error-{f.name}",
                                 markup=False,
                                 classes=_note_class(f.error, f.error or f.help))
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel (esc)", id="cancel", compact=True)
                yield Button(f"{self.submit_label} (ctrl+s)", id="submit", variant="primary",
                             compact=True)

    CHROME = 6  # rows around the body: borders, title and its margin, buttons and margin
    BODY_MAX = 15

    def on_resize(self) -> None:
        # The fields scroll and the buttons stay in reach however short the terminal.
        body = self.query_one(".dialog-body", VerticalScroll)
        body.styles.max_height = max(3, min(self.BODY_MAX, self.app.size.height - self.CHROME))

    def on_mount(self) -> None:
        self.on_resize()
        first_error = next((f for f in self.fields if f.error), None)
        target = first_error or next((f for f in self.fields if f.kind != "check"), None)
        if target is not None:
            self.set_focus(self.query_one(f"#field-{target.name}"))

    def values(self) -> dict[str, str]:
        out = {}
        for f in self.fields:
            widget = self.query_one(f"#field-{f.name}")
            out[f.name] = ("true" if widget.value else "false") if isinstance(widget, Checkbox) \
                else str(widget.value).strip()  # type: ignore[attr-defined]
        return out

    def show_error(self, name: str, message: str) -> None:
        field = next(f for f in self.fields if f.name == name)
        note = self.query_one(f"#error-{name}", Static)
        note.update(inert_lines(message or field.help))
        note.set_classes(_note_class(message, message or field.help))

    def check(self) -> bool:
        ok = True
        values = self.values()
        related = self.relation(values) if self.relation is not None else {}
        for f in self.fields:
            problem = f.validate(values[f.name]) if f.validate else None
            problem = problem or related.get(f.name)
            self.show_error(f.name, problem or "")
            if problem and ok:
                self.set_focus(self.query_one(f"#field-{f.name}"))
            ok = ok and not problem
        return ok

    def on_input_changed(self, event: Input.Changed) -> None:
        """An error shown at a field goes as soon as the value there is right."""
        name = (event.input.id or "").removeprefix("field-")
        field = next((f for f in self.fields if f.name == name), None)
        if field is None or (field.validate is None and self.relation is None):
            return
        value = event.value.strip()
        if field.error and value == field.value:
            return  # the server's word on the value it was given (the form shows it again)
        note = self.query_one(f"#error-{name}", Static)
        if note.has_class("field-error") and self._problem(field, value) is None:
            self.show_error(name, "")

    def _problem(self, field: FormField, value: str) -> str | None:
        """What is wrong with `value` at `field`: its own check, then the form's across its
        fields (a restore needs a mount path), as `check` finds it."""
        problem = field.validate(value) if field.validate else None
        if problem is None and self.relation is not None:
            problem = self.relation({**self.values(), field.name: value}).get(field.name)
        return problem

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.checkbox.label = _yes_no(event.value)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "submit_field":  # enter on a button or a checkbox is theirs
            return isinstance(self.focused, Input)
        return True

    def action_submit_field(self) -> None:
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "submit":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_submit(self) -> None:
        if self.check():
            self.dismiss(FormResult(self.values()))

    def action_cancel(self) -> None:
        self.dismiss(None)


def _yes_no(checked: bool) -> str:
    return "yes" if checked else "no"


def _note_class(error: str, text: str) -> str:
    if error:
        return "field-error"
    return "field-help" if text else "field-help -empty"


class DetailsDialog(ModalScreen[None]):
    """Rows of text; the arrows and page keys scroll them (no Tab into the body needed)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "close", "Close", id="details.close"),
        Binding("down,j", "scroll(1)", "Scroll down", show=False),
        Binding("up,k", "scroll(-1)", "Scroll up", show=False),
        Binding("pagedown,space", "page(1)", "Page down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("home,g", "edge(0)", "Top", show=False),
        Binding("end,G", "edge(1)", "Bottom", show=False),
        Binding("c", "copy", "Copy", show=False, id="details.copy"),
    ]

    def __init__(self, title: str, rows: Sequence[tuple[str, str]],
                 on_copy: Callable[[], None] | None = None) -> None:
        """`on_copy`, when given, is what `c` copies (say, a sandbox's service address)."""
        super().__init__()
        self.title_text = title
        self.rows = list(rows)
        self.on_copy = on_copy

    def compose(self) -> ComposeResult:
        width = max((len(k) for k, _ in self.rows), default=0)
        with Vertical(id="dialog", classes="dialog"):
            yield Label(inert(self.title_text), classes="dialog-title", markup=False)
            with VerticalScroll(classes="dialog-body"):
                for key, value in self.rows:
                    yield Static(f"{key.ljust(width)}  {inert(value)}", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close (esc)", id="close", compact=True)

    def on_mount(self) -> None:
        self.set_focus(self.query_one("#close", Button))

    def on_button_pressed(self) -> None:
        self.dismiss(None)

    @property
    def body(self) -> VerticalScroll:
        return self.query_one(".dialog-body", VerticalScroll)

    def action_scroll(self, lines: int) -> None:
        self.body.scroll_relative(y=lines, animate=False)

    def action_page(self, direction: int) -> None:
        body = self.body
        body.scroll_relative(y=direction * max(1, body.size.height - 1), animate=False)

    def action_edge(self, end: int) -> None:
        if end:
            self.body.scroll_end(animate=False)
        else:
            self.body.scroll_home(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_copy(self) -> None:
        if self.on_copy is None:
            self.notify("Nothing to copy here.")
        else:
            self.on_copy()


class HelpDialog(DetailsDialog):
    """The keys of the current screen and the app, built from their bindings; as tall as
    the terminal allows (no 15-line cut), scrolled with the arrows when it is taller."""

    CHROME = 8  # rows around the body: borders, title and its margin, button row and margin
    FRAME = 4  # columns around the body: borders and padding
    GAP = 3  # between the two columns of keys
    wide_width = 0  # the body's width when the keys stand in two columns

    def _columns(self) -> tuple[list[str], list[str]] | None:
        """The rows as two columns, each as wide as its own longest key and description;
        None when the two would not fit the terminal side by side."""
        half = (len(self.rows) + 1) // 2
        columns = []
        for part in (self.rows[:half], self.rows[half:]):
            width = max((len(k) for k, _ in part), default=0)
            columns.append([f"{k.ljust(width)}  {v}" for k, v in part])
        left, right = columns
        left_width = max((len(c) for c in left), default=0) + self.GAP
        if left_width + max((len(c) for c in right), default=0) + self.FRAME + 2 \
                > self.app.size.width:
            return None
        return [c.ljust(left_width) for c in left], right

    def compose(self) -> ComposeResult:
        columns = self._columns()
        if columns is None:
            yield from super().compose()
            return
        left, right = columns
        self.wide_width = max(len(cell) + (len(right[n]) if n < len(right) else 0)
                              for n, cell in enumerate(left))
        with Vertical(id="dialog", classes="dialog -wide"):
            yield Label(inert(self.title_text), classes="dialog-title", markup=False)
            with VerticalScroll(classes="dialog-body"):
                for n, cell in enumerate(left):
                    yield Static(cell + (right[n] if n < len(right) else ""), markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close (esc)", id="close", compact=True)

    def on_mount(self) -> None:
        super().on_mount()
        dialog = self.query_one("#dialog")
        if dialog.has_class("-wide"):
            dialog.styles.width = self.wide_width + self.FRAME + 2
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        self.body.styles.max_height = max(3, self.app.size.height - self.CHROME)
