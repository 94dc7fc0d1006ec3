"""Peer test: the UNMODIFIED official SDK (cwsandbox 0.26.0) against our embedded backend.

The SDK pins protobuf<7 and registers the same `coreweave.sandbox.v1beta2` descriptors as our
generated modules, so it cannot share our venv or our process. It gets its own virtualenv,
built once and cached at `<repo>/.cache/sdk-venv-0.26.0` by `sdk_venv.py`.

`sdk_scenario.py` then runs in that venv against a backend started here, does what the SDK's
`examples/file_system_snapshots.py` does (plus bucket config, listing, attach and delete) and
prints one JSON object that the tests below check step by step.

The tests are skipped only when the SDK venv cannot be built because PyPI is unreachable, and
never when CI is set: CI has PyPI and must run them.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sdk_venv import venv_or_skip

from cwsandbox_tui.backend.server import BackendServer, ServerConfig

SDK_VERSION = "0.26.0"
SCENARIO = Path(__file__).with_name("sdk_scenario.py")

SCENARIO_TIMEOUT = 180    # the whole SDK scenario (normally a few seconds)

API_KEY = "peer-test-key-7c1d9e40b2"


@pytest.fixture(scope="session")
def sdk_python() -> Path:
    return venv_or_skip(SDK_VERSION, "The official-SDK compatibility of the backend")


def _scenario_env(url: str, api_key: str | None, debug: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CWSANDBOX", "PYTHON", "VIRTUAL_ENV"))}
    env["CWSANDBOX_BASE_URL"] = url
    if api_key:
        env["CWSANDBOX_API_KEY"] = api_key
    if debug:
        env["SDK_SCENARIO_DEBUG"] = "1"
    return env


def ok(steps: dict[str, Any], name: str) -> Any:
    """A scenario step's recorded value, which must not be an error the SDK raised."""
    value = steps[name]
    assert not (isinstance(value, dict) and "error" in value), json.dumps(value, indent=1)
    return value


def run_scenario_json(sdk_python: Path, scenario: Path, url: str, cwd: Path,
                      timeout: float) -> dict[str, Any]:
    """Run a scenario script in the SDK's venv against `url`; the JSON it printed last."""
    proc = subprocess.run([str(sdk_python), str(scenario)], cwd=cwd,
                          env=_scenario_env(url, None, False), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
    except (IndexError, ValueError):
        pytest.fail(f"the scenario printed no JSON (exit {proc.returncode})\n"
                    f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}", pytrace=False)


def _run_scenario(sdk_python: Path, server: BackendServer, cwd: Path, *,
                  api_key: str | None = None, debug: bool = False
                  ) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    url = server.url
    assert server.engine is not None
    # The scenario writes to /workspace, which only a bubblewrap-isolated sandbox sees as its
    # mount; say so on failure, since an unisolated backend cannot pass it.
    where = f"backend {url}, isolation: {server.engine.isolation.detail}"
    try:
        proc = subprocess.run(
            [str(sdk_python), str(SCENARIO)], cwd=cwd, env=_scenario_env(url, api_key, debug),
            capture_output=True, text=True, timeout=SCENARIO_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        def text(data: bytes | str | None) -> str:
            return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")
        pytest.fail(f"SDK scenario did not finish within {SCENARIO_TIMEOUT} s ({where})\n"
                    f"--- stdout ---\n{text(exc.stdout)[-4000:]}\n"
                    f"--- stderr ---\n{text(exc.stderr)[-8000:]}", pytrace=False)
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        pytest.fail(f"SDK scenario printed no JSON (exit {proc.returncode}; {where})\n"
                    f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-8000:]}",
                    pytrace=False)
    if result["error"] is not None:
        err = result["error"]
        pytest.fail(f"SDK scenario failed {result['failed_step']}: "
                    f"{err['type']}: {err['message']}\n"
                    f"({where})\n"
                    f"completed steps: {result['completed']}\n"
                    f"--- traceback ---\n{err['traceback']}\n"
                    f"--- steps ---\n{json.dumps(result['steps'], indent=1)[-6000:]}\n"
                    f"--- stderr ---\n{proc.stderr[-8000:]}", pytrace=False)
    assert proc.returncode == 0, proc.stderr[-8000:]
    result["where"] = where
    return result, proc


def _check_scenario(result: dict[str, Any]) -> None:
    """Every step of the scenario, as the SDK saw it."""
    try:
        _check_steps(result)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n({result['where']})\n--- steps ---\n"
                             f"{json.dumps(result['steps'], indent=1)[-6000:]}") from None


def _check_steps(result: dict[str, Any]) -> None:
    s = result["steps"]
    assert result["sdk_version"] == SDK_VERSION

    source_id = s["source_started"]["sandbox_id"]
    assert source_id
    assert s["source_running"] == {"status": "running"}
    assert s["seed_exec"]["returncode"] == 0, s["seed_exec"]

    manual_id = s["snapshot"]["id"]
    assert manual_id
    assert s["source_alive_after_snapshot"] == {"returncode": 0, "stdout": "hello\n"}

    restore = s["restore_cat"]
    assert restore["returncode"] == 0, restore
    assert restore["stdout"].strip() == "hello"
    restored_id = restore["sandbox_id"]
    assert restored_id and restored_id != source_id

    assert s["on_stop_seed"]["returncode"] == 0
    stop = s["stop_with_snapshot"]
    stop_id = stop["file_system_snapshot_id"]
    assert stop_id, "stop(snapshot_on_stop=True) left file_system_snapshot_id empty"
    assert stop_id != manual_id
    assert stop["status"] == "completed"
    on_stop_sandbox = stop["sandbox_id"]

    assert {manual_id, stop_id} <= set(s["list_snapshots"]["ids"])
    assert s["list_snapshots_by_source"]["ids"] == [manual_id]

    manual = s["get_manual"]
    assert manual["id"] == manual_id
    assert manual["status"] == "ready"
    assert manual["source_sandbox_id"] == source_id
    assert manual["trigger"] == "manual"
    assert manual["size_bytes"] > 0
    assert manual["idempotency_key_set"]  # snapshot() always sends one
    assert manual["created_at"] and manual["completed_at"]
    on_stop = s["get_on_stop"]
    assert on_stop["id"] == stop_id
    assert on_stop["status"] == "ready"
    assert on_stop["source_sandbox_id"] == on_stop_sandbox
    assert on_stop["trigger"] == "stop"

    assert s["delete_snapshot_twice"] is True
    assert s["get_after_delete"]["type"] == "SnapshotNotFoundError"
    assert s["get_after_delete"]["is_snapshot_not_found"]
    assert s["delete_snapshot_strict_missing"]["is_snapshot_not_found"]
    assert manual_id not in s["list_after_delete"]["ids"]
    assert stop_id in s["list_after_delete"]["ids"]

    assert s["bucket_initial"]["mode"] == "cw_managed"
    assert s["bucket_initial"]["effective_bucket_name"]
    assert s["bucket_byo"] == {"mode": "bring_your_own", "bucket_name": "my-bucket",
                               "region": "us-east-1", "effective_bucket_name": "my-bucket"}
    assert s["bucket_get_byo"] == s["bucket_byo"]
    assert s["bucket_revert"]["mode"] == "cw_managed"
    assert s["bucket_revert"]["bucket_name"] == ""
    assert s["bucket_revert"]["effective_bucket_name"] == \
        s["bucket_initial"]["effective_bucket_name"]
    bad = s["bucket_bad_name"]
    assert bad.get("raised", "") is not None, "a bad bucket name was accepted"
    assert "CWSandboxError" in bad["mro"], bad
    assert "bucket_name" in bad["message"], bad
    assert s["bucket_after_bad"] == s["bucket_revert"]

    assert s["list_active"]["ids"] == sorted([source_id, restored_id])
    everything = s["list_include_stopped"]
    assert everything["ids"] == sorted([source_id, restored_id, on_stop_sandbox])
    assert everything["statuses"][on_stop_sandbox] == "completed"
    assert everything["statuses"][source_id] == "running"

    assert s["from_id"] == {"sandbox_id": restored_id, "status": "running",
                            "exec_stdout": "attached\n", "exec_returncode": 0}
    assert s["plain_stops"]["source"] == "completed"
    assert s["plain_stops"]["restored"] == "completed"
    assert s["plain_stops"]["source_snapshot_id"] is None  # a plain stop takes no snapshot
    assert s["from_id_stopped"] == {"status": "completed"}
    assert s["delete_sandbox_again"]["is_sandbox_not_found"], s["delete_sandbox_again"]
    assert s["from_id_after_delete"]["is_sandbox_not_found"], s["from_id_after_delete"]
    assert s["list_after_delete_sandbox"]["ids"] == sorted([restored_id, on_stop_sandbox])
    assert s["cleanup"] is True


async def test_official_sdk_file_system_snapshots(sdk_python: Path, backend: BackendServer,
                                                  tmp_path: Path) -> None:
    result, _ = await asyncio.to_thread(_run_scenario, sdk_python, backend, tmp_path)
    _check_scenario(result)
    assert "auth_wrong_key" not in result["steps"]  # no key: the auth steps are skipped


async def test_official_sdk_with_api_key(sdk_python: Path, tmp_path: Path) -> None:
    server = BackendServer(ServerConfig(data_dir=tmp_path / "backend-auth", port=0,
                                        api_key=API_KEY))
    await server.start()
    try:
        result, proc = await asyncio.to_thread(
            _run_scenario, sdk_python, server, tmp_path, api_key=API_KEY, debug=True)
    finally:
        await server.stop(grace=0)
    _check_scenario(result)
    for step in ("auth_wrong_key", "auth_no_key"):
        assert result["steps"][step] == {"raised": "CWSandboxAuthenticationError",
                                         "is_auth_error": True}, result["steps"][step]
    assert result["steps"]["auth_mode_wrong"] == {"raised": "CWSandboxAuthenticationError",
                                                  "is_auth_error": True}
    assert result["steps"]["auth_mode_good"] == {"listed": "list"}  # every later step used it
    assert API_KEY not in proc.stdout
    assert API_KEY not in proc.stderr  # not even in the SDK's debug logging
