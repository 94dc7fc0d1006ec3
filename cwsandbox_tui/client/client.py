"""The client every screen and command acts through."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from . import deadlines
from . import events as ev
from .bulk import AdaptiveLimit, BulkResult, ItemResult, Outcome, ProgressPacer, bulk_delete
from .clock import Clock, SystemClock
from .connection import EndpointInfo
from .errors import (
    CwsError,
    FieldViolation,
    LogStreamError,
    PaginationError,
    ReadOnlyError,
    RequestTimeoutError,
    SandboxError,
    SandboxNotFoundError,
    SnapshotError,
    SnapshotOnStopConflictError,
    SnapshotWaitTimeoutError,
    TerminalStateUnavailableError,
    UnavailableError,
    UnreachableError,
    ValidationError,
    is_not_found,
)
from .generation import Choice, CreateReply, Generation, Page
from .models import (
    BucketConfig,
    ExecExit,
    ExecOutput,
    LogChunk,
    LogReconnected,
    Profile,
    Runner,
    Sandbox,
    SandboxSpec,
    SandboxStatus,
    Snapshot,
    SnapshotStatus,
    StopResult,
    TerminalInput,
    Volume,
)
from .operation import Operation
from .pending import Opening
from .retry import RetryNotice, RetryPolicy, retry_call
from .stop_phase import StopPhase
from .stops import InFlight, StopAction, decide_stop

if TYPE_CHECKING:
    from .link import Link

T = TypeVar("T")
LOG_RECONNECTS = 8
CONVERT_CHUNK = 100  # listing rows converted between yields to the loop
RETIRE_GRACE = 30.0  # seconds calls in flight on a replaced connection may still take
# In-band log errors after which a follow starts a new session (the SDK's list).
LOG_FRESH_START_CODES = ("SESSION_NOT_FOUND", "REPLAY_GAP", "RUNNER_UNAVAILABLE",
                         "RUNNER_DRAINING")


@dataclass
class ExecResult:
    exit_code: int
    stdout: bytes = b""
    stderr: bytes = b""


@dataclass
class _StopFlight:
    task: asyncio.Task[StopResult]
    snapshot: bool


@dataclass
class ClientOptions:
    request_timeout: float = deadlines.REQUEST_TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    bulk_concurrency: int = 32
    page_size: int = 1000  # per listing call; 0 takes the server's default (100 for v1beta2)


KEY_REFUSED = ("UNAUTHENTICATED", "PERMISSION_DENIED")


def answered(error: CwsError) -> bool:
    """Whether the endpoint itself sent this error (rather than no answer coming)."""
    if error.code == "UNAVAILABLE":
        return bool(error.reason)  # with a reason the server said it
    return error.code not in ("", "DEADLINE_EXCEEDED", "CANCELLED", "UNKNOWN")


def started_summary(spec: SandboxSpec, sandbox: Sandbox) -> str:
    """What a start did, in the words of the form that asked for it."""
    mount = sandbox.mount_path or spec.mount_path
    where = f" at {mount}" if mount else ""
    if spec.restore_from:
        return (f"restored {sandbox.restored_from or spec.restore_from} into {sandbox.id}"
                f"{where} ({sandbox.status.value})")
    return f"started {sandbox.id} ({sandbox.status.value}), {sandbox.image or spec.image}, " + (
        f"mount {mount}" if mount else "no mount")


class Client:
    def __init__(self, adapter: Choice, info: EndpointInfo, *, bus: ev.EventBus | None = None,
                 clock: Clock | None = None, rng: random.Random | None = None,
                 options: ClientOptions | None = None) -> None:
        """`adapter`: what the client talks through, an adapter (one generation) or a choice
        among them (generations.py, pending.py); each call asks it for the generation to
        speak, settled once, and calls that."""
        self.adapter = adapter
        self.info = info
        self.bus = bus or ev.EventBus()
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.options = options or ClientOptions()
        self._stops: dict[str, _StopFlight] = {}
        # Snapshots this client's stops took, for endpoints whose records do not name them
        # (v1's Sandbox has no such field; SDK 1.22.0 likewise remembers them in memory).
        self._stop_snapshots: dict[str, str] = {}
        self._on_close: list[Callable[[], None]] = []
        self.link: Link | None = None  # set by whoever can reopen the connection
        self.reached = False  # the endpoint has answered a call of this client
        self._retiring: set[asyncio.Future[None]] = set()  # old connections closing

    @property
    def read_only(self) -> bool:
        return self.info.read_only

    @property
    def api_version(self) -> str:
        """The API generation spoken: "v1", "v1beta2", or "auto" until the endpoint answers."""
        return self.adapter.api_version

    async def resolve_api(self) -> str:
        """Ask the endpoint which generation it speaks, if that is not settled yet."""
        await self.adapter.generation()
        return self.adapter.api_version  # the opened connection's, if it was pending

    def open(self) -> None:
        """Begin opening a connection made with `Plan.connect(defer=True)`; calls made before
        wait for it. A connection opened at once has nothing to do."""
        if isinstance(self.adapter, Opening):
            self.adapter.open()

    @property
    def opening(self) -> bool:
        """The connection is being opened (asked for, and not open yet)."""
        return isinstance(self.adapter, Opening) and self.adapter.opening

    def adopt(self, adapter: Choice, info: EndpointInfo) -> None:
        """Talk through `adapter` from now on: the connection a pending one stood for."""
        self.adapter, self.info = adapter, info

    async def replace_adapter(self, adapter: Choice, info: EndpointInfo) -> None:
        """Talk through a newly opened connection from the next call on.

        Calls still in flight on the old connection finish there (or fail and are retried on
        the new one): closing it at once would cancel them, and a cancelled call is not a
        failed attempt but the end of the whole operation (a bulk delete gave up part-way).
        """
        old, self.adapter, self.info = self.adapter, adapter, info
        retiring = asyncio.ensure_future(old.close(RETIRE_GRACE))
        self._retiring.add(retiring)
        retiring.add_done_callback(self._retiring.discard)

    def on_close(self, callback: Callable[[], None]) -> None:
        self._on_close.append(callback)

    async def close(self) -> None:
        for flight in list(self._stops.values()):
            flight.task.cancel()
        for retiring in list(self._retiring):
            retiring.cancel()
        await self.adapter.close()
        for callback in self._on_close:
            callback()

    def _op(self, label: str, *targets: str, kind: ev.OpKind = ev.OpKind.OTHER,
            detail: str = "", routine: bool = False) -> Operation:
        return Operation(self.bus, self.clock, label, tuple(targets), detail, kind=kind,
                         routine=routine)

    def _writable(self, label: str) -> None:
        if self.read_only:
            raise ReadOnlyError(f"{label} refused: this connection is read-only")

    def _heard(self, error: CwsError | None) -> None:
        """A call was answered (`error`: with that error): the endpoint is reached, and the
        link is connected, unless the answer refused the key."""
        self.reached = True
        if self.link is None:
            return
        if error is not None and error.code in KEY_REFUSED:
            self.link.refused(error)
        else:
            self.link.answered()

    def _budget_for(self, error: CwsError) -> float:
        """How long a failure with no answer is retried by the call itself: not at all while
        the link is down (it tries again on its own schedule, which the header shows), and
        briefly while the endpoint has never answered (a wrong or dead address)."""
        policy = self.options.retry
        if answered(error):
            return policy.budget
        if self.link is not None and not self.link.connected:
            return 0.0
        if error.unreached and not self.reached:
            return min(policy.budget, policy.connect_budget)
        return policy.budget

    def _unreachable(self, error: CwsError) -> CwsError:
        """The error to end on: one that names the endpoint when it was never reached."""
        if self.reached or not error.unreached:
            return error
        where = self.info.url or "the local backend"
        cause = str(error).rpartition(": ")[2].strip("[] ") or error.code
        return UnreachableError(f"cannot reach {where}: {cause}", code=error.code)

    async def _retrying(self, op: Operation, attempt_fn: Callable[[int], Awaitable[T]], *,
                        non_retryable: tuple[type[CwsError], ...] = (),
                        target: str | None = None) -> T:
        async def counted(number: int) -> T:
            op.attempting(number)
            try:
                result = await attempt_fn(number)
            except CwsError as error:
                if answered(error):
                    self._heard(error)
                raise
            self._heard(None)
            return result

        def on_retry(notice: RetryNotice) -> None:
            op.retrying(notice, target, connecting=notice.error.unreached and not self.reached)

        try:
            return await retry_call(counted, clock=self.clock, policy=self.options.retry,
                                    rng=self.rng, non_retryable=non_retryable,
                                    on_retry=on_retry, budget_for=self._budget_for)
        except CwsError as error:
            final = self._unreachable(error)
            if final is error:
                raise
            raise final from None

    # sandboxes
    async def list_sandboxes(self, *, include_stopped: bool = True, tags: Sequence[str] = (),
                             status: SandboxStatus | None = None, routine: bool = False
                             ) -> list[Sandbox]:
        """`routine`: a poll (counted on the bus, logged only if it retries or fails)."""
        async with self._op("List sandboxes", routine=routine) as op:
            async def attempt(_: int) -> list[Sandbox]:
                speak = await self.adapter.generation()
                return await self._all_pages(
                    "List sandboxes",
                    lambda token, timeout: speak.list_page(
                        token=token, timeout=timeout, include_stopped=include_stopped, tags=tags,
                        status=status, page_size=self.options.page_size))
            rows: list[Sandbox] = await self._retrying(op, attempt)
            if self._stop_snapshots:
                rows = [self._with_stop_snapshot(s) for s in rows]
            op.finished(f"{len(rows)} sandboxes", count=len(rows))
            return rows

    def _with_stop_snapshot(self, sandbox: Sandbox) -> Sandbox:
        remembered = self._stop_snapshots.get(sandbox.id)
        if remembered and not sandbox.stop_snapshot_id:
            return dataclasses.replace(sandbox, stop_snapshot_id=remembered)
        return sandbox

    async def _all_pages(self, label: str,
                         fetch: Callable[[str, float], Awaitable[Page[T]]],
                         on_page: Callable[[list[T], bool], None] | None = None,
                         restarted: bool = False) -> list[T]:
        """Walk every page within one total deadline; a repeated token is an error.

        The next page is requested before this one is converted, and the conversion yields
        to the loop between chunks: the first yields let the request actually go out (a
        task only starts when the loop runs it), so the next page's round trip overlaps our
        work on this one instead of following it.
        """
        give_up = self.clock.monotonic() + self.options.request_timeout

        def remaining() -> float:
            left = give_up - self.clock.monotonic()
            if left <= 0:
                raise PaginationError(f"{label} timed out during pagination")
            return left

        seen: set[str] = set()
        rows: list[T] = []
        page = await fetch("", remaining())
        first = True
        while True:
            token = page.next_token
            if token in seen:
                raise PaginationError(f"{label} pagination loop detected: repeated page token")
            seen.add(token)
            ahead = asyncio.ensure_future(fetch(token, remaining())) if token else None
            try:
                batch: list[T] = []
                for chunk in page.chunks(CONVERT_CHUNK):
                    batch += chunk
                    await asyncio.sleep(0)
                rows.extend(batch)
                if on_page is not None:
                    on_page(batch, restarted and first)
            except BaseException:
                if ahead is not None:
                    ahead.cancel()
                raise
            first = False
            if ahead is None:
                return rows
            try:
                remaining()  # the walk as a whole is bounded, not only each request
            except PaginationError:
                ahead.cancel()
                raise
            page = await ahead

    async def get_sandbox(self, sandbox_id: str) -> Sandbox:
        speak = await self.adapter.generation()
        return self._with_stop_snapshot(await speak.get(sandbox_id, self.options.request_timeout))

    async def start_sandbox(self, spec: SandboxSpec, *, wait_running: bool = True) -> Sandbox:
        self._writable("Start sandbox")
        if spec.restore_from and not spec.mount_path:
            # Without a mount there is nowhere to unpack it: both APIs would start an empty
            # sandbox and drop the snapshot without a word.
            raise ValidationError(
                f"mount_path: is required to restore {spec.restore_from} (its files are "
                "unpacked there)", code="INVALID_ARGUMENT",
                violations=(FieldViolation("mount_path", "is required to restore a snapshot"),))
        detail = f"image {spec.image}" + (f", restoring {spec.restore_from}"
                                          if spec.restore_from else "")
        async with self._op("Start sandbox", kind=ev.OpKind.START_SANDBOX, detail=detail) as op:
            speak = await self.adapter.generation()
            sandbox_id = await speak.start(spec, self.options.request_timeout)
            op.targets = (sandbox_id,)
            sandbox = await self.get_sandbox(sandbox_id)
            if wait_running:
                sandbox = await self._poll_until(
                    op, sandbox_id, lambda s: not s.status.starting, owned_stop=False)
                if sandbox.status is SandboxStatus.FAILED:
                    raise SandboxError(f"Sandbox {sandbox_id} failed to start: "
                                       f"{sandbox.status_reason or 'no reason given'}")
            op.finished(started_summary(spec, sandbox), sandbox_id=sandbox_id)
            return sandbox

    async def _poll_until(self, op: Operation, sandbox_id: str,
                          done: Callable[[Sandbox], bool], *, owned_stop: bool,
                          budget: float | None = None) -> Sandbox:
        """Poll Get (0.2 s growing x1.5 to 2 s) until `done`; transient errors are retried."""
        interval = deadlines.POLL_INTERVAL
        not_found_since: float | None = None
        while True:
            async def attempt(_: int) -> Sandbox:
                speak = await self.adapter.generation()
                return await speak.get(sandbox_id, deadlines.POLL_RPC_TIMEOUT)
            try:
                sandbox: Sandbox = await self._retrying(op, attempt)
            except SandboxNotFoundError:
                if not owned_stop:
                    raise
                now = self.clock.monotonic()
                not_found_since = not_found_since if not_found_since is not None else now
                if now - not_found_since >= deadlines.NOT_FOUND_AFTER_STOP:
                    raise TerminalStateUnavailableError(
                        f"Sandbox {sandbox_id} was stopped but its final state is unavailable "
                        "(the endpoint no longer knows it)") from None
            else:
                not_found_since = None
                if done(sandbox):
                    return sandbox
                if budget is not None:
                    op.progress(0, 1, detail=f"{sandbox.status.value}", budget=budget)
            await self.clock.sleep(interval)
            interval = min(deadlines.POLL_INTERVAL_MAX, interval * deadlines.POLL_FACTOR)

    async def stop_sandbox(self, sandbox_id: str, *, snapshot: bool = False,
                           grace: float = deadlines.DEFAULT_GRACE, wait_for_ready: bool = True,
                           idempotency_key: str = "", missing_ok: bool = False) -> StopResult:
        """Stop, coalescing with a stop already in flight (see stops.py for the table)."""
        self._writable("Stop sandbox")
        flight = self._stops.get(sandbox_id)
        in_flight = InFlight.NONE
        current = None
        if flight is None or flight.task.done():
            try:
                current = await self.get_sandbox(sandbox_id)
            except SandboxNotFoundError:
                if not missing_ok:
                    raise
                warning = ("the sandbox is gone; no snapshot was taken" if snapshot else "")
                return StopResult(sandbox_id, SandboxStatus.TERMINATED, warning=warning)
            # another caller may have started a stop while we were asking: join it, as the
            # SDK's stop lock would have made us do
            flight = self._stops.get(sandbox_id)
        if flight is not None and not flight.task.done():
            in_flight = InFlight.SNAPSHOT if flight.snapshot else InFlight.PLAIN
            decision = decide_stop(SandboxStatus.RUNNING, in_flight, snapshot, False)
        else:
            assert current is not None
            held = bool(current.stop_snapshot_id)
            if held and snapshot and current.status.terminal:
                # only a snapshot that exists and did not fail counts as held (the SDK keeps
                # an id only from a successful Stop; a failed snapshot-on-stop leaves none)
                held = await self._snapshot_usable(current.stop_snapshot_id)
            decision = decide_stop(current.status, InFlight.NONE, snapshot, held)
        label = "Stop sandbox with snapshot" if snapshot else "Stop sandbox"
        kind = ev.OpKind.STOP_SANDBOX_WITH_SNAPSHOT if snapshot else ev.OpKind.STOP_SANDBOX
        if decision.action is StopAction.CONFLICT:
            async with self._op(label, sandbox_id, kind=kind) as op:
                case = in_flight.value if in_flight is not InFlight.NONE else (
                    "terminating" if current and current.status is SandboxStatus.TERMINATING
                    else "stopped")
                op.emit(ev.Conflict, message=decision.conflict, in_flight=case,
                        advice=decision.advice)
                raise SnapshotOnStopConflictError(f"{decision.conflict} {decision.advice}")
        if decision.action is StopAction.JOIN:
            assert flight is not None
            return await asyncio.shield(flight.task)
        if decision.action is StopAction.NOOP:
            assert current is not None
            return StopResult(sandbox_id, current.status, snapshot_id=current.stop_snapshot_id)
        observe = decision.action is StopAction.OBSERVE
        task = asyncio.ensure_future(self._run_stop(
            sandbox_id, label, kind, snapshot=snapshot, grace=grace, wait_for_ready=wait_for_ready,
            idempotency_key=idempotency_key, observe_only=observe, missing_ok=missing_ok))
        self._stops[sandbox_id] = _StopFlight(task, snapshot)
        task.add_done_callback(lambda t: self._forget_stop(sandbox_id, t))
        return await asyncio.shield(task)

    async def _snapshot_usable(self, snapshot_id: str) -> bool:
        try:
            snap = await self.get_snapshot(snapshot_id)
        except SnapshotError:
            return False
        return snap.status is not SnapshotStatus.FAILED

    def _forget_stop(self, sandbox_id: str, task: asyncio.Task[StopResult]) -> None:
        flight = self._stops.get(sandbox_id)
        if flight is not None and flight.task is task:
            del self._stops[sandbox_id]
        if not task.cancelled():
            task.exception()  # a failure was delivered to the callers; mark it retrieved

    async def _run_stop(self, sandbox_id: str, label: str, kind: ev.OpKind, *, snapshot: bool,
                        grace: float, wait_for_ready: bool, idempotency_key: str,
                        observe_only: bool, missing_ok: bool) -> StopResult:
        async with self._op(label, sandbox_id, kind=kind,
                            detail="observing a stop already under way"
                            if observe_only else "") as op:
            warning = ""
            snapshot_id = ""
            if not observe_only:
                budget = deadlines.stop_budget(grace, snapshot)
                op.deadline(budget.deadline, budget.explanation)
                speak = await self.adapter.generation()
                phase = StopPhase(speak, sandbox_id) if snapshot else None
                # No fraction of an archive is known: a snapshot stop's progress is its phase
                # and elapsed time (total 0, an indeterminate bar), not time against 645 s.
                ticker = asyncio.ensure_future(self._tick(
                    op, budget.deadline, (lambda: phase.text) if phase else "stop accepted",
                    total=0 if phase else 1))
                watcher = asyncio.ensure_future(phase.follow()) if phase else None
                try:
                    reply = await speak.stop(
                        sandbox_id, grace=int(grace), snapshot=snapshot,
                        wait_for_ready=wait_for_ready, max_timeout=budget.max_timeout_seconds,
                        idempotency_key=idempotency_key, timeout=budget.deadline)
                except SandboxNotFoundError:
                    if not missing_ok:
                        raise
                    warning = "the sandbox vanished before the stop; no snapshot was taken" \
                        if snapshot else ""
                    op.finished(f"{sandbox_id} already gone", outcome=Outcome.ALREADY_GONE,
                                sandbox_id=sandbox_id)
                    if warning:
                        op.warn(warning)
                    return StopResult(sandbox_id, SandboxStatus.TERMINATED, warning=warning)
                except RequestTimeoutError:
                    op.emit(ev.DeadlineExceeded, seconds=budget.deadline,
                            message=f"no answer to the stop within {budget.deadline:g} s; the stop"
                                    + (" and its snapshot" if snapshot else "")
                                    + " may still complete on the server")
                    raise
                finally:
                    ticker.cancel()
                    if watcher is not None:
                        watcher.cancel()
                if not reply.success:
                    error_cls = SnapshotError if snapshot else SandboxError
                    raise error_cls(
                        f"Failed to stop sandbox: {reply.error_message or 'unknown error'}")
                snapshot_id = reply.snapshot_id
                if snapshot and not snapshot_id:
                    warning = "the endpoint accepted the stop but returned no snapshot id"
                    op.warn(warning)
                if snapshot:
                    op.progress(0, 0, detail=f"snapshot {snapshot_id or '?'} taken, waiting "
                                "for the sandbox to end", budget=budget.deadline)
            final = await self._poll_until(op, sandbox_id, lambda s: s.status.terminal,
                                           owned_stop=True, budget=None)
            snapshot_id = snapshot_id or final.stop_snapshot_id
            if snapshot_id:
                self._stop_snapshots[sandbox_id] = snapshot_id
            summary = f"{sandbox_id} {final.status.value}" + (
                f", snapshot {snapshot_id}" if snapshot_id else "")
            op.finished(summary, state=final.status,
                        made=ev.Item(ev.ItemKind.SNAPSHOT, snapshot_id) if snapshot_id else None,
                        sandbox_id=sandbox_id, snapshot_id=snapshot_id, status=final.status.value)
            return StopResult(sandbox_id, final.status, snapshot_id=snapshot_id, warning=warning)

    async def _tick(self, op: Operation, budget: float, detail: str | Callable[[], str],
                    total: int = 1) -> None:
        """Elapsed time (against the deadline) while a long call is in flight; `total` 0
        says no fraction is known."""
        while True:
            op.progress(0, total, detail=detail if isinstance(detail, str) else detail(),
                        budget=budget)
            await asyncio.sleep(0.5)

    async def delete_sandbox(self, sandbox_id: str, *, missing_ok: bool = False) -> bool:
        self._writable("Delete sandbox")
        async with self._op("Delete sandbox", sandbox_id, kind=ev.OpKind.DELETE_SANDBOX) as op:
            try:
                speak = await self.adapter.generation()
                success, message = await speak.delete(sandbox_id, self.options.request_timeout)
            except SandboxNotFoundError:
                if not missing_ok:
                    raise
                op.finished(f"{sandbox_id} was already gone", outcome=Outcome.ALREADY_GONE)
                return False
            if not success:
                raise SandboxError(f"Failed to delete sandbox: {message or 'unknown error'}")
            op.finished(f"deleted {sandbox_id}", outcome=Outcome.DELETED)
            return True

    async def pause_sandbox(self, sandbox_id: str) -> None:
        await self._simple("Pause sandbox", ev.OpKind.PAUSE_SANDBOX, SandboxStatus.PAUSED,
                           sandbox_id, lambda speak: speak.pause)

    async def resume_sandbox(self, sandbox_id: str) -> None:
        await self._simple("Resume sandbox", ev.OpKind.RESUME_SANDBOX, SandboxStatus.RUNNING,
                           sandbox_id, lambda speak: speak.resume)

    async def _simple(self, label: str, kind: ev.OpKind, state: SandboxStatus, sandbox_id: str,
                      call: Callable[[Generation], Callable[[str, float],
                                                            Awaitable[tuple[bool, str]]]]
                      ) -> None:
        """A call that leaves the sandbox in `state` when it succeeds."""
        self._writable(label)
        async with self._op(label, sandbox_id, kind=kind) as op:
            speak = await self.adapter.generation()
            success, message = await call(speak)(sandbox_id, self.options.request_timeout)
            if not success:
                raise SandboxError(f"{label} failed: {message or 'unknown error'}")
            op.finished(f"{label.split()[0].lower()}d {sandbox_id}", state=state)

    async def exec_stream(self, sandbox_id: str, argv: Sequence[str], *,
                          timeout: float | None = None, stdin: bytes | None = None
                          ) -> AsyncIterator[ExecOutput | ExecExit]:
        """The command's output as it comes; one "Exec" operation in the log either way."""
        self._writable("Exec")
        async with self._op("Exec", sandbox_id, detail=" ".join(argv)) as op:
            try:
                speak = await self.adapter.generation()
                async for item in speak.exec(sandbox_id, argv, timeout, stdin):
                    if isinstance(item, ExecExit):
                        op.finished(f"exit code {item.exit_code}", exit_code=item.exit_code)
                    yield item
            except GeneratorExit:  # the reader stopped early (closed the view)
                if not op.done:
                    op.finished("output no longer read; the command may still run")
                raise

    async def terminal(self, sandbox_id: str, argv: Sequence[str], *, width: int, height: int,
                       inbox: asyncio.Queue[TerminalInput | None]
                       ) -> AsyncIterator[bytes | ExecExit]:
        """An interactive shell (TTY exec); see `terminal.attach` for a local terminal."""
        self._writable("Shell")
        speak = await self.adapter.generation()
        async for item in speak.terminal(sandbox_id, argv, width=width, height=height,
                                                inbox=inbox):
            yield item

    async def exec(self, sandbox_id: str, argv: Sequence[str], *, timeout: float | None = None,
                   stdin: bytes | None = None) -> ExecResult:
        result = ExecResult(exit_code=-1)
        async for item in self.exec_stream(sandbox_id, argv, timeout=timeout, stdin=stdin):
            if isinstance(item, ExecOutput):
                if item.stream == "stderr":
                    result.stderr += item.data
                else:
                    result.stdout += item.data
            else:
                result.exit_code = item.exit_code
        return result

    async def logs(self, sandbox_id: str, *, follow: bool = False, tail: int = 0
                   ) -> AsyncIterator[LogChunk]:
        speak = await self.adapter.generation()
        async for chunk in speak.logs(sandbox_id, follow=follow, tail=tail,
                                      timeout=None if follow else self.options.request_timeout):
            yield chunk

    async def follow_logs(self, sandbox_id: str, *, tail: int = 0,
                          max_reconnects: int = LOG_RECONNECTS
                          ) -> AsyncIterator[LogChunk | LogReconnected]:
        """Follow a sandbox's log across disconnects.

        After a transport failure it resumes its session at the last offset it delivered, so
        nothing is lost or repeated; a session the server no longer knows (it restarted)
        starts a new session, and says so. `max_reconnects` failures in a row,
        each after a growing pause, end it with the last error.
        """
        session, offset, failures = "", 0, 0
        while True:
            try:
                speak = await self.adapter.generation()
                async for chunk in speak.logs(
                        sandbox_id, follow=True, tail=tail if not session else 0,
                        resume_session=session, resume_offset=offset):
                    failures = 0
                    session, offset = chunk.session_id or session, chunk.offset or offset
                    yield chunk
                return  # the sandbox stopped: the log is complete
            except LogStreamError as error:
                if error.reason not in LOG_FRESH_START_CODES or failures >= max_reconnects:
                    raise
                failures += 1
                session, offset = "", 0
                tail = 0  # the window asked for was shown already
                yield LogReconnected(False, 0, str(error))
            except (UnavailableError, RequestTimeoutError) as error:
                if failures >= max_reconnects:
                    raise
                failures += 1
                await self.clock.sleep(min(0.2 * 2 ** (failures - 1), 5.0))
                yield LogReconnected(bool(session), offset, str(error))

    async def add_file(self, sandbox_id: str, path: str, data: bytes) -> None:
        self._writable("Add file")
        async with self._op("Add file", sandbox_id, detail=path) as op:
            speak = await self.adapter.generation()
            success, message = await speak.add_file(sandbox_id, path, data,
                                                    self.options.request_timeout)
            if not success:
                raise SandboxError(f"Add file failed: {message or 'unknown error'}")
            op.finished(f"wrote {len(data)} bytes to {path}")

    async def retrieve_file(self, sandbox_id: str, path: str) -> bytes:
        async with self._op("Retrieve file", sandbox_id, detail=path) as op:
            speak = await self.adapter.generation()
            success, message, data = await speak.retrieve_file(
                sandbox_id, path, self.options.request_timeout)
            if not success:
                raise SandboxError(f"Retrieve file failed: {message or 'unknown error'}")
            op.finished(f"read {len(data)} bytes from {path}")
            return data

    # snapshots
    async def create_snapshot(self, sandbox_id: str, *, wait_for_ready: bool = True,
                              idempotency_key: str = "") -> Snapshot:
        """Create a snapshot; with wait, the answer is the snapshot's final record.

        One idempotency key serves every retry. A client deadline is final: the snapshot may
        still complete, so it is looked up by its key and followed until it settles.
        """
        self._writable("Create file-system snapshot")
        key = idempotency_key or uuid.uuid4().hex
        budget = deadlines.create_budget(wait_for_ready, self.options.request_timeout)
        async with self._op("Create file-system snapshot", sandbox_id,
                            kind=ev.OpKind.CREATE_SNAPSHOT,
                            detail="waiting for READY" if wait_for_ready else "") as op:
            op.deadline(budget.deadline, "archive 600 s + 5 s buffer" if wait_for_ready
                        else "request timeout")
            ticker = asyncio.ensure_future(self._tick(op, budget.deadline, "archiving")) \
                if wait_for_ready else None

            async def attempt(_: int) -> CreateReply:
                speak = await self.adapter.generation()
                return await speak.create_snapshot(
                    sandbox_id, key=key, wait_for_ready=wait_for_ready,
                    max_timeout=budget.max_timeout_seconds, timeout=budget.deadline)
            try:
                reply = await self._retrying(op, attempt, non_retryable=(RequestTimeoutError,))
            except RequestTimeoutError:
                op.emit(ev.DeadlineExceeded, seconds=budget.deadline,
                        message="no answer within the deadline; the snapshot may still complete "
                                "— checking for it")
                found = await self._find_by_key(sandbox_id, key)
                if found is None:
                    raise
                op.targets = (sandbox_id, found.id)
                final = self._settled(await self._follow_snapshot(op, found.id), True)
                op.finished(f"{final.id} {final.status.value}",
                            made=ev.Item(ev.ItemKind.SNAPSHOT, final.id), snapshot_id=final.id,
                            status=final.status.value)
                return final
            finally:
                if ticker is not None:
                    ticker.cancel()
            if not reply.success:
                error = SnapshotError("Failed to create file-system snapshot: "
                                      f"{reply.error_message or 'unknown error'}")
                error.snapshot_id = reply.snapshot_id or None
                raise error
            snapshot_id = reply.snapshot_id
            op.targets = (sandbox_id, snapshot_id)
            snap = await self.get_snapshot(snapshot_id)
            if wait_for_ready and snap.status is SnapshotStatus.CREATING:
                snap = await self._follow_snapshot(op, snapshot_id)
            self._settled(snap, wait_for_ready)
            op.finished(f"{snapshot_id} {snap.status.value}",
                        made=ev.Item(ev.ItemKind.SNAPSHOT, snapshot_id), snapshot_id=snapshot_id,
                        status=snap.status.value, size_bytes=snap.size_bytes)
            return snap

    @staticmethod
    def _settled(snap: Snapshot, waited: bool) -> Snapshot:
        """`snap` as a created snapshot's answer: a FAILED one, or one still CREATING after
        the whole wait for READY, is an error naming it (never a finish)."""
        error: SnapshotError | SnapshotWaitTimeoutError | None = None
        if snap.status is SnapshotStatus.FAILED:
            error = SnapshotError(f"Snapshot {snap.id} failed: {snap.status_reason}")
        elif waited and snap.status is SnapshotStatus.CREATING:
            error = SnapshotWaitTimeoutError(
                f"Snapshot {snap.id} was not READY within "
                f"{deadlines.FSS_ARCHIVE_BUDGET:g} s; it is still being created and may "
                "still complete")
        if error is not None:
            error.snapshot_id = snap.id
            raise error
        return snap

    async def _find_by_key(self, sandbox_id: str, key: str) -> Snapshot | None:
        for snap in await self.list_snapshots():
            if snap.source_sandbox_id == sandbox_id and snap.idempotency_key == key:
                return snap
        return None

    async def _follow_snapshot(self, op: Operation, snapshot_id: str,
                               limit: float = deadlines.FSS_ARCHIVE_BUDGET) -> Snapshot:
        interval = deadlines.POLL_INTERVAL
        give_up = self.clock.monotonic() + limit
        while True:
            snap = await self.get_snapshot(snapshot_id)
            if snap.status is not SnapshotStatus.CREATING or self.clock.monotonic() > give_up:
                return snap
            op.progress(0, 1, detail="archiving", budget=limit)
            await self.clock.sleep(interval)
            interval = min(deadlines.POLL_INTERVAL_MAX, interval * deadlines.POLL_FACTOR)

    async def get_snapshot(self, snapshot_id: str) -> Snapshot:
        async with self._op("Get file-system snapshot", snapshot_id) as op:
            async def attempt(_: int) -> Snapshot:
                speak = await self.adapter.generation()
                return await speak.get_snapshot(snapshot_id, self.options.request_timeout)
            return await self._retrying(op, attempt)

    async def list_snapshots(self, on_page: Callable[[list[Snapshot], bool], None] | None = None,
                             *, routine: bool = False) -> list[Snapshot]:
        """Every snapshot, all pages. A failure mid-way restarts from page 1; `on_page` gets
        each page as it comes, with `restart=True` on the first page of a restarted walk."""
        async with self._op("List file-system snapshots", routine=routine) as op:
            async def attempt(number: int) -> list[Snapshot]:
                speak = await self.adapter.generation()
                return await self._all_pages(
                    "List file-system snapshots",
                    lambda token, timeout: speak.list_snapshots_page(
                        token, timeout, self.options.page_size),
                    on_page, restarted=number > 1)
            rows: list[Snapshot] = await self._retrying(op, attempt)
            unique = list({s.id: s for s in rows}.values())
            op.finished(f"{len(unique)} snapshots", count=len(unique))
            return unique

    async def _delete_attempt(self, op: Operation, snapshot_id: str, number: int,
                              missing_ok: bool, unknown_is_outcome: bool = False) -> Outcome:
        """One DeleteFileSystemSnapshot call; a not-found on a retry means an earlier
        attempt committed and lost its answer. The delete is its own existence check: a
        not-found on the first attempt is an unknown id (NOT_FOUND in a bulk run, else the
        error), or ALREADY_GONE with `missing_ok`."""
        op.attempting(number)
        try:
            speak = await self.adapter.generation()
            success, message = await speak.delete_snapshot(
                snapshot_id, self.options.request_timeout)
        except CwsError as failure:
            if is_not_found(failure) and number > 1:
                return Outcome.DELETED
            if is_not_found(failure) and missing_ok:
                return Outcome.ALREADY_GONE
            if is_not_found(failure) and unknown_is_outcome:
                return Outcome.NOT_FOUND
            raise
        if not success:
            error = SnapshotError("Failed to delete file-system snapshot: "
                                  f"{message or 'unknown error'}")
            error.snapshot_id = snapshot_id
            raise error
        return Outcome.DELETED

    async def delete_snapshot(self, snapshot_id: str, *, missing_ok: bool = False) -> Outcome:
        self._writable("Delete file-system snapshot")
        async with self._op("Delete file-system snapshot", snapshot_id,
                            kind=ev.OpKind.DELETE_SNAPSHOT) as op:
            outcome = await self._retrying(
                op, lambda number: self._delete_attempt(op, snapshot_id, number, missing_ok),
                target=snapshot_id)
            op.finished(f"{snapshot_id} {outcome.value.replace('_', ' ')}", outcome=outcome)
            return outcome

    async def delete_snapshots(self, ids: Sequence[str], *, cancel: asyncio.Event | None = None,
                               concurrency: int | None = None,
                               missing_ok: bool = True) -> BulkResult:
        """Delete exactly these snapshots; see bulk.py. Progress comes as events. There is
        no separate existence check: an id the server does not know is ALREADY_GONE with
        `missing_ok`, else NOT_FOUND (and is not counted as a success)."""
        self._writable("Delete file-system snapshots")

        def attempt(op: Operation, snapshot_id: str, number: int) -> Awaitable[Outcome]:
            return self._delete_attempt(op, snapshot_id, number, missing_ok,
                                        unknown_is_outcome=True)

        return await self._bulk("Delete file-system snapshots", ev.OpKind.DELETE_SNAPSHOTS,
                                "snapshots", ids, attempt, cancel=cancel,
                                concurrency=concurrency)

    async def delete_sandboxes(self, ids: Sequence[str], *, cancel: asyncio.Event | None = None,
                               concurrency: int | None = None,
                               missing_ok: bool = False) -> BulkResult:
        """Delete these sandboxes, as many at once as the snapshot deletes (see bulk.py)."""
        self._writable("Delete sandboxes")

        async def attempt(op: Operation, sandbox_id: str, number: int) -> Outcome:
            op.attempting(number)
            try:
                speak = await self.adapter.generation()
                success, message = await speak.delete(sandbox_id, self.options.request_timeout)
            except SandboxNotFoundError:
                if number > 1:
                    return Outcome.DELETED  # an earlier attempt committed, its answer was lost
                return Outcome.ALREADY_GONE if missing_ok else Outcome.NOT_FOUND
            if not success:
                raise SandboxError(f"Failed to delete sandbox: {message or 'unknown error'}")
            return Outcome.DELETED

        return await self._bulk("Delete sandboxes", ev.OpKind.DELETE_SANDBOXES, "sandboxes", ids,
                                attempt, cancel=cancel, concurrency=concurrency)

    async def _bulk(self, label: str, kind: ev.OpKind, noun: str, ids: Sequence[str],
                    attempt: Callable[[Operation, str, int], Awaitable[Outcome]], *,
                    cancel: asyncio.Event | None, concurrency: int | None) -> BulkResult:
        ids = list(dict.fromkeys(ids))
        cancel = cancel or asyncio.Event()
        async with self._op(label, *ids, kind=kind, detail=f"{len(ids)} {noun}") as op:
            failed = 0
            pacer = ProgressPacer(self.clock)

            def on_item(item: ItemResult, done: int, total: int) -> None:
                nonlocal failed
                bad = item.outcome in (Outcome.FAILED, Outcome.NOT_FOUND)
                failed += bad
                if pacer.due(final=done == total, urgent=bad):
                    op.progress(done, total, failed=failed,
                                detail=f"{item.id} {item.outcome.value}", target=item.id,
                                outcome=item.outcome)

            pacer.due()
            op.progress(0, len(ids))
            result = await bulk_delete(
                ids,
                lambda item_id, number: attempt(op, item_id, number),
                limit=AdaptiveLimit(concurrency or self.options.bulk_concurrency), cancel=cancel,
                clock=self.clock, policy=self.options.retry, rng=self.rng, on_item=on_item,
                on_retry=lambda item_id, notice: op.retrying(notice, item_id))
            unsettled = tuple(i.id for i in result.items
                              if i.outcome in (Outcome.FAILED, Outcome.UNTOUCHED))
            ending = ev.Ending.CANCELLED if result.cancelled else \
                ev.Ending.DONE if result.ok else ev.Ending.PARTIAL
            op.finished(result.summary(), ending=ending, unsettled=unsettled,
                        deleted=result.count(Outcome.DELETED),
                        already_gone=result.count(Outcome.ALREADY_GONE),
                        not_found=result.count(Outcome.NOT_FOUND),
                        failed=result.count(Outcome.FAILED),
                        untouched=result.count(Outcome.UNTOUCHED), cancelled=result.cancelled)
            return result

    # discovery
    async def list_runners(self, *, group_id: str = "", profile_name: str = "",
                           architecture: str = "", full: bool = True, routine: bool = False
                           ) -> list[Runner]:
        async with self._op("List runners", routine=routine) as op:
            async def attempt(_: int) -> list[Runner]:
                speak = await self.adapter.discovery()
                return await self._all_pages(
                    "List runners",
                    lambda token, timeout: speak.list_runners_page(
                        token, timeout, full=full, group_id=group_id,
                        profile_name=profile_name, architecture=architecture,
                        page_size=self.options.page_size))
            rows: list[Runner] = await self._retrying(op, attempt)
            op.finished(f"{len(rows)} runners", count=len(rows))
            return rows

    async def get_runner(self, runner_id: str) -> Runner:
        async with self._op("Get runner", runner_id) as op:
            async def attempt(_: int) -> Runner:
                speak = await self.adapter.discovery()
                return await speak.get_runner(runner_id, self.options.request_timeout)
            runner: Runner = await self._retrying(op, attempt)
            op.finished(f"runner {runner.runner_id}")
            return runner

    async def list_profiles(self, *, runner_id: str = "", architecture: str = "",
                            routine: bool = False) -> list[Profile]:
        async with self._op("List profiles", routine=routine) as op:
            async def attempt(_: int) -> list[Profile]:
                speak = await self.adapter.discovery()
                return await self._all_pages(
                    "List profiles",
                    lambda token, timeout: speak.list_profiles_page(
                        token, timeout, runner_id=runner_id, architecture=architecture,
                        page_size=self.options.page_size))
            rows: list[Profile] = await self._retrying(op, attempt)
            op.finished(f"{len(rows)} profiles", count=len(rows))
            return rows

    async def get_profile(self, name: str, *, runner_id: str = "") -> Profile:
        async with self._op("Get profile", name) as op:
            async def attempt(_: int) -> Profile:
                speak = await self.adapter.discovery()
                return await speak.get_profile(name, self.options.request_timeout, runner_id)
            profile: Profile = await self._retrying(op, attempt)
            op.finished(f"profile {profile.name}")
            return profile

    # bucket
    async def get_bucket(self, *, routine: bool = False) -> BucketConfig:
        async with self._op("Get bucket config", routine=routine) as op:
            async def attempt(_: int) -> BucketConfig:
                speak = await self.adapter.generation()
                return await speak.get_bucket(self.options.request_timeout)
            config: BucketConfig = await self._retrying(op, attempt)
            op.finished(f"bucket {config.effective_bucket_name} ({config.mode.value})")
            return config

    async def set_bucket(self, bucket_name: str, region: str = "") -> BucketConfig:
        label = "Reset bucket config" if not bucket_name else "Set bucket config"
        self._writable(label)
        async with self._op(label, kind=ev.OpKind.SET_BUCKET,
                            detail=bucket_name or "managed bucket") as op:
            async def attempt(_: int) -> BucketConfig:
                speak = await self.adapter.generation()
                return await speak.set_bucket(bucket_name, region, self.options.request_timeout)
            config: BucketConfig = await self._retrying(op, attempt)
            region = f" in {config.region}" if config.region else ""
            op.finished(f"bucket {config.effective_bucket_name}{region} ({config.mode.value}); "
                        "new snapshots go there")
            return config

    async def reset_bucket(self) -> BucketConfig:
        return await self.set_bucket("", "")

    # volumes (coreweave.sandbox.v1 only; on v1beta2 these fail with a clear message)
    @property
    def has_volumes(self) -> bool:
        return self.adapter.has_volumes

    @property
    def has_pause(self) -> bool:
        """Pause and resume exist in v1beta2 only."""
        return self.adapter.has_pause

    async def list_volumes(self) -> list[Volume]:
        async with self._op("List volumes") as op:
            async def attempt(_: int) -> list[Volume]:
                speak = await self.adapter.generation()
                return await speak.list_volumes(self.options.request_timeout)
            rows: list[Volume] = await self._retrying(op, attempt)
            op.finished(f"{len(rows)} volumes", count=len(rows))
            return rows

    async def get_volume(self, volume_id: str) -> Volume:
        async with self._op("Get volume", volume_id) as op:
            async def attempt(_: int) -> Volume:
                speak = await self.adapter.generation()
                return await speak.get_volume(volume_id, self.options.request_timeout)
            volume: Volume = await self._retrying(op, attempt)
            op.finished(f"{volume_id} {volume.state}")
            return volume

    async def delete_volume(self, volume_id: str, *, missing_ok: bool = False) -> bool:
        """True if it was deleted, False if it was already gone (with `missing_ok`)."""
        self._writable("Delete volume")
        async with self._op("Delete volume", volume_id, kind=ev.OpKind.DELETE_VOLUME) as op:
            speak = await self.adapter.generation()
            deleted = await speak.delete_volume(volume_id, self.options.request_timeout,
                                                missing_ok)
            op.finished(f"deleted {volume_id}" if deleted else f"{volume_id} was already gone",
                        outcome=Outcome.DELETED if deleted else Outcome.ALREADY_GONE)
            return deleted
