"""bench/profiles.py reads a real profile right: own time by function and by where the code
lives, with shares that add up, and renders them as the Markdown it writes."""

from __future__ import annotations

import cProfile
from pathlib import Path

from bench.profiles import Section, markdown, profile_tables, read_profile
from cwsandbox_tui.client.models import Snapshot, SnapshotStatus, SnapshotTrigger
from cwsandbox_tui.client.usage import Usage

NOW = 1_800_000_000.0


def _rows(count: int) -> dict[str, Snapshot]:
    return {f"fss-{n}": Snapshot(f"fss-{n}", SnapshotStatus.READY, "", n, NOW - n, None, None,
                                 f"sb-{n % 7}", SnapshotTrigger.STOP) for n in range(count)}


def test_a_profile_of_the_fold_names_it_first_and_places_it_in_our_client(
        tmp_path: Path) -> None:
    rows = _rows(60_000)
    profiler = cProfile.Profile()
    profiler.enable()
    Usage(NOW).sync(rows, NOW)
    profiler.disable()
    path = tmp_path / "fold.prof"
    profiler.dump_stats(str(path))

    lines, places = read_profile(path, top=3)
    assert lines[0].where.startswith("cwsandbox_tui/client/usage.py:")
    assert lines[0].where.endswith(" _fold")
    assert lines[0].calls == 1
    assert lines[0].share > 0.5
    assert [ln.own for ln in lines] == sorted((ln.own for ln in lines), reverse=True)
    assert abs(sum(share for _place, _seconds, share in places) - 1.0) < 1e-9
    assert places[0][0] == "ours: client"

    section = Section("usage", "usage: the fold", "A test.")
    profile_tables(section, path, "Usage.sync", top=3)
    text = markdown([section], ["- Commit: `test`"])
    assert "## usage" in text
    assert "**Usage.sync: own time by where the code lives**" in text
    assert "| ours: client |" in text
    assert "`cwsandbox_tui/client/usage.py:" in text
