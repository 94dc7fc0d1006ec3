"""The operations log for months of use: quiet polls are counted, the file rotates by size."""

from __future__ import annotations

from pathlib import Path

from cwsandbox_tui.backend.faults import Trigger
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client import events as ev
from cwsandbox_tui.client.client import Client
from cwsandbox_tui.client.events import OperationsLog, read_log


def _event(n: int) -> ev.Event:
    return ev.Finished(op_id=f"op-{n}", op="Delete file-system snapshot",
                       targets=(f"fss-{n:012d}",), at=float(n), summary="deleted " + "x" * 80)


def test_log_rotates_by_size_and_keeps_a_bounded_number_of_files(tmp_path: Path) -> None:
    path = tmp_path / "operations.jsonl"
    log = OperationsLog(path, max_bytes=10_000, keep=2)
    for n in range(2000):  # about 400 KB of events
        log(_event(n))
    log.close()
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["operations.jsonl", "operations.jsonl.1",
                                       "operations.jsonl.2"]
    assert all(f.stat().st_size <= 10_000 for f in files)
    newest = read_log(path)
    assert newest[-1]["op_id"] == "op-1999"  # the latest events are in the live file
    older = read_log(tmp_path / "operations.jsonl.1")
    assert int(older[-1]["op_id"][3:]) + 1 == int(newest[0]["op_id"][3:])  # nothing skipped


def test_reopened_log_counts_what_the_file_already_holds(tmp_path: Path) -> None:
    path = tmp_path / "operations.jsonl"
    path.write_text("x" * 9_990 + "\n")
    log = OperationsLog(path, max_bytes=10_000, keep=1)
    log(_event(1))
    log.close()
    assert (tmp_path / "operations.jsonl.1").stat().st_size == 9_991
    assert read_log(path)[0]["op_id"] == "op-1"


async def test_routine_polls_are_counted_not_emitted(
        fclient: tuple[Client, object], backend: BackendServer) -> None:
    client, _ = fclient
    seen: list[ev.Event] = []
    client.bus.subscribe(seen.append)
    for _ in range(5):
        await client.list_sandboxes(routine=True)
        await client.list_snapshots(routine=True)
        await client.get_bucket(routine=True)
    assert seen == []
    assert client.bus.routine == {"List sandboxes": 5, "List file-system snapshots": 5,
                                  "Get bucket config": 5}

    # A poll that has to retry is logged whole: its start, the retry, its end.
    backend.faults.set_fault("List", "unavailable", Trigger(first=1))
    await client.list_sandboxes(routine=True)
    assert [e.kind for e in seen] == ["OperationStarted", "RetryScheduled", "Finished"]
    assert client.bus.routine["List sandboxes"] == 5

    # A poll asked for by a person (the default) is an operation like any other.
    seen.clear()
    await client.list_sandboxes()
    assert [e.kind for e in seen] == ["OperationStarted", "Finished"]
