"""Drive our backend with the UNMODIFIED official SDK (cwsandbox 0.26.0): everything of issue 9.

Runs inside the SDK's own virtualenv (see test_official_sdk.py) against CWSANDBOX_BASE_URL:
discovery (every function and filter), pinning, resources and network modes, `python` and
remote functions, log resume across a broken stream (the backend cuts the first StreamLogs
after a few frames), an interactive shell, exec stdin and large output.

Every step runs on its own and records what the SDK saw, or the error it raised, so that one
broken feature does not hide the others. It prints one JSON object: {"sdk_version", "steps"}.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
import urllib.request
from contextlib import suppress
from typing import Any

import cwsandbox
from cwsandbox import NetworkOptions, ResourceOptions, Sandbox, Session
from scenario_steps import raised, step, steps

TAG = "sdk-peer-machine"
ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
started: list[Sandbox] = []


def sandbox(*args: str, **kwargs: Any) -> Sandbox:
    made = Sandbox.run(*args, tags=[TAG], **kwargs)
    started.append(made)
    made.wait()
    return made


def runner_ids(**filters: Any) -> list[str]:
    return [r.runner_id for r in cwsandbox.list_runners(**filters)]


def profile_names(**filters: Any) -> list[str]:
    return [p.profile_name for p in cwsandbox.list_profiles(**filters)]


# discovery ---------------------------------------------------------------------------------

@step("list_runners")
def _() -> Any:
    basic = cwsandbox.list_runners()
    full = cwsandbox.list_runners(include_resources=True)
    r = full[0]
    return {
        "basic_ids": [x.runner_id for x in basic],
        "basic_resources": [x.resources is not None for x in basic],
        "full_ids": [x.runner_id for x in full],
        "group": r.runner_group_id, "healthy": r.healthy, "profiles": list(r.profile_names),
        "max_cpu": r.max_cpu_millicores, "max_memory": r.max_memory_bytes,
        "max_gpu": r.max_gpu_count, "architectures": list(r.supported_architectures),
        "connected_at": r.connected_at.isoformat(),
        "resources": None if r.resources is None else {
            "cpu": r.resources.available_cpu_millicores,
            "memory": r.resources.available_memory_bytes,
            "gpu": r.resources.available_gpu_count,
            "running": r.resources.running_sandboxes},
        "cpus_here": len(os.sched_getaffinity(0)),
        "format_cpu": cwsandbox.format_cpu(r.max_cpu_millicores),
        "format_bytes": cwsandbox.format_bytes(r.max_memory_bytes),
    }


@step("runner_filters")
def _() -> Any:
    return {
        "group_local": runner_ids(runner_group_id="local"),
        "group_other": runner_ids(runner_group_id="elsewhere"),
        "profile_default": runner_ids(profile_name="default"),
        "profile_other": runner_ids(profile_name="gpu-xl"),
        "arch_here": runner_ids(architecture=ARCH),
        "arch_other": runner_ids(architecture="riscv64"),
        "gpu_type": runner_ids(gpu_type="H100"),
        "min_cpu_small": runner_ids(min_available_cpu_millicores=1),
        "min_cpu_huge": runner_ids(min_available_cpu_millicores=10**9),
        "min_memory_small": runner_ids(min_available_memory_bytes=1),
        "min_gpu": runner_ids(min_available_gpu_count=1),
        "egress_none": runner_ids(egress_mode="none"),
        "egress_internet": runner_ids(egress_mode="internet"),
        "exposure_none": runner_ids(service_exposure_mode="none"),
        "exposure_public": runner_ids(service_exposure_mode="public"),
    }


@step("get_runner")
def _() -> Any:
    r = cwsandbox.get_runner("local-runner")
    return {"id": r.runner_id, "has_resources": r.resources is not None,
            "missing": raised(lambda: cwsandbox.get_runner("gpu-runner-9"))}


@step("profiles")
def _() -> Any:
    listed = cwsandbox.list_profiles()
    p = listed[0]
    return {
        "names": [x.profile_name for x in listed], "runner": p.runner_id,
        "architectures": list(p.supported_architectures),
        "egress": [m.name for m in p.egress_modes],
        "exposure": [m.name for m in p.service_exposure_modes],
        "by_runner": profile_names(runner_id="local-runner"),
        "by_other_runner": profile_names(runner_id="elsewhere"),
        "by_arch": profile_names(architecture=ARCH),
        "by_other_arch": profile_names(architecture="riscv64"),
        "by_gpu": profile_names(gpu_type="A100"),
        "by_egress": profile_names(egress_mode="none"),
        "by_other_egress": profile_names(egress_mode="internet"),
        "by_exposure": profile_names(service_exposure_mode="none"),
        "get": cwsandbox.get_profile("default").profile_name,
        "get_on_runner": cwsandbox.get_profile("default", runner_id="local-runner").runner_id,
        "missing": raised(lambda: cwsandbox.get_profile("gpu-xl")),
    }


# placement ---------------------------------------------------------------------------------

@step("pinned")
def _() -> Any:
    before = cwsandbox.get_runner("local-runner").resources
    sb = sandbox(runner_ids=["local-runner"], profile_names=["default"],
                 resources=ResourceOptions(requests={"cpu": "250m", "memory": "128Mi"},
                                           limits={"cpu": "1", "memory": "512Mi"}),
                 network=NetworkOptions(egress_mode="none"))
    after = cwsandbox.get_runner("local-runner").resources
    again = Sandbox.from_id(sb.sandbox_id).result()
    listed = {s.sandbox_id: s for s in Sandbox.list(tags=[TAG]).result()}
    assert before is not None and after is not None
    return {
        "runner_id": sb.runner_id, "profile_id": sb.profile_id,
        "runner_group_id": sb.runner_group_id,
        "resource_requests": sb.resource_requests, "resource_limits": sb.resource_limits,
        "ingress": sb.applied_ingress_mode, "egress": sb.applied_egress_mode,
        "running_delta": after.running_sandboxes - before.running_sandboxes,
        "cpu_delta": before.available_cpu_millicores - after.available_cpu_millicores,
        "memory_delta": before.available_memory_bytes - after.available_memory_bytes,
        "from_id": [again.runner_id, again.profile_id, again.runner_group_id],
        "listed": [listed[sb.sandbox_id].runner_id, listed[sb.sandbox_id].profile_id],
    }


@step("pinned_by_profile_id")
def _() -> Any:
    name = cwsandbox.list_profiles()[0].profile_name  # what discovery advertises
    alone = sandbox(profile_ids=[name])
    beside_runner = sandbox(profile_ids=[name], runner_ids=["local-runner"])
    listed = [s.sandbox_id for s in Sandbox.list(tags=[TAG], profile_ids=[name]).result()]
    return {"name": name, "profile_ids": [alone.profile_id, beside_runner.profile_id],
            "listed": alone.sandbox_id in listed and beside_runner.sandbox_id in listed}


@step("public_port")
def _() -> Any:
    sb = sandbox("python", "-m", "http.server", "8080",
                 ports=[{"container_port": 8080, "name": "http"}],
                 network=NetworkOptions(ingress_mode="public", exposed_ports=(8080,)))
    page = b""
    for _attempt in range(100):  # RUNNING is the server's start, not yet its listen()
        with suppress(OSError):
            with urllib.request.urlopen(f"http://{sb.service_address}/", timeout=5) as reply:
                page = reply.read()
                break
        time.sleep(0.1)
    return {"service_address": sb.service_address, "exposed_ports": sb.exposed_ports,
            "ingress": sb.applied_ingress_mode, "listing": b"Directory listing" in page}


@step("pin_unknown")
def _() -> Any:
    return {"runner": raised(lambda: sandbox(runner_ids=["gpu-runner-9"])),
            "profile": raised(lambda: sandbox(profile_names=["gpu-xl"])),
            "egress": raised(lambda: sandbox(network=NetworkOptions(egress_mode="internet")))}


# runtimes ----------------------------------------------------------------------------------

@step("python")
def _() -> Any:
    sb = sandbox()  # the SDK's default image, python:3.11
    version = sb.exec(["python", "--version"]).result()
    calc = sb.exec(["python3", "-c", "print(6 * 7)"]).result()
    pip = sb.exec(["pip", "--version"]).result()
    proc = sb.exec(["python", "-"], stdin=True)
    proc.stdin.write(b"import sys\nprint('from stdin', sys.version_info[:2])\n").result()
    proc.stdin.close().result()
    piped = proc.result()
    return {"version": version.stdout + version.stderr, "calc": calc.stdout,
            "pip": pip.stdout, "pip_rc": pip.returncode, "stdin": piped.stdout,
            "image": sb.container_image if hasattr(sb, "container_image") else None}


@step("remote_function")
def _() -> Any:
    session = Session(report_to=[])
    try:
        # Its source runs in the sandbox as written, so it names nothing from this module.
        @session.function()
        def add(a, b):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
            import sys as _sys
            return {"sum": a + b, "python": list(_sys.version_info[:2])}

        one = add.remote(2, 3).result()
        many = [ref.result() for ref in add.map([(1, 1), (10, 20)])]
        return {"one": one, "many": [m["sum"] for m in many], "local": add.local(4, 4)["sum"]}
    finally:
        session.close().result()


# logs --------------------------------------------------------------------------------------

@step("log_resume")
def _() -> Any:
    sb = sandbox("/bin/sh", "-c", "for i in $(seq 1 60); do echo log-$i; done; echo log-end; "
                                  "exec sleep infinity")
    lines: list[str] = []
    for line in sb.stream_logs(follow=True):
        lines.append(line.rstrip("\n"))
        if line.startswith("log-end"):
            break
    tail = [line.rstrip("\n") for line in sb.stream_logs(tail_lines=2)]
    stamped = list(sb.stream_logs(tail_lines=1, timestamps=True))
    return {"lines": lines, "tail": tail, "stamped": stamped}


# shell and exec ----------------------------------------------------------------------------

@step("shell")
def _() -> Any:
    sb = sandbox()
    term = sb.shell(["/bin/sh"], width=100, height=30)
    term.stdin.writeline("stty size; echo shell-$((6*7))").result()
    screen = b""
    chunks = iter(term.output)
    while b"shell-42" not in screen:
        screen += next(chunks)
    term.resize(132, 43)
    term.stdin.writeline("stty size; exit 3").result()
    for chunk in chunks:
        screen += chunk
    return {"code": term.wait(timeout=30), "screen": screen.decode(errors="replace")}


@step("exec_stdin_binary")
def _() -> Any:
    sb = sandbox()
    payload = bytes(range(256)) * 4096  # 1 MiB
    proc = sb.exec(["/bin/sh", "-c", "sha256sum | cut -d' ' -f1"], stdin=True)
    for start in range(0, len(payload), 65536):
        proc.stdin.write(payload[start:start + 65536]).result()
    proc.stdin.close().result()
    result = proc.result()
    return {"remote": result.stdout.strip(), "local": hashlib.sha256(payload).hexdigest(),
            "rc": result.returncode}


@step("exec_large_output")
def _() -> Any:
    sb = sandbox()
    result = sb.exec(["seq", "1", "200000"]).result()
    numbers = result.stdout.split()
    failing = sb.exec(["/bin/sh", "-c", "echo oops >&2; exit 4"]).result()
    return {"count": len(numbers), "in_order": numbers == [str(i) for i in range(1, 200001)],
            "bytes": len(result.stdout_bytes), "failing": [failing.returncode, failing.stderr]}


# the rest of the lifecycle -------------------------------------------------------------------

@step("lifecycle")
def _() -> Any:
    short = Sandbox(command="/bin/sh", args=["-c", "echo short-lived; exit 0"], tags=[TAG])
    short.start().result()
    started.append(short)
    finished = short.wait_until_complete(timeout=60).result()
    long = sandbox()
    status = str(long.get_status())
    proc = long.exec(["/bin/sh", "-c", "sleep 30"])
    polled = proc.poll()
    cancelled = proc.cancel()
    done, pending = cwsandbox.wait([long.exec(["true"])], timeout=30)
    [echoed] = cwsandbox.results([long.exec(["echo", "via-results"])])
    cwd = long.exec(["pwd"], cwd="/tmp").result().stdout
    long.write_file("/tmp/peer.txt", b"written by the SDK").result()
    read_back = long.read_file("/tmp/peer.txt").result()
    with Session(report_to=[]) as session:
        owned = session.sandbox(command="/bin/sh", args=["-c", "exec sleep infinity"],
                                tags=[TAG, "session"])
        owned.wait()
        in_session = [s.sandbox_id for s in session.list(tags=["session"]).result()]
        attached = session.from_id(long.sandbox_id, adopt=False).result().sandbox_id
        session.adopt(Sandbox.from_id(owned.sandbox_id).result())
    return {"short": str(finished.get_status()), "status": status, "polled": polled,
            "cancelled": cancelled, "wait": [len(done), len(pending)],
            "results": echoed.stdout, "read_back": read_back.decode(), "cwd": cwd,
            "session": [owned.sandbox_id in in_session, attached == long.sandbox_id,
                        str(Sandbox.from_id(owned.sandbox_id).result().get_status())]}


for made in started:
    with suppress(Exception):
        made.stop().result()

json.dump({"sdk_version": cwsandbox.__version__, "steps": steps}, sys.stdout)
sys.stdout.write("\n")
