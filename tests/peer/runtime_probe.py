"""Run inside a runtime venv (`sdk_venv.RuntimeVenv`): load every generated module, round-trip
messages of both API generations, and make real calls against `cwsandbox-tui serve` at argv[1]
(a v1beta2 Start, then the sandbox seen through v1). Prints one JSON object on stdout."""

from __future__ import annotations

import asyncio
import importlib
import json
import pkgutil
import sys
from importlib.metadata import version

import grpc
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2, status_pb2

import cwsandbox_tui.proto.v1
import cwsandbox_tui.proto.v1beta2


def load_all() -> list[str]:
    names = []
    for package in (cwsandbox_tui.proto.v1beta2, cwsandbox_tui.proto.v1):
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")
            names.append(f"{package.__name__}.{module.name}")
    return names


def round_trips() -> list[str]:
    from cwsandbox_tui.proto.v1 import sandbox_pb2 as v1
    from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as v1beta2

    sandbox = v1.Sandbox(sandbox_id="sb-1", spec=v1.SandboxSpec(
        containers=[v1.Container(name="main", image="python:3.11", command="sleep", args=["9"],
                                 environment_variables={"A": "b"})],
        tags=["x", "y"], max_lifetime_seconds=60))
    sandbox.status.state = v1.STATE_RUNNING
    sandbox.status.start_time.FromSeconds(1_700_000_000)
    start = v1beta2.StartSandboxRequest(command="sleep", args=["9"], tags=["t"],
                                        container_image="python:3.11")
    status = status_pb2.Status(code=5, message="gone")
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason="R", domain="cwsandbox.com"))
    checked = []
    for message in (sandbox, start, status, timestamp_pb2.Timestamp(seconds=5)):
        again = type(message).FromString(message.SerializeToString())
        assert again == message, type(message).__name__
        checked.append(type(message).DESCRIPTOR.full_name)
    unpacked = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(unpacked) and unpacked.reason == "R"
    return checked


async def calls(url: str) -> dict[str, object]:
    from cwsandbox_tui.proto.v1 import sandbox_pb2 as v1
    from cwsandbox_tui.proto.v1 import sandbox_pb2_grpc as v1_grpc
    from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb
    from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc

    async with grpc.aio.insecure_channel(url.removeprefix("http://")) as channel:
        gateway = gateway_pb2_grpc.GatewayServiceStub(channel)
        started = await gateway.Start(pb.StartSandboxRequest(
            command="/bin/sh", args=["-c", "sleep 600"], tags=["runtime-probe"],
            container_image="python:3.11"))
        async with asyncio.timeout(30):
            while (await gateway.Get(pb.GetSandboxRequest(sandbox_id=started.sandbox_id))
                   ).sandbox_status != pb.SANDBOX_STATUS_RUNNING:
                await asyncio.sleep(0.05)
        listed = await v1_grpc.SandboxServiceStub(channel).ListSandboxes(
            v1.ListSandboxesRequest(tags=["runtime-probe"]))
        try:
            await gateway.Get(pb.GetSandboxRequest(sandbox_id="sb-none"))
            missing = "found"
        except grpc.aio.AioRpcError as error:  # status details decoded on this runtime
            missing = error.code().name
    return {"started": started.sandbox_id,
            "v1_listed": [s.sandbox_id for s in listed.sandboxes],
            "v1_state": v1.State.Name(listed.sandboxes[0].status.state) if listed.sandboxes
            else "", "missing": missing}


def main() -> None:
    result = {"versions": {name: version(name) for name in
                           ("protobuf", "grpcio", "googleapis-common-protos")},
              "modules": load_all(), "round_trips": round_trips(),
              "calls": asyncio.run(calls(sys.argv[1]))}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
