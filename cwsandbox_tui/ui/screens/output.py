"""Exec output and followed logs, streamed by a worker that this screen owns."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Log, Static

from ...client.client import Client
from ...client.errors import CwsError
from ...client.models import ExecExit, ExecOutput, LogReconnected
from ...textsafe import OutputText, inert
from ..widgets.footer import KeysFooter
from ..widgets.header import HeaderBar
from ..widgets.tasks import TaskPanel


class OutputScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Close", id="output.close"),
    ]

    def __init__(self, client: Client, title: str) -> None:
        super().__init__()
        self.client = client
        self.title_text = title
        self.output = OutputText()

    def compose(self) -> ComposeResult:
        yield HeaderBar()
        yield Static(inert(self.title_text), classes="panel-title", markup=False)
        yield Log(id="output", highlight=False)
        yield Static("", id="output-status", markup=False)
        yield TaskPanel()
        yield KeysFooter(compact=True)

    def status(self, text: str) -> None:
        self.query_one("#output-status", Static).update(inert(text))

    def write(self, data: bytes) -> None:
        self.query_one(Log).write(self.output.feed(data))

    def action_close(self) -> None:
        self.app.pop_screen()


class ExecScreen(OutputScreen):
    mode_name = "exec"

    def __init__(self, client: Client, sandbox_id: str, command: str) -> None:
        super().__init__(client, f"exec in {sandbox_id}: {command}")
        self.sandbox_id = sandbox_id
        self.command = command

    def on_mount(self) -> None:
        self.status("running... (esc stops it)")
        self.run_exec()

    @work(group="exec", exit_on_error=False)
    async def run_exec(self) -> None:
        try:
            async for item in self.client.exec_stream(
                    self.sandbox_id, ["/bin/sh", "-c", self.command]):
                if isinstance(item, ExecOutput):
                    self.write(item.data)
                elif isinstance(item, ExecExit):
                    self.status(f"exited with code {item.exit_code}")
        except CwsError as error:
            self.status(f"failed: {error}")


class LogsScreen(OutputScreen):
    mode_name = "logs"

    def __init__(self, client: Client, sandbox_id: str) -> None:
        super().__init__(client, f"logs of {sandbox_id} (following)")
        self.sandbox_id = sandbox_id
        self.reconnects = 0

    def on_mount(self) -> None:
        self.status("following... (esc closes)")
        self.follow()

    @work(group="logs", exit_on_error=False)
    async def follow(self) -> None:
        try:
            async for item in self.client.follow_logs(self.sandbox_id, tail=500):
                if isinstance(item, LogReconnected):
                    self.reconnects += 1
                    how = (f"resumed at byte {item.offset}" if item.resumed
                           else "the server lost the session; following anew (lines may repeat)")
                    self.status(f"connection lost ({item.reason}); {how}")
                    continue
                self.write(item.data)
            self.status("the sandbox has stopped; no more output")
        except CwsError as error:
            self.status(f"failed: {error}")
