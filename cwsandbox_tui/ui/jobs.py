"""Long work the app owns (not a screen, so closing a dialog never cancels it)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from textual.app import App
from textual.worker import Worker

from ..client.errors import CwsError


@dataclass
class Job:
    label: str
    worker: Worker[Any]
    cancel: asyncio.Event = field(default_factory=asyncio.Event)


class JobRunner:
    def __init__(self, app: App[Any], on_done: Callable[[], None]) -> None:
        self.app = app
        self.on_done = on_done  # e.g. refresh: what the job changed shows at once
        self.jobs: list[Job] = []

    def run(self, label: str, work_fn: Callable[[asyncio.Event], Awaitable[Any]]) -> Job:
        cancel = asyncio.Event()

        async def run() -> None:
            try:
                await work_fn(cancel)
            except CwsError:
                pass  # reported through the client's Failed event
            finally:
                self.jobs[:] = [j for j in self.jobs if j.worker is not worker]
                self.on_done()

        worker = self.app.run_worker(run(), name=label, group=f"job-{len(self.jobs)}-{label}",
                                     exit_on_error=False)
        job = Job(label, worker, cancel)
        self.jobs.append(job)
        return job

    def running(self) -> list[Job]:
        return [j for j in self.jobs if j.worker.is_running]

    def cancel_latest(self) -> Job | None:
        """Ask the newest running job to stop: a bulk delete stops between items (what
        is under way finishes), anything else is cancelled at once."""
        running = self.running()
        if not running:
            return None
        job = running[-1]
        job.cancel.set()
        if not job.label.startswith("Delete snapshots"):
            job.worker.cancel()
        return job
