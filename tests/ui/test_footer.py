"""The key footer (`widgets/footer.KeysFooter`): its keys are compact before they mount, so a
rebuild restyles no key once it has mounted, where Textual's own Footer restyles every key
just after mounting it (its `compact` bound to the footer's). The keys look the same."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.dom import DOMNode
from textual.widgets import Footer

from cwsandbox_tui.ui.textual_private import FooterKey
from cwsandbox_tui.ui.widgets.footer import KeysFooter


class FooterProbe(App[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(key, f"hit('{key}')", f"Key {key}") for key in "abcdefgh"]

    def __init__(self, footer: type[Footer]) -> None:
        super().__init__()
        self.footer = footer
        self.restyled: list[DOMNode] = []

    def compose(self) -> ComposeResult:
        yield self.footer(compact=True)

    def update_styles(self, node: DOMNode, animate: bool = True) -> None:
        self.restyled.append(node)
        super().update_styles(node, animate)

    def action_hit(self, key: str) -> None:
        pass


async def shown(footer: type[Footer]) -> tuple[list[Any], list[FooterKey]]:
    """The keys restyled once mounted (the footer builds its keys when its bindings are
    ready, after it mounts, and again on every change of them), and the keys shown."""
    app = FooterProbe(footer)
    async with app.run_test() as pilot:
        await pilot.pause()
        app.screen.refresh_bindings()  # a rebuild
        await pilot.pause()
        await pilot.pause()
        keys = list(app.query(FooterKey))
        return [n for n in app.restyled if isinstance(n, FooterKey)], keys


@pytest.mark.parametrize("footer", [Footer, KeysFooter], ids=["textual", "ours"])
async def test_a_rebuild_restyles_no_key_once_mounted(footer: type[Footer]) -> None:
    restyled, keys = await shown(footer)
    assert set("abcdefgh") <= {k.key for k in keys}  # and the command palette's
    assert all(k.has_class("-compact") for k in keys)
    if footer is KeysFooter:
        assert restyled == []
    else:  # what the override saves, so this test notices when Textual stops doing it
        assert len(restyled) >= len(keys)


class ToggleProbe(FooterProbe):
    """Key `a` is disabled (shown dimmed) while `dim_a` is set."""

    dim_a = False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return None if self.dim_a and parameters == ("a",) else True


async def test_a_rebuild_that_would_show_the_same_keys_is_skipped_and_a_change_is_shown(
) -> None:
    app = ToggleProbe(KeysFooter)
    async with app.run_test() as pilot:
        await pilot.pause()
        footer = app.query_one(KeysFooter)
        before = list(app.query(FooterKey))
        app.restyled.clear()
        await footer.recompose()  # nothing it shows has changed
        app.screen.refresh_bindings()  # told of a change that changes nothing it shows
        await pilot.pause()
        await pilot.pause()
        assert list(app.query(FooterKey)) == before and app.restyled == []

        app.dim_a = True
        app.screen.refresh_bindings()
        await pilot.pause()
        await pilot.pause()
        after = {k.key: k for k in app.query(FooterKey)}
        assert after["a"].has_class("-disabled") and not after["b"].has_class("-disabled")
        assert not any(k is after["a"] for k in before)
