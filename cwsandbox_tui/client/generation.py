"""The one shape every API generation's adapter has, and what its calls answer.

`Generation` is what the client calls: one method per operation, in our models, whichever
generation's RPCs lie beneath. `Choice` is what the client holds: something that names the
`Generation` to speak, settled once (an adapter is its own choice; `generations.Auto` asks
the endpoint; `pending.Opening` waits for the connection to open first).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

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

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """A listing page whose rows are converted only when asked for (and in chunks, see
    `chunks`), so the caller can have the next page requested first (its token is known at
    once) and convert this one while the next is on its way."""

    next_token: str
    items: Sequence[Any]  # the page's messages, read only by `convert`
    convert: Callable[[Any], T]

    def rows(self) -> list[T]:
        convert = self.convert
        return [convert(item) for item in self.items]

    def chunks(self, size: int) -> Iterator[list[T]]:
        convert = self.convert
        items = self.items
        for start in range(0, len(items), size):
            yield [convert(item) for item in items[start:start + size]]


@dataclass(frozen=True)
class StopReply:
    success: bool
    error_message: str
    snapshot_id: str


@dataclass(frozen=True)
class CreateReply:
    success: bool
    error_message: str
    snapshot_id: str


class Spoken(Protocol):
    """The generation a connection speaks, what it offers, and the connection's end."""

    @property
    def api_version(self) -> str: ...

    @property
    def has_pause(self) -> bool: ...

    @property
    def has_volumes(self) -> bool: ...

    async def close(self, grace: float | None = None) -> None: ...


class Generation(Spoken, Protocol):
    """Typed calls on one API generation; what it lacks fails with a clear error."""

    # sandboxes
    async def start(self, spec: SandboxSpec, timeout: float) -> str: ...

    async def get(self, sandbox_id: str, timeout: float) -> Sandbox: ...

    async def list_page(self, *, token: str, timeout: float, include_stopped: bool = True,
                        tags: Sequence[str] = (), status: SandboxStatus | None = None,
                        page_size: int = 0) -> Page[Sandbox]: ...

    async def stop(self, sandbox_id: str, *, grace: int, snapshot: bool, wait_for_ready: bool,
                   max_timeout: int, idempotency_key: str, timeout: float) -> StopReply: ...

    async def delete(self, sandbox_id: str, timeout: float) -> tuple[bool, str]: ...

    async def pause(self, sandbox_id: str, timeout: float) -> tuple[bool, str]: ...

    async def resume(self, sandbox_id: str, timeout: float) -> tuple[bool, str]: ...

    async def add_file(self, sandbox_id: str, path: str, data: bytes, timeout: float
                       ) -> tuple[bool, str]: ...

    async def retrieve_file(self, sandbox_id: str, path: str, timeout: float
                            ) -> tuple[bool, str, bytes]: ...

    # streams: the call opens when the first item is asked for
    def exec(self, sandbox_id: str, argv: Sequence[str], timeout: float | None,
             stdin: bytes | None = None) -> AsyncIterator[ExecOutput | ExecExit]: ...

    def terminal(self, sandbox_id: str, argv: Sequence[str], *, width: int, height: int,
                 inbox: asyncio.Queue[TerminalInput | None]) -> AsyncIterator[bytes | ExecExit]:
        ...

    def logs(self, sandbox_id: str, *, follow: bool, tail: int = 0,
             timeout: float | None = None, resume_session: str = "",
             resume_offset: int = 0) -> AsyncIterator[LogChunk]: ...

    # discovery
    async def list_runners_page(self, token: str, timeout: float, *, full: bool = True,
                                group_id: str = "", profile_name: str = "",
                                architecture: str = "", page_size: int = 0) -> Page[Runner]: ...

    async def get_runner(self, runner_id: str, timeout: float) -> Runner: ...

    async def list_profiles_page(self, token: str, timeout: float, *, runner_id: str = "",
                                 architecture: str = "", page_size: int = 0
                                 ) -> Page[Profile]: ...

    async def get_profile(self, name: str, timeout: float, runner_id: str = "") -> Profile: ...

    # snapshots
    async def create_snapshot(self, sandbox_id: str, *, key: str, wait_for_ready: bool,
                              max_timeout: int | None, timeout: float) -> CreateReply: ...

    async def get_snapshot(self, snapshot_id: str, timeout: float) -> Snapshot: ...

    async def list_snapshots_page(self, token: str, timeout: float, page_size: int = 0
                                  ) -> Page[Snapshot]: ...

    async def delete_snapshot(self, snapshot_id: str, timeout: float) -> tuple[bool, str]: ...

    # bucket
    async def get_bucket(self, timeout: float) -> BucketConfig: ...

    async def set_bucket(self, bucket_name: str, region: str, timeout: float
                         ) -> BucketConfig: ...

    # volumes
    async def list_volumes(self, timeout: float) -> list[Volume]: ...

    async def get_volume(self, volume_id: str, timeout: float) -> Volume: ...

    async def delete_volume(self, volume_id: str, timeout: float, missing_ok: bool = False
                            ) -> bool: ...


class Choice(Spoken, Protocol):
    """Which `Generation` a connection speaks; each is settled once and then kept.

    Until it is settled, `api_version` is the planned one ("auto" when the endpoint is to be
    asked) and `has_pause`/`has_volumes` say what the plan may offer.
    """

    async def generation(self) -> Generation:
        """The generation every call but discovery goes to."""
        ...

    async def discovery(self) -> Generation:
        """The generation runners and profiles are asked of (v1beta2 has profiles)."""
        ...
