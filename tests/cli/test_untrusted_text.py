"""What a sandbox puts in its tags, its command and its snapshot's record reaches the CLI's
terminal inert: the bytes each command writes hold no ESC, C1 or bidirectional control, and
the hostile text is shown, escaped. `--json` stays valid JSON that gives the text back."""

from __future__ import annotations

import io
import json
from pathlib import Path

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.cli.reporter import StderrReporter
from cwsandbox_tui.client import events as ev
from cwsandbox_tui.client.client import Client, EndpointInfo
from cwsandbox_tui.client.generations import choose
from cwsandbox_tui.client.wire import open_channel
from tests.backend.serving import ServeProcess
from tests.hostile_text import (
    HOSTILE,
    MARKUP,
    OSC52,
    controls,
    hostile_sandbox,
    hostile_volume,
)

from .helpers import Run, cli

SHOWN = b"\\x1b]52;c;"  # OSC 52's introducer as the terminal should show it: escaped


def _client_at(url: str) -> Client:
    channel = open_channel(url.removeprefix("http://"), tls=False, root_certificates=None)
    return Client(choose("auto", channel, []), EndpointInfo(
        url=url, source="test", auth_mode="none", read_only=False))


def _inert(run: Run, code: int = 0) -> None:
    assert run.code == code, run
    for name, raw in (("stdout", run.raw_stdout), ("stderr", run.raw_stderr)):
        assert not controls(raw), f"{name} of {run.args} holds {controls(raw)}: {raw!r}"


async def test_every_view_of_hostile_text_is_inert(backend: BackendServer) -> None:
    client = _client_at(backend.url)
    try:
        sandbox, snapshot = await hostile_sandbox(client)
    finally:
        await client.close()
    env = {"CWSANDBOX_BASE_URL": backend.url}

    listed = await cli("sandboxes", "list", env=env)
    _inert(listed)
    assert SHOWN in listed.raw_stdout and b"\\u202e" in listed.raw_stdout
    assert MARKUP.encode() in listed.raw_stdout  # shown as it is, never read as markup
    row = next(line for line in listed.stdout.splitlines() if sandbox.id in line)
    assert "plain" in row  # the hostile tag's escapes kept the row on one line

    got = await cli("snapshots", "get", snapshot.id, env=env)  # the reason names the FIFO
    _inert(got)
    assert SHOWN in got.raw_stdout

    _inert(await cli("snapshots", "list", env=env))

    # An error that carries the text: the server's answer names the id it did not find.
    missing = await cli("snapshots", "get", f"fss-{OSC52}", env=env)
    _inert(missing, code=1)
    assert SHOWN in missing.raw_stderr

    volume = hostile_volume(backend.config.data_dir)  # API v1: the commands find it
    for args in (("volumes", "list"), ("volumes", "get", volume)):
        shown = await cli(*args, env=env)
        _inert(shown)
        assert SHOWN in shown.raw_stdout

    as_json = await cli("sandboxes", "list", "--json", env=env)
    _inert(as_json)
    assert as_json.raw_stdout.isascii()
    tags = {tag for s in json.loads(as_json.stdout) for tag in s["tags"]}
    assert HOSTILE in tags  # valid JSON that gives the exact text back


def test_stderr_reports_are_inert() -> None:
    """Retries, warnings and conflicts carry a server's message to stderr."""
    stream = io.StringIO()
    report = StderrReporter(stream, progress_bar=False)
    report(ev.OperationWarning(op_id="1", op="Stop sandbox", targets=(HOSTILE,),
                               message=HOSTILE))
    report(ev.RetryScheduled(op_id="2", op="List", targets=(HOSTILE,), attempt=1, delay=1.0,
                             code="UNAVAILABLE", reason=HOSTILE, message=HOSTILE,
                             budget_left=9.0))
    report(ev.Conflict(op_id="3", op="Stop", message=HOSTILE, in_flight="plain",
                       advice=HOSTILE))
    written = stream.getvalue().encode()
    assert not controls(written), written
    assert written.count(SHOWN) == 5  # the retry names its target too


async def test_the_backend_log_on_stderr_is_inert(tmp_path: Path) -> None:
    """`serve` logs the special files a snapshot left out, by the names the sandbox gave."""
    server = await ServeProcess(tmp_path / "data").ready()
    client = _client_at(f"http://127.0.0.1:{server.port}")
    try:
        _, snapshot = await hostile_sandbox(client)
    finally:
        await client.close()
        await server.close()
    logged = server.log.read_bytes()
    assert snapshot.id.encode() in logged and SHOWN in logged, logged
    assert not controls(logged), logged
