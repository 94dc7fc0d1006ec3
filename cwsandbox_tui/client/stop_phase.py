"""What a stop with a snapshot is doing while its one long call is in flight.

No API generation reports how much of an archive is written, so the person is told the
phase instead, as the server shows it: the sandbox and its stop snapshot are looked at about
once a second (Get calls of their own, outside any operation, so nothing is logged).
"""

from __future__ import annotations

import asyncio
import contextlib

from . import deadlines
from .errors import CwsError
from .generation import Generation
from .models import SandboxStatus, SnapshotStatus

LOOK_EVERY = 1.0  # seconds between two looks at the sandbox
LOOK_TIMEOUT = 5.0  # a look that takes longer is skipped: the phase stays as it was


class StopPhase:
    """The phase of one stop with a snapshot: `text` is what the task panel shows."""

    def __init__(self, adapter: Generation, sandbox_id: str) -> None:
        self.adapter = adapter
        self.sandbox_id = sandbox_id
        self.text = "stopping"

    async def follow(self) -> None:
        """Look until cancelled (the stop's call ended)."""
        while True:
            with contextlib.suppress(CwsError, asyncio.TimeoutError):
                self.text = await asyncio.wait_for(self.look(), LOOK_TIMEOUT)
            await asyncio.sleep(LOOK_EVERY)

    async def look(self) -> str:
        timeout = min(LOOK_TIMEOUT, deadlines.POLL_RPC_TIMEOUT)
        sandbox = await self.adapter.get(self.sandbox_id, timeout)
        if sandbox.status.terminal:
            return f"sandbox {sandbox.status.value}"
        snapshot_id = sandbox.stop_snapshot_id
        if not snapshot_id:
            # v1 names the stop's snapshots only in the stop's answer
            return "stopping and archiving" if sandbox.status is SandboxStatus.TERMINATING \
                else "stopping"
        snap = await self.adapter.get_snapshot(snapshot_id, timeout)
        if snap.status is SnapshotStatus.CREATING:
            return f"archiving {snapshot_id}"
        if snap.status is SnapshotStatus.READY:
            return f"snapshot {snapshot_id} ready, stopping"
        return f"snapshot {snapshot_id} {snap.status.value}, stopping"
