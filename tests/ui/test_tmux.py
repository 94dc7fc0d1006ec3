"""The dashboard in a real tmux server (tests/ui/tmux_support.py), as a person runs it."""

from __future__ import annotations

from pathlib import Path

from cwsandbox_tui.backend.server import BackendServer

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
