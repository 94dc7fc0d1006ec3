"""Months of use: an idle dashboard's polling adds nothing to the log, on disk or in memory."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from cwsandbox_tui.client import events as ev
from cwsandbox_tui.client.events import OperationsLog
from cwsandbox_tui.client.models import SandboxSpec
from cwsandbox_tui.ui.app import OPS_KEPT
from cwsandbox_tui.ui.screens.output import ExecScreen
from tests.fake_clock import FakeClock

from .conftest import AppFactory
from .flows_support import settle, wait_for

HOURS = 8
TICK = 120.0  # fake seconds per refresh: 240 refreshes stand for 8 hours of polling


async def test_eight_idle_hours_add_nothing_to_the_log(app_factory: AppFactory,
                                                       tmp_path: Path) -> None:
    app = app_factory()
    log_path = tmp_path / "operations.jsonl"
    log = OperationsLog(log_path, max_bytes=256 * 1024, keep=2)
    app.client.bus.subscribe(log)
    clock = app.client.clock
    assert isinstance(clock, FakeClock)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        rows_before = len(app.store.op_rows)
        size_before = log_path.stat().st_size
        ticks = int(HOURS * 3600 / TICK)
        tracemalloc.start()
        for n in range(ticks):
            clock.advance(TICK)
            app.refresh_tick()
            await app.workers.wait_for_complete()
            if n == 20:  # warmed up: caches full
                warm, _ = tracemalloc.get_traced_memory()
        grown = tracemalloc.get_traced_memory()[0] - warm
        tracemalloc.stop()
        await settle(pilot)
        assert len(app.store.op_rows) == rows_before
        assert log_path.stat().st_size == size_before
        assert app.client.bus.routine["List sandboxes"] >= ticks
        assert app.client.bus.routine["List file-system snapshots"] >= ticks
        assert grown < 1_000_000, f"memory grew {grown} bytes over {HOURS} idle hours"
    log.close()


async def test_the_operations_view_keeps_a_bounded_number_of_rows(
        app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for n in range(OPS_KEPT + 500):
            app.client.bus.emit(ev.OperationWarning(op_id=f"op-{n}", op="Stop sandbox",
                                                    at=float(n), message=f"warning {n}"))
        await settle(pilot)
        assert len(app.store.op_rows) == OPS_KEPT
        assert app.store.op_rows[-1].detail == f"warning {OPS_KEPT + 499}"


async def test_an_exec_from_the_dashboard_is_in_the_operations_log(
        app_factory: AppFactory) -> None:
    app = app_factory(seed=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        sandbox = await app.client.start_sandbox(SandboxSpec())
        await pilot.press("ctrl+r")
        await settle(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: app.screen.query("#field-command"), "the exec form")
        await pilot.press(*"echo hello", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ExecScreen), "the exec view")
        await wait_for(pilot, lambda: any(r.op == "Exec" and r.kind == "Finished"
                                          for r in app.store.op_rows), "the exec in :ops")
        [row] = [r for r in app.store.op_rows if r.op == "Exec" and r.kind == "Finished"]
        assert row.detail == "exit code 0" and sandbox.id in row.targets
