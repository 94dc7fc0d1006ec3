"""The state file `backend status` reads says what keeps the backend the moment a sandbox's
status changes, not at the watcher's next tick: a client told "running" that asks at once sees
it running (a tick of an hour here, so only the change itself can have written it)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

from cwsandbox_tui.backend.lifetime import STATE_FILE, watch
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb

from .conftest import StartBackend
from .helpers import TERMINAL, start_sandbox, stop, wait_status


def _keeping(data_dir: Path) -> dict[str, int]:
    keeping = json.loads((data_dir / STATE_FILE).read_text())["keeping"]
    assert isinstance(keeping, dict)
    return keeping


async def _no_demo() -> None:
    raise AssertionError("nobody asked for the demo")


async def test_a_status_change_is_in_the_state_file_before_its_reply(
        start_backend: StartBackend, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    backend = await start_backend(data_dir=data_dir)
    engine = backend.server.engine
    assert engine is not None
    watcher = asyncio.ensure_future(watch(engine, data_dir, backend.server.state, linger=None,
                                          seed_demo=_no_demo, clock=lambda: 0.0, tick=3600))
    try:
        await asyncio.sleep(0)  # its first look: nothing runs yet
        assert _keeping(data_dir)["running"] == 0

        sandbox_id = await start_sandbox(backend.gateway)
        assert _keeping(data_dir)["running"] == 1

        assert (await backend.gateway.Pause(pb.PauseSandboxRequest(sandbox_id=sandbox_id))
                ).success
        assert (_keeping(data_dir)["running"], _keeping(data_dir)["paused"]) == (0, 1)

        assert (await backend.gateway.Resume(pb.ResumeSandboxRequest(sandbox_id=sandbox_id))
                ).success
        assert _keeping(data_dir)["running"] == 1

        await stop(backend.gateway, sandbox_id)
        await wait_status(backend.gateway, sandbox_id, TERMINAL)
        assert (_keeping(data_dir)["running"], _keeping(data_dir)["paused"]) == (0, 0)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    assert engine.runtime.status_listeners == []
