"""Which API generation to speak: `v1`, `v1beta2`, or `auto` (ask the endpoint once).

`auto` makes one cheap v1 call before the first real one: any answer but UNIMPLEMENTED
means the endpoint speaks v1; UNIMPLEMENTED means it does not, and v1beta2 is used. The
choice is kept for the life of the client. The embedded backend speaks both; `auto` takes
v1beta2 there, whose local extension carries more (pause and resume, the sandbox's
isolation and its stop snapshot).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .errors import ConfigError, CwsError
from .generation import Choice, Generation

if TYPE_CHECKING:
    import grpc

    from . import adapter_v1, adapter_v1beta2

API_CHOICES = ("auto", "v1", "v1beta2")
PROBE_TIMEOUT = 10.0


def check_api(value: str, source: str) -> str:
    if value not in API_CHOICES:
        raise ConfigError(f"{source}: {value!r} is not one of {', '.join(API_CHOICES)}")
    return value


class Auto:
    """Asks the endpoint which generation it speaks on first use, and keeps the answer.

    Only the choosing is here: the client calls the generation it is given directly.
    """

    def __init__(self, channel: grpc.aio.Channel, metadata: Sequence[tuple[str, str]]) -> None:
        from . import adapter_v1

        self._channel = channel
        self._metadata = metadata
        self._v1 = adapter_v1.V1Adapter(channel, metadata)
        self._v1beta2_adapter: adapter_v1beta2.V1beta2Adapter | None = None
        self._chosen: Generation | None = None
        self._discovery_chosen: Generation | None = None
        self._lock = asyncio.Lock()
        self._discovery_lock = asyncio.Lock()

    @property
    def _v1beta2(self) -> adapter_v1beta2.V1beta2Adapter:
        """Made when first needed: an endpoint that speaks v1 may never need it."""
        if self._v1beta2_adapter is None:
            from . import adapter_v1beta2

            self._v1beta2_adapter = adapter_v1beta2.V1beta2Adapter(self._channel, self._metadata)
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

    async def generation(self) -> Generation:
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

    async def discovery(self) -> Generation:
        """v1beta2 wherever the endpoint speaks it, whatever else was chosen: only v1beta2
        has profiles (and runners' profile names). An endpoint without it is asked in v1."""
        if self._discovery_chosen is None:
            async with self._discovery_lock:
                if self._discovery_chosen is None:
                    try:
                        await self._v1beta2.list_profiles_page("", PROBE_TIMEOUT, page_size=1)
                        self._discovery_chosen = self._v1beta2
                    except CwsError as error:
                        if error.code != "UNIMPLEMENTED":
                            raise
                        self._discovery_chosen = self._v1
        return self._discovery_chosen

    async def close(self, grace: float | None = None) -> None:
        await self._v1.close(grace)  # one channel under both


def choose(api: str, channel: grpc.aio.Channel, metadata: Sequence[tuple[str, str]],
           *, embedded: bool = False) -> Choice:
    """The generation `api` names on `channel`, or (`auto`) the one the endpoint speaks."""
    if api == "v1":
        from . import adapter_v1

        return adapter_v1.V1Adapter(channel, metadata)
    if api == "v1beta2":
        from . import adapter_v1beta2

        return adapter_v1beta2.V1beta2Adapter(channel, metadata)
    if api == "auto" and embedded:
        # The embedded backend speaks both: v1beta2 (pause, a stop's snapshot, its local
        # details), and v1 for what only v1 has, volumes.
        from . import adapter_v1, adapter_v1beta2

        return adapter_v1beta2.V1beta2Adapter(channel, metadata,
                                              volumes=adapter_v1.V1Adapter(channel, metadata))
    return Auto(channel, metadata)


if TYPE_CHECKING:
    # Each adapter has the one shape, and is its own choice; so is `Auto` (mypy checks these).
    _SHAPES: tuple[type[Generation], ...] = (adapter_v1.V1Adapter,
                                             adapter_v1beta2.V1beta2Adapter)
    _CHOICES: tuple[type[Choice], ...] = (adapter_v1.V1Adapter, adapter_v1beta2.V1beta2Adapter,
                                          Auto)
