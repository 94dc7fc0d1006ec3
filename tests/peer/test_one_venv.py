"""The issue's done-when: in ONE venv holding the unmodified official SDK (0.26.0, and 1.22.0
with its `wandb` extra) and this project, installed together by one `pip install`
(`sdk_venv.SdkVenv`), the SDK starts a sandbox against `cwsandbox-tui serve` run from that
venv, and this project's CLI from that venv lists it. SDK 1.22.0 does it again with its W&B
credentials (`WandbAuth()`: WANDB_API_KEY, WANDB_ENTITY) against a backend that requires a
key, and our CLI lists it with the same W&B credentials; the key shows nowhere.

Skipped only when the venvs cannot be built because PyPI is unreachable, never when CI is set.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sdk_venv import SdkVenv, venv_or_skip
from test_runtimes import _env, listed_ids, serve, stop

SCRIPT = Path(__file__).with_name("sdk_start.py")
TIMEOUT = 180
WANDB_KEY = "3c4b5a69788796a5b4c3d2e1f0a9b8c70f1e2d3c"  # 40 hex, like a W&B user key


def sdk_start(venv: SdkVenv, url: str, tag: str, home: Path, *, auth: str = "",
              env: dict[str, str] | None = None) -> tuple[dict[str, Any], str]:
    home.mkdir(exist_ok=True)  # wandb writes its settings there, never to the real home
    run = subprocess.run([str(venv.python), str(SCRIPT), tag, auth], capture_output=True,
                         text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
                         env={**_env(), "CWSANDBOX_BASE_URL": url, "HOME": str(home),
                              **(env or {})})
    try:
        result = json.loads(run.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        pytest.fail(f"the SDK printed no JSON (exit {run.returncode})\n{run.stdout}\n"
                    f"{run.stderr[-6000:]}", pytrace=False)
    assert "error" not in result, f"{result}\n{run.stderr[-6000:]}"
    return result, run.stdout + run.stderr


@pytest.mark.parametrize("version", ["0.26.0", "1.22.0"])
def test_the_sdk_and_this_project_in_one_venv(version: str, tmp_path: Path) -> None:
    venv = SdkVenv(version)
    venv_or_skip(version, f"Sharing a venv with cwsandbox=={version}")
    process, url = serve(venv, tmp_path / "data", tmp_path / "serve.log")
    try:
        started, _ = sdk_start(venv, url, "one-venv", tmp_path / "home")
        assert started["sdk"] == version
        assert listed_ids(venv, url, "--tag", "one-venv") == [started["id"]]
    finally:
        stop(process)


def test_sdk_1_22_with_wandb_credentials_reaches_a_keyed_backend(tmp_path: Path) -> None:
    venv = SdkVenv("1.22.0")
    venv_or_skip("1.22.0", "The SDK's W&B credentials against a keyed backend")
    log = tmp_path / "serve.log"
    process, url = serve(venv, tmp_path / "data", log, "--api-key-env", "SERVED_KEY",
                         env={"SERVED_KEY": WANDB_KEY})
    wandb = {"WANDB_API_KEY": WANDB_KEY, "WANDB_ENTITY": "team-a"}
    try:
        refused = subprocess.run(
            [str(venv.python), str(SCRIPT), "refused"], capture_output=True, text=True,
            timeout=TIMEOUT, stdin=subprocess.DEVNULL,
            env={**_env(), "CWSANDBOX_BASE_URL": url, "HOME": str(tmp_path / "home0"), **wandb})
        assert "CWSandboxAuthenticationError" in refused.stdout, "the SDK's default sends no key"
        started, said = sdk_start(venv, url, "wandb", tmp_path / "home", auth="wandb", env=wandb)
        ours = {**wandb, "CWSANDBOX_AUTH": "wandb"}
        assert listed_ids(venv, url, "--tag", "wandb", env=ours) == [started["id"]]
        sdk_cli = subprocess.run(
            [str(venv.bin("cwsandbox")), "--auth", "wandb", "ls", "--tag", "wandb", "-o", "json"],
            capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
            env={**_env(), "CWSANDBOX_BASE_URL": url, "HOME": str(tmp_path / "home"), **wandb})
        assert started["id"] in sdk_cli.stdout, sdk_cli.stdout + sdk_cli.stderr
    finally:
        stop(process)
    for text in (said, refused.stdout + refused.stderr, sdk_cli.stdout + sdk_cli.stderr,
                 log.read_text()):
        assert WANDB_KEY not in text

