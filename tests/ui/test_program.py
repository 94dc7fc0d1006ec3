"""The dashboard as people run it: `cwsandbox-tui --demo` on a real pseudo-terminal.

Start-up is tested here, not only under Textual's harness, which starts apps differently (no
eager task factory on Python 3.12+: the dashboard once died at start there, and exited 0).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from tests.pty_program import (
    PtyProgram,
    after_alt_screen,
    assert_terminal_restored,
    demo_rows,
    plain,
)


def dashboard(extra_env: dict[str, str] | None = None) -> PtyProgram:
    env = {**os.environ, "TERM": "xterm-256color", **(extra_env or {})}
    return PtyProgram([sys.executable, "-m", "cwsandbox_tui", "--demo"], env=env)


@pytest.fixture
def programs() -> Iterator[list[PtyProgram]]:
    started: list[PtyProgram] = []
    yield started
    for program in started:
        program.close()


def test_the_dashboard_starts_shows_the_demo_and_quits_cleanly(
        programs: list[PtyProgram]) -> None:
    program = dashboard()
    programs.append(program)
    program.wait_for(demo_rows, "the demo's rows")
    program.press("q")
    assert program.wait_exit() == 0
    output = program.output
    assert_terminal_restored(output)
    assert plain(after_alt_screen(output)).strip() == ""  # nothing said: nothing went wrong

