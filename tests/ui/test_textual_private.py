"""Textual's private internals the dashboard relies on, pinned: each name `textual_private`
uses (and the private methods the app and `escape_keys` override) exists with the signature
and the effect relied on. A Textual upgrade that changes one fails here, by name, instead of
as keys going astray. And no module but `textual_private` reaches into Textual's privates."""

from __future__ import annotations

import ast
import asyncio
import inspect
from pathlib import Path
from typing import Any, ClassVar

from textual._compositor import Compositor
from textual.app import App
from textual.binding import Binding, BindingsMap, BindingType
from textual.dom import DOMNode
from textual.drivers import linux_driver
from textual.message_pump import MessagePump
from textual.screen import Screen
from textual.widgets import Footer, Static

from cwsandbox_tui.ui import escape_keys, textual_private
from cwsandbox_tui.ui.textual_private import (
    TEXTUAL_RENDER_CHOPS,
    FooterKey,
    XTermParser,
    css_update_count,
    make_modes_with,
    mark_styled,
    merged_bindings,
    mounted_event,
    run_key_bindings,
)

UI = Path(textual_private.__file__).resolve().parent
# Private names of Textual's that only textual_private may touch.
PRIVATE_NAMES = {"_mounted_event", "_check_bindings", "_on_key", "_merge_bindings",
                 "_running", "_binding_chain", "_modal_binding_chain", "_css_update_count",
                 "_modes", "_render_chops"}


def parameters(function: object) -> list[tuple[str, object]]:
    return [(p.name, p.default) for p in inspect.signature(function).parameters.values()]  # type: ignore[arg-type]


def test_the_private_names_have_the_signatures_relied_on() -> None:
    # a cached property (textual._compat's): one event per node, made on first use
    assert type(inspect.getattr_static(MessagePump, "_mounted_event")).__name__ == \
        "cached_property"
    assert inspect.iscoroutinefunction(App._check_bindings)
    assert parameters(App._check_bindings) == [
        ("self", inspect.Parameter.empty), ("key", inspect.Parameter.empty), ("priority", False)]
    assert parameters(XTermParser._sequence_to_key_events) == [
        ("self", inspect.Parameter.empty), ("sequence", inspect.Parameter.empty), ("alt", False)]
    assert isinstance(inspect.getattr_static(DOMNode, "_merge_bindings"), classmethod)
    assert parameters(DOMNode._merge_bindings) == []
    # the key widget Textual's Footer makes, its `compact` bound to the footer's (KeysFooter
    # makes it compact before it mounts; tests/ui/test_footer.py checks the effect)
    compose = inspect.getsource(Footer.compose)
    assert "yield FooterKey(" in compose and ".data_bind(compact=Footer.compact)" in compose
    assert "-compact" in inspect.getsource(FooterKey._watch_compact)
    # overridden by the dashboard's app (crash reports)
    assert parameters(App._handle_exception) == [("self", inspect.Parameter.empty),
                                                 ("error", inspect.Parameter.empty)]
    assert parameters(App._print_error_renderables) == [("self", inspect.Parameter.empty)]
    # replaced by `paint_changed_lines_only` (tests/ui/test_repaint.py checks the effect):
    # called by the partial and the full update with the area and which lines are painted,
    # and the only user of `_get_renders`, whose work the replacement does itself
    assert parameters(TEXTUAL_RENDER_CHOPS) == [
        ("self", inspect.Parameter.empty), ("crop", inspect.Parameter.empty),
        ("is_rendered_line", inspect.Parameter.empty)]
    compositor = inspect.getsource(Compositor)
    assert compositor.count("self._render_chops(") == 3
    assert compositor.count("self._get_renders(") == 1


def test_the_driver_makes_the_parser_it_names_when_its_input_thread_starts() -> None:
    source = inspect.getsource(linux_driver.LinuxDriver.run_input_thread)
    assert "XTermParser(" in source
    escape_keys.install()
    assert linux_driver.XTermParser is escape_keys.EscapeThenKeyParser
    keys = [event.key for event in escape_keys.EscapeThenKeyParser().feed("\x1b2")]
    assert keys == ["escape", "2"]


class Probe(App[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "hit('x')", "X"),
        Binding("ctrl+p", "hit('priority')", "P", priority=True),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.hits: list[str] = []

    def action_hit(self, what: str) -> None:
        self.hits.append(what)


class ProbeChild(Probe):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("y", "hit('y')", "Y")]


async def test_what_the_private_names_do() -> None:
    app = Probe()
    async with app.run_test() as pilot:
        widget = Static("probe")
        event = mounted_event(widget)
        assert isinstance(event, asyncio.Event) and not event.is_set()
        assert mounted_event(widget) is event
        await app.mount(widget)
        await pilot.pause()
        assert event.is_set() and widget.is_mounted

        assert await run_key_bindings(app, "x", priority=False)
        assert not await run_key_bindings(app, "x", priority=True)  # not a priority binding
        assert await run_key_bindings(app, "ctrl+p", priority=True)
        assert not await run_key_bindings(app, "z", priority=False)
        assert app.hits == ["x", "priority"]
        assert app.is_running
    assert not app.is_running

    merged = merged_bindings(ProbeChild)
    assert isinstance(merged, BindingsMap)
    assert {"x", "y", "ctrl+p"} <= set(merged.key_to_bindings)


def test_only_textual_private_reaches_into_textuals_privates() -> None:
    found = []
    for source in sorted(UI.parent.rglob("*.py")):
        if source.name == "textual_private.py":
            continue
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("textual._"):
                found.append(f"{source.name}: from {node.module} import")
            elif isinstance(node, ast.Attribute) and node.attr in PRIVATE_NAMES:
                found.append(f"{source.name}:{node.lineno}: .{node.attr}")
    assert not found, found


class ModesProbe(App[None]):
    MODES: ClassVar[dict[str, Any]] = {"other": Screen}


async def test_a_screen_marked_styled_is_switched_to_without_a_css_refresh() -> None:
    app = ModesProbe()
    made: list[Screen[Any]] = []

    def wrap(view: Any) -> Any:
        def make() -> Screen[Any]:
            screen = view()
            assert screen._css_update_count == -1  # a new screen: never styled
            mark_styled(screen, css_update_count(app))
            made.append(screen)
            return screen
        return make

    make_modes_with(app, wrap)
    async with app.run_test() as pilot:
        await pilot.pause()
        refreshed: list[int] = []
        original = app.refresh_css

        def counted(animate: bool = True) -> None:
            refreshed.append(1)
            original(animate)

        app.refresh_css = counted  # type: ignore[method-assign]
        await app.switch_mode("other")
        await pilot.pause()
        assert made and app.screen is made[0] and refreshed == []
        before = css_update_count(app)
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await pilot.pause()
        assert css_update_count(app) == before + 1 and refreshed
