"""A seeded fuzzer over every RPC of GatewayService and GatewayStreamingService.

Requests are built from the message descriptors with random and edge values (NUL bytes,
huge strings and lists, out-of-range numbers and times, unknown enum values, real and
made-up ids). It fails on any UNKNOWN or INTERNAL answer, on a call that outlives its
deadline (a hang), on a server that stops answering a simple call, and on an error that
names the backend's data directory.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message

from cwsandbox_tui.proto.v1beta2 import discovery_pb2 as dpb
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb
from cwsandbox_tui.proto.v1beta2 import streaming_pb2 as spb
from tests.backend.helpers import MOUNT, add_file, snapshot, start_sandbox

from .support import Guarded, guarded_fixture, report  # noqa: F401

SEED = int(os.environ.get("CWSANDBOX_FUZZ_SEED", "20261129"))
REQUESTS = 600
CALL_DEADLINE = 10.0
BUDGET_SECONDS = 30.0
ALIVE_EVERY = 20
ALIVE_DEADLINE = 2.0
MAX_REQUEST_BYTES = 4 << 20

_T = FieldDescriptor


class Values:
    """Random and edge values for each kind of field."""

    def __init__(self, rng: random.Random, ids: list[str]) -> None:
        self.rng = rng
        self.ids = ids
        self.strings = [
            "", " ", "\x00", "a\x00b", "x" * 100_000, "y" * 5000, "é🙂\u202e", "-1",
            "../../../etc/passwd", "/etc/os-release", f"{MOUNT}/f", MOUNT, "/tmp", "/tmp/x",
            "/proc/self/environ", "/dev/zero", "/workspace/../../x", "10Gi", "9" * 400, "1Ti",
            "0", "sb-nope", "fss-nope", "status=ready", "true", "cat", "/bin/true",
            "my-bucket", "us-east-1", "KEY=VALUE", *ids,
        ]
        self.ints = [0, 1, -1, 7, 100, 1001, 2**31 - 1, -(2**31)]

    def string(self) -> str:
        if self.rng.random() < 0.1:
            return "".join(self.rng.choice("abc/.-_\x00é") for _ in range(self.rng.randint(1, 30)))
        return self.rng.choice(self.strings)

    def scalar(self, field: FieldDescriptor) -> Any:
        rng = self.rng
        kind = field.type
        if kind == _T.TYPE_STRING:
            if field.name.endswith("_id") and self.ids and rng.random() < 0.6:
                return rng.choice(self.ids)  # reach past the id checks into real work
            return self.string()
        if kind == _T.TYPE_BYTES:
            return rng.choice([b"", b"\x00" * 7, rng.randbytes(64), b"z" * (2 << 20)])
        if kind == _T.TYPE_BOOL:
            return rng.random() < 0.5
        if kind == _T.TYPE_ENUM:
            return rng.choice([v.number for v in field.enum_type.values] + [99, -1])
        if kind in (_T.TYPE_UINT32, _T.TYPE_FIXED32):
            return rng.choice([0, 1, 80, 2**32 - 1])
        if kind in (_T.TYPE_UINT64, _T.TYPE_FIXED64):
            return rng.choice([0, 1, 10**6, 2**64 - 1])
        if kind in (_T.TYPE_INT64, _T.TYPE_SINT64, _T.TYPE_SFIXED64):
            return rng.choice([0, 1, -1, 10**9, 2**63 - 1, -(2**63), 253402300800])
        if kind in (_T.TYPE_DOUBLE, _T.TYPE_FLOAT):
            return rng.choice([0.0, -1.0, 1e308, float("inf"), float("nan")])
        return rng.choice(self.ints)

    def message(self, desc: Descriptor, depth: int = 0) -> Message:
        """A random message of at most a few MB (the server's limit is far above)."""
        for _ in range(5):
            msg = self._message(desc, depth)
            if msg.ByteSize() <= MAX_REQUEST_BYTES:
                return msg
        return message_factory.GetMessageClass(desc)()

    def _message(self, desc: Descriptor, depth: int) -> Message:
        msg = message_factory.GetMessageClass(desc)()
        for fdesc in desc.fields:
            if self.rng.random() < 0.45:
                continue
            if fdesc.message_type is not None and fdesc.message_type.GetOptions().map_entry:
                target = getattr(msg, fdesc.name)
                value_field = fdesc.message_type.fields_by_name["value"]
                for _ in range(self.rng.choice([1, 1, 2, 300] if depth == 0 else [1])):
                    key = self.scalar(fdesc.message_type.fields_by_name["key"])
                    if value_field.message_type is not None:
                        target[key].CopyFrom(self._message(value_field.message_type, depth + 1))
                    else:
                        target[key] = self.scalar(value_field)
            elif _repeated(fdesc):
                target = getattr(msg, fdesc.name)
                if fdesc.message_type is not None:
                    for _ in range(self.rng.choice([0, 1, 2]) if depth < 2 else 0):
                        target.add().CopyFrom(self._message(fdesc.message_type, depth + 1))
                else:
                    for _ in range(self.rng.choice([0, 1, 2, 3, 2000])):
                        target.append(self.scalar(fdesc))
            elif fdesc.message_type is not None:
                if depth < 3:
                    getattr(msg, fdesc.name).CopyFrom(self._message(fdesc.message_type,
                                                                    depth + 1))
            else:
                setattr(msg, fdesc.name, self.scalar(fdesc))
        return msg


def _repeated(field: FieldDescriptor) -> bool:
    repeated = getattr(field, "is_repeated", None)
    if repeated is not None:
        return bool(repeated)
    return field.label == _T.LABEL_REPEATED


def every_method() -> list[tuple[str, MethodDescriptor]]:
    found = []
    for module, name in ((pb, "GatewayService"), (spb, "GatewayStreamingService"),
                         (dpb, "DiscoveryService")):
        service = module.DESCRIPTOR.services_by_name[name]
        found += [(service.full_name, method) for method in service.methods]
    return found


class Fuzzer:
    def __init__(self, guarded: Guarded, values: Values) -> None:
        self.guarded = guarded
        self.values = values
        self.codes: collections.Counter[str] = collections.Counter()
        self.per_method: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter)
        self.bad: list[str] = []
        self.alive_ms: list[float] = []
        self.client_races = 0

    async def call(self, service: str, method: MethodDescriptor) -> None:
        path = f"/{service}/{method.name}"
        channel = self.guarded.channel
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        try:
            if method.client_streaming:
                stream = channel.stream_stream(path, request_serializer=_serialize,
                                               response_deserializer=response_class.FromString)
                messages = self.stream_messages(method.input_type)
                try:
                    state = StreamState()
                    call = stream(_paced(messages, state), timeout=CALL_DEADLINE)
                    await asyncio.wait_for(_drain(call, state), CALL_DEADLINE + 2)
                except grpc.aio.AioRpcError as error:
                    if not _client_side_internal(error):
                        raise
                    # Our own write raced the server's end of the call, so the client lost
                    # the server's status. Ask again with the first message alone: the
                    # server's answer to this input is what is judged.
                    self.client_races += 1
                    state = StreamState()
                    call = stream(_paced(messages[:1], state), timeout=CALL_DEADLINE)
                    await asyncio.wait_for(_drain(call, state), CALL_DEADLINE + 2)
            else:
                unary = channel.unary_unary(path, request_serializer=_serialize,
                                            response_deserializer=response_class.FromString)
                request = self.values.message(request_class.DESCRIPTOR)
                await asyncio.wait_for(unary(request, timeout=CALL_DEADLINE), CALL_DEADLINE + 2)
            outcome = "OK"
        except grpc.aio.AioRpcError as error:
            outcome = error.code().name
            text = (error.details() or "") + repr(error.trailing_metadata())
            if str(self.guarded.data_dir) in text:
                self.bad.append(f"{method.name}: host path in {error.details()!r}")
            if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                self.bad.append(f"{method.name}: no answer within {CALL_DEADLINE} s")
            if error.code() in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL):
                self.bad.append(f"{method.name}: {error.code().name} {error.details()!r}")
        except TimeoutError:
            outcome = "HANG"
            self.bad.append(f"{method.name}: hung")
        if outcome in ("UNKNOWN", "INTERNAL"):
            self.bad.append(f"{method.name}: {outcome}")
        self.codes[outcome] += 1
        self.per_method[method.name][outcome] += 1

    def stream_messages(self, desc: Descriptor) -> list[Message]:
        messages = []
        for index in range(self.values.rng.randint(1, 3)):
            msg = self.values.message(desc)
            if index == 0 and self.values.rng.random() < 0.8 and "init" in desc.fields_by_name:
                init = desc.fields_by_name["init"].message_type
                msg.init.CopyFrom(self.values.message(init))
            messages.append(msg)
        close = message_factory.GetMessageClass(desc)()
        close.close.SetInParent()  # ends a follow and stdin alike
        return [*messages, close]

    async def alive(self) -> None:
        started = time.perf_counter()
        await self.guarded.gateway.GetFileSystemSnapshotBucketConfig(
            pb.GetFileSystemSnapshotBucketConfigRequest(), timeout=ALIVE_DEADLINE)
        self.alive_ms.append((time.perf_counter() - started) * 1000)


def _client_side_internal(error: grpc.aio.AioRpcError) -> bool:
    """grpc's client sets this status itself when a write fails after the server ended the
    call (its `set_internal_error`); the server never sent it."""
    return (error.code() == grpc.StatusCode.INTERNAL
            and error.details() == "Internal error from Core")


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


@dataclass
class StreamState:
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    ended: bool = False


async def _paced(messages: list[Message], state: StreamState) -> AsyncIterator[Message]:
    """The first message, then the rest once the server has answered (or half a second).

    A client still writing when the server has already ended the call sees grpc's own
    "Internal error from Core" instead of the server's status: pacing keeps the fuzzer
    reading what the server said.
    """
    yield messages[0]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(state.answered.wait(), 0.5)
    for message in messages[1:]:
        if state.ended:
            return
        yield message


async def _drain(call: Any, state: StreamState) -> None:
    try:
        async for _ in call:
            state.answered.set()
    finally:
        state.ended = True
        state.answered.set()


async def test_fuzz_every_rpc(guarded: Guarded) -> None:
    gateway = guarded.gateway
    sid = await start_sandbox(gateway)
    await add_file(gateway, sid, f"{MOUNT}/f", b"fuzz")
    snap_id = (await snapshot(gateway, sid)).file_system_snapshot_id
    rng = random.Random(SEED)
    ids = [sid, snap_id]
    fuzzer = Fuzzer(guarded, Values(rng, ids))
    methods = every_method()
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
            fresh = await start_sandbox(gateway)
            ids.append(fresh)
            ids.append((await snapshot(gateway, fresh)).file_system_snapshot_id)
        if sent % ALIVE_EVERY == 0:
            await fuzzer.alive()
    await fuzzer.alive()
    took = time.perf_counter() - started
    report("fuzzer", seed=SEED, requests=sent, methods=len(methods), seconds=f"{took:.1f}",
           unknown=fuzzer.codes["UNKNOWN"], internal=fuzzer.codes["INTERNAL"],
           hangs=fuzzer.codes["HANG"], client_races=fuzzer.client_races,
               alive_worst_ms=f"{max(fuzzer.alive_ms):.1f}",
           codes=dict(fuzzer.codes))
    print({name: dict(counts) for name, counts in fuzzer.per_method.items()})
    assert sent >= 300, f"only {sent} requests in {BUDGET_SECONDS} s"
    assert not fuzzer.bad, fuzzer.bad[:20]
    untried = {m.name for _, m in methods} - set(fuzzer.per_method)
    assert not untried, untried
