"""Keys are remappable through the config file's [keys] table (Textual's keymap)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client.errors import ConfigError
from cwsandbox_tui.ui.launch import checked_keymap
from cwsandbox_tui.ui.screens.dialogs import ConfirmDialog
from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen

from .conftest import AppFactory, settle
from .tmux_support import dashboard_in_tmux


async def test_a_remapped_key_replaces_the_default(app_factory: AppFactory) -> None:
    app = app_factory(keymap={"table.delete": "ctrl+x"})  # as launch passes config's [keys]
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        assert isinstance(app.screen, SnapshotsScreen)
        await pilot.press("ctrl+d")  # no longer bound
        await pilot.pause()
        assert isinstance(app.screen, SnapshotsScreen)
        await pilot.press("ctrl+x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)


@pytest.mark.parametrize(("keys", "says"), [
    ('"table.mrk" = "x"', '"table.mrk" = "x": no binding has this id (did you mean table.mark?)'),
    ('"table.mark" = "q"', '"table.mark" = "q": q is already Quit (app.quit)'),
    ('"table.mark" = "enter"', '"table.mark" = "enter": enter is already Details (table.details)'),
    ('"table.delete" = "ctrl+m"', '"table.delete" = "ctrl+m": terminals send ctrl+m as enter'),
])
def test_a_wrong_keys_entry_is_refused_naming_it(tmp_path: Path, keys: str, says: str) -> None:
    """Each was accepted: ignored, taking Quit away, or never firing."""
    config = tmp_path / "config.toml"
    config.write_text(f"[keys]\n{keys}\n")
    with pytest.raises(ConfigError) as refused:
        checked_keymap(config)
    assert str(refused.value).startswith(f"{config} [keys]: {says}")
    config.write_text('[keys]\n"table.delete" = "ctrl+x"\n')
    assert checked_keymap(config) == {"table.delete": "ctrl+x"}


async def test_the_dashboard_refuses_to_start_with_a_wrong_key(backend: BackendServer,
                                                                tmp_path: Path) -> None:
    config_dir = Path(os.environ["CWSANDBOX_TUI_CONFIG_DIR"])
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.toml").write_text('[keys]\n"table.mark" = "q"\n')
    async with dashboard_in_tmux(tmp_path, backend.port, size=(200, 24)) as tmux:
        text = await tmux.wait_pane(lambda text: "DASHBOARD-EXITED" in text, "the refusal")
    assert '[keys]: "table.mark" = "q": q is already Quit (app.quit)' in text, text
