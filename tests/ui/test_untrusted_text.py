"""The dashboard, run on a real pseudo-terminal against a backend holding hostile text, writes
none of that text's control sequences to the terminal, in any view: the bytes the terminal
receives are checked (Textual's own sequences are fine; the sandbox's OSC 52, OSC 0, CSI 2J,
C1 CSI, bidi override and markup must not arrive as anything but visible text)."""

from __future__ import annotations

from textual.widgets import Input

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.backend.store import SandboxRow, StoredSpec
from cwsandbox_tui.client.client import Client, EndpointInfo
from cwsandbox_tui.client.generations import choose
from cwsandbox_tui.client.wire import open_channel
from tests.hostile_text import (
    HOSTILE,
    OSC52,
    RawTerminal,
    hostile_sandbox,
    hostile_volume,
    octal,
)

from .conftest import FIXED_NOW, AppFactory
from .flows_support import notes, settle, wait_for

SHOWN = b"\\x1b]52;c;"  # OSC 52's introducer as the terminal should show it: escaped
LOGGED = b"\\u202e[link=https://evil.example/]x[/link][/]"  # the tail of the hostile line
FOREIGN = f"sb-{OSC52}"  # a record's id as a hostile server could send it
ENTER, BACKSPACE, CTRL_D = b"\r", b"\x7f", b"\x04"


async def test_no_view_lets_hostile_text_reach_the_terminal(backend: BackendServer) -> None:
    channel = open_channel(f"127.0.0.1:{backend.port}", tls=False, root_certificates=None)
    client = Client(choose("auto", channel, []), EndpointInfo(
        url=backend.url, source="test", auth_mode="none", read_only=False))
    try:
        sandbox, snapshot = await hostile_sandbox(client)
    finally:
        await client.close()
    assert backend.engine is not None
    row = backend.engine.store.get_sandbox(sandbox.id)
    assert row is not None
    backend.engine.store.insert_sandbox(SandboxRow(
        id=FOREIGN, status=states.COMPLETED, created_at=row.created_at - 60,
        status_reason=HOSTILE, spec=StoredSpec(command=HOSTILE, container_image=HOSTILE,
                                                tags=["foreign", HOSTILE])))

    hostile_volume(backend.config.data_dir)

    term = await RawTerminal.open("--endpoint", backend.url,
                                  env={"TERM": "xterm-256color", "TEXTUAL_ANIMATIONS": "none"})
    try:
        await term.until(sandbox.id.encode())  # the table: tags, image
        await term.until(SHOWN)

        at = term.mark()  # keep the real sandbox only, and show its details (command, tags)
        term.type(b"/" + sandbox.id.encode() + ENTER)
        await term.until(b"filter: " + sandbox.id.encode(), at)
        at = term.mark()
        term.type(ENTER)
        await term.until(b"Command", at)
        await term.until(LOGGED, at)

        at = term.mark()
        term.type(b"ql")  # closes the details, opens its logs (what it printed)
        await term.until(b"logs of " + sandbox.id.encode(), at)
        await term.until(LOGGED, at)

        at = term.mark()
        term.type(b"qe")  # closes the logs, asks for a command to exec
        await term.until(b"Exec in " + sandbox.id.encode(), at)
        at = term.mark()
        term.type(f"printf '{octal(HOSTILE)}'".encode() + ENTER)
        await term.until(b"exited with code 0", at)
        await term.until(LOGGED, at)

        at = term.mark()  # the foreign record: its id in a toast, a dialog, the ops log
        term.type(b"q/" + BACKSPACE * len(sandbox.id) + b"foreign" + ENTER)
        await term.until(b"filter: foreign", at)
        at = term.mark()
        term.type(b"e")
        await term.until(b"needs a running sandbox", at)
        await term.until(SHOWN, at)
        at = term.mark()
        term.type(CTRL_D)
        await term.until(b"Delete 1 sandbox", at)
        await term.until(SHOWN, at)
        at = term.mark()
        term.type(b"y")
        await term.until(b"Delete sandbox", at)
        at = term.mark()
        term.type(b":ops" + ENTER)
        await term.until(b"operations  (newest last;", at)  # the :ops table's status
        await term.until(b"sb-" + SHOWN, at)

        at = term.mark()  # the snapshot whose reason names the sandbox's FIFO
        term.type(b"2")
        await term.until(snapshot.id.encode(), at)
        at = term.mark()
        term.type(ENTER)
        await term.until(b"special file", at)
        await term.until(SHOWN, at)

        at = term.mark()  # a volume whose claim and description hold the text (API v1)
        term.type(b"q:volumes" + ENTER)
        await term.until(b"1 volume", at)
        await term.until(SHOWN, at)
    finally:
        await term.close()


async def test_a_filter_made_from_a_hostile_id_is_refused_never_put_in_the_bar(
        backend: BackendServer, app_factory: AppFactory) -> None:
    """`o` (its snapshots) makes `source=<id>`: an id holding controls never reaches the
    filter bar, whose input shows its value as it is."""
    assert backend.engine is not None
    backend.engine.store.insert_sandbox(SandboxRow(
        id=FOREIGN, status=states.COMPLETED, created_at=FIXED_NOW - 60,
        spec=StoredSpec(command="/bin/true", tags=["foreign"])))
    app = app_factory(seed=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"foreign", "enter", "o")
        await wait_for(pilot, lambda: any("Cannot filter on" in n.message for n in notes(app)),
                       "the refusal to filter on the hostile id")
        value = app.screen.query_one("#filter-input", Input).value
        assert "\x1b" not in value and OSC52 not in value

