"""Flows across the app: bucket settings, read-only mode, the command bar, help, NO_COLOR."""

from __future__ import annotations

import re

import pytest
from textual.binding import Binding
from textual.widgets import Input, Static
from textual.widgets._footer import FooterKey

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.ui.app import DashboardApp
from cwsandbox_tui.ui.screens.bucket import BucketScreen
from cwsandbox_tui.ui.screens.dialogs import ConfirmDialog, DetailsDialog, FormDialog
from cwsandbox_tui.ui.screens.ops import OpsScreen
from cwsandbox_tui.ui.screens.sandboxes import SandboxesScreen
from cwsandbox_tui.ui.screens.snapshots import SnapshotsScreen
from cwsandbox_tui.ui.screens.table_screen import TableScreen
from cwsandbox_tui.ui.widgets.rowtable import RowTable

from .conftest import AppFactory
from .flows_support import (
    note_titled,
    notes,
    server_snapshots,
    settle,
    table_lines,
    texts,
    wait_for,
)


def _server_bucket(backend: BackendServer) -> tuple[str, str]:
    assert backend.engine is not None
    config = backend.engine.bucket()
    return config.bucket_name, config.region


def _bucket_text(app: object) -> str:
    return str(app.screen.query_one("#bucket-config", Static).render())  # type: ignore[attr-defined]


@pytest.mark.parametrize("api", ["v1beta2", "v1"])  # a backend serving one generation
async def test_change_bucket_refuse_bad_values_and_revert(
        app_factory: AppFactory, backend: BackendServer) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        assert isinstance(app.screen, BucketScreen)
        assert "managed by CoreWeave" in _bucket_text(app)

        # A good name and region: confirmed, saved, shown.
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, FormDialog)
        await pilot.press(*"my-bucket", "tab", *"us-east-1", "ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert "Send new snapshots to bucket my-bucket (region us-east-1)?" in texts(app)
        await pilot.press("y")
        await settle(pilot)
        assert isinstance(app.screen, BucketScreen)
        shown = _bucket_text(app)
        assert "your own bucket" in shown and "my-bucket" in shown and "us-east-1" in shown
        assert _server_bucket(backend) == ("my-bucket", "us-east-1")

        # A bad name is refused at the field; nothing is sent.
        await pilot.press("e")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, FormDialog)
        assert form.values() == {"bucket_name": "my-bucket", "region": "us-east-1"}
        await pilot.press(*"Bad_B", "ctrl+s")  # the old name is selected: replaced
        await pilot.pause()
        assert app.screen is form
        error = form.query_one("#error-bucket_name", Static)
        assert error.has_class("field-error") and str(error.render())
        assert app.focused is form.query_one("#field-bucket_name", Input)
        assert _server_bucket(backend) == ("my-bucket", "us-east-1")

        # A region without a bucket passes each field's own check; the server refuses the
        # pair, and its message comes back at the region field of the re-opened form.
        await pilot.press("ctrl+u", "tab", *"eu-west-1", "ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, FormDialog)
                       and app.screen is not form, "the form to re-open with the server's error")
        await settle(pilot)
        reopened = app.screen
        assert isinstance(reopened, FormDialog)
        region_error = reopened.query_one("#error-region", Static)
        assert region_error.has_class("field-error")
        assert "can only be set together with bucket_name" in str(region_error.render())
        assert reopened.values() == {"bucket_name": "", "region": "eu-west-1"}
        assert app.focused is reopened.query_one("#field-region", Input)
        failed = note_titled(app, "Reset bucket config failed")  # no name: the client's label
        assert failed is not None and failed.severity == "error"
        assert _server_bucket(backend) == ("my-bucket", "us-east-1")
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, BucketScreen)

        # R reverts to the managed bucket.
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        await pilot.press("y")
        await settle(pilot)
        assert "managed by CoreWeave" in _bucket_text(app)
        assert _server_bucket(backend) == ("", "")


async def test_read_only_greys_out_destructive_keys(
        app_factory: AppFactory, backend: BackendServer) -> None:
    app = app_factory(read_only=True)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        assert "READ-ONLY" in str(app.screen.query_one("HeaderBar").render())

        def footer_disabled() -> dict[str, bool]:
            return {k.action: k.has_class("-disabled") for k in app.screen.query(FooterKey)}

        screen = app.screen
        assert isinstance(screen, SandboxesScreen)
        for action in ("delete", "new", "stop", "stop_snapshot", "snapshot", "pause", "exec"):
            assert screen.check_action(action, ()) is None
        await wait_for(pilot, lambda: "delete" in footer_disabled(), "the footer's keys")
        shown = footer_disabled()
        assert shown["delete"] and shown["new"] and shown["stop"]  # shown, greyed out
        assert all(off == (action in screen.MUTATING) for action, off in shown.items())

        await pilot.press("2")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SnapshotsScreen)
        for action in ("delete", "prune", "restore"):
            assert screen.check_action(action, ()) is None
        await wait_for(pilot, lambda: "prune" in footer_disabled(), "the snapshots' footer")
        shown = footer_disabled()
        assert shown["delete"]
        assert all(off == (action in screen.MUTATING) for action, off in shown.items())

        await pilot.press("space", "ctrl+d")  # marking is fine; deleting does nothing
        await pilot.pause()
        assert screen.table.marks and app.screen is screen
        await pilot.press("y", "P", "r")
        await settle(pilot)
        assert app.screen is screen and not app.runner.jobs
        assert len(server_snapshots(backend)) == 30

        await pilot.press("3")
        await settle(pilot)
        assert app.screen.check_action("edit", ()) is None
        await pilot.press("e", "R")
        await pilot.pause()
        assert isinstance(app.screen, BucketScreen)


async def test_command_bar_and_help(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for command, screen_type in (("snap", SnapshotsScreen), ("bucket", BucketScreen),
                                     ("ops", OpsScreen), ("sb", SandboxesScreen)):
            await pilot.press("colon", *command, "enter")
            await settle(pilot)
            assert isinstance(app.screen, screen_type), command

        await pilot.press("colon", *"zap", "enter")
        await pilot.pause()
        assert isinstance(app.screen, SandboxesScreen)
        unknown = next(n for n in notes(app) if n.message.startswith("Unknown command :zap."))
        assert unknown.severity == "error"
        assert ":snap" in unknown.message and ":bucket" in unknown.message

        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, DetailsDialog)
        lines = texts(app)
        wanted = [b.description for b in (*SandboxesScreen.BINDINGS, *TableScreen.BINDINGS,
                                          *DashboardApp.BINDINGS)
                  if isinstance(b, Binding) and b.description]
        assert {"Filter", "Mark shown", "Delete", "Quit", "Cancel task"} <= set(wanted)
        for description in wanted:  # one or two columns of "key  description"
            assert any(re.search(rf" {re.escape(description)}( |$)", line) for line in lines), \
                description
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, SandboxesScreen)


async def test_no_color_keeps_status_words(
        app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.no_color
        table = app.screen.query_one(RowTable)
        cursor_line = table.render_line(1)  # the cursor is on the first row
        # Reverse video: under NO_COLOR the cursor row is not white on light grey.
        assert all(seg.style is not None and seg.style.reverse
                   for seg in cursor_line if seg.text.strip())
        body = "\n".join(table_lines(app))
        for word in ("RUNNING", "PAUSED", "COMPLETED", "FAILED"):
            assert word in body
        await pilot.press("2")
        await settle(pilot)
        body = "\n".join(table_lines(app))
        assert "READY" in body and "STATUS" in body
        await pilot.press("slash", *"status=failed", "enter")
        await pilot.pause()
        lines = [line for line in table_lines(app)[1:] if line.strip()]
        assert len(lines) == 4 and all("FAILED" in line for line in lines)
