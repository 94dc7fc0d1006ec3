"""Peer test: the UNMODIFIED official SDK 1.22.0 (`coreweave.sandbox.v1`) against our backend.

`sdk_v1_scenario.py` runs in the SDK's own cached venv (`sdk_venv.py`) against a backend
started here, and walks the snapshot flow the issue names (start with a snapshot volume,
exec, snapshot, restore, bucket config, stop with snapshot, delete) plus logs, files,
snapshots without waiting, idempotent request ids and volumes, then the rest of the SDK's
public API that applies to one machine (exec stdin/streams/cancel, streamed files, a TTY
shell, followed logs with timestamps, the handle's lifecycle, sessions and remote functions,
volume validation). The backend serves v1 alone, so nothing can pass through v1beta2 by
accident.

Skipped only when the venv cannot be built because PyPI is unreachable, never when CI is set.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sdk_venv import venv_or_skip

from cwsandbox_tui.backend.server import BackendServer, ServerConfig, read_state

SDK_VERSION = "1.22.0"
REPO = Path(__file__).resolve().parents[2]
SCENARIO = Path(__file__).with_name("sdk_v1_scenario.py")
SCENARIO_TIMEOUT = 180
API_KEY = "peer-v1-key-4be1a07c93"


@pytest.fixture(scope="session")
def sdk_v1_python() -> Path:
    return venv_or_skip(SDK_VERSION, "The v1 compatibility of the backend")


def _run(python: Path, server: BackendServer | Served, cwd: Path, api_key: str | None = None
         ) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CWSANDBOX", "PYTHON", "VIRTUAL_ENV"))}
    env["CWSANDBOX_BASE_URL"] = server.url
    if api_key:
        env["CWSANDBOX_API_KEY"] = api_key
        env["SDK_SCENARIO_DEBUG"] = "1"  # the key must not show even in the SDK's debug log
        env["SDK_SCENARIO_CORE_ONLY"] = "1"  # the rest of the API is walked once, unkeyed
    proc = subprocess.run([str(python), str(SCENARIO)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=SCENARIO_TIMEOUT, stdin=subprocess.DEVNULL)
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        pytest.fail(f"SDK scenario printed no JSON (exit {proc.returncode})\n"
                    f"{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}", pytrace=False)
    if result["error"] is not None:
        err = result["error"]
        pytest.fail(f"SDK scenario failed {result['failed_step']}: {err['type']}: "
                    f"{err['message']}\n{err['traceback']}\n"
                    f"{json.dumps(result['steps'], indent=1)[-6000:]}\n{proc.stderr[-6000:]}",
                    pytrace=False)
    return result, proc


def _check(result: dict[str, Any]) -> None:
    s = result["steps"]
    assert result["sdk_version"] == SDK_VERSION
    source = s["source"]["sandbox_id"]
    assert s["source"]["status"] == "running"
    assert s["exec"] == {"seed": 0, "failing": 3, "failing_stderr": "oops\n", "pwd": "/tmp\n"}
    assert s["files"] == {"read": list(b"\x00\x01binary"), "cat": "hello\n"}
    assert s["logs"] == {"lines": ["line-one", "line-two"], "tail": ["line-two"]}

    snaps = s["snapshots"]
    assert snaps["no_wait"] == snaps["no_wait_again"] != snaps["manual"]  # same request id
    manual = snaps["manual_record"]
    assert (manual["id"], manual["status"], manual["trigger"], manual["source_sandbox_id"]) == (
        snaps["manual"], "ready", "manual", source)
    assert manual["size_bytes"] > 0 and manual["created_at"] and manual["completed_at"]
    assert s["restore"]["cat"] == "hello\n" and s["restore"]["sandbox_id"] != source

    assert s["bucket_initial"]["mode"] == "cw_managed"
    assert s["bucket_byo"] == s["bucket_get_byo"] == {
        "mode": "bring_your_own", "bucket_name": "my-bucket", "region": "us-east-1",
        "effective_bucket_name": "my-bucket"}
    assert s["bucket_revert"] == s["bucket_initial"]
    assert s["bucket_bad"]["type"] == "SandboxValidationError", s["bucket_bad"]
    assert "bucket_name" in s["bucket_bad"]["message"]

    stop = s["stop_with_snapshot"]
    assert stop["snapshot_id"] and stop["status"] == "completed" and stop["returncode"] == 0
    assert (stop["record"]["status"], stop["record"]["trigger"]) == ("ready", "on_delete")
    assert stop["record"]["source_sandbox_id"] == stop["sandbox_id"]
    all_snaps = {snaps["manual"], snaps["no_wait"], stop["snapshot_id"]}
    assert set(s["list_snapshots"]["ids"]) == all_snaps
    assert set(s["list_snapshots"]["by_source"]) == {snaps["manual"], snaps["no_wait"]}

    listed = s["list"]
    assert stop["sandbox_id"] not in listed["active"] and stop["sandbox_id"] in listed["all"]
    assert listed["statuses"][stop["sandbox_id"]] == "completed"
    assert listed["statuses"][source] == "running"
    assert s["from_id"] == {"status": "running", "echo": "attached\n"}
    assert s["plain_stop"] == {"status": "completed", "returncode": 0, "snapshot_id": None,
                               "from_id": "completed"}
    for step in ("delete_again", "from_id_after_delete", "get_deleted_snapshot",
                 "delete_deleted_snapshot"):
        assert s[step].get("expected") is True, (step, s[step])

    assert s["volumes"] == {"created_state": "validating", "state": "ready",
                            "description": "changed", "listed": ["peer-volume"]}
    assert s["volume_deleted"] == {"listed": []}
    [runner] = s["runners"]["listed"]
    assert runner["runner_id"] == "local-runner" and runner["healthy"]
    assert runner["max_cpu_millicores"] >= 1000
    assert runner["running"] == 2  # the talker and the restored one still run
    assert s["runners"]["get"]["runner_id"] == "local-runner"
    assert s["runners"]["get"]["architectures"]
    assert s["runner_missing"].get("expected") is True, s["runner_missing"]
    if "exec_more" in s:  # not walked with SDK_SCENARIO_CORE_ONLY
        _check_rest_of_the_api(s)
    assert s["cleanup"] is True


def _check_rest_of_the_api(s: dict[str, Any]) -> None:
    more = s["exec_more"]
    assert (more["stdin"], more["returncode"], more["command"], more["poll"]) == (
        "typed line\n", 0, ["cat"], 0)
    assert "".join(more["stdout_lines"]) == "a\nc\n" and "".join(more["stderr_lines"]) == "b\n"
    assert more["wait"] == 0 and more["results"] == ["0\n", "1\n"]
    for step in ("exec_check", "exec_timeout", "complete_failed", "from_template", "from_file"):
        assert s[step].get("expected") is True, (step, s[step])
    assert "exit code 4" in s["exec_check"]["message"]
    assert "not offered" in s["from_template"]["message"]
    assert "not offered" in s["from_file"]["message"]
    assert s["exec_cancel"] == {"done": 0, "pending": 1, "cancelled": True,
                                "after": "CancelledError"}

    streams = s["streams"]
    assert streams["read_back"] == 2 + 80_000
    assert streams["tty"] is True and streams["tty_exit"] == 6  # a real terminal, 100x30
    assert streams["resized"] is True
    assert [text for _, text in streams["followed"]] == ["line-one\n", "line-two\n"]
    for stamp, _ in streams["followed"]:  # timestamps=True: the server prefixes each line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", stamp), stamp

    handle = s["handle"]
    assert handle["tags"] == ["sdk-v1-peer-test"] and handle["runner_id"] == "local-runner"
    assert handle["status"] == "running" and handle["created_at"] and handle["started_at"]
    assert handle["containers"] == ["main"] and handle["exec_count"]["exec_count"] >= 5
    assert handle["volume_ids"] == [] and handle["status_updated"] is True
    assert handle["container_statuses"] in (0, 1)  # optional in v1; never an error
    assert s["restore"]["sandbox_id"] in handle["running"]
    assert s["source"]["sandbox_id"] not in handle["running"]  # stopped in step 6
    assert s["lifecycle"] == {"with_block": "in a with block\n", "after_with": "completed",
                              "built": "running", "built_stopped": "completed",
                              "complete": ["completed", 0],
                              "failed": ["failed", "exited with code 7"],
                              "async": {"stdout": "awaited\n", "read": "async bytes",
                                        "listed": 1, "after": "completed"}}
    assert s["session"] == {"listed": True, "attached": True, "count": 3, "remote": 5,
                            "map": [2, 4], "local": 3}
    assert set(s["session_closed"]) <= {"completed", "terminated"}  # both stopped at close
    assert s["volume_more"] == {"validated": "ready", "ready": ["peer-volume-2"], "elsewhere": 0}
    assert s["log_windows"] == {"since_past": ["line-one", "line-two"], "since_future": []}
    assert handle["on_runner"] == len(handle["running"]) and handle["on_no_runner"] == 0
    assert handle["in_container"] == "main\n"
    assert s["create_fields"] == {"cat": "given\n", "runner_id": "local-runner"}
    container = "sandbox.spec.containers[0]"
    for step, field_name in (("refused_secrets", f"{container}.secret_stores"),
                             ("refused_privileged", f"{container}.security_context.privileged"),
                             ("refused_file", f"{container}.files[0].path")):
        assert s[step].get("expected") is True, (step, s[step])
        assert s[step]["fields"] == [field_name], (step, s[step])
        assert field_name in s[step]["message"]

    services = s["services"]
    assert (services["port"], services["name"]) == (8000, "web")
    assert services["url"].startswith("http://127.") and services["url"].endswith(":8000")
    assert services["page"] == "v1-service\n"
    assert services["pwd"] == "/tmp/site\n" and services["runtime_class"] == "<node-default>"
    assert s["serverless"] == {"status": "running", "runner_id": "local-runner"}
    for step, reason, field_name in (
            ("refused_containers", "CWSANDBOX_NOT_IMPLEMENTED", "sandbox.spec.containers"),
            ("refused_mixed_services", "CWSANDBOX_NOT_IMPLEMENTED", "sandbox.spec.services"),
            ("refused_tls", "CWSANDBOX_TLS_PASSTHROUGH_ENDPOINTS_NOT_SUPPORTED",
             "sandbox.spec.services[0].endpoint.kind")):
        assert s[step]["reason"] == reason and field_name in s[step]["message"], s[step]
    # the SDK's own test skips DNS-name egress on a violation naming dns_name
    assert s["refused_dns_egress"]["type"] == "SandboxValidationError"
    assert s["refused_dns_egress"]["fields"] == ["sandbox.spec.network.egress[0].dns_name"]


@dataclass
class Served:
    url: str


async def test_sdk_1_22_snapshot_flow_against_cwsandbox_tui_serve_v1_only(
        sdk_v1_python: Path, tmp_path: Path) -> None:
    """The issue's done-when: the flow against `cwsandbox-tui serve`, here with `--api v1`."""
    data_dir = tmp_path / "served"
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        serve = subprocess.Popen(
            [sys.executable, "-m", "cwsandbox_tui", "serve", "--api", "v1", "--port", "0",
             "--data-dir", str(data_dir)], cwd=REPO, stdin=subprocess.DEVNULL, stdout=out,
            stderr=out)
    try:
        deadline = time.monotonic() + 20
        while (state := read_state(data_dir)) is None or state.get("pid") != serve.pid:
            assert serve.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"serve did not come up:\n{log.read_text()}"
            await asyncio.sleep(0.05)
        assert state["api"] == "v1"
        result, _ = await asyncio.to_thread(_run, sdk_v1_python, Served(str(state["url"])),
                                            tmp_path)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=20)
    _check(result)
    assert "volume_more" in result["steps"], "the rest of the public API was not walked"
    assert "serving coreweave.sandbox.v1 on" in log.read_text()


async def test_sdk_1_22_with_an_api_key(sdk_v1_python: Path, tmp_path: Path) -> None:
    server = BackendServer(ServerConfig(data_dir=tmp_path / "backend", port=0,
                                        api_key=API_KEY))
    await server.start()
    try:
        result, proc = await asyncio.to_thread(_run, sdk_v1_python, server, tmp_path, API_KEY)
    finally:
        await server.stop(grace=0)
    _check(result)
    assert API_KEY not in proc.stdout and API_KEY not in proc.stderr
