"""The dashboard in a real tmux server (tests/ui/tmux_support.py), as a person runs it."""

from __future__ import annotations

from pathlib import Path

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.backend.store import StoredSpec

from .conftest import seed_rows
from .tmux_support import dashboard_in_tmux


async def test_c_fills_tmux_buffer_with_set_clipboard_on(backend: BackendServer,
                                                         tmp_path: Path) -> None:
    """tmux's default configuration plus `set-clipboard on` (as the README advises): no
    `allow-passthrough`, so only a plain OSC 52 reaches tmux's clipboard."""
    seed_rows(backend)
    async with dashboard_in_tmux(tmp_path, backend.port,
                                 options=("set-clipboard on",)) as tmux:
        await tmux.wait_pane(lambda text: "sb-00000000aaaa" in text, "the sandboxes")
        await tmux.keys("c")
        await tmux.wait_pane(lambda text: "Copied" in text, "the Copied notice")
        assert (await tmux.run("show-buffer")) == "sb-00000000aaaa"


async def test_keys_as_tmux_sends_them(backend: BackendServer, tmp_path: Path) -> None:
    """ctrl+space (NUL from tmux) marks a range; Esc and a key in one write are both keys;
    ctrl+c quits."""
    seed_rows(backend)
    async with dashboard_in_tmux(tmp_path, backend.port, size=(80, 24),
                                 term="screen") as tmux:
        await tmux.wait_pane(lambda text: "sb-00000000aaaa" in text, "the sandboxes")
        await tmux.keys("2")
        await tmux.wait_pane(lambda text: "fss-000000000001" in text, "the snapshots")
        await tmux.keys("Space", "j", "j", "C-Space")
        await tmux.wait_pane(lambda text: "4 marked" in text, "four rows marked")
        await tmux.keys("?")
        await tmux.wait_pane(lambda text: "[everywhere]" in text or "[table]" in text,
                             "the help")
        await tmux.literal("\x1b1")  # one write: Esc closes the help, 1 goes to the sandboxes
        await tmux.wait_pane(lambda text: "4 of 4 sandboxes" in text and "[table]" not in text,
                             "the sandboxes view")
        await tmux.keys("C-c")
        await tmux.wait_pane(lambda text: "DASHBOARD-EXITED" in text, "the dashboard to quit")


async def test_quitting_after_a_shell_leaves_no_fragments_of_it(backend: BackendServer,
                                                               tmp_path: Path) -> None:
    """`x`, a command in the shell, exit, then quit: the normal screen the terminal is left
    with holds nothing of the shell's session (it did: the banner, prompt and output)."""
    assert backend.engine is not None
    running = backend.engine.start(StoredSpec(
        command="/bin/sh", args=["-c", 'trap "exit 0" TERM; sleep infinity & wait'],
        container_image="python:3.11"))
    async with dashboard_in_tmux(tmp_path, backend.port, size=(80, 24),
                                 term="screen") as tmux:
        await tmux.wait_pane(lambda text: running.id in text and "RUNNING" in text,
                             "the running sandbox")
        await tmux.keys("x")
        await tmux.wait_pane(lambda text: f"root@{running.id}" in text, "the shell's prompt")
        await tmux.keys("echo SHELL-WAS-HERE", "Enter")
        await tmux.wait_pane(lambda text: text.count("SHELL-WAS-HERE") == 2, "its output")
        await tmux.keys("exit", "Enter")
        await tmux.wait_pane(lambda text: "RUNNING" in text and "root@" not in text,
                             "the dashboard back")
        await tmux.keys("q")
        left = await tmux.wait_pane(lambda text: "DASHBOARD-EXITED" in text,
                                    "the dashboard to quit")
        assert "SHELL-WAS-HERE" not in left and "shell in" not in left, left


async def test_term_screen_leaves_nothing_behind_at_the_right_edge(backend: BackendServer,
                                                                   tmp_path: Path) -> None:
    """TERM=screen at 80×24 (tmux's own default terminal): every view, a dialog, the help, a
    notice, and back; the sandboxes view then reads exactly as it first did, and no line of
    any view runs past the right edge (a stray cell there is what leftovers look like)."""
    seed_rows(backend)
    async with dashboard_in_tmux(tmp_path, backend.port, size=(80, 24),
                                 term="screen") as tmux:
        first = await tmux.wait_pane(
            lambda text: "4 of 4 sandboxes" in text and "loading" not in text, "the sandboxes")
        seen = [first]
        for key, shown in (("2", "fss-000000000001"), ("Enter", "Close (esc)"),
                           ("Escape", "of 30 snapshots"), ("5", "by source"),
                           ("?", "[everywhere]"), ("Escape", "by source"),
                           ("1", "4 of 4 sandboxes"), ("c", "Copied")):
            await tmux.keys(key)
            seen.append(await tmux.wait_pane(lambda text, shown=shown: shown in text, shown))
        back = await tmux.wait_pane(lambda text: "Copied" not in text, "the notice to go",
                                    timeout=30)
        for text in [*seen, back]:
            lines = text.rstrip("\n").split("\n")
            assert len(lines) <= 24 and all(len(line) <= 80 for line in lines), text
        assert back == first
