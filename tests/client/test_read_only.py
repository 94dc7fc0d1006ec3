"""Read-only mode: every mutating call is refused before it reaches the wire."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client import events as ev
from cwsandbox_tui.client.client import Client
from cwsandbox_tui.client.errors import ReadOnlyError
from cwsandbox_tui.client.models import SandboxSpec
from cwsandbox_tui.proto.v1 import sandbox_pb2, settings_pb2, volume_pb2
from cwsandbox_tui.proto.v1beta2 import discovery_pb2, gateway_pb2, streaming_pb2

from .helpers import MOUNT, Harness, seed_snapshots, server_snapshot_ids, start

ALL_METHODS = [m.name for module in (gateway_pb2, streaming_pb2, sandbox_pb2, settings_pb2,
                                     volume_pb2, discovery_pb2)
               for service in module.DESCRIPTOR.services_by_name.values()
               for m in service.methods]


async def _drain(iterator: Any) -> None:
    async for _ in iterator:
        pass


# name -> how to call it on (client, sandbox id, snapshot id)
MUTATIONS: dict[str, Callable[[Client, str, str], Awaitable[Any]]] = {
    "start_sandbox": lambda c, s, f: c.start_sandbox(SandboxSpec(mount_path=MOUNT)),
    "stop_sandbox": lambda c, s, f: c.stop_sandbox(s),
    "delete_sandbox": lambda c, s, f: c.delete_sandbox(s),
    "pause_sandbox": lambda c, s, f: c.pause_sandbox(s),
    "resume_sandbox": lambda c, s, f: c.resume_sandbox(s),
    "exec": lambda c, s, f: c.exec(s, ["touch", f"{MOUNT}/x"]),
    "exec_stream": lambda c, s, f: _drain(c.exec_stream(s, ["touch", f"{MOUNT}/x"])),
    "add_file": lambda c, s, f: c.add_file(s, f"{MOUNT}/x", b"data"),
    "create_snapshot": lambda c, s, f: c.create_snapshot(s),
    "delete_snapshot": lambda c, s, f: c.delete_snapshot(f),
    "delete_snapshots": lambda c, s, f: c.delete_snapshots([f]),
    "delete_sandboxes": lambda c, s, f: c.delete_sandboxes([s]),
    "set_bucket": lambda c, s, f: c.set_bucket("my-bucket"),
    "reset_bucket": lambda c, s, f: c.reset_bucket(),
    "delete_volume": lambda c, s, f: c.delete_volume("vol-x"),
    "terminal": lambda c, s, f: _drain(c.terminal(s, ["/bin/sh"], width=80, height=24,
                                                  inbox=asyncio.Queue())),
}


def _mutating_methods() -> set[str]:
    """Public Client methods that check `_writable` (directly or through another one)."""
    found: set[str] = set()
    names = [n for n, m in inspect.getmembers(Client, inspect.isfunction) if not n.startswith("_")]
    sources = {n: inspect.getsource(getattr(Client, n)) for n in names}
    changed = True
    while changed:
        changed = False
        for name, source in sources.items():
            if name in found:
                continue
            if "self._writable(" in source or "self._simple(" in source or any(
                    f"self.{other}(" in source for other in found):
                found.add(name)
                changed = True
    return found


def test_every_mutating_method_is_covered_here() -> None:
    assert _mutating_methods() == set(MUTATIONS), (
        "a mutating Client method was added or removed: update MUTATIONS in this file")


@pytest.mark.parametrize("name", sorted(MUTATIONS))
async def test_read_only_refuses_before_the_wire(name: str, harness: Harness,
                                                 backend: BackendServer) -> None:
    writer, _ = harness.make()
    sandbox_id = await start(writer)
    [snapshot_id] = seed_snapshots(backend, 1)
    reader, recorder = harness.make(read_only=True)
    assert reader.read_only
    backend.faults.set_latency("*", 0.0)  # from now on every call is counted, per method
    with pytest.raises(ReadOnlyError, match="read-only"):
        await MUTATIONS[name](reader, sandbox_id, snapshot_id)
    seen = {m: backend.faults.calls(m) for m in ALL_METHODS if backend.faults.calls(m)}
    assert seen == {}
    # nothing changed
    assert server_snapshot_ids(backend) == {snapshot_id}
    assert (await writer.get_sandbox(sandbox_id)).status.value == "running"
    assert not recorder.of(ev.RetryScheduled)


async def test_read_only_still_reads(harness: Harness, backend: BackendServer) -> None:
    writer, _ = harness.make()
    sandbox_id = await start(writer)
    [snapshot_id] = seed_snapshots(backend, 1)
    reader, _ = harness.make(read_only=True)
    assert [s.id for s in await reader.list_sandboxes()] == [sandbox_id]
    assert (await reader.get_snapshot(snapshot_id)).id == snapshot_id
    assert [s.id for s in await reader.list_snapshots()] == [snapshot_id]
    assert (await reader.get_bucket()).mode.value == "cw_managed"
    assert [r.runner_id for r in await reader.list_runners()] == ["local-runner"]
    assert [p.name for p in await reader.list_profiles()] == ["default"]
