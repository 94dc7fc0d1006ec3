"""Error details (AIP-193), API-key authentication and where the backend may listen."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from cwsandbox_tui.backend.errors import ApiError, BadField, Code
from cwsandbox_tui.backend.server import (
    BackendConfigError,
    BackendServer,
    DataDirBusy,
    ServerConfig,
    is_loopback,
    read_state,
)
from cwsandbox_tui.backend.wire.errors import STATUS_OF, status_details
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb
from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc, streaming_pb2_grpc
from cwsandbox_tui.proto.v1beta2 import streaming_pb2 as spb

from .conftest import StartBackend
from .helpers import Gateway, details_of, exec_init, expect_error, start_request

API_KEY = "k3y-Xq9-sUpEr-s3cret-4711"


async def test_errors_carry_status_details(gateway: Gateway) -> None:
    found = await expect_error(gateway.GetFileSystemSnapshot(pb.GetFileSystemSnapshotRequest(
        file_system_snapshot_id="fss-none")), grpc.StatusCode.NOT_FOUND,
        reason="CWSANDBOX_FSS_NOT_FOUND")
    assert found.status is not None and found.status.message == found.message
    bad = await expect_error(gateway.Start(start_request(mount_path="rel")),
                             grpc.StatusCode.INVALID_ARGUMENT, field_name="file_system.mount_path")
    assert bad.reason == "", "field errors carry a BadRequest, not a reason"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.com", "10.0.0.1"])
def test_other_hosts_need_a_key(tmp_path: Path, host: str) -> None:
    assert not is_loopback(host)
    with pytest.raises(BackendConfigError, match="API key"):
        BackendServer(ServerConfig(data_dir=tmp_path, host=host, port=0))
    BackendServer(ServerConfig(data_dir=tmp_path, host=host, port=0, api_key=API_KEY))


async def test_serving_beyond_loopback_with_a_key(start_backend: StartBackend) -> None:
    served = await start_backend(host="0.0.0.0", api_key=API_KEY)
    assert served.server.url.startswith("http://0.0.0.0:")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await served.gateway.GetFileSystemSnapshotBucketConfig(
            pb.GetFileSystemSnapshotBucketConfigRequest())
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.fixture
async def keyed(start_backend: StartBackend, caplog: pytest.LogCaptureFixture
                ) -> AsyncIterator[tuple[BackendServer, grpc.aio.Channel]]:
    caplog.set_level(logging.DEBUG)
    served = await start_backend(api_key=API_KEY)
    yield served.server, served.channel


def bearer(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


async def test_api_key_is_required_on_every_call(
        keyed: tuple[BackendServer, grpc.aio.Channel], caplog: pytest.LogCaptureFixture) -> None:
    server, channel = keyed
    gateway = gateway_pb2_grpc.GatewayServiceStub(channel)
    streaming = streaming_pb2_grpc.GatewayStreamingServiceStub(channel)
    request = pb.GetFileSystemSnapshotBucketConfigRequest()
    messages: list[str] = []
    for metadata in ((), bearer("wrong"), bearer(API_KEY[:-1]), bearer(API_KEY + "x"),
                     (("authorization", API_KEY),), (("authorization", f"bearer {API_KEY}"),),
                     (("x-api-key", API_KEY),)):
        found = await expect_error(gateway.GetFileSystemSnapshotBucketConfig(
            request, metadata=metadata), grpc.StatusCode.UNAUTHENTICATED)
        messages.append(found.message)
        assert found.status is not None and API_KEY not in found.status.SerializeToString().decode(
            "latin-1")
    # streams are guarded the same way
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in streaming.StreamExec(iter([exec_init("sb-x", ["true"])])):
            pass
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    messages.append(caught.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in streaming.StreamLogs(iter([spb.LogStreamRequest(
                init=spb.LogStreamInit(sandbox_id="sb-x"))]), metadata=bearer("nope")):
            pass
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # with the right key every call goes through
    config = await gateway.GetFileSystemSnapshotBucketConfig(request, metadata=bearer(API_KEY))
    assert config.effective_bucket_name
    started = await gateway.Start(start_request(mount_path=None, args=["-c", "exit 0"]),
                                  metadata=bearer(API_KEY))
    assert started.sandbox_id
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in streaming.StreamLogs(iter([spb.LogStreamRequest(
                init=spb.LogStreamInit(sandbox_id="sb-x"))]), metadata=bearer(API_KEY)):
            pass
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND, "past the gate, into the service"
    # the key is never said back, logged or written down
    for message in messages:
        assert API_KEY not in message
        assert "Bearer <key>" in message or "API key" in message
    records = caplog.get_records("setup") + caplog.get_records("call")
    assert records, "the backend logs what it serves"
    logged = "\n".join(caplog.handler.format(r) for r in records)
    assert API_KEY not in logged
    assert "authentication: API key required" in logged
    state = read_state(server.config.data_dir)
    assert state is not None and state["auth"] is True
    assert API_KEY not in json.dumps(state)
    for path in server.config.data_dir.rglob("*"):
        if path.is_file():
            assert API_KEY.encode() not in path.read_bytes(), path


def wandb(key: str, entity: str | None = "team-a", project: str | None = None
          ) -> tuple[tuple[str, str], ...]:
    """What SDK 1.22.0's WandbAuth sends."""
    headers = [("x-wandb-api-key", key), ("x-wandb-sdk-version", "0.29.0")]
    headers += [("x-entity-id", entity)] if entity is not None else []
    headers += [("x-project-name", project)] if project is not None else []
    return tuple(headers)


async def test_the_key_in_wandbs_form(keyed: tuple[BackendServer, grpc.aio.Channel],
                                      caplog: pytest.LogCaptureFixture) -> None:
    """The SDK's other credentials: `x-wandb-api-key` with an entity passes the gate on every
    kind of call; a wrong key, a missing or empty entity, or a wrong bearer beside it do not."""
    _, channel = keyed
    gateway = gateway_pb2_grpc.GatewayServiceStub(channel)
    streaming = streaming_pb2_grpc.GatewayStreamingServiceStub(channel)
    request = pb.GetFileSystemSnapshotBucketConfigRequest()
    for metadata in (wandb("wrong"), wandb(API_KEY[:-1]), wandb(API_KEY + "x"),
                     wandb(API_KEY, entity=None), wandb(API_KEY, entity=""),
                     wandb(API_KEY, entity=" "), (("x-entity-id", "team-a"),),
                     (*bearer("wrong"), *wandb(API_KEY)), (("x-wandb-api-key", ""),)):
        found = await expect_error(gateway.GetFileSystemSnapshotBucketConfig(
            request, metadata=metadata), grpc.StatusCode.UNAUTHENTICATED)
        assert API_KEY not in found.message and "x-wandb-api-key" in found.message
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in streaming.StreamLogs(iter([spb.LogStreamRequest(
                init=spb.LogStreamInit(sandbox_id="sb-x"))]), metadata=wandb("nope")):
            pass
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # the right key with an entity (and a project or not) goes through, streams too
    for metadata in (wandb(API_KEY), wandb(API_KEY, project="p")):
        config = await gateway.GetFileSystemSnapshotBucketConfig(request, metadata=metadata)
        assert config.effective_bucket_name
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in streaming.StreamLogs(iter([spb.LogStreamRequest(
                init=spb.LogStreamInit(sandbox_id="sb-x"))]), metadata=wandb(API_KEY)):
            pass
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND, "past the gate, into the service"
    records = caplog.get_records("setup") + caplog.get_records("call")
    assert API_KEY not in "\n".join(caplog.handler.format(r) for r in records)


async def test_no_key_configured_accepts_any_metadata(gateway: Gateway) -> None:
    config = await gateway.GetFileSystemSnapshotBucketConfig(
        pb.GetFileSystemSnapshotBucketConfigRequest(), metadata=bearer("anything"))
    assert config.effective_bucket_name


async def test_one_backend_per_data_directory(backend: BackendServer) -> None:
    second = BackendServer(ServerConfig(data_dir=backend.config.data_dir, port=0))
    with pytest.raises(DataDirBusy) as caught:
        await second.start()
    assert str(backend.port) in str(caught.value)
    state = read_state(backend.config.data_dir)
    assert state is not None and state["port"] == backend.port and state["auth"] is False


async def test_state_file_is_removed_on_stop(data_dir: Path) -> None:
    server = BackendServer(ServerConfig(data_dir=data_dir, port=0))
    await server.start()
    assert read_state(data_dir) is not None
    await server.stop(grace=0)
    assert read_state(data_dir) is None
    # and the directory can be served again at once
    again = BackendServer(ServerConfig(data_dir=data_dir, port=0))
    await again.start()
    await again.stop(grace=0)


async def test_unknown_sandbox_reasons_across_methods(gateway: Gateway) -> None:
    calls = [
        gateway.Get(pb.GetSandboxRequest(sandbox_id="sb-0")),
        gateway.Stop(pb.StopSandboxRequest(sandbox_id="sb-0")),
        gateway.Delete(pb.DeleteSandboxRequest(sandbox_id="sb-0")),
        gateway.Pause(pb.PauseSandboxRequest(sandbox_id="sb-0")),
        gateway.Resume(pb.ResumeSandboxRequest(sandbox_id="sb-0")),
        gateway.AddFile(pb.AddFileSandboxRequest(sandbox_id="sb-0", filepath="x")),
        gateway.RetrieveFile(pb.RetrieveFileSandboxRequest(sandbox_id="sb-0", filepath="x")),
        gateway.CreateFileSystemSnapshot(pb.CreateFileSystemSnapshotRequest(sandbox_id="sb-0")),
    ]
    for call in calls:
        found = await expect_error(call, grpc.StatusCode.NOT_FOUND,
                                   reason="CWSANDBOX_SANDBOX_NOT_FOUND")
        assert found.metadata == {"sandbox_id": "sb-0"}


def test_details_of_reads_every_detail_kind() -> None:
    """The helper the suite relies on reads ErrorInfo, RetryInfo and BadRequest."""
    error = ApiError(Code.RESOURCE_EXHAUSTED, "slow down", reason="R",
                     metadata={"a": "b"}, retry_delay=0.25,
                     violations=(BadField("f", "bad"),))

    class Fake(grpc.aio.AioRpcError):
        def __init__(self) -> None:
            super().__init__(STATUS_OF[error.code], grpc.aio.Metadata(),
                             grpc.aio.Metadata(("grpc-status-details-bin",
                                                status_details(error))), details=error.message)

    found = details_of(Fake())
    assert (found.reason, found.domain, found.metadata) == ("R", "cwsandbox.com", {"a": "b"})
    assert found.retry_delay == 0.25 and found.violations == {"f": "bad"}
