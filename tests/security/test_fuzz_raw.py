"""Raw bytes over every RPC of both generations: request bytes that are not the method's
message are INVALID_ARGUMENT naming the request, with no traceback in the backend's log.

The backend runs as a `serve` subprocess so that its log is its own. Unary, server- and
client-streaming methods get seeded random and edge byte strings as their (first) message;
the bidirectional streams of both generations also get undecodable bytes after a valid init,
while a command runs or a log is followed (the servicer then reads them in a helper task).
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
from collections.abc import AsyncIterator

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import DecodeError

from cwsandbox_tui.proto.v1 import sandbox_pb2
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb
from cwsandbox_tui.proto.v1beta2 import streaming_pb2 as spb
from tests.backend.helpers import start_sandbox
from tests.backend.serving import ServeProcess

from .support import report
from .test_fuzz import every_method
from .test_fuzz_v1 import every_v1_method

SEED = int(os.environ.get("CWSANDBOX_FUZZ_SEED", "20261129"))
PER_METHOD = 4
CALL_DEADLINE = 10.0
EDGE_BYTES = (b"\x0a\xff\xff\xff\xff\x0f",  # field 1, a length far past the end
              b"\x07",  # wire type 7 does not exist
              b"\x08\x80",  # a varint cut short
              b"\x0a\x02\xc3\x28")  # field 1, a string that is not UTF-8

# The data plane's bidirectional StreamExec is refused (UNIMPLEMENTED, see
# backend/v1/unoffered.py) before it reads a request, so its bytes are never decoded (and
# the client's own write may lose that race: grpc's client-side "Internal error from Core").
REFUSED_UNREAD = {("coreweave.sandbox.v1.SandboxDataPlaneService", "StreamExec")}


def undecodable(method: MethodDescriptor, rng: random.Random, count: int) -> list[bytes]:
    """`count` byte strings that the method's request message refuses to decode."""
    request_class = message_factory.GetMessageClass(method.input_type)
    found: list[bytes] = []
    candidates = [*EDGE_BYTES, *(rng.randbytes(rng.randint(1, 300)) for _ in range(200))]
    rng.shuffle(candidates)
    for raw in candidates:
        try:
            request_class.FromString(raw)
        except DecodeError:
            found.append(raw)
            if len(found) == count:
                break
    assert len(found) == count, method.full_name
    return found


async def _once(raw: bytes) -> AsyncIterator[bytes]:
    yield raw


async def call_raw(channel: grpc.aio.Channel, service: str, method: MethodDescriptor,
                   raw: bytes) -> grpc.StatusCode:
    """Send `raw` as the method's (first) request message; the status the call ends with."""
    path = f"/{service}/{method.name}"
    try:
        if method.client_streaming:
            async for _ in channel.stream_stream(path)(_once(raw), timeout=CALL_DEADLINE):
                pass
        elif method.server_streaming:
            async for _ in channel.unary_stream(path)(raw, timeout=CALL_DEADLINE):
                pass
        else:
            await channel.unary_unary(path)(raw, timeout=CALL_DEADLINE)
    except grpc.aio.AioRpcError as error:
        assert error.code() != grpc.StatusCode.INVALID_ARGUMENT or \
            (error.details() or "").startswith("request: "), error.details()
        return error.code()
    return grpc.StatusCode.OK


async def after_init(channel: grpc.aio.Channel, path: str, init: bytes, raw: bytes
                     ) -> grpc.StatusCode:
    """A valid first message, then (once the server has answered it) `raw`; the stream is
    kept open, so only the server can end the call."""
    answered, ended = asyncio.Event(), asyncio.Event()

    async def requests() -> AsyncIterator[bytes]:
        yield init
        await answered.wait()
        yield raw
        await ended.wait()

    try:
        async for _ in channel.stream_stream(path)(requests(), timeout=CALL_DEADLINE):
            answered.set()
    except grpc.aio.AioRpcError as error:
        return error.code()
    finally:
        ended.set()
    return grpc.StatusCode.OK


async def test_raw_bytes_are_invalid_argument_on_every_method(serve: ServeProcess) -> None:
    gateway, _ = serve.stubs()
    assert serve.channel is not None
    channel = serve.channel
    rng = random.Random(SEED)
    methods = every_method() + every_v1_method()
    codes: collections.Counter[str] = collections.Counter()
    wrong: list[str] = []
    for service, method in methods:
        for raw in undecodable(method, rng, PER_METHOD):
            code = await call_raw(channel, service, method, raw)
            codes[code.name] += 1
            if code != grpc.StatusCode.INVALID_ARGUMENT and (
                    service, method.name) not in REFUSED_UNREAD:
                wrong.append(f"{service}/{method.name} {raw[:16]!r}: {code.name}")

    # undecodable bytes after a valid init: a command waiting on stdin, a followed log
    sid = await start_sandbox(gateway, args=["-c", "echo started; exec sleep infinity"])
    garbage = EDGE_BYTES[0]
    later = {
        "v1beta2 StreamExec": ("/coreweave.sandbox.v1beta2.GatewayStreamingService/StreamExec",
                               spb.ExecStreamRequest(init=spb.ExecStreamInit(
                                   sandbox_id=sid, command=["cat"]))),
        "v1beta2 StreamLogs": ("/coreweave.sandbox.v1beta2.GatewayStreamingService/StreamLogs",
                               spb.LogStreamRequest(init=spb.LogStreamInit(
                                   sandbox_id=sid, follow=True))),
        "v1 StreamExec": ("/coreweave.sandbox.v1.SandboxService/StreamExec",
                          sandbox_pb2.ExecStreamRequest(init=sandbox_pb2.ExecStreamInit(
                              sandbox_id=sid, command=["cat"]))),
    }
    for name, (path, init) in later.items():
        code = await after_init(channel, path, init.SerializeToString(), garbage)
        codes[code.name] += 1
        if code != grpc.StatusCode.INVALID_ARGUMENT:
            wrong.append(f"{name}, bytes after init: {code.name}")
    # the backend still answers, and wrote no traceback for any of it
    await gateway.GetFileSystemSnapshotBucketConfig(
        pb.GetFileSystemSnapshotBucketConfigRequest(), timeout=5)
    log = serve.output
    report("raw bytes", methods=len(methods), requests=sum(codes.values()), codes=dict(codes),
           tracebacks=log.count("Traceback"))
    assert not wrong, wrong[:20]
    assert "Traceback" not in log and "Unexpected" not in log, log[-3000:]
