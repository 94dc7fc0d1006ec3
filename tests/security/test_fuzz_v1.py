"""The seeded fuzzer of `test_fuzz.py` over every RPC of the v1 services we register
(SandboxService, SettingsService, VolumeService, DiscoveryService, and the refused
SandboxDataPlaneService and SandboxTemplateService), server-streaming
StreamLogs included: no UNKNOWN or INTERNAL, no hang, no host path in an error, and the
server keeps answering a simple call."""

from __future__ import annotations

import asyncio
import os
import random
import time

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor

from cwsandbox_tui.proto.v1 import (
    discovery_pb2,
    sandbox_data_plane_pb2,
    sandbox_pb2,
    sandbox_template_pb2,
    settings_pb2,
    volume_pb2,
)
from tests.backend.v1_helpers import V1, create_request, run_ok, wait_state

from .support import Guarded, guarded_fixture, report  # noqa: F401
from .test_fuzz import CALL_DEADLINE, Fuzzer, Values, _serialize

SEED = int(os.environ.get("CWSANDBOX_FUZZ_SEED", "20261129"))
REQUESTS = 400
BUDGET_SECONDS = 20.0
ALIVE_EVERY = 20
SERVICES = ((sandbox_pb2, "SandboxService"), (settings_pb2, "SettingsService"),
            (volume_pb2, "VolumeService"), (discovery_pb2, "DiscoveryService"),
            (sandbox_data_plane_pb2, "SandboxDataPlaneService"),  # refused, as unoffered
            (sandbox_template_pb2, "SandboxTemplateService"))


def every_v1_method() -> list[tuple[str, MethodDescriptor]]:
    found = []
    for module, name in SERVICES:
        service = module.DESCRIPTOR.services_by_name[name]
        found += [(service.full_name, method) for method in service.methods]
    return found


class V1Fuzzer(Fuzzer):
    async def call(self, service: str, method: MethodDescriptor) -> None:
        if not method.server_streaming or method.client_streaming:
            await super().call(service, method)
            return
        path = f"/{service}/{method.name}"
        response_class = message_factory.GetMessageClass(method.output_type)
        stream = self.guarded.channel.unary_stream(
            path, request_serializer=_serialize, response_deserializer=response_class.FromString)
        request = self.values.message(
            message_factory.GetMessageClass(method.input_type).DESCRIPTOR)
        request.ClearField("follow")  # a followed log never ends by itself: not a hang

        async def drain() -> None:
            async for _ in stream(request, timeout=CALL_DEADLINE):
                pass
        try:
            await asyncio.wait_for(drain(), CALL_DEADLINE + 2)
            outcome = "OK"
        except grpc.aio.AioRpcError as error:
            outcome = error.code().name
            text = (error.details() or "") + repr(error.trailing_metadata())
            if str(self.guarded.data_dir) in text:
                self.bad.append(f"{method.name}: host path in {error.details()!r}")
            if error.code() in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL,
                                grpc.StatusCode.DEADLINE_EXCEEDED):
                self.bad.append(f"{method.name}: {error.code().name} {error.details()!r}")
        except TimeoutError:
            outcome = "HANG"
            self.bad.append(f"{method.name}: hung")
        self.codes[outcome] += 1
        self.per_method[method.name][outcome] += 1

    async def alive(self) -> None:
        started = time.perf_counter()
        await V1.on(self.guarded.channel).settings.GetFileSystemSnapshotBucketConfig(
            settings_pb2.GetFileSystemSnapshotBucketConfigRequest(), timeout=2.0)
        self.alive_ms.append((time.perf_counter() - started) * 1000)


async def _live_objects(v1: V1) -> list[str]:
    created = await v1.sandboxes.CreateSandbox(create_request())
    await wait_state(v1, created.sandbox_id, sandbox_pb2.STATE_RUNNING)
    await run_ok(v1, created.sandbox_id, "echo fuzz > /workspace/f")
    snap = await v1.sandboxes.CreateFileSystemSnapshot(sandbox_pb2.CreateFileSystemSnapshotRequest(
        sandbox_id=created.sandbox_id, scratch_volume_name="workspace"))
    return [created.sandbox_id, snap.file_system_snapshot_id, "workspace", "main",
            "local-runner", "local"]


async def test_fuzz_every_v1_rpc(guarded: Guarded) -> None:
    v1 = V1.on(guarded.channel)
    rng = random.Random(SEED)
    ids = await _live_objects(v1)
    fuzzer = V1Fuzzer(guarded, Values(rng, ids))
    methods = every_v1_method()
    started = time.perf_counter()
    sent = 0
    for index in range(REQUESTS):
        if time.perf_counter() - started > BUDGET_SECONDS:
            break
        service, method = methods[index % len(methods)] if index < len(methods) * 2 \
            else rng.choice(methods)
        await fuzzer.call(service, method)
        sent += 1
        if sent % 100 == 0:  # fresh live objects for the calls to work on
            ids.extend(await _live_objects(v1))
        if sent % ALIVE_EVERY == 0:
            await fuzzer.alive()
    await fuzzer.alive()
    report("fuzzer v1", seed=SEED, requests=sent, methods=len(methods),
           seconds=f"{time.perf_counter() - started:.1f}", unknown=fuzzer.codes["UNKNOWN"],
           internal=fuzzer.codes["INTERNAL"], hangs=fuzzer.codes["HANG"],
           alive_worst_ms=f"{max(fuzzer.alive_ms):.1f}", codes=dict(fuzzer.codes))
    assert sent >= 200, f"only {sent} requests in {BUDGET_SECONDS} s"
    assert not fuzzer.bad, fuzzer.bad[:20]
    untried = {m.name for _, m in methods} - set(fuzzer.per_method)
    assert not untried, untried
