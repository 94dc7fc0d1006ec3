"""Starting the dashboard from the command line."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from .. import paths
from ..client.errors import ConfigError
from ..client.factory import Plan
from ..client.profiles import load_settings
from .app import DashboardApp
from .keymap_check import keymap_problems
from .screens.dialogs import ConfirmDialog, DetailsDialog, FormDialog, HelpDialog
from .screens.output import ExecScreen, LogsScreen


def checked_keymap(config: Path) -> dict[str, str]:
    """The `[keys]` of `config`, refused (ConfigError naming the entry) when wrong: the
    dashboard does not start with a key that would never fire or would take another's."""
    keymap = load_settings(config).keys
    views = [*DashboardApp.VIEWS.values(), ConfirmDialog, DetailsDialog, FormDialog,
             HelpDialog, ExecScreen, LogsScreen]
    problems = keymap_problems(keymap, DashboardApp, views)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(f"{config} [keys]: {problems[0]}{more}")
    return keymap


def run_dashboard(plan: Plan, *, refresh_interval: float = 2.0) -> int:
    keymap = checked_keymap(paths.config_dir() / "config.toml")

    async def main() -> None:
        # The gRPC channel must be made on the loop the app runs on; it is opened (and the
        # embedded backend waited for) on the first call, after the first frame.
        client = plan.connect(defer=True)
        app = DashboardApp(client, refresh_interval=refresh_interval, keymap=keymap)
        try:
            await app.run_async()
        finally:
            await client.close()
        if app.crash is not None:
            # Raised now that the app has closed and the terminal is back, for the program's
            # crash report (cli.main); Textual's own traceback was not printed.
            raise app.crash
        left = app.left_running()
        if left:  # on the normal screen, once the dashboard has given it back
            print(left, file=sys.stderr)

    asyncio.run(main())
    return 0
