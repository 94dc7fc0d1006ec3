"""Long work the app owns (not a screen, so closing a dialog never cancels it).

A job's end lists nothing by itself: the row store folds the client's events of what the job
did, and asks for a listing when it cannot show an end (a failure, a cancel, a new row). Only
an error no event told (a bug in the job, not the client's CwsError) makes the runner ask.
"""

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
    label: str  # for display
    worker: Worker[Any]
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    stops_between_items: bool = False  # a cancel lets the items under way finish


class JobRunner:
    def __init__(self, app: App[Any], on_untold: Callable[[], None]) -> None:
        """`on_untold`: called after a job that raised an error no client event told (e.g.
        a refresh, since what the job changed is not known)."""
        self.app = app
        self.on_untold = on_untold
        self.jobs: list[Job] = []

    def run(self, label: str, work_fn: Callable[[asyncio.Event], Awaitable[Any]], *,
            stops_between_items: bool = False) -> Job:
        cancel = asyncio.Event()

        async def run() -> None:
            try:
                await work_fn(cancel)
            except CwsError:
                pass  # reported through the client's Failed event
            except Exception:
                self.on_untold()
                raise  # the app reports it (on_worker_state_changed)
            finally:
                self.jobs[:] = [j for j in self.jobs if j.worker is not worker]

        worker = self.app.run_worker(run(), name=label, group=f"job-{len(self.jobs)}-{label}",
                                     exit_on_error=False)
        job = Job(label, worker, cancel, stops_between_items)
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
        if not job.stops_between_items:
            job.worker.cancel()
        return job
