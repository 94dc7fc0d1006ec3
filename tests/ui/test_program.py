"""The dashboard as people run it: `cwsandbox-tui --demo` on a real pseudo-terminal.

Start-up is tested here, not only under Textual's harness, which starts apps differently (no
eager task factory on Python 3.12+: the dashboard once died at start there, and exited 0).
A crash is a crash: a non-zero exit, the terminal given back, one line naming a report whose
traceback holds no secret.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cwsandbox_tui import paths
from cwsandbox_tui.crash import CRASHES, REDACTED
from tests.pty_program import (
    PtyProgram,
    after_alt_screen,
    assert_terminal_restored,
    demo_rows,
    inject_failure,
    leaked_request,
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
    said = plain(after_alt_screen(output))  # what keeps running after it, if anything
    assert "Traceback" not in said and "error" not in said.lower()
    assert not (paths.state_dir() / CRASHES).exists()


def test_an_unhandled_error_exits_non_zero_with_one_line_naming_a_scrubbed_report(
        programs: list[PtyProgram], tmp_path: Path) -> None:
    key, wandb_key = "cws-" + secrets.token_hex(20), secrets.token_hex(20)
    # A bug behind a key: `?` (the keys' help) fails the way an unforeseen error would.
    program = dashboard({
        **inject_failure(tmp_path / "fault", "cwsandbox_tui.ui.app", "DashboardApp.action_help",
                         leaked_request(key, wandb_key)),
        "CWSANDBOX_API_KEY": key})
    programs.append(program)
    program.wait_for(demo_rows, "the demo's rows")
    program.press("?")
    code = program.wait_exit()
    output = program.output
    assert code != 0
    assert_terminal_restored(output)

    said = [line for line in plain(after_alt_screen(output)).splitlines() if line.strip()]
    assert len(said) == 1, said
    reports = list((paths.state_dir() / CRASHES).iterdir())
    assert len(reports) == 1
    report = reports[0]
    assert said[0].startswith("error: cwsandbox-tui crashed (RuntimeError: injected by the test")
    assert said[0].endswith(f"); the report with its traceback is in {report}")
    assert f"Bearer {REDACTED} and" in said[0]  # the reason, scrubbed too
    assert report.stat().st_mode & 0o077 == 0  # its owner's alone

    text = report.read_text()
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: injected by the test" in text and "in action_help" not in text
    assert "in failing" in text  # the frame that raised, under Textual's
    assert key not in text and wandb_key not in text
    assert f"authorization: Bearer {REDACTED} and" in text
    assert f"('x-wandb-api-key', '{REDACTED}')" in text
    assert key.encode() not in output and wandb_key.encode() not in output
