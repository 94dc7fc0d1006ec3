"""`x` on a sandbox: the hand-over to a shell, and what is said when it (or `e`) cannot happen.

The hand-over itself (suspend, a real terminal, resume) is exercised end to end by
tests/cli/test_shell.py through the same `attach`; a headless Pilot app cannot suspend.
"""

from __future__ import annotations

import pytest

from cwsandbox_tui.ui.screens.sandboxes import SandboxesScreen

from .conftest import AppFactory
from .flows_support import notes, settle, wait_for


async def test_x_on_a_running_sandbox_asks_for_the_terminal(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SandboxesScreen)
        assert screen.table.cursor_id == "sb-00000000aaaa"  # RUNNING
        await pilot.press("x")
        await wait_for(pilot, lambda: any("handed over" in n.message for n in notes(app)),
                       "the notice that this terminal cannot be handed over")
        note = next(n for n in notes(app) if "handed over" in n.message)
        assert "cwsandbox-tui sandboxes shell sb-00000000aaaa" in note.message


@pytest.mark.parametrize(("key", "what"), [("x", "a shell"), ("e", "a command")])
async def test_shell_or_exec_on_a_stopped_sandbox_says_why_not(app_factory: AppFactory,
                                                                key: str, what: str) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SandboxesScreen)
        for _ in range(10):
            if screen.table.cursor_id == "sb-00000000cccc":  # COMPLETED
                break
            await pilot.press("down")
        assert screen.table.cursor_id == "sb-00000000cccc"
        await pilot.press(key)
        await pilot.pause()
        assert any(n.message == f"sb-00000000cccc is completed: {what} needs a running sandbox."
                   for n in notes(app)), [n.message for n in notes(app)]
        assert app.screen is screen  # no form to type a command into for nothing


async def test_x_is_refused_read_only(app_factory: AppFactory) -> None:
    app = app_factory(read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await pilot.pause()
        assert not any("handed over" in n.message for n in notes(app))
