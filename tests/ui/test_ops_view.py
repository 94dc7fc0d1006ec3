"""The operations log (`:ops`): an entry shown whole with enter, and `/` filters it."""

from __future__ import annotations

from cwsandbox_tui.client import events as ev
from cwsandbox_tui.ui.screens.dialogs import DetailsDialog
from cwsandbox_tui.ui.screens.ops import OpsScreen

from .conftest import AppFactory
from .flows_support import screen_text, settle, table_lines, wait_for
from .test_typeahead import burst, keys_done

LONG = ("the server refused the request because the snapshot bucket named in the profile "
        "does not exist in region us-east-04a; create it or choose another -- END")


async def test_ops_entry_shown_whole_and_filtered(app_factory: AppFactory) -> None:
    app = app_factory()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        bus = app.client.bus
        bus.emit(ev.Failed(op_id=bus.new_op_id(), op="Set bucket", at=app.clock.time(),
                           message=LONG, error="ValidationError"))
        burst(app, ":ops\r")
        await keys_done(pilot)
        screen = app.screen
        assert isinstance(screen, OpsScreen)
        await wait_for(pilot, lambda: any("Set bucket" in line for line in table_lines(app)),
                       "the failure listed")
        assert "END" not in screen_text(app)  # cut to the DETAIL column
        burst(app, "/bucket\r")
        await keys_done(pilot)
        shown = [line for line in table_lines(app)[1:] if line.strip()]
        assert shown and all("Set bucket" in line for line in shown), shown
        burst(app, "G\r")
        await keys_done(pilot)
        assert isinstance(app.screen, DetailsDialog)
        text = " ".join(screen_text(app).replace("│", " ").split())  # lines joined
        assert "us-east-04a; create it or choose another -- END" in text, text
        burst(app, "\x1b\x1b")  # close the entry, then clear the filter
        await keys_done(pilot)
        assert app.screen is screen and screen.filter_text == ""
        assert "Delete" not in screen_text(app).splitlines()[-1]  # no deleting log entries
