"""Make the SVG screenshots shown in the README from the demo data.

    .venv/bin/python screenshots/make_screenshots.py [NAME ...]

It starts the embedded backend with `--demo` in a temporary directory, waits until the demo
records are in place, then drives the dashboard headless and exports one SVG per view.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from textual.pilot import Pilot

from cwsandbox_tui.client.adapter_v1beta2 import V1beta2Adapter, open_channel
from cwsandbox_tui.client.client import Client, EndpointInfo
from cwsandbox_tui.ui.app import DashboardApp

HERE = Path(__file__).resolve().parent
SHOTS: list[tuple[str, Sequence[str]]] = [
    ("sandboxes", ()),
    ("snapshots", ("2",)),
    ("snapshots-older-than-a-week", ("2", "slash", *"age>7d", "enter", "asterisk")),
    ("delete-confirmation", ("2", "slash", *"age>7d", "enter", "asterisk", "ctrl+d")),
    ("new-sandbox", ("n",)),
    ("stop-with-snapshot", ("S",)),
    ("bucket", ("3",)),
    ("runners", ("4",)),
    ("usage", ("5",)),
    ("operations-log", ("colon", *"ops", "enter")),
    ("help", ("question_mark",)),
]


def start_backend(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "cwsandbox_tui", "serve", "--port", "0", "--demo",
         "--data-dir", str(data_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    give_up = time.monotonic() + 60
    assert process.stderr is not None
    for line in process.stderr:
        if b"demo records are in place" in line:
            break
        if time.monotonic() > give_up:
            raise SystemExit("the demo backend did not finish seeding")
    state = json.loads((data_dir / "backend.json").read_text())
    return process, str(state["url"])


def shoot(url: str, name: str, keys: Sequence[str]) -> None:
    def client() -> Client:
        channel = open_channel(url.removeprefix("http://"), tls=False, root_certificates=None)
        info = EndpointInfo(url=url, source="embedded", auth_mode="no authentication",
                            read_only=False, embedded=True, isolation="bubblewrap")
        return Client(V1beta2Adapter(channel, []), info)

    async def run(pilot: Pilot[None]) -> None:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.2)
        pilot.app.exit(pilot.app.export_screenshot(title=f"cwsandbox-tui: {name}"))

    app = DashboardApp(client, refresh_interval=0)
    svg = app.run(headless=True, size=(120, 36), auto_pilot=run)
    (HERE / f"{name}.svg").write_text(str(svg))
    print(f"wrote screenshots/{name}.svg")


def main(only: Sequence[str] = ()) -> None:
    """All screenshots, or only those named on the command line."""
    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_backend(Path(tmp) / "data")
        try:
            for name, keys in SHOTS:
                if not only or name in only:
                    shoot(url, name, keys)
        finally:
            process.terminate()
            process.wait(timeout=20)


if __name__ == "__main__":
    main(sys.argv[1:])
