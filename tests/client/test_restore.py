"""A restore needs a mount to unpack into: without one the client refuses it, naming the
field, instead of starting an empty sandbox that silently dropped the snapshot."""

from __future__ import annotations

import pytest

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client import events as ev
from cwsandbox_tui.client.client import Client
from cwsandbox_tui.client.errors import ValidationError
from cwsandbox_tui.client.models import SandboxSpec

from .helpers import Recorder, engine, start


async def test_a_restore_without_a_mount_path_is_refused_naming_the_field(
        client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, recorder = client
    source = await start(c)
    snap = await c.create_snapshot(source, wait_for_ready=True)
    before = [row.id for row in engine(backend).store.sandboxes_after(0)]

    with pytest.raises(ValidationError) as raised:
        await c.start_sandbox(SandboxSpec(restore_from=snap.id, mount_path=""))

    assert str(raised.value).startswith("mount_path: is required to restore " + snap.id)
    assert [v.field for v in raised.value.violations] == ["mount_path"]
    assert [row.id for row in engine(backend).store.sandboxes_after(0)] == before
    assert not [e for e in recorder.of(ev.Finished) if e.op == "Start sandbox"
                and e.targets != (source,)]


async def test_a_restore_says_which_snapshot_went_where(
        client: tuple[Client, Recorder], backend: BackendServer) -> None:
    c, recorder = client
    source = await start(c)
    snap = await c.create_snapshot(source, wait_for_ready=True)
    restored = await c.start_sandbox(SandboxSpec(restore_from=snap.id, mount_path="/workspace"))
    [done] = [e for e in recorder.of(ev.Finished)
              if e.op == "Start sandbox" and e.targets == (restored.id,)]
    assert done.summary == f"restored {snap.id} into {restored.id} at /workspace (running)"
    plain = await c.start_sandbox(SandboxSpec(image="python:3.12"))
    [done] = [e for e in recorder.of(ev.Finished)
              if e.op == "Start sandbox" and e.targets == (plain.id,)]
    assert done.summary == f"started {plain.id} (running), python:3.12, no mount"


async def test_setting_the_bucket_says_bucket_and_region(
        client: tuple[Client, Recorder]) -> None:
    c, recorder = client
    await c.set_bucket("team-bucket", "us-east-1")
    [done] = [e for e in recorder.of(ev.Finished) if e.op == "Set bucket config"]
    assert done.summary.startswith("bucket team-bucket in us-east-1 (")
