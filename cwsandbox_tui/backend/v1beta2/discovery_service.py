"""DiscoveryService: the runner catalogue of `discovery.py` as v1beta2 messages."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from ...proto.v1beta2 import discovery_pb2 as dpb
from ...proto.v1beta2 import discovery_pb2_grpc
from ..discovery import CatalogueProfile, CatalogueRunner
from ..engine import Engine
from ..errors import ApiError, invalid
from ..paging import page_size
from ..wire.errors import abort, internal_error
from ..wire.limits import check_request
from .service import timestamp

T = TypeVar("T")
_FULL = dpb.RunnerView.RUNNER_VIEW_FULL


def _offset(token: str, kind: str) -> int:
    if not token:
        return 0
    prefix = f"{kind}:"
    if not token.startswith(prefix) or not token[len(prefix):].isdigit():
        raise invalid("page_token", "is not a token this server issued")
    return int(token[len(prefix):])


def _page(items: list[Any], token: str, size: int, kind: str) -> tuple[list[Any], str]:
    start = _offset(token, kind)
    limit = page_size(size)
    end = start + limit
    return items[start:end], f"{kind}:{end}" if end < len(items) else ""


def profile_message(profile: CatalogueProfile) -> dpb.ProfileSummary:
    return dpb.ProfileSummary(
        profile_name=profile.name, runner_id=profile.runner_id,
        supported_gpu_types=profile.gpu_types, supported_architectures=profile.architectures,
        service_exposure_modes=[dpb.ServiceExposureMode(name=n) for n in profile.ingress_modes],
        egress_modes=[dpb.EgressMode(name=n) for n in profile.egress_modes])


class V1beta2DiscoveryService(discovery_pb2_grpc.DiscoveryServiceServicer):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def _call(self, request: Message, context: grpc.aio.ServicerContext,
                    work: Callable[[], T]) -> T:
        """Edge limits first; API errors answered with their details; anything else INTERNAL."""
        try:
            check_request(request)
            return work()
        except ApiError as error:
            await abort(error, context)
            raise
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception:
            await internal_error(context)
            raise

    def _runner_message(self, runner: CatalogueRunner, view: int) -> dpb.AvailableRunner:
        capacity = runner.capacity
        message = dpb.AvailableRunner(
            runner_id=runner.runner_id, runner_group_id=runner.group_id, tags=runner.tags,
            healthy=runner.healthy, profile_names=runner.profile_names,
            connected_at=timestamp(runner.connected_at), is_shared=runner.shared,
            capabilities=dpb.RunnerCapabilitySummary(
                max_cpu_millicores=capacity.cpu_millicores,
                max_memory_bytes=capacity.memory_bytes, max_gpu_count=capacity.gpu_count,
                supported_gpu_types=runner.gpu_types,
                supported_architectures=runner.architectures))
        if view == _FULL:
            catalogue = self.engine.catalogue
            live = catalogue.availability(
                runner, self.engine.reserved().get(runner.runner_id, []))
            message.resources.CopyFrom(dpb.RunnerResourceSummary(
                available_cpu_millicores=live.free.cpu_millicores,
                available_memory_bytes=live.free.memory_bytes,
                available_gpu_count=live.free.gpu_count, running_sandboxes=live.running))
        return message

    async def ListAvailableRunners(self, request: dpb.ListAvailableRunnersRequest, context: Any
                                   ) -> dpb.ListAvailableRunnersResponse:
        def work() -> dpb.ListAvailableRunnersResponse:
            if request.view not in dpb.RunnerView.values():
                raise invalid("view", f"{request.view} is not a RunnerView")
            runners = self.engine.catalogue.list_runners(
                group_id=request.runner_group_id, profile_name=request.profile_name,
                gpu_type=request.gpu_type, architecture=request.architecture,
                exclude_shared=request.exclude_shared, healthy_only=request.healthy_only)
            page, token = _page(runners, request.page_token, request.page_size, "runners")
            return dpb.ListAvailableRunnersResponse(
                runners=[self._runner_message(r, request.view) for r in page],
                next_page_token=token)
        return await self._call(request, context, work)

    async def GetAvailableRunner(self, request: dpb.GetAvailableRunnerRequest, context: Any
                                 ) -> dpb.AvailableRunner:
        def work() -> dpb.AvailableRunner:
            if not request.runner_id:
                raise invalid("runner_id", "is required")
            if request.view not in dpb.RunnerView.values():
                raise invalid("view", f"{request.view} is not a RunnerView")
            runner = self.engine.catalogue.runner(request.runner_id)
            # One runner is reported in full unless BASIC is asked for explicitly.
            return self._runner_message(runner, request.view or _FULL)
        return await self._call(request, context, work)

    async def ListProfiles(self, request: dpb.ListProfilesRequest, context: Any
                           ) -> dpb.ListProfilesResponse:
        def work() -> dpb.ListProfilesResponse:
            profiles = self.engine.catalogue.profiles(
                runner_id=request.runner_id, gpu_type=request.gpu_type,
                architecture=request.architecture, exclude_shared=request.exclude_shared)
            page, token = _page(profiles, request.page_token, request.page_size, "profiles")
            return dpb.ListProfilesResponse(profiles=[profile_message(p) for p in page],
                                            next_page_token=token)
        return await self._call(request, context, work)

    async def GetProfile(self, request: dpb.GetProfileRequest, context: Any
                         ) -> dpb.ProfileSummary:
        def work() -> dpb.ProfileSummary:
            if not request.profile_name:
                raise invalid("profile_name", "is required")
            return profile_message(
                self.engine.catalogue.profile(request.profile_name, request.runner_id))
        return await self._call(request, context, work)
