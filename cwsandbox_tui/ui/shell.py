"""`x` on a sandbox: hand the terminal to a shell in it, then bring the dashboard back."""

from __future__ import annotations

from typing import Any

from textual.app import App, SuspendNotSupported

from ..client.client import Client
from ..client.errors import CwsError
from ..client.terminal import DEFAULT_SHELL, attach

# attributes reset, cursor shown, insert/origin/auto-wrap defaults, then the screen and its
# scrollback cleared with the cursor home
HAND_BACK = "\x1b[0m\x1b[?25h\x1b[4l\x1b[?6l\x1b[?7h\x1b[H\x1b[2J\x1b[3J"


async def shell_into(app: App[Any], client: Client, sandbox_id: str) -> None:
    """Suspend the app, attach this terminal to a shell in the sandbox, resume on its exit.

    While the shell runs the app draws nothing (a batch holds every repaint back), so the
    shell has the screen to itself; the app's own work carries on underneath.
    """
    try:
        with app.batch_update(), app.suspend():
            print(f"\r\n[cwsandbox-tui] shell in {sandbox_id}; exit the shell to return to "
                  "the dashboard\r\n", flush=True)
            try:
                code = await attach(client, sandbox_id, DEFAULT_SHELL)
            finally:
                # The shell's session (and whatever modes its programs left) goes with it:
                # once the dashboard quits, the terminal shows no fragments of it.
                print(HAND_BACK, end="", flush=True)
    except SuspendNotSupported:
        app.notify("This terminal cannot be handed over to a shell (no suspend here); use "
                   f"`cwsandbox-tui sandboxes shell {sandbox_id}`.", severity="error",
                   markup=False)
        return
    except CwsError as error:
        app.notify(str(error), title="Shell failed", severity="error", markup=False)
        return
    app.notify(f"The shell in {sandbox_id} exited with code {code}.", title="Shell",
               markup=False)
