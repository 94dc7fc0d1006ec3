"""Where cwsandbox-tui keeps its data, state and configuration."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "cwsandbox-tui"


def data_dir() -> Path:
    """The embedded backend's data (records, archives, sandbox directories)."""
    override = os.environ.get("CWSANDBOX_TUI_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir(APP))


def state_dir() -> Path:
    """The operations log and other state of the app itself."""
    override = os.environ.get("CWSANDBOX_TUI_STATE_DIR")
    return Path(override) if override else Path(platformdirs.user_state_dir(APP))


def config_dir() -> Path:
    override = os.environ.get("CWSANDBOX_TUI_CONFIG_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir(APP))
