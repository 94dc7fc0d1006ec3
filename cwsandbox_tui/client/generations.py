"""Which API generation to speak: `v1`, `v1beta2`, or `auto` (ask the endpoint once).

`auto` makes one cheap v1 call before the first real one: any answer but UNIMPLEMENTED
means the endpoint speaks v1; UNIMPLEMENTED means it does not, and v1beta2 is used. The
choice is kept for the life of the client. The embedded backend speaks both; `auto` takes
v1beta2 there, whose local extension carries more (pause and resume, the sandbox's
isolation and its stop snapshot).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from .errors import ConfigError, CwsError
from .models import (
    BucketConfig,
    ExecExit,
    ExecOutput,
    LogChunk,
    Profile,
    Runner,
    Sandbox,
    SandboxSpec,
    SandboxStatus,
    Snapshot,
    TerminalInput,
    Volume,
)

if TYPE_CHECKING:
    import grpc

    from . import adapter_v1, adapter_v1beta2
    from .adapter_v1beta2 import CreateReply, Page, StopReply
    from .pending import PendingAdapter

    Generation: TypeAlias = adapter_v1.Adapter | adapter_v1beta2.Adapter
    AnyAdapter: TypeAlias = Generation | "AutoAdapter" | PendingAdapter
else:
    # Only for annotations; at run time an adapter module (its generated classes, grpc) is
    # imported when that generation is first spoken, not when the client is built.
    Generation = AnyAdapter = Any

API_CHOICES = ("auto", "v1", "v1beta2")
PROBE_TIMEOUT = 10.0


def check_api(value: str, source: str) -> str:
    if value not in API_CHOICES:
        raise ConfigError(f"{source}: {value!r} is not one of {', '.join(API_CHOICES)}")
    return value


class AutoAdapter:
    """Asks the endpoint which generation it speaks on first use, then delegates."""

    def __init__(self, channel: grpc.aio.Channel, metadata: Sequence[tuple[str, str]]) -> None:
        from . import adapter_v1

        self._channel = channel
        self._metadata = metadata
        self._v1 = adapter_v1.Adapter(channel, metadata)
        self._v1beta2_adapter: adapter_v1beta2.Adapter | None = None
        self._chosen: Generation | None = None
        self._discovery_chosen: Generation | None = None
        self._lock = asyncio.Lock()

    @property
    def _v1beta2(self) -> adapter_v1beta2.Adapter:
        """Made when first needed: an endpoint that speaks v1 may never need it."""
        if self._v1beta2_adapter is None:
            from . import adapter_v1beta2

            self._v1beta2_adapter = adapter_v1beta2.Adapter(self._channel, self._metadata)
        return self._v1beta2_adapter

    @property
    def api_version(self) -> str:
        return self._chosen.api_version if self._chosen is not None else "auto"

    @property
    def has_pause(self) -> bool:
        return self._chosen is None or self._chosen.has_pause

    @property
    def has_volumes(self) -> bool:
        return self._chosen is None or self._chosen.has_volumes

    async def resolve(self) -> Generation:
        if self._chosen is None:
            async with self._lock:
                if self._chosen is None:
                    import grpc  # loaded with the adapters already

                    try:
                        await self._v1.probe(PROBE_TIMEOUT)
                        self._chosen = self._v1
                    except grpc.aio.AioRpcError as error:
                        if error.code() == grpc.StatusCode.UNIMPLEMENTED:
                            self._chosen = self._v1beta2
                        elif error.code() in (grpc.StatusCode.UNAVAILABLE,
                                              grpc.StatusCode.DEADLINE_EXCEEDED,
                                              grpc.StatusCode.UNAUTHENTICATED,
                                              grpc.StatusCode.PERMISSION_DENIED):
                            # No answer yet, or a refused key (a gate may refuse it before it
                            # looks at the method): decide on a later call, let this one fail
                            # as usual.
                            return self._v1
                        else:
                            self._chosen = self._v1  # it answered in v1
        assert self._chosen is not None
        return self._chosen

    async def close(self, grace: float | None = None) -> None:
        await self._v1.close(grace)  # one channel under both

    async def start(self, spec: SandboxSpec, timeout: float) -> str:
        return await (await self.resolve()).start(spec, timeout)

    async def get(self, sandbox_id: str, timeout: float) -> Sandbox:
        return await (await self.resolve()).get(sandbox_id, timeout)

    async def list_page(self, *, token: str, timeout: float, include_stopped: bool = True,
                        tags: Sequence[str] = (), status: SandboxStatus | None = None,
                        page_size: int = 0) -> Page[Sandbox]:
        return await (await self.resolve()).list_page(
            token=token, timeout=timeout, include_stopped=include_stopped, tags=tags,
            status=status, page_size=page_size)

    async def stop(self, sandbox_id: str, *, grace: int, snapshot: bool, wait_for_ready: bool,
                   max_timeout: int, idempotency_key: str, timeout: float) -> StopReply:
        return await (await self.resolve()).stop(
            sandbox_id, grace=grace, snapshot=snapshot, wait_for_ready=wait_for_ready,
            max_timeout=max_timeout, idempotency_key=idempotency_key, timeout=timeout)

    async def delete(self, sandbox_id: str, timeout: float) -> tuple[bool, str]:
        return await (await self.resolve()).delete(sandbox_id, timeout)

    async def pause(self, sandbox_id: str, timeout: float) -> tuple[bool, str]:
        return await (await self.resolve()).pause(sandbox_id, timeout)

    async def resume(self, sandbox_id: str, timeout: float) -> tuple[bool, str]:
        return await (await self.resolve()).resume(sandbox_id, timeout)

    async def add_file(self, sandbox_id: str, path: str, data: bytes, timeout: float
                       ) -> tuple[bool, str]:
        return await (await self.resolve()).add_file(sandbox_id, path, data, timeout)

    async def retrieve_file(self, sandbox_id: str, path: str, timeout: float
                            ) -> tuple[bool, str, bytes]:
        return await (await self.resolve()).retrieve_file(sandbox_id, path, timeout)

    async def exec(self, sandbox_id: str, argv: Sequence[str], timeout: float | None,
                   stdin: bytes | None = None) -> AsyncIterator[ExecOutput | ExecExit]:
        async for item in (await self.resolve()).exec(sandbox_id, argv, timeout, stdin):
            yield item

    async def logs(self, sandbox_id: str, *, follow: bool, tail: int = 0,
                   timeout: float | None = None, resume_session: str = "",
                   resume_offset: int = 0) -> AsyncIterator[LogChunk]:
        adapter = await self.resolve()
        async for chunk in adapter.logs(sandbox_id, follow=follow, tail=tail, timeout=timeout,
                                        resume_session=resume_session,
                                        resume_offset=resume_offset):
            yield chunk

    async def terminal(self, sandbox_id: str, argv: Sequence[str], *, width: int, height: int,
                       inbox: asyncio.Queue[TerminalInput | None]
                       ) -> AsyncIterator[bytes | ExecExit]:
        adapter = await self.resolve()
        async for item in adapter.terminal(sandbox_id, argv, width=width, height=height,
                                           inbox=inbox):
            yield item

    async def create_snapshot(self, sandbox_id: str, *, key: str, wait_for_ready: bool,
                              max_timeout: int | None, timeout: float) -> CreateReply:
        return await (await self.resolve()).create_snapshot(
            sandbox_id, key=key, wait_for_ready=wait_for_ready, max_timeout=max_timeout,
            timeout=timeout)

    async def get_snapshot(self, snapshot_id: str, timeout: float) -> Snapshot:
        return await (await self.resolve()).get_snapshot(snapshot_id, timeout)

    async def list_snapshots_page(self, token: str, timeout: float, page_size: int = 0
                                  ) -> Page[Snapshot]:
        return await (await self.resolve()).list_snapshots_page(token, timeout, page_size)

    async def delete_snapshot(self, snapshot_id: str, timeout: float) -> tuple[bool, str]:
        return await (await self.resolve()).delete_snapshot(snapshot_id, timeout)

    async def get_bucket(self, timeout: float) -> BucketConfig:
        return await (await self.resolve()).get_bucket(timeout)

    async def set_bucket(self, bucket_name: str, region: str, timeout: float) -> BucketConfig:
        return await (await self.resolve()).set_bucket(bucket_name, region, timeout)

    # Discovery prefers v1beta2 wherever the endpoint speaks it, whatever else was chosen:
    # only v1beta2 has profiles (and runners' profile names). An endpoint without it is asked
    # in v1.
    async def _discovery(self) -> Generation:
        if self._discovery_chosen is None:
            try:
                await self._v1beta2.list_profiles_page("", PROBE_TIMEOUT, page_size=1)
                self._discovery_chosen = self._v1beta2
            except CwsError as error:
                if error.code != "UNIMPLEMENTED":
                    raise
                self._discovery_chosen = self._v1
        return self._discovery_chosen

    async def list_runners_page(self, token: str, timeout: float, *, full: bool = True,
                                group_id: str = "", profile_name: str = "",
                                architecture: str = "", page_size: int = 0) -> Page[Runner]:
        return await (await self._discovery()).list_runners_page(
            token, timeout, full=full, group_id=group_id, profile_name=profile_name,
            architecture=architecture, page_size=page_size)

    async def get_runner(self, runner_id: str, timeout: float) -> Runner:
        return await (await self._discovery()).get_runner(runner_id, timeout)

    async def list_profiles_page(self, token: str, timeout: float, *, runner_id: str = "",
                                 architecture: str = "", page_size: int = 0) -> Page[Profile]:
        return await (await self._discovery()).list_profiles_page(
            token, timeout, runner_id=runner_id, architecture=architecture, page_size=page_size)

    async def get_profile(self, name: str, timeout: float, runner_id: str = "") -> Profile:
        return await (await self._discovery()).get_profile(name, timeout, runner_id)

    async def list_volumes(self, timeout: float) -> list[Volume]:
        return await (await self.resolve()).list_volumes(timeout)

    async def get_volume(self, volume_id: str, timeout: float) -> Volume:
        return await (await self.resolve()).get_volume(volume_id, timeout)

    async def delete_volume(self, volume_id: str, timeout: float, missing_ok: bool = False
                            ) -> bool:
        return await (await self.resolve()).delete_volume(volume_id, timeout, missing_ok)


def make_adapter(api: str, channel: grpc.aio.Channel, metadata: Sequence[tuple[str, str]],
                 *, embedded: bool = False) -> AnyAdapter:
    if api == "v1":
        from . import adapter_v1

        return adapter_v1.Adapter(channel, metadata)
    if api == "v1beta2":
        from . import adapter_v1beta2

        return adapter_v1beta2.Adapter(channel, metadata)
    if api == "auto" and embedded:
        # The embedded backend speaks both: v1beta2 (pause, a stop's snapshot, its local
        # details), and v1 for what only v1 has, volumes.
        from . import adapter_v1, adapter_v1beta2

        return adapter_v1beta2.Adapter(channel, metadata,
                                       volumes=adapter_v1.Adapter(channel, metadata))
    return AutoAdapter(channel, metadata)
