"""Peer test: the UNMODIFIED SDK 0.26.0's remaining public API against our backend: context
managers and `await`, defaults and sessions, start options, record properties, exec and shell
accessors, log and list filters, `cwsandbox.wait`, snapshot and stop options, typed errors
(see sdk_scenario_api.py for what it does)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import test_official_sdk as official
from test_official_sdk import ok

from cwsandbox_tui.backend.faults import Trigger
from cwsandbox_tui.backend.server import BackendServer, ServerConfig

SCENARIO = Path(__file__).with_name("sdk_scenario_api.py")
sdk_python = official.sdk_python  # the cached SDK venv (built once, under a lock)
TIMEOUT = 180
ARCHIVE_RATE = 200_000  # bytes per second
FAULTS = {"ListFileSystemSnapshots": ("unavailable", 2),
          "DeleteFileSystemSnapshot": ("throttle", 2),
          "GetFileSystemSnapshotBucketConfig": ("deadline", 2),
          "List": ("unavailable", 1), "Get": ("deadline", 1)}


@pytest.fixture(scope="module")
def steps(sdk_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    async def scenario() -> dict[str, Any]:
        # archives written slowly, so that a snapshot of a few hundred KB is seen CREATING
        server = BackendServer(ServerConfig(data_dir=tmp_path_factory.mktemp("api"), port=0,
                                            archive_rate=ARCHIVE_RATE))
        await server.start()
        for method, (kind, first) in FAULTS.items():  # the first calls of the scenario's first step
            server.faults.set_fault(method, kind, Trigger(first=first))
        try:
            result = await asyncio.to_thread(official.run_scenario_json, sdk_python, SCENARIO,
                                             server.url, tmp_path_factory.mktemp("cwd"),
                                             TIMEOUT)
            result["steps"]["fault_calls"] = {m: server.faults.calls(m) for m in FAULTS}
            return result  # type: ignore[no-any-return]
        finally:
            await server.stop(grace=0)

    result = asyncio.run(scenario())
    assert result["sdk_version"] == official.SDK_VERSION
    return result["steps"]  # type: ignore[no-any-return]


def refused(value: dict[str, Any], words: str) -> None:
    assert value.get("raised") is not None, f"accepted: {value}"
    assert "CWSandboxError" in value["mro"], value
    assert words in value["message"], value


def test_context_manager_and_record(steps: dict[str, Any]) -> None:
    s = ok(steps, "context_manager")
    assert s["env"] == "from-env\n"
    assert s["status"] == "running" and s["after_exit"] == "completed"  # __exit__ stopped it
    assert s["started_at"] and s["started_at"] == s["from_id_started_at"]
    assert s["status_updated_at"]
    # none of these is reported for a sandbox without ports or GPUs; returncode is None by the
    # 0.26.0 protocol (GetSandboxResponse has no exit code)
    assert [s["returncode"], s["service_address"], s["exposed_ports"], s["resource_gpu"]] == \
        [None, None, None, None]


def test_mounted_files(steps: dict[str, Any]) -> None:
    assert ok(steps, "mounted_files") == {"cat": '{"peer": true}\n', "cat_rc": 0,
                                          "bin_size": "256", "read": True}


def test_start_options_this_machine_cannot_give_are_refused(steps: dict[str, Any]) -> None:
    s = ok(steps, "start_refusals")
    refused(s["secret"], "secret_stores[0].store_name: no secret store 'wandb'")
    refused(s["s3_mount"], "s3_mount: cannot be honoured")
    refused(s["exposed_ports"], "network.ingress_mode: 'none' publishes no ports")
    refused(s["ports"], "ports[0].protocol: 'UDP': only TCP ports are forwarded here")
    refused(s["mounted_outside"], "mounted_files[0].mount_path: '/etc/peer.conf' is outside")


def test_defaults_and_session(steps: dict[str, Any]) -> None:
    s = ok(steps, "defaults_and_session")
    assert s["env"] == "defaults call\n"  # defaults' environment merged with the call's
    assert s["count"] == 1
    assert s["tagged"] == s["expected"]  # defaults' tags on both
    assert s["owned_after_close"] == "completed"  # Session.close() stopped its sandbox


def test_exec_options_and_process(steps: dict[str, Any]) -> None:
    s = ok(steps, "exec_options")
    assert "".join(s["streamed"]) == "out-1\nout-2\nout-3\n"
    assert "".join(s["errors"]) == "err-1\nerr-2\nerr-3\n"
    assert s["wait"] == 0 and s["returncode"] == 0
    assert s["command"] == ["/bin/sh", "-c",
                            "for i in 1 2 3; do echo out-$i; echo err-$i >&2; done"]
    assert s["check"]["raised"] == "SandboxExecutionError"
    assert "exit code 5" in s["check"]["message"]
    assert s["timeout"]["raised"] == "SandboxTimeoutError"
    assert s["check_ok"] == 0
    assert s["exec_stats"] == {"exec_count": 4, "exec_completed_ok": 2,
                               "exec_completed_nonzero": 0, "exec_failures": 2}


def test_terminal_session_accessors(steps: dict[str, Any]) -> None:
    s = ok(steps, "shell_result")
    assert s["command"] == ["/bin/sh", "-c", "echo term-ok; exit 6"]
    assert s["returncode"] == 6 and s["result_returncode"] == 6
    assert s["output"] == "term-ok\r\n"  # a real TTY: ONLCR


def test_ended_sandboxes_and_their_errors(steps: dict[str, Any]) -> None:
    s = ok(steps, "ended")
    assert s["done_status"] == "completed"
    assert s["failed"]["raised"] == "SandboxFailedError"
    assert s["failed_status"] == "failed"
    assert s["exec_after_end"]["raised"] == "SandboxNotRunningError"


def test_snapshot_and_stop_options(steps: dict[str, Any]) -> None:
    s = ok(steps, "stop_options")
    assert s["snapshot_same"] is True  # the same idempotency key: the same snapshot
    assert s["snapshot_status"] in ("creating", "ready")  # wait_for_ready=False
    assert s["status"] == "completed"
    assert s["stop_again"] == {"raised": None, "value": "None"}
    assert s["logs"] == ["ready\n", "bye\n"]  # the graceful stop let its TERM trap run


def test_log_filters(steps: dict[str, Any]) -> None:
    s = ok(steps, "log_filters")
    assert s["followed"] == ["early", "late"]
    assert s["since_future"] == []
    assert s["since_late"] == ["late"]
    assert s["since_past"] == ["early", "late"]


def test_list_filters(steps: dict[str, Any]) -> None:
    s = ok(steps, "list_filters")
    mine = [s["id"]]
    assert s["status_running"] == mine and s["status_completed"] == []
    assert s["runner"] == mine and s["other_runner"] == []
    assert s["profile_name"] == mine and s["profile_id"] == mine


def test_wait_over_mixed_waitables(steps: dict[str, Any]) -> None:
    s = ok(steps, "wait_mixed")
    assert s["done"] == ["OperationRef", "Process", "Sandbox"]
    assert s["pending"] == ["Process"]  # the 30 s sleep
    assert s["fresh_status"] == "running"
    assert s["bad_num"]["raised"] == "ValueError"


def test_remote_function_errors(steps: dict[str, Any]) -> None:
    s = ok(steps, "function_errors")
    assert s["remote_raise"]["raised"] == "SandboxExecutionError"
    assert "bad 3" in s["remote_raise"]["message"]
    assert s["async_refused"]["raised"] == "AsyncFunctionError"
    assert "FunctionError" in s["async_refused"]["mro"]


def test_asyncio(steps: dict[str, Any]) -> None:
    s = ok(steps, "asyncio")
    assert "".join(s.pop("lines")) == "a\nb\n"  # chunks as they came
    assert s == {"returncode": 0,
                                    "read": "async bytes", "listed": True, "term": 2,
                                    "echo": "in async with\n", "own_after": "completed"}


def test_typed_errors_of_real_conditions(steps: dict[str, Any]) -> None:
    s = ok(steps, "typed_errors")
    expected = {"not_supported": ("SnapshotNotSupportedError", "CWSANDBOX_FSS_NOT_SUPPORTED"),
                "too_much_cpu": ("SandboxUnavailableError", "CWSANDBOX_RUNNER_UNAVAILABLE"),
                "gpu": ("SandboxUnavailableError", "CWSANDBOX_RUNNER_UNAVAILABLE"),
                "not_ready": ("SnapshotNotReadyError", "CWSANDBOX_FSS_NOT_READY"),
                "bucket_mismatch": ("SnapshotBucketMismatchError",
                                    "CWSANDBOX_FSS_BUCKET_MISMATCH"),
                "on_stop_conflict": ("SnapshotOnStopConflictError", None)}  # the SDK's own
    assert {k: (s[k]["raised"], s[k]["reason"]) for k in expected} == expected
    assert "1 GPU(s)" in s["gpu"]["message"]
    # a mount is held to its size while it is written (the write past it fails), so what is
    # there still fits a snapshot (an archive over the size, in the moment before the watcher
    # ends its sandbox, would answer success=false: the SDK's generic SandboxSnapshotError)
    over = s["size_exceeded"]
    assert over["returncode"] != 0 and "File too large" in over["stderr"], over
    assert over["snapshot"]["raised"] is None, over
    # an archive that cannot be made answers success=false: the SDK's SandboxSnapshotError
    assert s["too_deep"]["raised"] == "SandboxSnapshotError", s["too_deep"]
    assert "more than 256 deep" in s["too_deep"]["message"]
    assert s["list_failed"] == ["failed"]  # list_snapshots(status=...) filters
    assert s["list_ready"] == [True, ["ready"]]
    assert s["stop_no_wait"] == ["completed", True]  # stop(wait_for_ready=False) with a snapshot


def test_transport_faults(steps: dict[str, Any]) -> None:
    s = ok(steps, "transport_faults")
    calls = steps["fault_calls"]
    # retried by the SDK through two faults each: the third call answered
    assert s["unavailable"] == {"raised": None, "value": "[]"}  # no snapshots yet
    assert s["throttled"] == {"raised": None, "value": "None"}  # gone on a retry: not an error
    assert s["deadline"]["raised"] is None and "cw_managed" in s["deadline"]["value"]
    later_lists = 2  # typed_errors lists snapshots twice more, unfaulted
    assert [calls[m] for m in ("ListFileSystemSnapshots", "DeleteFileSystemSnapshot",
                               "GetFileSystemSnapshotBucketConfig")] == [3 + later_lists, 3, 3]
    # not retried when asked: the typed error of the fault
    assert s["list_no_retry"]["raised"] == "SandboxUnavailableError"
    assert s["get_no_retry"]["raised"] == "SandboxRequestTimeoutError"
