"""`coreweave.sandbox.v1.SandboxService`: sandboxes, their files and snapshots, over the engine.

Semantics that differ from v1beta2 (fact sheet 4 and 8):

* create returns the whole `Sandbox` with its spec echoed, and a create retried with the
  same `request_id` returns the sandbox the first one made;
* `DeleteSandbox` is both stop and delete: on a live sandbox it stops it (after
  `grace_period_seconds`, taking ON_DELETE snapshots of `snapshot_volumes` first) and the
  sandbox stays visible with a terminal state; on a sandbox that already ended, a request
  without a grace period removes its record (the SDK's `Sandbox.delete`);
* snapshots are answered at once in CREATING and reach READY or FAILED by themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from ...proto.v1 import sandbox_pb2 as pb
from ...proto.v1 import sandbox_pb2_grpc
from .. import images, states
from ..engine import Engine, SandboxQuery
from ..errors import ApiError, Code, invalid
from ..store import SandboxRow
from ..wire.listing import PageBytes, SnapshotWire, register_encoded
from . import convert, create_spec, streams
from .common import call, refuse, required

_DELETE_FIELDS = {"graceful_shutdown_seconds": "grace_period_seconds"}
_FILE_FIELDS = {"filepath": "path"}


class SandboxService(sandbox_pb2_grpc.SandboxServiceServicer):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._volume_names: dict[str, str] = {}  # sandbox id -> its scratch volume's name
        self._wire = SnapshotWire(engine.store, self._encode_snapshot)
        self._pages = PageBytes(engine.store)
        self._machine = create_spec.Machine(engine.network, engine.isolation.isolated)

    def _message(self, row: SandboxRow) -> pb.Sandbox:
        return convert.sandbox_message(row, self.engine.service_host(row))

    # sandboxes
    async def CreateSandbox(self, request: pb.CreateSandboxRequest, context: Any) -> pb.Sandbox:
        async def work() -> pb.Sandbox:
            self.engine.check_can_start()  # before the request's fields: nothing could start
            start = create_spec.engine_start(request.sandbox, self._machine)
            await images.provide_soon(start.spec.container_image)  # probing a Python, off the loop
            row = self.engine.start(start.spec, start.restore, request.request_id, ask=start.ask,
                                    files=start.files, file_fields=create_spec.FILE_FIELDS)
            return self._message(row)
        return await call(context, work, create_spec.ENGINE_FIELDS, request=request)

    async def GetSandbox(self, request: pb.GetSandboxRequest, context: Any) -> pb.Sandbox:
        async def work() -> pb.Sandbox:
            return self._message(self.engine.get(required(request.sandbox_id, "sandbox_id")))
        return await call(context, work, request=request)

    async def ListSandboxes(self, request: pb.ListSandboxesRequest, context: Any
                           ) -> pb.ListSandboxesResponse:
        async def work() -> pb.ListSandboxesResponse:
            status = None
            if request.state:
                if request.state not in convert.STATE_FROM_V1:
                    raise invalid("state", f"{request.state} is not a State")
                status = convert.STATE_FROM_V1[request.state]
            if request.page_size < 0:
                raise invalid("page_size", "must not be negative")
            if request.volume_ids:  # registered volumes are never attached here
                return pb.ListSandboxesResponse()
            query = SandboxQuery(tags=list(request.tags), status=status,
                                 include_stopped=request.show_terminated,
                                 runner_ids=list(request.runner_ids))
            if request.sort_direction == pb.SORT_DIRECTION_DESCENDING:
                raise invalid("sort_direction", "the local backend lists oldest first only "
                                                "(SORT_DIRECTION_ASCENDING)")
            rows, token = self.engine.list_sandboxes(query, request.page_token, request.page_size)
            return pb.ListSandboxesResponse(
                sandboxes=[self._message(r) for r in rows], next_page_token=token)
        return await call(context, work, request=request)

    async def DeleteSandbox(self, request: pb.DeleteSandboxRequest, context: Any
                            ) -> pb.DeleteSandboxResponse:
        async def work() -> pb.DeleteSandboxResponse:
            sandbox_id = required(request.sandbox_id, "sandbox_id")
            if request.grace_period_seconds < 0:
                raise invalid("grace_period_seconds", "must not be negative")
            volumes = list(request.snapshot_volumes)
            if request.allow_missing and volumes:
                raise ApiError(Code.INVALID_ARGUMENT,
                               "allow_missing cannot be combined with snapshot_volumes: a "
                               "snapshot needs the sandbox", reason="CWSANDBOX_INVALID_REQUEST")
            try:
                row = self.engine.get(sandbox_id)
            except ApiError as error:
                if error.code == Code.NOT_FOUND and request.allow_missing:
                    return pb.DeleteSandboxResponse()  # it was already gone
                raise
            if volumes:
                self._check_volumes(row, volumes)
                outcome = await self.engine.stop(
                    sandbox_id, grace=request.grace_period_seconds, snapshot=True,
                    wait_for_ready=False, max_timeout=0, idempotency_key=request.request_id)
                return pb.DeleteSandboxResponse(
                    sandbox=self._message(self.engine.get(sandbox_id)),
                    file_system_snapshot_ids=[outcome.snapshot_id])
            if row.status in states.TERMINAL and not request.grace_period_seconds:
                gone = self._message(row)
                await self.engine.delete(sandbox_id)
                return pb.DeleteSandboxResponse(sandbox=gone)
            await self.engine.stop(sandbox_id, grace=request.grace_period_seconds,
                                   snapshot=False, wait_for_ready=False, max_timeout=0,
                                   idempotency_key="")
            return pb.DeleteSandboxResponse(
                sandbox=self._message(self.engine.get(sandbox_id)))
        return await call(context, work, _DELETE_FIELDS, request=request)

    def _check_volumes(self, row: SandboxRow, names: list[str]) -> None:
        own = convert.volume_name(row) if row.spec.mount_path else None
        for index, name in enumerate(names):
            if name != own:
                raise invalid(f"snapshot_volumes[{index}]",
                              f"sandbox {row.id!r} has no scratch volume named {name!r}")
        if len(names) > 1:
            raise invalid("snapshot_volumes", "names the same volume more than once")

    # data plane (gateway path; ConnectSandbox stays unimplemented so the SDK keeps to it)
    async def StreamExec(self, request_iterator: AsyncIterator[pb.ExecStreamRequest],
                         context: Any) -> AsyncIterator[pb.ExecStreamResponse]:
        async for frame in streams.stream_exec(self.engine, request_iterator, context):
            yield frame

    async def StreamLogs(self, request: pb.StreamLogsRequest, context: Any
                         ) -> AsyncIterator[pb.LogEntry]:
        async for entry in streams.stream_logs(self.engine, request, context):
            yield entry

    async def Exec(self, request: pb.ExecRequest, context: Any) -> pb.ExecResponse:
        async def work() -> pb.ExecResponse:
            return await streams.exec_once(self.engine, request)
        return await call(context, work, request=request)

    async def WriteFile(self, request: pb.WriteFileRequest, context: Any) -> pb.WriteFileResponse:
        async def work() -> pb.WriteFileResponse:
            sandbox_id = required(request.sandbox_id, "sandbox_id")
            streams.check_container(self.engine.get(sandbox_id), request.container)
            await self.engine.add_file(sandbox_id, request.path, request.content)
            return pb.WriteFileResponse()
        return await call(context, work, _FILE_FIELDS, request=request)

    async def ReadFile(self, request: pb.ReadFileRequest, context: Any) -> pb.ReadFileResponse:
        async def work() -> pb.ReadFileResponse:
            sandbox_id = required(request.sandbox_id, "sandbox_id")
            streams.check_container(self.engine.get(sandbox_id), request.container)
            data = await self.engine.retrieve_file(sandbox_id, request.path)
            return pb.ReadFileResponse(content=data)
        return await call(context, work, _FILE_FIELDS, request=request)

    # snapshots
    def _volume_of(self, sandbox_id: str) -> str:
        name = self._volume_names.get(sandbox_id)
        if name is None:
            row = self.engine.store.get_sandbox(sandbox_id) if sandbox_id else None
            name = convert.volume_name(row) if row is not None else convert.DEFAULT_VOLUME
            self._volume_names[sandbox_id] = name
        return name

    async def CreateFileSystemSnapshot(self, request: pb.CreateFileSystemSnapshotRequest,
                                       context: Any) -> pb.FileSystemSnapshot:
        async def work() -> pb.FileSystemSnapshot:
            sandbox_id = required(request.sandbox_id, "sandbox_id")
            row = self.engine.get(sandbox_id)
            if request.scratch_volume_name and row.spec.mount_path:
                self._check_volumes(row, [request.scratch_volume_name])
            snap = await self.engine.create_snapshot(sandbox_id, key=request.request_id,
                                                     wait_for_ready=False, max_timeout=0)
            return convert.snapshot_message(snap, self._volume_of(sandbox_id))
        return await call(context, work, {"snapshot_volumes[0]": "scratch_volume_name"},
                          request=request)

    async def GetFileSystemSnapshot(self, request: pb.GetFileSystemSnapshotRequest, context: Any
                                    ) -> pb.FileSystemSnapshot:
        async def work() -> pb.FileSystemSnapshot:
            snap = self.engine.get_snapshot(
                required(request.file_system_snapshot_id, "file_system_snapshot_id"))
            return convert.snapshot_message(snap, self._volume_of(snap.source_sandbox_id))
        return await call(context, work, request=request)

    def _encode_snapshot(self, row: tuple[Any, ...]) -> bytes:
        """A record's v1 message, encoded, from its listing row (Store.LISTING_COLUMNS)."""
        message = pb.FileSystemSnapshot()
        convert.fill_snapshot(message, *row[1:], volume=self._volume_of(row[8]))
        return message.SerializeToString()

    async def ListFileSystemSnapshots(self, request: pb.ListFileSystemSnapshotsRequest,
                                      context: Any) -> bytes:
        """Answered as encoded bytes (see ../wire/listing.py and `register`). A page holds the
        records of one unfiltered page that match `source_sandbox_id`, and that page's token."""
        async def work() -> bytes:
            if request.page_size < 0:
                raise invalid("page_size", "must not be negative")
            wanted = request.source_sandbox_id
            page = self._pages.get(request.page_token, request.page_size, wanted)
            if page is None:  # (an identical request was checked when the page was kept)
                if wanted:
                    rows, token = self.engine.list_snapshots(request.page_token,
                                                             request.page_size)
                    keys = [(row[0], row[1]) for row in rows
                            if row[8] == wanted]  # source_sandbox_id column
                else:
                    keys, token = self.engine.snapshot_page_keys(request.page_token,
                                                                 request.page_size)
                page = self._wire.page(keys, token)
                self._pages.put(request.page_token, request.page_size, page, wanted)
            return page
        return await call(context, work, request=request)

    async def DeleteFileSystemSnapshot(self, request: pb.DeleteFileSystemSnapshotRequest,
                                       context: Any) -> pb.FileSystemSnapshot:
        async def work() -> pb.FileSystemSnapshot:
            snapshot_id = required(request.file_system_snapshot_id, "file_system_snapshot_id")
            try:
                snap = self.engine.get_snapshot(snapshot_id)
            except ApiError as error:
                if error.code == Code.NOT_FOUND and request.allow_missing:
                    return pb.FileSystemSnapshot()
                raise
            message = convert.snapshot_message(snap, self._volume_of(snap.source_sandbox_id))
            await self.engine.delete_snapshot(snapshot_id)
            message.state = pb.SNAPSHOT_STATE_DELETING
            return message
        return await call(context, work, request=request)


refuse(SandboxService, "CreateSandboxFromTemplate", "CreateSandboxFromFile",
       "GetSandboxBuildLogs", "PurgeSandboxes", "ConnectSandbox")


def register(service: SandboxService, server: grpc.aio.Server) -> None:
    """Add the service to `server` as the generated code does, except that the listing of
    snapshots may answer with the response already encoded (it is built from kept bytes)."""
    register_encoded(sandbox_pb2_grpc.add_SandboxServiceServicer_to_server, service, server,
                     {"ListFileSystemSnapshots": pb.ListFileSystemSnapshotsRequest})
