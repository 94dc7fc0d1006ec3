"""The backend's behaviour, free of gRPC and protobuf: sandboxes, snapshots, bucket settings,
files, in the engine's own states (`states.py`) and errors (`errors.py`)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import naming
from . import images, network, procs, quotas, sandboxfs, states, validation
from .archives import ArchiveError, create_archive, remove_partials, restore_archive
from .blocking import run_io
from .discovery import (
    RUNNER_ID,
    Catalogue,
    Placement,
    PlacementAsk,
    ResourceAsk,
    Resources,
    local_runner,
    pins_profile,
)
from .errors import (
    ApiError,
    Code,
    invalid,
    precondition,
    sandbox_not_found,
    snapshot_not_found,
)
from .faults import FaultPlan
from .forwards import Forward, ForwardError, ServicePort, address_for
from .fstree import remove_tree
from .holds import ArchiveHold
from .isolation import OWNER_ENV, SANDBOX_ENV, Isolation, remove_stale_stages
from .paging import decode, encode, page_size
from .quotas import Quotas
from .runtime import LiveSandbox, Runtime
from .sandboxfs import FileProblem
from .start_files import MOUNTED_FILES, FileFields, StartFile, check_start_files
from .store import SandboxRow, SnapshotRow, Store, StoredSpec

log = logging.getLogger("cwsandbox_tui.backend")

MANAGED_BUCKET = "cwsandbox-managed"
DEFAULT_SNAPSHOT_TIMEOUT = 600
STOP_GRACE_FALLBACK = 30
MAX_FILE_BYTES = 32 * 2**20
BOOT_WAIT_SECONDS = 30


@dataclass
class SandboxQuery:
    tags: list[str] = field(default_factory=list)
    status: states.SandboxState | None = None  # None: any live one (or any, include_stopped)
    include_stopped: bool = False
    runner_ids: list[str] = field(default_factory=list)
    profile_ids: list[str] = field(default_factory=list)
    profile_names: list[str] = field(default_factory=list)

    def key(self) -> str:
        return json.dumps([sorted(self.tags), self.status, self.include_stopped,
                           sorted(self.runner_ids), sorted(self.profile_ids),
                           sorted(self.profile_names)])

    def matches(self, row: SandboxRow) -> bool:
        if self.status is not None:
            if row.status != self.status:
                return False
        elif row.status in states.TERMINAL and not self.include_stopped:
            return False
        spec = row.spec
        if self.runner_ids and (spec.runner_id or RUNNER_ID) not in self.runner_ids:
            return False
        runner = spec.runner_id or RUNNER_ID
        if self.profile_ids and not any(pins_profile(pin, runner, spec.profile_name)
                                        for pin in self.profile_ids):
            return False
        if self.profile_names and spec.profile_name not in self.profile_names:
            return False
        return set(self.tags) <= set(spec.tags)


def _home_dir() -> tuple[Path, ...]:
    """The user's home directory, which sandboxes must not see (unless it is `/` itself)."""
    try:
        home = Path.home().resolve()
    except (RuntimeError, KeyError):
        return ()
    return (home,) if home != Path("/") else ()


def owner_token(data_dir: Path) -> str:
    """What marks the processes a backend of this data directory starts."""
    return hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]


def _ask_dict(ask: ResourceAsk) -> dict[str, str]:
    values = {"cpu": ask.cpu, "memory": ask.memory, "gpu_count": str(ask.gpu_count or ""),
              "gpu_type": ask.gpu_type}
    return {key: value for key, value in values.items() if value}


@dataclass(frozen=True)
class BucketSetting:
    bucket_name: str
    region: str

    @property
    def own(self) -> bool:
        return bool(self.bucket_name)

    @property
    def effective(self) -> str:
        return self.bucket_name or MANAGED_BUCKET


@dataclass(frozen=True)
class StopOutcome:
    snapshot_id: str = ""
    snapshot_failed: str = ""


class Engine:
    def __init__(self, data_dir: Path, isolation: Isolation, faults: FaultPlan | None = None,
                 hidden: tuple[Path, ...] = (), limits: Quotas | None = None) -> None:
        self.data_dir = data_dir
        self.quotas = limits or Quotas()
        self.isolation = isolation
        self.faults = faults or FaultPlan()
        data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(data_dir / "state.sqlite3")
        self.buckets_dir = data_dir / "buckets"
        self.owner_token = owner_token(data_dir)
        self.network = network.offer(isolation.isolated)
        self.runtime = Runtime(self.store, isolation, data_dir / "sandboxes",
                               hidden=(data_dir.resolve(), *_home_dir(),
                                       *(h.resolve() for h in hidden)),
                               on_running=self._on_running, owner_token=self.owner_token,
                               quotas=self.quotas)
        self._archiving: dict[str, asyncio.Task[None]] = {}
        self._forwards: dict[str, Forward] = {}  # sandbox id -> its published ports
        self.archive_rate: float | None = None  # bytes per second; None writes at full speed
        self.archive_hold: ArchiveHold | None = None  # archives wait on it (tests only)
        self._stop_keys: dict[str, str] = {}
        self._deleting: dict[str, asyncio.Task[None]] = {}
        self._deleting_snapshots: dict[str, asyncio.Task[None]] = {}
        self.catalogue = Catalogue([local_runner(ingress_modes=self.network.ingress_modes,
                                                 egress_modes=self.network.egress_modes)])
        # request id of a create -> (sandbox id, what was asked), for retried creates
        self._create_requests: dict[str, tuple[str, str]] = {}

    # lifecycle
    def recover(self) -> None:
        """Bring state written by an earlier run (perhaps killed) back to the truth.

        Processes that run left behind (found by the marker in their environment, never by
        name) are ended, its stage directory removed, and each sandbox that was live is
        FAILED with its /tmp emptied.
        """
        now = time.time()
        leftovers = procs.marked_values(SANDBOX_ENV, f"{self.owner_token}:")
        ended = procs.kill_marked(OWNER_ENV, self.owner_token)
        if ended:
            log.warning("ended %d process(es) an earlier run of this data directory left "
                        "behind", ended)
        remove_stale_stages(self.owner_token, keep=self.runtime.isolation.stage)
        left_by: dict[str, int] = {}
        for value in leftovers.values():
            sandbox_id = value.split(":", 1)[1]
            left_by[sandbox_id] = left_by.get(sandbox_id, 0) + 1
        for row in self.store.sandboxes_with_status(states.LIVE):
            reason = "its process was lost when the backend stopped"
            if row.id in left_by:
                reason += (f"; {left_by[row.id]} process(es) it left running were ended when "
                           "the backend started again")
            self.store.update_sandbox(row.id, status=states.FAILED, ended_at=now,
                                      status_reason=reason)
            remove_tree(self.runtime.layout_for(row).tmp_dir)
        # An archive is dropped once no record refers to it any more, so each record lets go
        # of its archive before the archive is dropped.
        for snap in self.store.snapshots_with_status(states.FSS_CREATING):
            self.store.update_snapshot(
                snap.id, status=states.FSS_FAILED, updated_at=now, archive="",
                status_reason="the backend stopped while the archive was being written")
            self._drop_archive(snap.archive)
        for snap in self.store.snapshots_with_status(states.FSS_DELETING):
            self.store.delete_snapshot(snap.id)
            self._drop_archive(snap.archive)
        removed = remove_partials(self.buckets_dir) + self._remove_orphans()
        if removed:
            log.info("removed %d partial or orphaned archive(s) left by an earlier run", removed)
        gone = self._remove_orphan_sandbox_dirs()
        if gone:
            log.info("removed the directories of %d deleted sandbox(es)", gone)

    def _remove_orphan_sandbox_dirs(self) -> int:
        """Directories of sandboxes that have no record any more (a delete the backend did not
        finish, or one whose directory an earlier version could not remove)."""
        root = self.runtime.root
        if not root.is_dir():
            return 0
        orphans = [p for p in root.iterdir() if self.store.get_sandbox(p.name) is None]
        for path in orphans:
            remove_tree(path)
        return len(orphans)

    def _remove_orphans(self) -> int:
        """Archives no record refers to (a delete that raced the archive's rename)."""
        if not self.buckets_dir.exists():
            return 0
        known = self.store.all_archives()
        orphans = [p for p in self.buckets_dir.glob("*/*.tar")
                   if str(p.relative_to(self.buckets_dir)) not in known]
        for path in orphans:
            path.unlink(missing_ok=True)
        return len(orphans)

    async def close(self) -> None:
        for task in list(self._archiving.values()):
            task.cancel()
        await asyncio.gather(*self._archiving.values(), return_exceptions=True)
        await asyncio.gather(*(f.close() for f in list(self._forwards.values())))
        await self.runtime.shutdown()
        self.store.close()

    def operations_running(self) -> int:
        """Snapshot archives and deletes under way (the backend must not end under them)."""
        return sum(1 for tasks in (self._archiving, self._deleting, self._deleting_snapshots)
                   for task in tasks.values() if not task.done())

    def _on_running(self, live: LiveSandbox) -> None:
        if self.faults.drain_after is not None:
            asyncio.get_running_loop().call_later(self.faults.drain_after, self.drain, live.row.id)
        if live.row.spec.services and self.isolation.isolated:
            self.runtime.spawn_task(self._publish(live))

    async def _publish(self, live: LiveSandbox) -> None:
        """Forward the sandbox's ports from its service address while it runs."""
        spec = live.row.spec
        pid = await self.runtime.namespace_pid(live)
        if pid is None:
            return  # it ended before its namespace existed
        forward = Forward(live.row.id, spec.service_address,
                          tuple(ServicePort(**entry) for entry in spec.services))
        try:
            await forward.open(pid, self.isolation.owner_ids)
        except ForwardError as exc:
            self.runtime.fail(live, f"its services could not be published: {exc}")
            return
        self._forwards[live.row.id] = forward
        try:
            await live.exited.wait()
        finally:
            self._forwards.pop(live.row.id, None)
            await forward.close()

    def service_host(self, row: SandboxRow) -> str:
        """The address the sandbox's ports are published at, while it lasts ("" after)."""
        return "" if row.status in states.TERMINAL else row.spec.service_address

    def service_address(self, row: SandboxRow) -> str:
        """`host:port` of its first published port, as the service reports a sandbox's
        service address (its other ports are at the same host)."""
        host = self.service_host(row)
        return f"{host}:{row.spec.services[0]['port']}" if host else ""

    # placement
    def reserved(self) -> dict[str, list[Resources]]:
        """What each runner's sandboxes that have not ended hold, by runner."""
        held: dict[str, list[Resources]] = {}
        for live in self.runtime.live.values():
            spec = live.row.spec
            if live.row.status in states.TERMINAL:
                continue
            amount = Resources(*spec.reserved) if len(spec.reserved) == 3 else Resources()
            held.setdefault(spec.runner_id or RUNNER_ID, []).append(amount)
        return held

    def _apply(self, spec: StoredSpec, placement: Placement) -> None:
        spec.runner_id = placement.runner_id
        spec.runner_group_id = placement.runner_group_id
        spec.profile_id = placement.profile_id
        spec.profile_name = placement.profile_name
        spec.requests = _ask_dict(placement.requests)
        spec.limits = _ask_dict(placement.limits)
        held = placement.reserved
        spec.reserved = [held.cpu_millicores, held.memory_bytes, held.gpu_count]
        spec.ingress_mode = placement.ingress_mode
        spec.egress_mode = placement.egress_mode

    # sandboxes
    def start(self, spec: StoredSpec, restore_from: str = "", request_id: str = "",
              ask: PlacementAsk | None = None,
              files: Sequence[tuple[str, bytes]] = (),
              file_fields: FileFields = MOUNTED_FILES) -> SandboxRow:
        """Start a sandbox; a create retried with the same `request_id` gets the first one,
        and the same id with a different request is refused. `files` (path, content) are
        written into it before its command runs (`file_fields` names them in errors)."""
        asked = json.dumps([asdict(spec), restore_from, asdict(ask) if ask else None,
                            [hashlib.sha256(c).hexdigest() + p for p, c in files]],
                           sort_keys=True)
        earlier = self._create_requests.get(request_id) if request_id else None
        if earlier is not None:
            sandbox_id, first_asked = earlier
            if asked != first_asked:
                raise ApiError(Code.ALREADY_EXISTS,
                               f"request_id {request_id!r} was used for a different create "
                               f"(of {sandbox_id})", reason="CWSANDBOX_REQUEST_ID_CONFLICT",
                               metadata={"request_id": request_id, "sandbox_id": sandbox_id})
            with contextlib.suppress(ApiError):
                return self.get(sandbox_id)
        row = self._start(spec, restore_from, ask, files, file_fields)
        if request_id:
            self._create_requests[request_id] = (row.id, asked)
        return row

    def check_can_start(self) -> None:
        """Refuse to start a sandbox that could not be isolated (unless that was allowed)."""
        if self.isolation.refused:
            raise precondition(self.isolation.detail, "CWSANDBOX_ISOLATION_UNAVAILABLE")

    def _start(self, spec: StoredSpec, restore_from: str, ask: PlacementAsk | None,
               given: Sequence[tuple[str, bytes]], file_fields: FileFields) -> SandboxRow:
        self.check_can_start()
        if not spec.command:
            raise invalid("command", "is required")
        if spec.max_lifetime_seconds < 0:
            raise invalid("max_lifetime_seconds", "must not be negative")
        if spec.mount_path:
            spec.mount_path = validation.check_mount_path(spec.mount_path)
            spec.mount_size_bytes = validation.parse_size(
                spec.mount_size or validation.DEFAULT_MOUNT_SIZE, "file_system.size")
        elif spec.mount_size or restore_from:
            raise invalid("file_system.mount_path", "is required when a size or snapshot is given")
        files = check_start_files(given, spec.mount_path, MAX_FILE_BYTES, file_fields)
        applied = network.choose(self.network, spec.ingress_mode, spec.egress_mode,
                                 [entry["port"] for entry in spec.services])
        spec.ingress_mode, spec.egress_mode = applied.ingress_mode, applied.egress_mode
        ask = dataclasses.replace(ask or PlacementAsk(), ingress_mode=applied.ingress_mode,
                                  egress_mode=applied.egress_mode)
        for entry in spec.services:
            entry["visibility"] = applied.ingress_mode
        source: SnapshotRow | None = None
        if restore_from:
            source = self._restorable(restore_from)
            spec.restored_from = restore_from
        self._apply(spec, self.catalogue.place(ask or PlacementAsk(), self.reserved()))
        spec.runtime = images.provide(spec.container_image).note
        spec.enforced = quotas.apply_to(
            self.quotas, naming.quantity_bytes(spec.limits.get("memory", "")) or 0,
            naming.quantity_bytes(spec.requests.get("memory", "")) or 0,
            spec.mount_size_bytes or validation.parse_size(validation.DEFAULT_MOUNT_SIZE, "size"),
        ).as_list()
        row = SandboxRow(id=f"sb-{uuid.uuid4().hex[:12]}", status=states.CREATING, spec=spec,
                         created_at=time.time())
        if spec.services:
            # unisolated sandboxes share the host's network: their ports are the host's own
            spec.service_address = (address_for(row.id, self._addresses_in_use())
                                    if self.isolation.isolated else "127.0.0.1")
        self.store.insert_sandbox(row)
        live = self.runtime.adopt(row)
        self.runtime.spawn_task(self._boot(live, source, files))
        return row

    def _addresses_in_use(self) -> set[str]:
        return {live.row.spec.service_address for live in self.runtime.live.values()
                if live.row.status not in states.TERMINAL}

    def _restorable(self, snapshot_id: str) -> SnapshotRow:
        snap = self.store.get_snapshot(snapshot_id)
        if snap is None:
            raise snapshot_not_found(snapshot_id)
        if snap.status != states.FSS_READY:
            raise precondition(f"file-system snapshot {snapshot_id!r} is not READY",
                               "CWSANDBOX_FSS_NOT_READY", file_system_snapshot_id=snapshot_id)
        bucket = self.bucket()
        if snap.object_bucket != bucket.effective:
            raise precondition(
                f"file-system snapshot {snapshot_id!r} is in bucket {snap.object_bucket!r}, "
                f"not the current bucket {bucket.effective!r}; revert the bucket to restore it",
                "CWSANDBOX_FSS_BUCKET_MISMATCH", file_system_snapshot_id=snapshot_id)
        return snap

    async def _boot(self, live: LiveSandbox, source: SnapshotRow | None,
                    files: Sequence[StartFile] = ()) -> None:
        if source is not None and live.layout.mount_dir is not None:
            try:
                await asyncio.to_thread(restore_archive, self._archive_path(source),
                                        live.layout.mount_dir, self.isolation.owner_ids)
            except Exception as exc:
                reason = "restoring the snapshot failed"
                if isinstance(exc, ArchiveError):
                    reason = str(exc)
                else:
                    log.exception("restoring into %s failed", live.row.id)
                self.runtime.set_status(live, states.FAILED, reason, ended_at=time.time())
                live.booted.set()
                live.exited.set()
                return
        for given in files:  # after a restore: what Start gave wins over the snapshot's
            try:
                await run_io(sandboxfs.write_file, live.layout, given.path, given.content)
            except FileProblem as problem:
                self.runtime.set_status(live, states.FAILED,
                                        f"mounted file {given.path!r}: {problem}",
                                        ended_at=time.time())
                live.booted.set()
                live.exited.set()
                return
        if live.stop_reason:  # stopped while it was being created
            self.runtime.set_status(live, states.COMPLETED, live.stop_reason, ended_at=time.time())
            live.booted.set()
            live.exited.set()
            return
        try:
            await self.runtime.boot(live)
        except Exception as exc:  # a sandbox that cannot boot ends FAILED, never CREATING
            log.exception("sandbox %s could not boot", live.row.id)
            if live.row.status == states.CREATING:
                self.runtime.set_status(live, states.FAILED,
                                        f"could not start: {type(exc).__name__}",
                                        ended_at=time.time())
            live.booted.set()
            live.exited.set()

    def get(self, sandbox_id: str) -> SandboxRow:
        live = self.runtime.live.get(sandbox_id)
        if live is not None:
            return live.row
        row = self.store.get_sandbox(sandbox_id)
        if row is None:
            raise sandbox_not_found(sandbox_id)
        return row

    def list_sandboxes(self, query: SandboxQuery, token: str, size: int
                       ) -> tuple[list[SandboxRow], str]:
        limit = page_size(size)
        after = decode(token, "sandboxes", query.key())
        found: list[SandboxRow] = []
        for row in self.store.sandboxes_after(after):
            live = self.runtime.live.get(row.id)
            row = live.row if live is not None else row
            if query.matches(row):
                found.append(row)
                if len(found) > limit:
                    break
        more = len(found) > limit
        found = found[:limit]
        return found, encode("sandboxes", found[-1].seq, query.key()) if more else ""

    def _live(self, sandbox_id: str) -> LiveSandbox:
        live = self.runtime.live.get(sandbox_id)
        if live is None:
            row = self.get(sandbox_id)  # raises NOT_FOUND for unknown ids
            raise precondition(f"sandbox {sandbox_id!r} is {states.status_name(row.status)}",
                               sandbox_id=sandbox_id)
        return live

    async def running_sandbox(self, sandbox_id: str, *, allow_paused: bool = False) -> LiveSandbox:
        live = self._live(sandbox_id)
        if live.row.status == states.CREATING:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(live.booted.wait(), BOOT_WAIT_SECONDS)
        allowed = (states.RUNNING, states.PAUSED) if allow_paused else (states.RUNNING,)
        if live.row.status not in allowed:
            raise precondition(
                f"sandbox {sandbox_id!r} is {states.status_name(live.row.status)}, not RUNNING",
                sandbox_id=sandbox_id)
        return live

    async def pause(self, sandbox_id: str) -> None:
        live = await self.running_sandbox(sandbox_id, allow_paused=True)
        if live.row.status == states.RUNNING and not await self.runtime.pause(live):
            raise ApiError(Code.UNAVAILABLE, f"the processes of sandbox "
                           f"{sandbox_id!r} did not all stop in time; it keeps running "
                           "(try again)", reason="CWSANDBOX_BACKEND_UNAVAILABLE")

    async def resume(self, sandbox_id: str) -> None:
        live = self._live(sandbox_id)
        if live.row.status == states.PAUSED:
            await self.runtime.resume(live)
        elif live.row.status != states.RUNNING:
            raise precondition(f"sandbox {sandbox_id!r} is "
                               f"{states.status_name(live.row.status)}, not PAUSED",
                               sandbox_id=sandbox_id)

    async def stop(self, sandbox_id: str, *, grace: int, snapshot: bool, wait_for_ready: bool,
                   max_timeout: int, idempotency_key: str) -> StopOutcome:
        validation.check_grace(grace)
        row = self.get(sandbox_id)
        live = self.runtime.live.get(sandbox_id)
        if snapshot and idempotency_key:
            earlier = self.store.find_snapshot_by_key(sandbox_id, idempotency_key)
            if earlier is not None and earlier.trigger == states.TRIGGER_STOP:
                return StopOutcome(snapshot_id=earlier.id)  # a retry of a stop we took
        stopping = live is not None and live.stop_task is not None
        if row.status in states.TERMINAL or live is None or stopping:
            if snapshot:
                terminal = row.status in states.TERMINAL or live is None
                state = "already stopped" if terminal else "already terminating"
                raise precondition(
                    f"cannot snapshot on stop: sandbox {sandbox_id!r} is {state}",
                    sandbox_id=sandbox_id)
            return StopOutcome()
        if live.row.status == states.CREATING and snapshot:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(live.booted.wait(), BOOT_WAIT_SECONDS)
        effective_grace = grace if grace > 0 else (STOP_GRACE_FALLBACK if snapshot else 0)
        if not snapshot:
            self.runtime.begin_stop(live, effective_grace, "stopped by request")
            return StopOutcome()
        if live.row.status not in (states.RUNNING, states.PAUSED):
            raise precondition(f"cannot snapshot on stop: sandbox {sandbox_id!r} is "
                               f"{states.status_name(live.row.status)}", sandbox_id=sandbox_id)
        if not live.row.spec.mount_path:
            raise precondition(f"sandbox {sandbox_id!r} has no file-system mount to snapshot",
                               "CWSANDBOX_FSS_NOT_SUPPORTED", sandbox_id=sandbox_id)
        live.stop_reason = "stopped by request with a snapshot"
        self.runtime.set_status(live, states.TERMINATING, live.stop_reason)
        snap = self._new_snapshot(live, states.TRIGGER_STOP, idempotency_key)
        live.row.stop_snapshot_id = snap.id
        self.store.update_sandbox(sandbox_id, stop_snapshot_id=snap.id)
        archive = self._archiving[snap.id]

        async def then_terminate() -> None:
            with contextlib.suppress(Exception):
                await asyncio.shield(archive)
            await self.runtime.terminate(live, effective_grace)

        live.stop_task = self.runtime.spawn_task(then_terminate())
        if not wait_for_ready:
            return StopOutcome(snapshot_id=snap.id)
        final = await self._wait_snapshot(snap.id, max_timeout or DEFAULT_SNAPSHOT_TIMEOUT)
        failed = final.status_reason if final.status == states.FSS_FAILED else ""
        return StopOutcome(snapshot_id=snap.id, snapshot_failed=failed)

    def drain(self, sandbox_id: str) -> None:
        """A server-initiated stop: the sandbox moves to TERMINATING by itself."""
        live = self.runtime.live.get(sandbox_id)
        if live is not None and live.row.status in (states.RUNNING, states.PAUSED):
            self.runtime.begin_stop(live, 10, "drained by the backend")

    async def delete(self, sandbox_id: str) -> None:
        """Delete a sandbox; deletes of the same sandbox that overlap join one deletion and
        all succeed once it is gone. A delete after that is NOT_FOUND."""
        await self._joined(self._deleting, sandbox_id, lambda: self._delete(sandbox_id))

    async def _joined(self, running: dict[str, asyncio.Task[None]], key: str,
                      start: Callable[[], Coroutine[Any, Any, None]]) -> None:
        task = running.get(key)
        if task is None:
            task = asyncio.ensure_future(start())
            running[key] = task
            task.add_done_callback(lambda _: running.pop(key, None))
        await asyncio.shield(task)

    async def _delete(self, sandbox_id: str) -> None:
        row = self.get(sandbox_id)
        live = self.runtime.live.pop(sandbox_id, None)
        if live is not None and row.status not in states.TERMINAL:
            live.stop_reason = live.stop_reason or "deleted"
            await self.runtime.terminate(live, 0)
        if live is not None:
            await live.exited.wait()
            # the mount must outlive the snapshots still being archived from it
            await asyncio.gather(*map(asyncio.shield, list(live.archives)),
                                 return_exceptions=True)
        self.store.delete_sandbox(sandbox_id)
        await asyncio.to_thread(remove_tree, self.runtime.sandbox_dir(sandbox_id))

    # snapshots
    def _archive_path(self, snap: SnapshotRow) -> Path:
        return self.buckets_dir / snap.archive

    def _new_snapshot(self, live: LiveSandbox, trigger: states.SnapshotCause,
                      key: str) -> SnapshotRow:
        now = time.time()
        snapshot_id = f"fss-{uuid.uuid4().hex[:12]}"
        bucket = self.bucket().effective
        snap = SnapshotRow(id=snapshot_id, status=states.FSS_CREATING, created_at=now,
                           updated_at=now, source_sandbox_id=live.row.id, trigger=trigger,
                           idempotency_key=key, object_bucket=bucket,
                           archive=f"{bucket}/{snapshot_id}.tar")
        self.store.insert_snapshot(snap)
        task = asyncio.ensure_future(self._archive(snap, live))
        self._archiving[snap.id] = task
        live.archives.add(task)
        task.add_done_callback(lambda _: self._archiving.pop(snap.id, None))
        task.add_done_callback(live.archives.discard)
        return snap

    async def _archive(self, snap: SnapshotRow, live: LiveSandbox) -> None:
        assert live.layout.mount_dir is not None
        skipped: list[str] = []
        if self.archive_hold is not None:
            await self.archive_hold.wait()
        try:
            size = await asyncio.to_thread(create_archive, live.layout.mount_dir,
                                           self._archive_path(snap), live.row.spec.mount_size_bytes,
                                           self.archive_rate, skipped)
        except ArchiveError as exc:
            self.store.update_snapshot(snap.id, status=states.FSS_FAILED, status_reason=str(exc),
                                       updated_at=time.time())
            return
        now = time.time()
        if self.store.get_snapshot(snap.id) is None:  # deleted while archiving
            await self._drop_archive_later(snap.archive)
            return
        warning = skipped_warning(skipped)
        if warning:
            log.warning("snapshot %s of %s: %s", snap.id, live.row.id, warning)
        self.store.update_snapshot(snap.id, status=states.FSS_READY, size_bytes=size,
                                   completed_at=now, updated_at=now, status_reason=warning)

    async def create_snapshot(self, sandbox_id: str, *, key: str, wait_for_ready: bool,
                              max_timeout: int) -> SnapshotRow:
        timeout = max_timeout or DEFAULT_SNAPSHOT_TIMEOUT
        earlier = self.store.find_snapshot_by_key(sandbox_id, key) if key else None
        if earlier is None:
            live = await self.running_sandbox(sandbox_id, allow_paused=True)
            if key:  # a retry with the same key may have made it while this call waited
                earlier = self.store.find_snapshot_by_key(sandbox_id, key)
        if earlier is not None:
            return await self._wait_snapshot(earlier.id, timeout) if wait_for_ready else earlier
        if not live.row.spec.mount_path:
            raise precondition(f"sandbox {sandbox_id!r} has no file-system mount to snapshot",
                               "CWSANDBOX_FSS_NOT_SUPPORTED", sandbox_id=sandbox_id)
        snap = self._new_snapshot(live, states.TRIGGER_MANUAL, key)
        if not wait_for_ready:
            return snap
        return await self._wait_snapshot(snap.id, timeout)

    async def _wait_snapshot(self, snapshot_id: str, timeout: float) -> SnapshotRow:
        task = self._archiving.get(snapshot_id)
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout if timeout > 0 else None)
            except TimeoutError:
                raise ApiError(
                    Code.DEADLINE_EXCEEDED,
                    f"file-system snapshot {snapshot_id!r} was not ready within {timeout:g} s; "
                    "it may still complete",
                    reason="CWSANDBOX_FSS_WAIT_TIMEOUT",
                    metadata={"file_system_snapshot_id": snapshot_id},
                ) from None
        return self.get_snapshot(snapshot_id)

    def get_snapshot(self, snapshot_id: str) -> SnapshotRow:
        snap = self.store.get_snapshot(snapshot_id)
        if snap is None:
            raise snapshot_not_found(snapshot_id)
        return snap

    def list_snapshots(self, token: str, size: int) -> tuple[list[tuple[Any, ...]], str]:
        """A page of snapshots as tuples in `Store.LISTING_COLUMNS` order, and the next token."""
        limit = page_size(size)
        rows = self.store.snapshot_listing(decode(token, "snapshots"), limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, encode("snapshots", rows[-1][0]) if more else ""

    def snapshot_page_keys(self, token: str, size: int) -> tuple[list[tuple[int, str]], str]:
        """A page of snapshots as (seq, id) pairs in order, and the next token."""
        limit = page_size(size)
        keys = self.store.snapshot_keys(decode(token, "snapshots"), limit + 1)
        more = len(keys) > limit
        keys = keys[:limit]
        return keys, encode("snapshots", keys[-1][0]) if more else ""

    async def delete_snapshot(self, snapshot_id: str) -> None:
        """Like `delete`: overlapping deletes of one snapshot join one deletion."""
        await self._joined(self._deleting_snapshots, snapshot_id,
                           lambda: self._delete_snapshot(snapshot_id))

    async def _delete_snapshot(self, snapshot_id: str) -> None:
        snap = self.get_snapshot(snapshot_id)
        task = self._archiving.get(snapshot_id)
        if task is not None:  # DELETING is seen only while its archiving is stopped
            self.store.update_snapshot(snapshot_id, status=states.FSS_DELETING,
                                       updated_at=time.time())
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.store.delete_snapshot(snapshot_id)
        await self._drop_archive_later(snap.archive)

    def _drop_archive(self, archive: str) -> None:
        """Remove an archive file unless another snapshot record still uses it."""
        if archive and not self.store.archive_used(archive):
            _unlink_archive(self.buckets_dir / archive)

    async def _drop_archive_later(self, archive: str) -> None:
        """`_drop_archive` with the file removed off the loop (the store stays on it)."""
        if archive and not self.store.archive_used(archive):
            await run_io(_unlink_archive, self.buckets_dir / archive)

    # bucket
    def bucket(self) -> BucketSetting:
        return BucketSetting(self.store.get_setting("bucket_name"),
                             self.store.get_setting("region"))

    def set_bucket(self, bucket_name: str, region: str) -> BucketSetting:
        if bucket_name:
            validation.check_bucket_name(bucket_name)
            if region:
                validation.check_region(region)
        elif region:
            raise invalid("region", "can only be set together with bucket_name")
        self.store.set_settings({"bucket_name": bucket_name, "region": region})
        return self.bucket()

    # files
    async def add_file(self, sandbox_id: str, filepath: str, contents: bytes) -> None:
        check_filepath(filepath)
        if len(contents) > MAX_FILE_BYTES:
            raise file_too_large(filepath, len(contents))
        live = await self.running_sandbox(sandbox_id, allow_paused=True)
        try:
            await run_io(sandboxfs.write_file, live.layout, filepath, contents)
        except FileProblem as problem:
            raise file_error(problem, filepath) from None

    async def retrieve_file(self, sandbox_id: str, filepath: str) -> bytes:
        check_filepath(filepath)
        live = await self.running_sandbox(sandbox_id, allow_paused=True)
        try:
            return await run_io(sandboxfs.read_file, live.layout, filepath,
                                           MAX_FILE_BYTES)
        except FileProblem as problem:
            raise file_error(problem, filepath) from None


def _unlink_archive(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.with_name(f".{path.name}.partial").unlink(missing_ok=True)


def skipped_warning(skipped: list[str]) -> str:
    """The READY snapshot's status_reason when special files were left out of its archive."""
    if not skipped:
        return ""
    shown = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
    return (f"ready; {len(skipped)} special file(s) that a snapshot cannot hold were left out: "
            f"{shown}")


def check_filepath(filepath: str) -> None:
    if not filepath:
        raise invalid("filepath", "is required")
    if "\x00" in filepath:
        raise invalid("filepath", "must not contain NUL bytes")
    if len(filepath.encode()) > sandboxfs.MAX_PATH_BYTES:
        raise invalid("filepath", f"must be at most {sandboxfs.MAX_PATH_BYTES} bytes long")


def file_too_large(filepath: str, size: int) -> ApiError:
    return ApiError(Code.RESOURCE_EXHAUSTED,
                    f"file {filepath!r} is too large ({size} bytes; at most {MAX_FILE_BYTES})",
                    reason="CWSANDBOX_FILE_TOO_LARGE",
                    metadata={"size_bytes": str(size), "max_size_bytes": str(MAX_FILE_BYTES),
                              "filepath": filepath})


_FILE_ERRORS = {
    "not_found": (Code.NOT_FOUND, "CWSANDBOX_FILE_NOT_FOUND"),
    "is_directory": (Code.FAILED_PRECONDITION, "CWSANDBOX_FILE_IS_DIRECTORY"),
    "permission": (Code.PERMISSION_DENIED, "CWSANDBOX_FILE_PERMISSION_DENIED"),
    "not_directory": (Code.FAILED_PRECONDITION, "CWSANDBOX_FILE_IO_FAILED"),
    "not_regular": (Code.FAILED_PRECONDITION, "CWSANDBOX_FILE_IO_FAILED"),
    "io": (Code.FAILED_PRECONDITION, "CWSANDBOX_FILE_IO_FAILED"),
}


def file_error(problem: FileProblem, filepath: str) -> ApiError:
    """The SDK's file error for a problem; its message speaks only of sandbox paths."""
    if problem.kind == "too_large":
        return file_too_large(filepath, problem.size or 0)
    if problem.kind == "too_many_links":
        return invalid("filepath", f"{filepath!r}: {problem}")
    code, reason = _FILE_ERRORS.get(problem.kind, _FILE_ERRORS["io"])
    return ApiError(code, f"{filepath!r}: {problem}", reason=reason,
                    metadata={"filepath": filepath})
