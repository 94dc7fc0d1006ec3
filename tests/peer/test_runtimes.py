"""The generated modules work on every protobuf/grpcio runtime pyproject.toml admits, proven on
the lowest (its floors, pinned) and the highest (the newest releases below its caps): in a venv
holding this project and that runtime (`sdk_venv.RuntimeVenv`), `cwsandbox-tui serve` runs,
`runtime_probe.py` loads every generated module, round-trips messages of both generations and
calls the backend, and the project's CLI lists the sandbox it started. The probe runs with
warnings as errors, so a gencode/runtime version warning fails it too.

Skipped only when the venvs cannot be built because PyPI is unreachable, never when CI is set.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sdk_venv import RUNTIME_PACKAGES, CachedVenv, bounds, runtime_venv_or_skip

from cwsandbox_tui.backend.server import read_state

PROBE = Path(__file__).with_name("runtime_probe.py")
REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 120


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("CWSANDBOX_BASE_URL", "CWSANDBOX_API", "PYTHON", "VIRTUAL_ENV"))}


def serve(venv: CachedVenv, data_dir: Path, log: Path, *args: str,
          env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """`cwsandbox-tui serve` from `venv`, and its URL."""
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(venv.bin("cwsandbox-tui")), "serve", "--port", "0", "--data-dir",
             str(data_dir), *args], stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            env={**_env(), **(env or {})})
    deadline = time.monotonic() + 60
    while (state := read_state(data_dir)) is None or state.get("pid") != process.pid:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"serve did not come up:\n{log.read_text()}", pytrace=False)
        time.sleep(0.05)  # a subprocess's state file: nothing to await on
    return process, str(state["url"])


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def listed_ids(venv: CachedVenv, url: str, *args: str,
               env: dict[str, str] | None = None) -> list[str]:
    """This project's CLI, from `venv`: `sandboxes list --json` against `url`."""
    run = subprocess.run([str(venv.bin("cwsandbox-tui")), "sandboxes", "list", "--endpoint", url,
                          "--json", *args], capture_output=True, text=True, timeout=TIMEOUT,
                         stdin=subprocess.DEVNULL, env={**_env(), **(env or {})})
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}"
    return [row["id"] for row in json.loads(run.stdout)]


@pytest.mark.parametrize("which", ["lowest", "highest"])
def test_generated_modules_on_the_runtimes_the_range_admits(which: str, tmp_path: Path) -> None:
    venv = runtime_venv_or_skip(which, f"The generated modules on the {which} runtime")
    process, url = serve(venv, tmp_path / "data", tmp_path / "serve.log")
    try:
        probe = subprocess.run([str(venv.python), "-W", "error", str(PROBE), url],
                               capture_output=True, text=True, timeout=TIMEOUT,
                               stdin=subprocess.DEVNULL, env=_env())
        assert probe.returncode == 0 and not probe.stderr.strip(), \
            f"{probe.stdout}\n{probe.stderr}"
        result = json.loads(probe.stdout.strip().splitlines()[-1])
        started = result["calls"]["started"]
        assert listed_ids(venv, url) == [started]
        assert listed_ids(venv, url, "--api", "v1") == [started]
    finally:
        stop(process)
    print(f"\n[runtime {which}] {result['versions']}")
    versions = result["versions"]

    def release(text: str) -> tuple[int, ...]:
        parts = [int(part) for part in text.split(".")[:3]]
        return tuple(parts + [0] * (3 - len(parts)))

    for package in RUNTIME_PACKAGES:
        floor, _ = bounds(package)
        if which == "lowest":
            assert release(versions[package]) == release(floor), (package, versions)
        assert release(versions[package]) >= release(floor), (package, versions)
    if which == "highest":  # the newest major below the cap: 7.x for protobuf<8
        assert release(versions["protobuf"])[0] == release(bounds("protobuf")[1])[0] - 1, versions
    generated = sorted(f"cwsandbox_tui.proto.{path.parent.name}.{path.stem}"
                       for gen in ("v1beta2", "v1")
                       for path in (REPO / "cwsandbox_tui" / "proto" / gen).glob("*_pb2*.py"))
    assert sorted(result["modules"]) == generated and len(generated) == 22
    assert result["round_trips"] == ["coreweave.sandbox.v1.Sandbox",
                                     "coreweave.sandbox.v1beta2.StartSandboxRequest",
                                     "google.rpc.Status", "google.protobuf.Timestamp"]
    assert result["calls"]["v1_listed"] == [started]
    assert result["calls"]["v1_state"] == "STATE_RUNNING"
    assert result["calls"]["missing"] == "NOT_FOUND"
