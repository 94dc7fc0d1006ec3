"""Cached virtualenvs, built once from PyPI, each holding this project (editable) beside
what a test needs:

- `sdk-venv-V`: the official SDK `cwsandbox[cli]==V` (1.x also its `wandb` extra, for its W&B
  credentials). One install of both: the proof that this project shares a venv with the SDK
  (both SDKs want protobuf<7, so the resolver must find one protobuf and grpcio for both).
- `runtime-venv-lowest` / `runtime-venv-highest`: this project on the lowest protobuf, grpcio
  and googleapis-common-protos its ranges in pyproject.toml admit (their floors, pinned), and
  on the highest (the newest releases below the caps; rebuilt when a week old).

`<repo>/.cache/NAME`, made with uv (`uv venv` + `uv pip install --compile-bytecode -e <repo>
...`, about 5× faster than pip, whose installs were most of CI's set-up) when the test extra's
uv is beside this interpreter or on PATH, else with `python -m venv` + `pip install`. A marker file
written after a successful install (naming what was asked, this project's dependencies and
the Python) says the venv is complete and current; a file lock keeps parallel runs from
building it twice or using it half-built.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache"
VENV_TIMEOUT = 120
PIP_TIMEOUT = 900
PROBE_TIMEOUT = 60
_NETWORK_MARKERS = (
    "NewConnectionError", "Failed to establish a new connection", "Temporary failure in name",
    "Name or service not known", "Network is unreachable", "Connection refused",
    "ConnectTimeoutError", "ReadTimeoutError", "ProxyError", "SSLError",
    "No route to host", "Connection reset", "timed out",
    "error sending request", "dns error", "Failed to fetch",  # uv's words
)
# the packages whose generated code must agree with ours (runtime venvs pin them)
RUNTIME_PACKAGES = ("protobuf", "grpcio", "googleapis-common-protos")
RUNTIMES = ("lowest", "highest")
HIGHEST_MAX_AGE = 7 * 24 * 3600


class PyPIUnreachable(RuntimeError):
    pass


def _pypi_reachable() -> bool:
    try:
        with socket.create_connection(("pypi.org", 443), timeout=5):
            return True
    except OSError:
        return False


def project_dependencies() -> list[str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    return list(data["project"]["dependencies"])


def bounds(package: str) -> tuple[str, str]:
    """(floor, cap) of `package` in this project's dependencies: `name>=floor,<cap`."""
    for requirement in project_dependencies():
        name = re.match(r"[A-Za-z0-9_.-]+", requirement)
        if name and name.group(0).lower() == package:
            floor = re.search(r">=\s*([\w.]+)", requirement)
            cap = re.search(r"<\s*([\w.]+)", requirement)
            if floor and cap:
                return floor.group(1), cap.group(1)
    raise LookupError(f"pyproject.toml: no '{package}>=A,<B' dependency")


def base_python() -> str:
    """The interpreter the cached venvs are made with: $CWSANDBOX_PEER_PYTHON (CI names the
    oldest claimed CPython, so a later run on another version reuses them instead of
    building them again under tests that use them), else the one running."""
    return os.environ.get("CWSANDBOX_PEER_PYTHON") or sys.executable


class CachedVenv:
    """A venv at `.cache/NAME` with this project and `requirements`, checked by `probe` (a
    Python snippet whose output must be `expect`)."""

    def __init__(self, name: str, requirements: list[str], probe: str, expect: str,
                 max_age: float | None = None) -> None:
        self.name = name
        self.requirements = requirements
        self.probe = probe
        self.expect = expect
        self.max_age = max_age
        self.root = CACHE / name
        self.marker = self.root / ".cwsandbox-installed"
        self.lock = CACHE / f"{name}.lock"

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def bin(self, name: str) -> Path:
        return self.root / "bin" / name

    def _wanted(self) -> dict[str, object]:
        return {"requirements": self.requirements, "project": project_dependencies(),
                "python": base_python()}

    def _ok(self) -> bool:
        if not self.marker.is_file() or not self.python.exists():
            return False
        try:
            info = json.loads(self.marker.read_text())
            if any(info.get(k) != v for k, v in self._wanted().items()):
                return False
            if self.max_age is not None and time.time() - info.get("at", 0) > self.max_age:
                return False
            probe = subprocess.run(
                [str(self.python), "-c", self.probe], capture_output=True, text=True,
                timeout=PROBE_TIMEOUT, stdin=subprocess.DEVNULL, cwd=self.root)
        except (ValueError, OSError, subprocess.TimeoutExpired):
            return False
        return probe.returncode == 0 and probe.stdout.strip() == self.expect

    def _build(self) -> None:
        started = time.monotonic()
        shutil.rmtree(self.root, ignore_errors=True)
        uv = uv_binary()
        # with uv: a venv seeded with pip all the same (tests run `python -m pip` in some)
        make = [uv, "venv", "-q", "--seed", "-p", base_python(), str(self.root)] if uv else \
            [base_python(), "-m", "venv", str(self.root)]
        subprocess.run(make, check=True, capture_output=True, text=True, timeout=VENV_TIMEOUT,
                       stdin=subprocess.DEVNULL)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        what = " ".join(self.requirements)
        # compiled now: the tests' processes start with PYTHONDONTWRITEBYTECODE on CI machines,
        # and would compile grpc, protobuf and the SDK afresh every time
        install = [uv, "pip", "install", "-q", "--python", str(self.python),
                   "--compile-bytecode"] if uv else \
            [str(self.python), "-m", "pip", "install", "--no-input", "--retries", "2",
             "--timeout", "30"]
        try:
            pip = subprocess.run(
                [*install, "-e", str(REPO), *self.requirements],
                capture_output=True, text=True, timeout=PIP_TIMEOUT, env=env,
                stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            shutil.rmtree(self.root, ignore_errors=True)
            raise PyPIUnreachable(f"pip install did not finish within {PIP_TIMEOUT} s") from exc
        if pip.returncode != 0:
            shutil.rmtree(self.root, ignore_errors=True)
            output = pip.stdout + pip.stderr
            network = [line.strip() for line in output.splitlines()
                       if any(m in line for m in _NETWORK_MARKERS)]
            if network or not _pypi_reachable():
                why = network[-1][:300] if network else "pypi.org:443 does not accept connections"
                raise PyPIUnreachable(f"pip install {what} failed: {why}\n{output[-3000:]}")
            raise RuntimeError(f"{' '.join(install[:3])} -e {REPO} {what} failed"
                               f" (exit {pip.returncode}):"
                               f"\n{output[-5000:]}")
        self.marker.write_text(json.dumps({**self._wanted(),
                                           "seconds": round(time.monotonic() - started, 1),
                                           "at": time.time()}))

    def ensure(self) -> Path:
        """The venv's python, building the venv once (under a file lock) if needed."""
        if self._ok():
            return self.python
        CACHE.mkdir(parents=True, exist_ok=True)
        with open(self.lock, "a+") as lock:
            deadline = time.monotonic() + PIP_TIMEOUT + VENV_TIMEOUT + 60
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"waited too long for {self.lock}") from None
                    time.sleep(0.5)
            try:
                if not self._ok():
                    self._build()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        return self.python


def uv_binary() -> str | None:
    """uv beside this interpreter (the test extra installs it), else on PATH; None: pip."""
    beside = Path(sys.executable).with_name("uv")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("uv")


def sdk_extras(version: str) -> list[str]:
    # `cli`: the SDK's `cwsandbox` command (click); `wandb` (1.x): its W&B credentials
    return ["cli"] if version.startswith("0.") else ["cli", "wandb"]


class SdkVenv(CachedVenv):
    def __init__(self, version: str) -> None:
        self.version = version
        self.extras = sdk_extras(version)
        imports = ", ".join(["cwsandbox", "click", "cwsandbox_tui",
                             *(["wandb"] if "wandb" in self.extras else [])])
        super().__init__(f"sdk-venv-{version}",
                         [f"cwsandbox[{','.join(self.extras)}]=={version}"],
                         f"import {imports}; print(cwsandbox.__version__)", version)


class RuntimeVenv(CachedVenv):
    """This project on the lowest or the highest protobuf/grpcio runtime it admits."""

    def __init__(self, which: str) -> None:
        self.which = which
        ranges = {package: bounds(package) for package in RUNTIME_PACKAGES}
        if which == "lowest":
            requirements = [f"{p}=={floor}" for p, (floor, _) in ranges.items()]
        elif which == "highest":
            requirements = [f"{p}<{cap}" for p, (_, cap) in ranges.items()]
        else:
            raise ValueError(f"runtime venv {which!r}: one of {', '.join(RUNTIMES)}")
        super().__init__(f"runtime-venv-{which}", requirements,
                         "import cwsandbox_tui.proto.v1.sandbox_pb2; print('ok')", "ok",
                         max_age=HIGHEST_MAX_AGE if which == "highest" else None)


def _skip_or_fail(exc: PyPIUnreachable, what: str, name: str) -> None:
    import warnings

    import pytest

    message = ("\n" + "!" * 78 + "\n"
               f"!!! PEER TEST NOT RUN: cannot build the {name} venv, PyPI is unreachable.\n"
               f"!!! {what} is UNTESTED in this run.\n"
               f"!!! {str(exc).splitlines()[0]}\n" + "!" * 78)
    if os.environ.get("CI"):
        pytest.fail(message + "\n(CI is set: CI has PyPI and must run this test)\n"
                    + str(exc), pytrace=False)
    warnings.warn(message, stacklevel=2)
    sys.stderr.write(message + "\n")
    pytest.skip(message)


def venv_or_skip(version: str, what: str) -> Path:
    """The SDK venv's python for a test fixture: skipped, loudly, only when PyPI cannot be
    reached, and never in CI (CI has PyPI and must run the peer tests)."""
    try:
        return SdkVenv(version).ensure()
    except PyPIUnreachable as exc:
        _skip_or_fail(exc, what, f"cwsandbox=={version}")
        raise


def runtime_venv_or_skip(which: str, what: str) -> RuntimeVenv:
    venv = RuntimeVenv(which)
    try:
        venv.ensure()
    except PyPIUnreachable as exc:
        _skip_or_fail(exc, what, venv.name)
        raise
    return venv


def _main(names: list[str]) -> int:
    """Build the named venvs at once (pip waits mostly on the network, not the CPU)."""
    from concurrent.futures import ThreadPoolExecutor

    venvs = [RuntimeVenv(name) if name in RUNTIMES else SdkVenv(name) for name in names]
    started = time.monotonic()

    def build(venv: CachedVenv) -> str:
        try:
            return f"{venv.name}: {venv.ensure()} ({time.monotonic() - started:.0f} s)"
        except Exception as exc:  # the others go on; the tests retry this one
            return f"{venv.name}: FAILED {type(exc).__name__}: {str(exc)[-2000:]}"

    with ThreadPoolExecutor(len(venvs) or 1) as pool:
        lines = list(pool.map(build, venvs))
    for line in lines:
        print(f"[peer] {line}", flush=True)
    return 1 if any(": FAILED " in line for line in lines) else 0


if __name__ == "__main__":  # .ci/run builds the venvs while it lints: `... 0.26.0 lowest`
    raise SystemExit(_main(sys.argv[1:]))
