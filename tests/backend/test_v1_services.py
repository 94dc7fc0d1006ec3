"""v1 create: services published at the sandbox's address, a container's working_dir, the
runtime class echoed, serverless placement on the local runner, and refusals of what the
service itself does not implement in its own words (status, ErrorInfo reason, field)."""

from __future__ import annotations

import grpc
import pytest

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.proto.v1 import sandbox_pb2 as pb

from .helpers import expect_error as expect
from .helpers import poll
from .test_services import fetch
from .v1_helpers import STATE_RUNNING, V1, create_request, run_ok, wait_state

UNIMPLEMENTED = grpc.StatusCode.UNIMPLEMENTED
SERVE = ["-c", "echo v1-page > index.html && exec python3 -m http.server 8000 --bind 127.0.0.1"]


@pytest.fixture
def v1(channel: grpc.aio.Channel) -> V1:
    return V1.on(channel)


async def test_a_public_service_is_reached_at_its_url(v1: V1, backend: BackendServer) -> None:
    request = create_request(args=SERVE)
    request.sandbox.spec.services.add(port=8000, name="web",
                                      visibility=pb.VISIBILITY_PUBLIC)
    created = await v1.sandboxes.CreateSandbox(request)
    assert [(s.port, s.name) for s in created.spec.services] == [(8000, "web")]
    running = await wait_state(v1, created.sandbox_id, STATE_RUNNING)
    [service] = running.status.services
    assert (service.port, service.name, service.visibility) == (8000, "web",
                                                                 pb.VISIBILITY_PUBLIC)
    assert service.url.startswith("http://127.") and service.url.endswith(":8000")
    assert [r.cidr.cidr for r in running.status.effective_ingress] == ["127.0.0.0/8"]
    page = await poll(lambda: fetch(f"{service.url}/index.html"), timeout=20,
                      what="the page at the service's url")
    assert page == b"v1-page\n"
    assert running.status.effective_runtime_class == "<node-default>"


async def test_the_working_dir_is_where_the_command_and_execs_start(v1: V1) -> None:
    request = create_request(args=["-c", "pwd > /tmp/started-in; exec sleep 600"])
    request.sandbox.spec.containers[0].working_dir = "/workspace/app"
    created = await v1.sandboxes.CreateSandbox(request)
    assert created.spec.containers[0].working_dir == "/workspace/app"
    await wait_state(v1, created.sandbox_id, STATE_RUNNING)
    assert await run_ok(v1, created.sandbox_id, "pwd") == b"/workspace/app\n"
    assert await poll(lambda: _read(v1, created.sandbox_id, "/tmp/started-in"),
                      what="the command's own pwd") == b"/workspace/app\n"


async def _read(v1: V1, sandbox_id: str, path: str) -> bytes | None:
    try:
        reply = await v1.sandboxes.ReadFile(pb.ReadFileRequest(sandbox_id=sandbox_id, path=path))
    except grpc.aio.AioRpcError:
        return None
    return reply.content or None


async def test_serverless_lands_on_the_local_runner(v1: V1) -> None:
    request = create_request()
    request.sandbox.spec.mode = pb.SANDBOX_MODE_SERVERLESS
    created = await v1.sandboxes.CreateSandbox(request)
    running = await wait_state(v1, created.sandbox_id, STATE_RUNNING)
    assert running.status.runner_id == "local-runner"


def _service(request: pb.CreateSandboxRequest, **fields: object) -> pb.Service:
    service: pb.Service = request.sandbox.spec.services.add(**fields)  # type: ignore[arg-type]
    return service


async def test_what_the_service_does_not_implement_is_refused_in_its_words(v1: V1) -> None:
    two = create_request()
    two.sandbox.spec.containers.add(name="helper", image="python:3.11", command="sleep")
    both = create_request()
    _service(both, port=80, visibility=pb.VISIBILITY_PUBLIC)
    _service(both, port=81, visibility=pb.VISIBILITY_PRIVATE)
    udp = create_request()
    _service(udp, port=53, protocol=pb.SERVICE_PROTOCOL_UDP)
    tls = create_request()
    _service(tls, port=443).endpoint.kind = pb.ENDPOINT_KIND_TLS_PASSTHROUGH
    token = create_request()
    endpoint = _service(token, port=443).endpoint
    endpoint.kind, endpoint.auth = pb.ENDPOINT_KIND_HTTPS, pb.ENDPOINT_AUTH_SHARE_TOKEN
    cases = [
        (two, UNIMPLEMENTED, "CWSANDBOX_NOT_IMPLEMENTED", "sandbox.spec.containers"),
        (both, UNIMPLEMENTED, "CWSANDBOX_NOT_IMPLEMENTED", "sandbox.spec.services"),
        (udp, UNIMPLEMENTED, "CWSANDBOX_NOT_IMPLEMENTED", "sandbox.spec.services[0].protocol"),
        (tls, UNIMPLEMENTED, "CWSANDBOX_TLS_PASSTHROUGH_ENDPOINTS_NOT_SUPPORTED",
         "sandbox.spec.services[0].endpoint.kind"),
        (token, UNIMPLEMENTED, "CWSANDBOX_HTTPS_SHARE_TOKEN_NOT_SUPPORTED",
         "sandbox.spec.services[0].endpoint.auth"),
    ]
    for request, code, reason, field_name in cases:
        await expect(v1.sandboxes.CreateSandbox(request), code, reason=reason,
                     field_name=field_name)
    listed = await v1.sandboxes.ListSandboxes(pb.ListSandboxesRequest(show_terminated=True))
    assert list(listed.sandboxes) == [], "a refused create leaves nothing behind"
