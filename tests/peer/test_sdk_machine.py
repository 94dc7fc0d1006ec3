"""Peer test: the UNMODIFIED SDK 0.26.0 uses discovery, pinning, runtimes, log resume, shell
and exec against our backend (see sdk_scenario_machine.py for what it does)."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

import pytest
import test_official_sdk as official
from test_official_sdk import ok

from cwsandbox_tui.backend.discovery import machine_architecture
from cwsandbox_tui.backend.faults import Trigger
from cwsandbox_tui.backend.server import BackendServer, ServerConfig

SCENARIO = Path(__file__).with_name("sdk_scenario_machine.py")
sdk_python = official.sdk_python  # the cached SDK venv (built once, under a lock)
TIMEOUT = 240


def _run(sdk_python: Path, server: BackendServer, cwd: Path) -> dict[str, Any]:
    return official.run_scenario_json(sdk_python, SCENARIO, server.url, cwd, TIMEOUT)


@pytest.fixture(scope="module")
def steps(sdk_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    async def scenario() -> dict[str, Any]:
        server = BackendServer(ServerConfig(data_dir=tmp_path_factory.mktemp("machine"),
                                            port=0))
        await server.start()
        # the first followed log breaks after 5 frames: the SDK must resume it
        server.faults.cut_after = 5
        server.faults.set_fault("StreamLogs", "cut", Trigger(first=1))
        try:
            result = await asyncio.to_thread(_run, sdk_python, server,
                                             tmp_path_factory.mktemp("cwd"))
            result["steps"]["stream_logs_calls"] = server.faults.calls("StreamLogs")
            return result
        finally:
            await server.stop(grace=0)

    result = asyncio.run(scenario())
    assert result["sdk_version"] == official.SDK_VERSION
    return result["steps"]  # type: ignore[no-any-return]


def test_list_runners(steps: dict[str, Any]) -> None:
    s = ok(steps, "list_runners")
    assert s["basic_ids"] == ["local-runner"] and s["basic_resources"] == [False]
    assert s["full_ids"] == ["local-runner"]
    assert s["group"] == "local" and s["healthy"] and s["profiles"] == ["default"]
    assert s["max_cpu"] == len(os.sched_getaffinity(0)) * 1000
    assert s["max_memory"] == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert s["max_gpu"] == 0 and s["architectures"] == [machine_architecture()]
    assert s["resources"]["gpu"] == 0 and s["resources"]["cpu"] <= s["max_cpu"]
    assert s["format_cpu"].endswith("vCPU")


def test_runner_filters(steps: dict[str, Any]) -> None:
    s = ok(steps, "runner_filters")
    here, none = ["local-runner"], []
    assert s == {
        "group_local": here, "group_other": none, "profile_default": here,
        "profile_other": none, "arch_here": here, "arch_other": none, "gpu_type": none,
        "min_cpu_small": here, "min_cpu_huge": none, "min_memory_small": here, "min_gpu": none,
        "egress_none": here, "egress_internet": none, "exposure_none": here,
        "exposure_public": here}


def test_get_runner(steps: dict[str, Any]) -> None:
    s = ok(steps, "get_runner")
    assert s["id"] == "local-runner" and s["has_resources"]
    assert s["missing"]["raised"] == "RunnerNotFoundError", s["missing"]
    assert "DiscoveryError" in s["missing"]["mro"]


def test_profiles(steps: dict[str, Any]) -> None:
    s = ok(steps, "profiles")
    assert s["names"] == ["default"] and s["runner"] == "local-runner"
    assert s["egress"] == ["none"] and s["exposure"] == ["none", "public", "private"]
    assert s["architectures"] == [machine_architecture()]
    assert s["by_runner"] == s["by_arch"] == s["by_egress"] == s["by_exposure"] == ["default"]
    assert s["by_other_runner"] == s["by_other_arch"] == s["by_gpu"] == []
    assert s["by_other_egress"] == []
    assert s["get"] == "default" and s["get_on_runner"] == "local-runner"
    assert s["missing"]["raised"] == "ProfileNotFoundError", s["missing"]


def test_pinned_sandbox_reports_placement_resources_and_modes(steps: dict[str, Any]) -> None:
    s = ok(steps, "pinned")
    assert (s["runner_id"], s["profile_id"], s["runner_group_id"]) == (
        "local-runner", "default", "local")
    assert s["resource_requests"] == {"cpu": "250m", "memory": "128Mi"}
    assert s["resource_limits"] == {"cpu": "1", "memory": "512Mi"}
    assert (s["ingress"], s["egress"]) == ("none", "none")
    assert s["running_delta"] == 1
    assert s["cpu_delta"] == 250 and s["memory_delta"] == 128 * 2**20
    assert s["from_id"] == ["local-runner", "default", "local"]
    assert s["listed"] == ["local-runner", "default"]


def test_a_pin_by_the_advertised_profile_name_lands_there(steps: dict[str, Any]) -> None:
    s = ok(steps, "pinned_by_profile_id")
    assert s == {"name": "default", "profile_ids": ["default", "default"], "listed": True}


def test_a_public_port_serves_a_page_at_the_service_address(steps: dict[str, Any]) -> None:
    s = ok(steps, "public_port")
    host, _, port = s["service_address"].rpartition(":")
    assert host.startswith("127.") and port == "8080"
    assert s["exposed_ports"] == [[8080, "http"]] and s["ingress"] == "public"
    assert s["listing"], s


def test_unknown_pins_are_refused(steps: dict[str, Any]) -> None:
    s = ok(steps, "pin_unknown")
    for case in ("runner", "profile", "egress"):
        assert s[case]["raised"] is not None, s[case]
    assert "gpu-runner-9" in s["runner"]["message"]
    assert "gpu-xl" in s["profile"]["message"]
    assert "internet" in s["egress"]["message"]


def test_python_is_there(steps: dict[str, Any]) -> None:
    s = ok(steps, "python")
    assert s["version"].startswith("Python 3."), s
    assert s["calc"] == "42\n"
    assert s["pip_rc"] == 0 and s["pip"].startswith("pip ")
    assert s["stdin"].startswith("from stdin (3, ")


def test_remote_functions(steps: dict[str, Any]) -> None:
    s = ok(steps, "remote_function")
    assert s["one"]["sum"] == 5 and s["one"]["python"][0] == 3
    assert s["many"] == [2, 30] and s["local"] == 8


def test_log_resume_after_a_cut(steps: dict[str, Any]) -> None:
    lines = ok(steps, "log_resume")["lines"]
    assert lines == [f"log-{i}" for i in range(1, 61)] + ["log-end"]
    assert steps["stream_logs_calls"] == 4  # the cut call, the SDK's resume, two tails
    assert ok(steps, "log_resume")["tail"] == ["log-60", "log-end"]
    [stamped] = ok(steps, "log_resume")["stamped"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z log-end\n", stamped), stamped


def test_shell(steps: dict[str, Any]) -> None:
    s = ok(steps, "shell")
    assert s["code"] == 3
    assert "30 100" in s["screen"] and "43 132" in s["screen"] and "shell-42" in s["screen"]


def test_exec_stdin_and_large_output(steps: dict[str, Any]) -> None:
    s = ok(steps, "exec_stdin_binary")
    assert s["rc"] == 0 and s["remote"] == s["local"]
    big = ok(steps, "exec_large_output")
    assert big["count"] == 200000 and big["in_order"] and big["bytes"] > 1_000_000
    assert big["failing"] == [4, "oops\n"]


def test_the_rest_of_the_lifecycle(steps: dict[str, Any]) -> None:
    s = ok(steps, "lifecycle")
    assert s["short"] == "completed" and s["status"] == "running"
    assert s["polled"] is None and s["cancelled"] is True
    assert s["wait"] == [1, 0] and s["results"] == "via-results\n"
    assert s["read_back"] == "written by the SDK" and s["cwd"] == "/tmp\n"
    assert s["session"][:2] == [True, True]
    assert s["session"][2] in ("terminating", "completed")  # the session stopped what it owns
