"""Images on a machine that runs no containers: Python images get python, python3 and pip."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from cwsandbox_tui.backend import images
from cwsandbox_tui.backend.isolation import BASE_PATH
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb
from cwsandbox_tui.proto.v1beta2 import streaming_pb2 as spb

from .helpers import (
    RUNNING,
    Gateway,
    Streaming,
    collect_exec,
    exec_init,
    sh,
    sh_ok,
    start_request,
    wait_status,
)

MACHINE_PYTHON = images._find("python3", BASE_PATH)
needs_python = pytest.mark.skipif(MACHINE_PYTHON is None, reason="no python3 on the base PATH")


async def start_image(gateway: Gateway, image: str) -> str:
    request = start_request()
    request.container_image = image
    reply = await gateway.Start(request)
    await wait_status(gateway, reply.sandbox_id, RUNNING)
    return reply.sandbox_id


def machine_version() -> str:
    assert MACHINE_PYTHON is not None
    said = subprocess.run([MACHINE_PYTHON, "-c", "import sys; print(*sys.version_info[:2])"],
                          capture_output=True, text=True, check=True, timeout=30).stdout
    return ".".join(said.split())


@pytest.mark.parametrize(("image", "repo", "tag"), [
    ("python:3.11", "python", "3.11"),
    ("docker.io/library/python:3.12-slim", "library/python", "3.12-slim"),
    ("localhost:5000/python", "python", ""),
    ("ghcr.io/acme/trainer:2.4", "acme/trainer", "2.4"),
    ("python@sha256:abc", "python", ""),
])
def test_image_names_are_parsed(image: str, repo: str, tag: str) -> None:
    assert images.parse_image(image) == (repo, tag)


@needs_python
async def test_python_image_has_python_python3_and_pip(
        gateway: Gateway, streaming: Streaming, backend: BackendServer) -> None:
    assert backend.engine is not None
    version = machine_version()
    sid = await start_image(gateway, f"python:{version}")
    out = await sh_ok(streaming, sid, "command -v python; command -v python3; command -v pip; "
                                      "python --version; "
                                      "python3 -c 'import sys; print(sys.version_info[:2])'; "
                                      "pip --version")
    lines = out.decode().splitlines()
    assert len(lines) == 6, lines
    bin_dir = images.SANDBOX_BIN if backend.engine.isolation.isolated else "/bin"
    assert [line.rpartition("/")[0].endswith(bin_dir) for line in lines[:3]] == [True] * 3, lines
    assert lines[3].startswith(f"Python {version}"), lines
    major, minor = version.split(".")
    assert lines[4] == f"({major}, {minor})"
    assert lines[5].startswith("pip ") and f"(python {version})" in lines[5]
    got = await gateway.Get(pb.GetSandboxRequest(sandbox_id=sid))
    runtime = got.local_details.runtime
    assert runtime.startswith(f"image python:{version}: python {version} from ")
    assert "root file system" in runtime


@needs_python
async def test_python_reads_stdin_and_runs_c(gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_image(gateway, "python:3")

    async def requests() -> AsyncIterator[spb.ExecStreamRequest]:
        yield exec_init(sid, ["python", "-"])
        yield spb.ExecStreamRequest(stdin=spb.ExecStreamData(
            data=b"import sys\nprint(sum(range(10)), sys.argv)\n"))
        yield spb.ExecStreamRequest(close=spb.ExecStreamClose())

    result = await collect_exec(streaming.StreamExec(requests()))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == b"45 ['-']\n"
    c = await sh(streaming, sid, "python -c 'raise SystemExit(4)'")
    assert c.exit_code == 4


@needs_python
async def test_a_python_the_machine_lacks_falls_back_and_says_so(
        gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_image(gateway, "python:2.7")
    out = await sh_ok(streaming, sid, "python -c 'import sys; print(sys.version_info[0])'")
    assert out == b"3\n"
    got = await gateway.Get(pb.GetSandboxRequest(sandbox_id=sid))
    assert "python 2.7 is not on this machine" in got.local_details.runtime
    assert f"machine's own python {machine_version()}" in got.local_details.runtime


async def test_other_images_run_on_the_root_file_system_and_say_so(
        gateway: Gateway, streaming: Streaming) -> None:
    sid = await start_image(gateway, "ubuntu:22.04")
    got = await gateway.Get(pb.GetSandboxRequest(sandbox_id=sid))
    assert got.local_details.runtime == ("image ubuntu:22.04 is not available here: it runs on "
                                         "the machine's root file system")
    path = await sh_ok(streaming, sid, "echo $PATH")
    assert path.decode().strip() == BASE_PATH  # no runtime directory was added


@needs_python
async def test_the_runtime_directory_is_read_only_in_the_sandbox(
        gateway: Gateway, streaming: Streaming, backend: BackendServer) -> None:
    sid = await start_image(gateway, "python:3.11")
    engine = backend.engine
    assert engine is not None
    if not engine.isolation.isolated:
        pytest.skip("only an isolated sandbox has the directory bound read-only")
    result = await sh(streaming, sid, f"rm -f {images.SANDBOX_BIN}/python; "
                                      f"echo x > {images.SANDBOX_BIN}/evil")
    assert result.exit_code != 0
    assert b"Read-only" in result.stderr
    assert os.path.islink(engine.runtime.sandbox_dir(sid) / "bin" / "python")


def test_provide_is_honest_without_any_python(tmp_path: object) -> None:
    runtime = images.provide("python:3.11", search_path=str(tmp_path))
    assert runtime.links == {} and "no python3" in runtime.note
    assert sys.executable  # the test process itself is unaffected
