"""Helpers for the v1 backend tests: stubs, requests shaped as SDK 1.22.0 sends them, polls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Iterable
from dataclasses import dataclass
from typing import Any

import grpc

from cwsandbox_tui.proto.v1 import sandbox_pb2 as pb
from cwsandbox_tui.proto.v1 import (
    sandbox_pb2_grpc,
    settings_pb2_grpc,
    volume_pb2_grpc,
)

from .helpers import SLEEPER, poll

STATE_RUNNING = pb.STATE_RUNNING
STATE_COMPLETED = pb.STATE_COMPLETED
V1_TERMINAL = (pb.STATE_COMPLETED, pb.STATE_FAILED, pb.STATE_TERMINATED)
VOLUME = "workspace"
MOUNT = "/workspace"


@dataclass
class V1:
    """Stubs of the v1 services on one channel."""

    sandboxes: sandbox_pb2_grpc.SandboxServiceStub
    settings: settings_pb2_grpc.SettingsServiceStub
    volumes: volume_pb2_grpc.VolumeServiceStub

    @classmethod
    def on(cls, channel: grpc.aio.Channel) -> V1:
        return cls(sandbox_pb2_grpc.SandboxServiceStub(channel),
                   settings_pb2_grpc.SettingsServiceStub(channel),
                   volume_pb2_grpc.VolumeServiceStub(channel))


def create_request(*, args: Iterable[str] = SLEEPER, volume: str | None = VOLUME,
                   mount_path: str = MOUNT, size: str = "1Gi", restore: str = "",
                   tags: Iterable[str] = (), request_id: str = "",
                   env: dict[str, str] | None = None) -> pb.CreateSandboxRequest:
    """As `Sandbox.run(file_system_snapshot=...)` of SDK 1.22.0 builds it (fact sheet 6)."""
    request = pb.CreateSandboxRequest(request_id=request_id)
    spec = request.sandbox.spec
    container = spec.containers.add(name="main", image="python:3.11", command="/bin/sh",
                                    args=list(args))
    container.environment_variables.update(env or {})
    if volume is not None:
        container.volume_mounts.add(volume=volume, mount_path=mount_path)
        entry = spec.volumes.add(name=volume)
        entry.scratch.size = size
        if restore:
            entry.scratch.restore_from_snapshot_id = restore
    spec.tags.extend(tags)
    return request


async def get(v1: V1, sandbox_id: str) -> pb.Sandbox:
    return await v1.sandboxes.GetSandbox(pb.GetSandboxRequest(sandbox_id=sandbox_id))


async def wait_state(v1: V1, sandbox_id: str, want: int | Collection[int],
                     timeout: float = 20) -> pb.Sandbox:
    wanted = {want} if isinstance(want, int) else set(want)

    async def check() -> pb.Sandbox | None:
        found = await get(v1, sandbox_id)
        return found if found.status.state in wanted else None
    return await poll(check, timeout, f"sandbox {sandbox_id} in {sorted(wanted)}")


async def start(v1: V1, **options: Any) -> str:
    created = await v1.sandboxes.CreateSandbox(create_request(**options))
    await wait_state(v1, created.sandbox_id, STATE_RUNNING)
    return created.sandbox_id


async def wait_snapshot(v1: V1, snapshot_id: str, want: int = pb.SNAPSHOT_STATE_READY,
                        timeout: float = 20) -> pb.FileSystemSnapshot:
    async def check() -> pb.FileSystemSnapshot | None:
        found = await v1.sandboxes.GetFileSystemSnapshot(
            pb.GetFileSystemSnapshotRequest(file_system_snapshot_id=snapshot_id))
        if found.state not in (pb.SNAPSHOT_STATE_CREATING, want):
            raise AssertionError(f"snapshot {snapshot_id} is {found.state}: {found.state_reason}")
        return found if found.state == want else None
    return await poll(check, timeout, f"snapshot {snapshot_id} in {want}")


@dataclass
class V1Exec:
    frames: list[pb.ExecStreamResponse]

    @property
    def kinds(self) -> list[str]:
        return [f.WhichOneof("message") or "" for f in self.frames]

    def data(self, stream: int) -> bytes:
        return b"".join(f.output.data for f in self.frames
                        if f.HasField("output") and f.output.stream == stream)

    @property
    def stdout(self) -> bytes:
        return self.data(pb.ExecStreamOutput.STREAM_STDOUT)

    @property
    def exit_code(self) -> int | None:
        codes = [f.exit.exit_code for f in self.frames if f.HasField("exit")]
        return codes[-1] if codes else None


async def run(v1: V1, sandbox_id: str, script: str, stdin: bytes = b"",
              timeout: float = 30) -> V1Exec:
    """The SDK's exec(): one init frame (stdin chunks if any, then close), half-close."""
    async def requests() -> AsyncIterator[pb.ExecStreamRequest]:
        yield pb.ExecStreamRequest(init=pb.ExecStreamInit(
            sandbox_id=sandbox_id, command=["/bin/sh", "-c", script]))
        if stdin:
            yield pb.ExecStreamRequest(stdin=stdin)
            yield pb.ExecStreamRequest(close=pb.ExecStreamClose())

    async def collect() -> list[pb.ExecStreamResponse]:
        return [frame async for frame in v1.sandboxes.StreamExec(requests())]
    return V1Exec(await asyncio.wait_for(collect(), timeout))


async def run_ok(v1: V1, sandbox_id: str, script: str) -> bytes:
    result = await run(v1, sandbox_id, script)
    assert result.exit_code == 0, (script, result.frames)
    return result.stdout
