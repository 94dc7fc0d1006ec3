"""A cached virtualenv holding one version of the official SDK, built once from PyPI.

Like the 0.26.0 venv of `test_official_sdk.py`, for any version: `<repo>/.cache/sdk-venv-V`,
made with `python -m venv` + `pip install 'cwsandbox[cli]==V' 'protobuf<7'` (the `cli` extra
brings click for the SDK's own `cwsandbox` command; every SDK release pins
protobuf below 7, ours is 7, so the SDK never shares our venv or our process). A marker file
written after a successful install says the venv is complete; a file lock keeps parallel
runs from building it twice or using it half-built.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache"
VENV_TIMEOUT = 120
PIP_TIMEOUT = 600
PROBE_TIMEOUT = 30
EXTRAS = ["cli"]  # the SDK's `cwsandbox` command line needs click
_NETWORK_MARKERS = (
    "NewConnectionError", "Failed to establish a new connection", "Temporary failure in name",
    "Name or service not known", "Network is unreachable", "Connection refused",
    "ConnectTimeoutError", "ReadTimeoutError", "ProxyError", "SSLError",
    "No route to host", "Connection reset", "timed out",
)


class PyPIUnreachable(RuntimeError):
    pass


def _pypi_reachable() -> bool:
    try:
        with socket.create_connection(("pypi.org", 443), timeout=5):
            return True
    except OSError:
        return False


class SdkVenv:
    def __init__(self, version: str) -> None:
        self.version = version
        self.root = CACHE / f"sdk-venv-{version}"
        self.marker = self.root / ".cwsandbox-installed"
        self.lock = CACHE / f"sdk-venv-{version}.lock"

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def _ok(self) -> bool:
        if not self.marker.is_file() or not self.python.exists():
            return False
        try:
            info = json.loads(self.marker.read_text())
            probe = subprocess.run(
                [str(self.python), "-c",
                 "import cwsandbox, click; print(cwsandbox.__version__)"],
                capture_output=True, text=True, timeout=PROBE_TIMEOUT, stdin=subprocess.DEVNULL)
        except (ValueError, OSError, subprocess.TimeoutExpired):
            return False
        return (info.get("sdk") == self.version and info.get("extras") == EXTRAS
                and probe.returncode == 0
                and probe.stdout.strip() == self.version)

    def _build(self) -> None:
        started = time.monotonic()
        shutil.rmtree(self.root, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(self.root)], check=True,
                       capture_output=True, text=True, timeout=VENV_TIMEOUT,
                       stdin=subprocess.DEVNULL)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        package = f"cwsandbox[{','.join(EXTRAS)}]=={self.version}"
        try:
            pip = subprocess.run(
                [str(self.python), "-m", "pip", "install", "--no-input", "--retries", "2",
                 "--timeout", "30", package, "protobuf<7"],
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
                raise PyPIUnreachable(f"pip install {package} failed: {why}\n{output[-3000:]}")
            raise RuntimeError(f"pip install {package} failed (exit {pip.returncode}):\n"
                               f"{output[-5000:]}")
        self.marker.write_text(json.dumps({"sdk": self.version, "extras": EXTRAS,
                                           "python": sys.version.split()[0],
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


def venv_or_skip(version: str, what: str) -> Path:
    """The SDK venv's python for a test fixture: skipped, loudly, only when PyPI cannot be
    reached, and never in CI (CI has PyPI and must run the peer tests)."""
    import warnings

    import pytest

    try:
        return SdkVenv(version).ensure()
    except PyPIUnreachable as exc:
        message = ("\n" + "!" * 78 + "\n"
                   f"!!! PEER TEST NOT RUN: cannot build the cwsandbox=={version} venv, "
                   "PyPI is unreachable.\n"
                   f"!!! {what} is UNTESTED in this run.\n"
                   f"!!! {str(exc).splitlines()[0]}\n" + "!" * 78)
        if os.environ.get("CI"):
            pytest.fail(message + "\n(CI is set: CI has PyPI and must run this test)\n"
                        + str(exc), pytrace=False)
        warnings.warn(message, stacklevel=1)
        sys.stderr.write(message + "\n")
        pytest.skip(message)


if __name__ == "__main__":  # .ci/run builds the venvs while it lints: `python -m ... 0.26.0`
    for wanted in sys.argv[1:]:
        print(f"[peer] cwsandbox=={wanted}: {SdkVenv(wanted).ensure()}", flush=True)
