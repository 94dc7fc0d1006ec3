"""A gRPC proxy of our own between client and server: latency and faults on every call.

    python -m bench.proxy --upstream 127.0.0.1:PORT [--latency 20ms]
        [--unavailable 20%] [--throttle 10%] [--retry-delay 100ms] [--lost 50%]
        [--methods REGEX] [--seed N] [--port 0]

It knows no service: one generic handler takes every method as a stream of raw bytes in
both directions (unary calls are a stream of one message on the wire) and forwards it
upstream over one shared channel, with the caller's metadata (authorization included) and
deadline. What comes back is relayed as it came: initial metadata, every message, trailing
metadata (`grpc-status-details-bin` with RetryInfo, ErrorInfo, BadRequest), status code and
details.

Every call waits `--latency` before it is forwarded, as a network round trip would make it
wait. Faults, drawn per call from one seeded generator, on the methods matching `--methods`
(default: every method):

* `--unavailable P`: the call ends UNAVAILABLE. A fraction `--lost` of those is forwarded
  first and its answer dropped (the change is made, the caller never hears of it).
* `--throttle P`: the call ends RESOURCE_EXHAUSTED with a RetryInfo of `--retry-delay`,
  without being forwarded.

When it serves it prints one JSON line on stdout: {"port": N, "pid": N}. SIGTERM stops it;
on exit it prints a JSON line of counts (calls per method, faults injected) on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

DETAILS_KEY = "grpc-status-details-bin"
# Metadata gRPC itself sets on a call: never copied by hand.
RESERVED = ("grpc-", ":")
HOP = frozenset({"user-agent", "te", "content-type", "host"})
MAX_MESSAGE = 128 * 1024 * 1024


def parse_rate(text: str) -> float:
    rate = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r}: a rate is between 0 and 1 (or 0% and 100%)")
    return rate


def parse_duration(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)?", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 20ms or 1.5s")
    return float(match.group(1)) * (0.001 if match.group(2) == "ms" else 1.0)


def forwardable(metadata: Sequence[tuple[str, Any]] | None) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in metadata or () if not k.startswith(RESERVED) and k not in HOP]


def throttled_details(message: str, retry_delay: float) -> bytes:
    status = status_pb2.Status(code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0],
                               message=message)
    delay = duration_pb2.Duration()
    delay.FromNanoseconds(int(retry_delay * 1e9))
    packed = any_pb2.Any()
    packed.Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    status.details.append(packed)
    return status.SerializeToString()


class Proxy(grpc.GenericRpcHandler):
    def __init__(self, channel: grpc.aio.Channel, args: argparse.Namespace) -> None:
        self.channel = channel
        self.latency: float = args.latency
        self.unavailable: float = args.unavailable
        self.throttle: float = args.throttle
        self.lost: float = args.lost
        self.retry_delay: float = args.retry_delay
        self.methods = re.compile(args.methods)
        self.rng = random.Random(args.seed)
        self.unary = unary_methods()
        self.calls: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.in_flight = 0
        self.peak_in_flight = 0

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = str(details.method)
        # No (de)serializers: requests and responses stay bytes, whatever the method.
        if method in self.unary:
            async def handle_unary(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
                return await self.forward_unary(method, request, context)

            return grpc.unary_unary_rpc_method_handler(handle_unary)

        async def handle(requests: AsyncIterator[bytes],
                         context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
            async for reply in self.forward(method, requests, context):
                yield reply

        return grpc.stream_stream_rpc_method_handler(handle)

    def draw(self, method: str) -> str:
        """Which fault this call gets: "", "unavailable", "lost" or "throttle"."""
        if not self.methods.search(method.rsplit("/", 1)[-1]):
            return ""
        roll = self.rng.random()
        if roll < self.unavailable:
            return "lost" if self.rng.random() < self.lost else "unavailable"
        if roll < self.unavailable + self.throttle:
            return "throttle"
        return ""

    def _begin(self, method: str) -> None:
        self.calls[method] += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    async def _inject(self, method: str, context: grpc.aio.ServicerContext) -> str:
        """The latency, then this call's fault; a fault that ends the call here aborts it."""
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = self.draw(method)
        if fault:
            self.faults[fault] += 1
        if fault == "throttle":
            context.set_trailing_metadata(
                ((DETAILS_KEY, throttled_details("throttled by the proxy", self.retry_delay)),))
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "throttled by the proxy")
        if fault == "unavailable":
            await context.abort(grpc.StatusCode.UNAVAILABLE, "unavailable (proxy fault)")
        return fault

    @staticmethod
    def _call_options(context: grpc.aio.ServicerContext) -> dict[str, Any]:
        remaining = context.time_remaining()
        return {"metadata": forwardable(context.invocation_metadata()),
                "timeout": remaining if remaining is not None and remaining < 1e8 else None}

    @staticmethod
    async def _relay_end(context: grpc.aio.ServicerContext, fault: str, code: grpc.StatusCode,
                         details: str, trailing: Sequence[tuple[str, Any]] | None) -> None:
        if fault == "lost":
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the answer was lost (proxy fault)")
        kept = [(k, v) for k, v in trailing or () if not k.startswith(":")
                and (k == DETAILS_KEY or not k.startswith("grpc-"))]
        if kept:
            context.set_trailing_metadata(kept)
        if code is not grpc.StatusCode.OK:
            await context.abort(code, details or "")

    async def forward_unary(self, method: str, request: bytes,
                            context: grpc.aio.ServicerContext) -> bytes:
        self._begin(method)
        try:
            fault = await self._inject(method, context)
            call = self.channel.unary_unary(method)(request, **self._call_options(context))
            reply = b""
            try:
                reply = await call
                code, details = grpc.StatusCode.OK, ""
                trailing = await call.trailing_metadata()
                initial = await call.initial_metadata()
                if initial and fault != "lost":
                    await context.send_initial_metadata(forwardable(initial))
            except grpc.aio.AioRpcError as error:
                code, details = error.code(), error.details() or ""
                trailing = error.trailing_metadata()
            await self._relay_end(context, fault, code, details, trailing)
            return reply
        finally:
            self.in_flight -= 1

    async def forward(self, method: str, requests: AsyncIterator[bytes],
                      context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        """Any kind of call, as a stream of messages each way."""
        self._begin(method)
        try:
            fault = await self._inject(method, context)
            call = self.channel.stream_stream(method)(requests, **self._call_options(context))
            try:
                initial = await call.initial_metadata()
                if fault != "lost" and initial:
                    await context.send_initial_metadata(forwardable(initial))
                async for reply in call:
                    if fault != "lost":
                        yield reply
                code, details = await call.code(), await call.details()
                trailing = await call.trailing_metadata()
            except grpc.aio.AioRpcError as error:
                code, details = error.code(), error.details() or ""
                trailing = error.trailing_metadata()
            except asyncio.CancelledError:
                call.cancel()
                raise
            await self._relay_end(context, fault, code, details, trailing)
        finally:
            self.in_flight -= 1


def unary_methods() -> set[str]:
    """The unary methods of the services whose generated modules are at hand (ours); any
    other method is forwarded as a stream, which is right for every kind, only slower."""
    import importlib
    import pkgutil

    found: set[str] = set()
    try:
        import cwsandbox_tui.proto as protos
    except ImportError:
        return found
    for info in pkgutil.walk_packages(protos.__path__, protos.__name__ + "."):
        if not info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(info.name)
        for service in module.DESCRIPTOR.services_by_name.values():
            for m in service.methods:
                if not m.client_streaming and not m.server_streaming:
                    found.add(f"/{service.full_name}/{m.name}")
    return found


async def serve(args: argparse.Namespace) -> None:
    options = [("grpc.max_receive_message_length", MAX_MESSAGE),
               ("grpc.max_send_message_length", MAX_MESSAGE)]
    channel = grpc.aio.insecure_channel(args.upstream, options=options)
    proxy = Proxy(channel, args)
    server = grpc.aio.server(handlers=[proxy], options=options,
                             maximum_concurrent_rpcs=None)
    port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    await server.start()
    print(json.dumps({"port": port, "pid": __import__("os").getpid()}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop(grace=0.5)
    await channel.close()
    print(json.dumps({"calls": dict(proxy.calls), "faults": dict(proxy.faults),
                      "peak_in_flight": proxy.peak_in_flight}), file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True, help="host:port of the real server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=parse_duration, default=0.0,
                        help="added to every call before it is forwarded (e.g. 20ms)")
    parser.add_argument("--unavailable", type=parse_rate, default=0.0)
    parser.add_argument("--lost", type=parse_rate, default=0.0,
                        help="of the UNAVAILABLE faults, the share forwarded first")
    parser.add_argument("--throttle", type=parse_rate, default=0.0)
    parser.add_argument("--retry-delay", type=parse_duration, default=0.1,
                        help="the RetryInfo hint of a throttled call")
    parser.add_argument("--methods", default=".*",
                        help="faults only on methods whose name matches this regex")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.unavailable + args.throttle > 1:
        parser.error("--unavailable and --throttle add up to more than 100%")
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
