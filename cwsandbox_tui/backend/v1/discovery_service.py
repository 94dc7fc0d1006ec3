"""`coreweave.sandbox.v1.DiscoveryService`: this machine as the one runner.

List defaults to the BASIC view (no live resources) and Get to FULL, as upstream does. The
local runner keeps PUBLIC and PRIVATE services (both published on the host's loopback); a
filter on another visibility finds no runner.
"""

from __future__ import annotations

from typing import Any

from ...proto.v1 import discovery_pb2 as pb
from ...proto.v1 import discovery_pb2_grpc
from ..discovery import CatalogueRunner, runner_not_found
from ..engine import Engine
from ..errors import invalid
from . import convert
from .common import call, required

ORGANIZATION_ID = "local"  # the one organisation of the local backend


class V1DiscoveryService(discovery_pb2_grpc.DiscoveryServiceServicer):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _message(self, runner: CatalogueRunner, full: bool) -> pb.AvailableRunner:
        message = pb.AvailableRunner(
            runner_id=runner.runner_id, runner_group_id=runner.group_id, tags=runner.tags,
            healthy=runner.healthy, is_shared=runner.shared,
            organization_id=ORGANIZATION_ID)
        convert.stamp(message.connected_at, runner.connected_at)
        caps = message.capabilities
        caps.max_cpu_millicores = runner.capacity.cpu_millicores
        caps.max_memory_bytes = runner.capacity.memory_bytes
        caps.max_gpu_count = runner.capacity.gpu_count
        caps.supported_gpu_types.extend(runner.gpu_types)
        caps.supported_architectures.extend(runner.architectures)
        caps.supports_privileged = False
        caps.supported_service_visibilities.extend(self._visibilities())
        if full:
            held = self.engine.reserved().get(runner.runner_id, [])
            available = self.engine.catalogue.availability(runner, held)
            res = message.resources
            res.available_cpu_millicores = available.free.cpu_millicores
            res.available_memory_bytes = available.free.memory_bytes
            res.available_gpu_count = available.free.gpu_count
            res.running_sandboxes = available.running
        return message

    def _visibilities(self) -> list[int]:
        return convert.visibilities(self.engine.network.ingress_modes)

    async def ListAvailableRunners(self, request: pb.ListAvailableRunnersRequest, context: Any
                                   ) -> pb.ListAvailableRunnersResponse:
        async def work() -> pb.ListAvailableRunnersResponse:
            if request.page_size < 0:
                raise invalid("page_size", "must not be negative")
            if request.page_token:  # every runner fits on the first page
                raise invalid("page_token", "is not a token this server issued")
            if request.view not in pb.RunnerView.values():
                raise invalid("view", f"{request.view} is not a RunnerView")
            runners = self.engine.catalogue.list_runners(
                group_id=request.runner_group_id, gpu_type=request.gpu_type,
                architecture=request.architecture, healthy_only=request.healthy_only)
            if (request.service_visibility
                    and request.service_visibility not in self._visibilities()):
                runners = []
            full = request.view == pb.RUNNER_VIEW_FULL
            return pb.ListAvailableRunnersResponse(
                runners=[self._message(r, full) for r in runners])
        return await call(context, work, request=request)

    async def GetAvailableRunner(self, request: pb.GetAvailableRunnerRequest, context: Any
                                 ) -> pb.AvailableRunner:
        async def work() -> pb.AvailableRunner:
            runner_id = required(request.runner_id, "runner_id")
            organization = required(request.organization_id, "organization_id")
            if request.view not in pb.RunnerView.values():
                raise invalid("view", f"{request.view} is not a RunnerView")
            runner = self.engine.catalogue.runner(runner_id)
            if organization != ORGANIZATION_ID:
                raise runner_not_found(runner_id)
            return self._message(runner, request.view != pb.RUNNER_VIEW_BASIC)
        return await call(context, work, request=request)
