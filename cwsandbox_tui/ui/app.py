"""The dashboard app: views as modes, one client, its events shown as they come."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import Any, ClassVar

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.reactive import var
from textual.screen import ModalScreen, Screen
from textual.worker import Worker, WorkerState

from ..client import events as ev
from ..client.client import Client
from ..client.errors import (
    CwsError,
    ProfileNotFoundError,
    RunnerNotFoundError,
    ValidationError,
)
from ..textsafe import inert, inert_lines
from .clipboard import TooLong, inside_gnu_screen, osc52
from .commands import COMMANDS, CommandBar, DashboardCommands
from .facts import Facts
from .gcpolicy import FreezeOnGrowth
from .jobs import Job, JobRunner
from .keeps_running import keeps_running
from .messages import (
    BucketRefused,
    CopyText,
    DeleteSandbox,
    DeleteSnapshots,
    OpenShell,
    PauseSandbox,
    ResumeSandbox,
    RowsChanged,
    SetBucket,
    ShowSnapshotsOf,
    SnapshotPage,
    SnapshotSandbox,
    StartSandbox,
    StopSandbox,
    ViewShown,
)
from .notifier import Notifier
from .palette import few_colours
from .screens.bucket import BucketScreen
from .screens.dialogs import ConfirmDialog, HelpDialog
from .screens.forms import spec_from
from .screens.new_sandbox import ask_new_sandbox, say_sandboxes_refused
from .screens.ops import OpsScreen
from .screens.runners import RunnersScreen
from .screens.sandboxes import SandboxesScreen
from .screens.snapshots import SnapshotsScreen
from .screens.usage import UsageScreen
from .screens.volumes import VolumesScreen
from .shell import shell_into
from .store import OPS_KEPT, Change, RowStore, What
from .textual_private import (
    css_update_count,
    make_modes_with,
    mark_styled,
    paint_changed_lines_only,
)
from .typeahead import TypeAheadApp
from .widgets.tasks import TaskModel, TaskPanel

__all__ = ["OPS_KEPT", "ClientEvent", "DashboardApp"]


class ClientEvent(Message):
    def __init__(self, event: ev.Event) -> None:
        super().__init__()
        self.event = event


class DashboardApp(TypeAheadApp[None]):
    CSS_PATH = "app.tcss"
    TITLE = "cwsandbox-tui"
    # The views, made with the store they show (as modes, once the store exists). The first,
    # "sandboxes", is not among them but made by get_default_screen (and named a mode on
    # mount): Textual starts a screen of MODES before it puts it on the mode's stack, and on
    # Python 3.12+ (its eager task factory) the screen's widgets mount at once, when the app
    # has no screen yet; an Input then fails on `app.screen` (Textual issue #6444).
    VIEWS: ClassVar[dict[str, Any]] = {
        "snapshots": SnapshotsScreen, "bucket": BucketScreen, "ops": OpsScreen,
        "volumes": VolumesScreen, "runners": RunnersScreen, "usage": UsageScreen,
    }
    DEFAULT_MODE = "sandboxes"
    COMMANDS = App.COMMANDS | {DashboardCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "switch_mode('sandboxes')", "Sandboxes", show=False, id="app.sandboxes"),
        Binding("2", "switch_mode('snapshots')", "Snapshots", show=False, id="app.snapshots"),
        Binding("3", "switch_mode('bucket')", "Bucket", show=False, id="app.bucket"),
        Binding("4", "switch_mode('runners')", "Runners", show=False, id="app.runners"),
        Binding("5", "switch_mode('usage')", "Usage", show=False, id="app.usage"),
        Binding("colon", "command_bar", "Command", show=False, id="app.command"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("ctrl+r", "refresh_now", "Refresh", show=False, id="app.refresh"),
        Binding("ctrl+k", "cancel_task", "Cancel task", show=False, id="app.cancel"),
        Binding("q", "quit_app", "Quit", id="app.quit"),
        # Textual's own: ctrl+q quits without asking, ctrl+c only says "Press ctrl+q to quit".
        Binding("ctrl+c,ctrl+q", "quit_app", "Quit", show=False, priority=True,
                id="app.quit_now"),
    ]

    # What the header and the status lines show of the store and the connection (facts.py).
    facts: var[Facts] = var(Facts)

    def __init__(self, client: Client | Callable[[], Client], *, refresh_interval: float = 2.0,
                 keymap: dict[str, str] | None = None) -> None:
        """`client` may be a factory, called on the app's own event loop (a gRPC channel
        belongs to the loop it was made on)."""
        super().__init__()
        paint_changed_lines_only()
        # Textual's CSS update count when the stylesheet was last made current (its
        # variables were taken as it was built; a theme change counts up and refreshes it)
        self._css_refreshed = css_update_count(self)
        self._connector = client
        self.refresh_interval = refresh_interval
        self.runner = JobRunner(self, on_untold=self.action_refresh_now)
        self.notifier = Notifier(self.notify)
        self.task_model = TaskModel()
        self._gc = FreezeOnGrowth()
        self._keymap = dict(keymap or {})
        self._refusal_said = False
        self.crash: Exception | None = None  # the first unhandled error, which ended the app
        if isinstance(client, Client):
            self._adopt(client)

    def _styled_when_made(self, view: Callable[[], Screen[Any]]) -> Callable[[], Screen[Any]]:
        """A view made for a mode's first switch counts as styled as of the stylesheet's last
        refresh: it is styled by the stylesheet as it stands when it mounts. Textual counts
        a new screen as never styled and re-parses the whole stylesheet twice to catch it up,
        ~20% of the key's work before the snapshots listing could start. A theme change made
        since the last refresh still has the new view refreshed."""

        def make() -> Screen[Any]:
            screen = view()
            mark_styled(screen, self._css_refreshed)
            return screen

        return make

    def refresh_css(self, animate: bool = True) -> None:
        super().refresh_css(animate)
        self._css_refreshed = css_update_count(self)  # the stylesheet is current up to here

    def _adopt(self, client: Client) -> None:
        self.client = client
        self.clock = client.clock
        self.read_only = client.read_only
        # The rows and their state; screens read them from here.
        self.store = RowStore(client, interval=self.refresh_interval)
        self.store.subscribe(self._store_changed)
        self._unsubscribe = client.bus.subscribe(self._forward)
        for name, view in self.VIEWS.items():
            self.add_mode(name, partial(view, self.store))
        make_modes_with(self, self._styled_when_made)
        self.facts = Facts.of(self.store)

    def _forward(self, event: ev.Event) -> None:
        self.post_message(ClientEvent(event))

    def on_load(self) -> None:
        if not isinstance(self._connector, Client):
            self._adopt(self._connector())

    def get_default_screen(self) -> Screen[Any]:
        return SandboxesScreen(self.store)

    def on_mount(self) -> None:
        # Known only now that the driver exists (see palette.py).
        self.set_class(few_colours(self), "-few-colours")
        self._watch_screens()
        if self.DEFAULT_MODE not in self.VIEWS:  # its stack exists: named, for switch_mode
            self.add_mode(self.DEFAULT_MODE, partial(SandboxesScreen, self.store))
        if self._keymap:
            self.set_keymap(self._keymap)
        self.refresh_now(first=True)
        if self.refresh_interval > 0:
            self.set_interval(self.refresh_interval, self.refresh_tick)

    @on(ViewShown)
    def _view_shown(self, message: ViewShown) -> None:
        """A view came to the front: bring its task panel (and the facts) up to date."""
        # Once it is on the screen, open the connection (load grpc, wait for the embedded
        # backend), which the first refresh waits for; the header says so meanwhile. (Not on
        # Textual's Ready: that comes before the first view is drawn.)
        self.call_after_refresh(self.client.open)
        self.facts = Facts.of(self.store)
        for panel in self.screen.query(TaskPanel):
            panel.sync(self.task_model)

    def _store_changed(self, change: Change) -> None:
        """The store's changes, as messages to the view in front (the others read the
        store when they come back) and the header's state."""
        if not self.screen_stack:
            return  # the app is closing
        if self.client.info.sandboxes_refused and not self._refusal_said:
            self._refusal_said = True  # said once, as soon as the backend is known
            say_sandboxes_refused(self, self.client.info)
        screen = self.screen
        what = change.what
        if what in (What.PAGE, What.SNAPSHOTS):
            self._gc.rows(len(self.store.snapshots))
        if what is What.SNAPSHOTS and self.store.loaded:
            self._gc.settled()
        if what is What.PAGE:
            page = SnapshotPage(list(change.page), change.restarted)
            if isinstance(screen, SnapshotsScreen) and screen.is_mounted:
                # Straight to the table, not queued behind the view's own work (its
                # mounting, its footer): the first rows were shown only pages later.
                screen.on_snapshot_page(page)
            else:
                screen.post_message(page)
        elif what is What.OPS:
            if isinstance(screen, OpsScreen):
                screen.post_message(RowsChanged(what.value))
            return  # the header shows no count of operations
        elif what in (What.SANDBOXES, What.SNAPSHOTS, What.BUCKET, What.STATUS):
            screen.post_message(RowsChanged(what.value))  # STATUS: "loading" or why not
        self.facts = Facts.of(self.store)  # the header, the tables' staleness
        if change.refresh:
            self.action_refresh_now()

    # refresh
    def modal_open(self) -> bool:
        return any(isinstance(s, ModalScreen) for s in self.screen_stack)

    def refresh_tick(self) -> None:
        if self.store.tick_due(modal_open=self.modal_open()):
            self.refresh_now()

    def action_refresh_now(self) -> None:
        self.store.want_snapshots()
        link = self.client.link
        if link is not None and not link.connected and not link.retry_now():
            return  # refreshed once the link is back
        self.refresh_now()

    @work(group="refresh", exit_on_error=False)
    async def refresh_now(self, first: bool = False) -> None:
        await self.store.refresh(first=first, bucket=isinstance(self.screen, BucketScreen))

    # failures of the app's own work: never silent
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state is not WorkerState.ERROR or isinstance(worker.error, CwsError):
            return  # a CwsError was already told by the client's Failed event
        error = worker.error
        label = "Refresh" if worker.group == "refresh" else (worker.name or "Background work")
        if worker.group == "refresh":
            self.store.refresh_failed(f"{type(error).__name__}: {error}")
        # Through the client's bus, so it is notified, in :ops and in operations.jsonl.
        self.client.bus.emit(ev.Failed(
            op_id=self.client.bus.new_op_id(), op=label, at=self.clock.time(),
            message=f"{type(error).__name__}: {error}", error=type(error).__name__))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        # Ours: Quit asks while operations run, Keys shows every key of the view.
        for command in super().get_system_commands(screen):
            if command.title not in ("Quit", "Keys"):
                yield command

    # events from the client
    def on_client_event(self, message: ClientEvent) -> None:
        event = message.event
        if not self.screen_stack:
            return  # the app is closing: a late event (a refresh's) has no screen to go to
        self.store.apply(event)
        if self.task_model.apply(event):
            for panel in self.screen.query(TaskPanel):
                panel.sync(self.task_model)
        self.notifier(event)

    # jobs: long work owned by the app, cancellable with ctrl+k
    def run_job(self, label: str, work_fn: Callable[[asyncio.Event], Awaitable[Any]], *,
                stops_between_items: bool = False) -> Job:
        return self.runner.run(label, work_fn, stops_between_items=stops_between_items)

    def action_cancel_task(self) -> None:
        job = self.runner.cancel_latest()
        if job is None:
            self.notify("No operation is running.")
            return
        self.notify(f"Cancelling: {job.label}", severity="warning")

    # what the views ask for (messages.py)
    @on(DeleteSnapshots)
    def delete_snapshots(self, message: DeleteSnapshots) -> None:
        ids = message.ids
        self.run_job(f"Delete snapshots ({len(ids)})",
                     lambda cancel: self.client.delete_snapshots(ids, cancel=cancel),
                     stops_between_items=True)

    @on(StopSandbox)
    def stop_sandbox(self, message: StopSandbox) -> None:
        sandbox_id = message.sandbox_id
        self.run_job(f"Stop {sandbox_id}", lambda _: self.client.stop_sandbox(
            sandbox_id, snapshot=message.snapshot, grace=message.grace))

    @on(SnapshotSandbox)
    def create_snapshot(self, message: SnapshotSandbox) -> None:
        sandbox_id = message.sandbox_id
        self.run_job(f"Snapshot {sandbox_id}",
                     lambda _: self.client.create_snapshot(sandbox_id, wait_for_ready=True))

    @on(PauseSandbox)
    def pause_sandbox(self, message: PauseSandbox) -> None:
        sandbox_id = message.sandbox_id
        self.run_job(f"Pause {sandbox_id}", lambda _: self.client.pause_sandbox(sandbox_id))

    @on(ResumeSandbox)
    def resume_sandbox(self, message: ResumeSandbox) -> None:
        sandbox_id = message.sandbox_id
        self.run_job(f"Resume {sandbox_id}", lambda _: self.client.resume_sandbox(sandbox_id))

    @on(DeleteSandbox)
    def delete_sandbox(self, message: DeleteSandbox) -> None:
        sandbox_id = message.sandbox_id
        self.run_job(f"Delete {sandbox_id}", lambda _: self.client.delete_sandbox(sandbox_id))

    @on(StartSandbox)
    def start_sandbox(self, message: StartSandbox) -> None:
        values = message.values
        restore_from = values.get("restore_from", "")

        async def start(_: asyncio.Event) -> None:
            try:
                await self.client.start_sandbox(spec_from(values))
            except ValidationError as error:
                fields = {v.field.split(".")[-1]: v.description for v in error.violations}
                if "file_system_snapshot_id" in fields:
                    fields["restore_from"] = fields.pop("file_system_snapshot_id")
                if fields:
                    ask_new_sandbox(self, self.client.info, restore_from, fields, values)
                else:
                    ask_new_sandbox(self, self.client.info, restore_from, values=values,
                                    refused=str(error))
                raise
            except (ProfileNotFoundError, RunnerNotFoundError) as error:
                name = "profile" if isinstance(error, ProfileNotFoundError) else "runner"
                ask_new_sandbox(self, self.client.info, restore_from,
                                {name: "not found on this endpoint"}, values)
                raise
            except CwsError as error:
                # Whatever went wrong, what was typed comes back with the reason.
                ask_new_sandbox(self, self.client.info, restore_from, values=values,
                                refused=str(error))
                raise

        self.run_job("Start sandbox", start)

    @on(SetBucket)
    def set_bucket(self, message: SetBucket) -> None:
        name, region = message.name, message.region

        async def save(_: asyncio.Event) -> None:
            try:
                config = await self.client.set_bucket(name, region)
            except ValidationError as error:
                # v1 names the field inside its wrapper (file_system_snapshot_bucket_config.region)
                fields = {v.field.split(".")[-1]: v.description for v in error.violations}
                if fields:
                    self.screen.post_message(BucketRefused(
                        fields, {"bucket_name": name, "region": region}))
                raise
            self.store.set_bucket(config)

        self.run_job("Set bucket", save)

    @on(OpenShell)
    def open_shell(self, message: OpenShell) -> None:
        self.run_worker(shell_into(self, self.client, message.sandbox_id), group="shell",
                        exclusive=True, exit_on_error=False)

    @on(ShowSnapshotsOf)
    def show_snapshots_of(self, message: ShowSnapshotsOf) -> None:
        def ready() -> None:
            screen = self.screen
            if isinstance(screen, SnapshotsScreen):
                screen.set_filter_text(f"source={message.sandbox_id}")

        self.switch_mode("snapshots")
        self.call_after_refresh(ready)

    @on(CopyText)
    def _copy_asked(self, message: CopyText) -> None:
        self.copy_text(message.text)

    def action_prune(self) -> None:
        async def ready() -> None:
            if isinstance(self.screen, SnapshotsScreen):
                await self.run_action("screen.prune")  # through the screen's own checks

        self.switch_mode("snapshots")
        self.call_after_refresh(ready)

    def action_open_new_sandbox(self) -> None:
        ask_new_sandbox(self, self.client.info)

    # read-only: refused before anything is asked or sent, and said so
    MUTATING: ClassVar[frozenset[str]] = frozenset({"open_new_sandbox", "prune"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.MUTATING and getattr(self, "read_only", False):
            return None
        return True

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Every toast (a widget's `notify` comes here too) shows its text as it is: never
        as markup, and with whatever a server or a sandbox put in it made inert."""
        super().notify(inert_lines(message), title=inert(title), severity=severity,
                       timeout=timeout, markup=False)

    def copy_text(self, text: str) -> None:
        """To the clipboard through the terminal (OSC 52; see clipboard.py for tmux and screen)."""
        try:
            sequence = osc52(text, screen=inside_gnu_screen(os.environ))
        except TooLong as error:
            self.notify(f"Too long to copy: {error}", severity="error", markup=False)
            return
        self._clipboard = text
        if self._driver is not None:
            self._driver.write(sequence)
        self.notify(f"Copied {text} (through the terminal, OSC 52: it must allow that)",
                    title="Copied", markup=False)

    def refuse(self, what: str) -> None:
        self.notify(f"{what} is refused: this connection is read-only.", title="Read-only",
                    severity="warning", markup=False)

    def key_refused(self, key: str) -> bool:
        """A key whose binding is greyed out (read-only) says so instead of doing nothing."""
        active = self.screen.active_bindings.get(key)
        if active is None or active.enabled or not self.read_only:
            return False
        self.refuse(active.binding.description or active.binding.action)
        return True

    async def run_checked(self, action: str, title: str) -> None:
        """Run an action by name (palette, command bar) through the checks its key has."""
        target = self.screen if action.startswith("screen.") else self
        name = action.removeprefix("screen.").split("(")[0]
        if not target.check_action(name, ()):
            self.refuse(title)
            return
        await self.run_action(action)

    async def action_run_checked(self, action: str, title: str) -> None:
        """The palette's entries (commands.py) come here by name: `run_checked(...)`."""
        await self.run_checked(action, title)

    # global actions
    def action_command_bar(self) -> None:
        async def run(command: str | None) -> None:
            if not command:
                return
            entry = COMMANDS.get(command)
            if entry is None:
                known = " ".join(f":{c}" for c in COMMANDS)
                self.notify(f"Unknown command :{command}. Known: {known}", severity="error",
                            markup=False)
                return
            await self.run_checked(entry[1], entry[0])  # now: keys typed next go to the new view

        self.push_screen(CommandBar(), run)

    def action_help(self) -> None:
        """The keys of this view and of the app, as bound now (remapped keys included)."""
        # group -> description -> its keys (one row per action, however many keys it has)
        groups: dict[str, dict[str, list[str]]] = {}
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if not binding.id or not binding.description or binding.key == "ctrl+@":
                continue  # widgets' own navigation keys are summarised below; ^@ is ^space
            keys = groups.setdefault(binding.id.split(".")[0], {}).setdefault(
                binding.description, [])
            if (key := self.get_key_display(binding)) not in keys:
                keys.append(key)
        rows: list[tuple[str, str]] = []
        for group, entries in groups.items():
            rows.append((f"[{group}]", ""))
            rows += [(" ".join(keys), description) for description, keys in entries.items()]
        rows += [("[everywhere]", ""), ("up down j k", "Move"),
                 ("pgup pgdn g G", "Page, top, bottom"), ("ctrl+p", "Command palette"),
                 (":", "Commands: :sb :snap :bucket"), ("", ":runners :usage :volumes :ops :q"),
                 ("[filter]", ""), ("text", "rows containing it"),
                 ("/regex/", "rows matching it"), ("!term", "rows without it"),
                 ("status=ready", "also trigger= source= id="),
                 ("sandbox=gone", "its sandbox no longer exists"),
                 ("age>7d", "also age<12h size>1GiB"), ("size<=500MB", "")]
        self.push_screen(HelpDialog("Keys", rows))

    def left_running(self) -> str:
        """What goes on after the dashboard quits, and how to end it ('' when nothing)."""
        return keeps_running(list(self.store.sandboxes.values()), self.client.info)

    def action_quit_app(self) -> None:
        running = self.runner.running()
        if not running:
            self.exit()
            return
        lines = [f"{len(running)} operation{'s are' if len(running) != 1 else ' is'} still "
                 "running:", *(f"  {j.label}" for j in running[:6]), "",
                 "Quitting cancels them; work the server has accepted may still complete."]
        if self.left_running():
            lines += ["", self.left_running()]

        def answered(yes: bool | None) -> None:
            if yes:
                self.exit()

        self.push_screen(ConfirmDialog("Quit?", lines, confirm="Quit"), answered)

    # An unhandled error ends the app (Textual) and is then reported by the launcher, in a
    # file; Textual's traceback on the terminal would show locals (a key among them) instead.
    def _handle_exception(self, error: Exception) -> None:
        if self.crash is None:
            self.crash = error
        super()._handle_exception(error)

    def _print_error_renderables(self) -> None:
        if self.crash is None:
            super()._print_error_renderables()

    async def on_unmount(self) -> None:
        self._unsubscribe()
        self._gc.release()
