"""The dashboard's prune form and `snapshots prune` select the same snapshots: both apply the
client's one prune selection (`client/selection.py`). Before, the dashboard selected through a
filter expression of its own: a snapshot exactly as old as the age asked for was pruned by the
CLI and not by the dashboard, and one being deleted was marked by the dashboard only."""

from __future__ import annotations

import json

import pytest

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.backend.store import SnapshotRow
from cwsandbox_tui.cli.commands import run_snapshots_prune
from cwsandbox_tui.cli.main import build_parser
from cwsandbox_tui.ui.screens.dialogs import ConfirmDialog, FormDialog
from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen
from tests.fake_clock import FakeClock

from .conftest import DAY, FIXED_NOW, AppFactory, make_client
from .flows_support import screen_text, settle, wait_for
from .test_typeahead import burst, keys_done

# (older than, statuses checked, source sandbox). The seeded snapshot fss-000000000010 is
# exactly 13 days old; fss-000000000007/14/21/28 failed; odd numbers come from sb-...cccc.
CASES = {
    "older than 13d": ("13d", (), ""),
    "ready or failed older than 7d": ("7d", ("ready", "failed"), ""),
    "failed from one source": ("", ("failed",), "sb-00000000cccc"),
    "any status older than 1d": ("1d", (), ""),
}
CHECKBOXES = ("ready", "failed", "creating")  # the form's order, after the age


def add_snapshots_in_flight(backend: BackendServer) -> None:
    """One snapshot being deleted and one being made, both old enough for any case."""
    assert backend.engine is not None
    backend.engine.store.insert_snapshots([
        SnapshotRow(id="fss-deleting0001", status=states.FSS_DELETING,
                    created_at=FIXED_NOW - 20 * DAY, updated_at=FIXED_NOW - DAY,
                    source_sandbox_id="sb-00000000cccc"),
        SnapshotRow(id="fss-creating0001", status=states.FSS_CREATING,
                    created_at=FIXED_NOW - 15 * DAY, updated_at=FIXED_NOW - 15 * DAY,
                    source_sandbox_id="sb-00000000aaaa"),
    ])


def form_keys(older_than: str, statuses: tuple[str, ...], source: str) -> str:
    """The keys that fill the prune form: the age replaces the default (backspace clears it),
    tab to each checkbox (space checks it), the source, ctrl+s."""
    keys = older_than or "\x7f"
    for box in CHECKBOXES:
        keys += "\t" + (" " if box in statuses else "")
    return keys + "\t" + source + "\x13"


async def cli_selection(backend: BackendServer, now: float, older_than: str,
                        statuses: tuple[str, ...], source: str,
                        capsys: pytest.CaptureFixture[str]) -> set[str]:
    """What `snapshots prune --dry-run --json` would delete, at the dashboard's `now`."""
    argv = ["snapshots", "prune", "--dry-run", "--json"]
    argv += ["--older-than", older_than] if older_than else []
    argv += ["--status", ",".join(statuses)] if statuses else []
    argv += ["--source-sandbox", source] if source else []
    client = make_client(backend)
    assert isinstance(client.clock, FakeClock)
    client.clock.advance(now - client.clock.time())
    try:
        capsys.readouterr()
        assert await run_snapshots_prune(client, build_parser().parse_args(argv)) == 0
    finally:
        await client.close()
    return {s["id"] for s in json.loads(capsys.readouterr().out)["would_delete"]}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_the_dashboard_marks_what_the_cli_would_prune(
        app_factory: AppFactory, backend: BackendServer,
        capsys: pytest.CaptureFixture[str], case: tuple[str, tuple[str, ...], str]) -> None:
    older_than, statuses, source = case
    app = app_factory()  # seeds the backend
    add_snapshots_in_flight(backend)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        burst(app, "2")
        await keys_done(pilot)
        screen = app.screen
        assert isinstance(screen, SnapshotsScreen)
        await wait_for(pilot, lambda: len(screen.table.rows) == 32, "every snapshot listed")
        burst(app, "P")
        await keys_done(pilot)
        assert isinstance(app.screen, FormDialog), screen_text(app)
        burst(app, form_keys(older_than, statuses, source))
        await keys_done(pilot)
        assert isinstance(app.screen, ConfirmDialog), screen_text(app)
        assert app.screen_stack[-2] is screen
        marked, shown = set(screen.table.marks), set(screen.table.view)
        now = screen.store.clock.time()
    expected = await cli_selection(backend, now, older_than, statuses, source, capsys)
    assert expected, "each case selects something"
    assert marked == expected
    assert shown == marked  # the filter shows exactly what is marked, nothing else
