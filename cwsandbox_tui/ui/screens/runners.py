"""The Runners view: each runner's capacity as bars (CPU, memory, GPUs, sandboxes) and the
profiles it offers. It loads its own data when shown and on refresh (ctrl+r or the app's
interval), so it needs nothing from the app beyond the client.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from ...client.errors import CwsError
from ...client.models import Profile, Runner
from ...formatting import human_size
from ...textsafe import inert
from ..messages import ViewShown
from ..store import RowStore
from ..widgets.header import HeaderBar
from ..widgets.tasks import TaskPanel

LABEL_WIDTH = 10
MIN_BAR = 10
MAX_BAR = 40
FULL, EMPTY = "█", "░"
# Running sandboxes have no fixed ceiling; their bar is scaled to a round number above them.
SANDBOX_SCALES = (10, 25, 50, 100, 250, 1000)


def bar(used: float, total: float, width: int) -> str:
    """`width` cells, the used share filled; empty when the total is unknown or zero."""
    if total <= 0:
        return EMPTY * width
    filled = round(width * min(max(used / total, 0.0), 1.0))
    if used > 0 and filled == 0:
        filled = 1  # something is used: show it
    return FULL * filled + EMPTY * (width - filled)


def cores(millicores: int) -> str:
    return f"{millicores / 1000:g}"


def capacity_lines(runner: Runner, width: int) -> list[tuple[str, str, str]]:
    """(label, bar, words) per resource; the words say what the bar shows."""
    size = max(MIN_BAR, min(MAX_BAR, (width - 16) // 3))
    res = runner.resources
    lines: list[tuple[str, str, str]] = []
    if res is None:
        unknown = "capacity only (no live figures)"
        lines.append(("CPU", bar(0, 0, size), f"{cores(runner.max_cpu_millicores)} cores, "
                                                 f"{unknown}"))
        lines.append(("Memory", bar(0, 0, size), human_size(runner.max_memory_bytes)))
        lines.append(("GPUs", bar(0, 0, size), f"{runner.max_gpu_count}"))
        return lines
    cpu_used = runner.max_cpu_millicores - res.available_cpu_millicores
    mem_used = runner.max_memory_bytes - res.available_memory_bytes
    gpu_used = runner.max_gpu_count - res.available_gpu_count
    lines.append(("CPU", bar(cpu_used, runner.max_cpu_millicores, size),
                  f"{cores(cpu_used)} of {cores(runner.max_cpu_millicores)} cores taken, "
                  f"{cores(res.available_cpu_millicores)} free"))
    lines.append(("Memory", bar(mem_used, runner.max_memory_bytes, size),
                  f"{human_size(mem_used)} of {human_size(runner.max_memory_bytes)} taken, "
                  f"{human_size(res.available_memory_bytes)} free"))
    gpu_words = (f"{gpu_used} of {runner.max_gpu_count} taken" if runner.max_gpu_count
                 else "none on this runner")
    lines.append(("GPUs", bar(gpu_used, runner.max_gpu_count, size), gpu_words))
    scale = next((s for s in SANDBOX_SCALES if res.running_sandboxes <= s),
                 res.running_sandboxes)
    lines.append(("Sandboxes", bar(res.running_sandboxes, scale, size),
                  f"{res.running_sandboxes} running"))
    return lines


def profile_line(profile: Profile) -> str:
    arch = ",".join(profile.architectures) or "-"
    gpus = ",".join(profile.gpu_types) or "no GPU"
    ingress = ", ".join(profile.exposure_modes) or "-"
    egress = ",".join(profile.egress_modes) or "-"
    return f"{profile.name:<14} {arch:<8} {gpus:<10} ingress {ingress:<8} egress {egress}"


def runner_text(runner: Runner, profiles: list[Profile], width: int) -> Text:
    text = Text()
    health = "healthy" if runner.healthy else "UNHEALTHY"
    head = f"{runner.runner_id}  group {runner.runner_group_id or '-'}  {health}"
    arch = ",".join(runner.architectures)
    if arch:
        head += f"  {arch}"
    if runner.shared:
        head += "  shared"
    text.append(inert(head) + "\n", style="bold")
    for label, drawn, words in capacity_lines(runner, width):
        text.append(f"  {label:<{LABEL_WIDTH}}")
        filled = drawn.rstrip(EMPTY)
        text.append(filled, style="bold")
        text.append(drawn[len(filled):], style="dim")
        text.append(f"  {words}\n")
    mine = [p for p in profiles if p.runner_id == runner.runner_id]
    if mine:
        text.append("  Profiles\n", style="bold")
        for profile in mine:
            text.append(f"    {inert(profile_line(profile))}\n")
    else:
        names = ", ".join(runner.profile_names) or "-"
        text.append(f"  Profiles: {inert(names)}\n")
    return text


class RunnersScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reload", "Reload", id="runners.reload"),
    ]
    mode_name = "runners"
    DEFAULT_CSS = """
    RunnersScreen #runners-list { padding: 0 1; }
    """

    def __init__(self, store: RowStore) -> None:
        super().__init__()
        self.store = store
        self.runners: list[Runner] = []
        self.profiles: list[Profile] = []
        self.problem = ""
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield HeaderBar()
        yield Static("Runners: capacity taken by running sandboxes, and the profiles each "
                     "offers", classes="panel-title", markup=False)
        with VerticalScroll(id="runners-body"):
            yield Static("loading...", id="runners-list", markup=False)
        yield TaskPanel()
        yield Footer()

    def on_mount(self) -> None:  # the first load is on_screen_resume's, as every later one
        if self.store.interval > 0:
            self.set_interval(self.store.interval, self._tick)

    def _tick(self) -> None:
        if self.app.screen is self:
            self.load()

    def on_screen_resume(self) -> None:
        self.load()
        self.app.post_message(ViewShown())

    def on_resize(self) -> None:
        self.render_runners()

    def action_reload(self) -> None:
        self.load()

    def load(self) -> None:
        """Fetch runners (with live resources) and profiles, then repaint."""
        self._fetch()

    @work(group="runners", exclusive=True, exit_on_error=False)
    async def _fetch(self) -> None:
        client = self.store.client
        try:
            # Polls, counted like the other views' refreshes rather than each put in :ops.
            self.runners = await client.list_runners(full=True, routine=True)
            # v1 has no profiles (its runners name none): shown as "-", not as a failure.
            self.profiles = [] if await client.resolve_api() == "v1" else \
                await client.list_profiles(routine=True)
            self.problem = ""
        except CwsError as error:
            self.problem = str(error)
        self.loaded = True
        self.render_runners()

    def render_runners(self) -> None:
        if not self.is_mounted:
            return
        body = self.query_one("#runners-list", Static)
        if not self.loaded:
            return
        if self.problem:
            body.update(inert(f"Cannot list runners: {self.problem}"))
            return
        if not self.runners:
            body.update("This endpoint reports no runners.")
            return
        width = self.size.width or 80
        out = Text()
        for n, runner in enumerate(self.runners):
            if n:
                out.append("\n")
            out.append_text(runner_text(runner, self.profiles, width))
        body.update(out)

    def visible_text(self) -> str:
        """What the view shows, as plain text (for tests and screen readers)."""
        body: Any = self.query_one("#runners-list", Static).render()
        return str(body)
