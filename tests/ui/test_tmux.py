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
