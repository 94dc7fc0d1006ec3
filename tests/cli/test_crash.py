"""A command that fails unforeseen: exit 1, one line on stderr naming the crash report, and
a report with the traceback and none of the secrets (the key from the environment or from a
profile's key file, authorization headers)."""

from __future__ import annotations

import secrets
from pathlib import Path

from cwsandbox_tui import paths
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.crash import CRASHES, REDACTED
from tests.pty_program import inject_failure, leaked_request

from .helpers import cli


def the_report(stderr: str) -> Path:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    reports = list((paths.state_dir() / CRASHES).iterdir())
    assert len(reports) == 1
    assert lines[0].startswith("error: cwsandbox-tui crashed (RuntimeError: injected by the test")
    assert lines[0].endswith(f"); the report with its traceback is in {reports[0]}")
    assert f"Bearer {REDACTED} and" in lines[0]  # the reason, scrubbed too
    text = reports[0].read_text()
    assert "Traceback (most recent call last)" in text and "in failing" in text
    assert "RuntimeError: injected by the test" in text
    assert f"authorization: Bearer {REDACTED} and" in text
    assert f"('x-wandb-api-key', '{REDACTED}')" in text
    return reports[0]


async def test_a_crash_with_the_environments_key(tmp_path: Path) -> None:
    key, wandb_key = "cws-" + secrets.token_hex(20), secrets.token_hex(20)
    env = inject_failure(tmp_path / "fault", "cwsandbox_tui.client.client",
                         "Client.list_runners", leaked_request(key, wandb_key))
    run = await cli("runners", "list", env={**env, "CWSANDBOX_API_KEY": key})  # embedded
    assert run.code == 1, run
    assert run.stdout == ""
    text = the_report(run.stderr).read_text()
    assert key not in text and wandb_key not in text
    assert key not in run.stderr and wandb_key not in run.stderr


async def test_a_crash_with_a_profiles_key_file(tmp_path: Path, backend: BackendServer) -> None:
    key, wandb_key = secrets.token_urlsafe(30), secrets.token_hex(20)
    key_file = tmp_path / "prod.key"
    key_file.write_text(key + "\n")
    config = paths.config_dir()
    config.mkdir(parents=True)
    (config / "config.toml").write_text(
        f'[profiles.prod]\nendpoint = "http://127.0.0.1:{backend.port}"\n'
        f'api_key_file = "{key_file}"\n')
    env = inject_failure(tmp_path / "fault", "cwsandbox_tui.client.client",
                         "Client.list_sandboxes", leaked_request(key, wandb_key))
    run = await cli("sandboxes", "list", "--profile", "prod", env=env)
    assert run.code == 1, run
    text = the_report(run.stderr).read_text()
    assert key not in text and wandb_key not in text
    assert key not in run.stderr and wandb_key not in run.stderr
