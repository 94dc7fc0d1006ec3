"""The usage view on a real pseudo-terminal: a source sandbox's hostile tags and a hostile
source id (a record the server sent, its sandbox gone) reach the terminal only as visible
escapes, in the table and in the notice that no filter names that id (one that did would be
shown raw in the filter bar, and could not be read back as the same id)."""

from __future__ import annotations

import time

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.backend.store import SandboxRow, SnapshotRow, StoredSpec
from tests.hostile_text import HOSTILE, OSC52, RawTerminal

SHOWN = b"\\x1b]52;c;"  # OSC 52's introducer as the terminal should show it: escaped
TAGGED = "sb-tagged"
FOREIGN = f"sb-{OSC52}"


async def test_usage_view_shows_hostile_tags_and_ids_inert(backend: BackendServer) -> None:
    assert backend.engine is not None
    store = backend.engine.store
    now = time.time()
    store.insert_sandbox(SandboxRow(
        id=TAGGED, status=states.COMPLETED, created_at=now - 60,
        spec=StoredSpec(command="/bin/sh", container_image="python:3.11",
                         tags=["team", HOSTILE])))
    store.insert_snapshots([
        SnapshotRow(id=f"fss-{n}", status=states.FSS_READY, created_at=now - n * 60,
                    updated_at=now, source_sandbox_id=source, trigger=states.TRIGGER_STOP,
                    object_bucket="cwsandbox-managed", archive="", size_bytes=size)
        for n, (source, size) in enumerate([(TAGGED, 5 * 2**20), (FOREIGN, 2**20)])])

    term = await RawTerminal.open("--endpoint", backend.url,
                                  env={"TERM": "xterm-256color", "TEXTUAL_ANIMATIONS": "none"})
    try:
        await term.until(b"sandboxes")
        at = term.mark()
        term.type(b"5")
        await term.until(b"Usage by source: 2 snapshots", at)
        await term.until(TAGGED.encode(), at)
        await term.until(b"team,", at)
        await term.until(b"GONE", at)
        await term.until(SHOWN, at)  # the tag, and the foreign source's id, escaped
        at = term.mark()
        term.type(b"j\x04")  # the foreign source's group (the smaller), ctrl+d
        await term.until(b"No filter shows exactly", at)  # the id is not put in the bar
        await term.until(b"sb-" + SHOWN, at)
        at = term.mark()
        term.type(b"k\x04")  # the tagged source's group: to the confirmation
        await term.until(b"Delete 1 snapshot", at)
        await term.until(b"fss-0", at)
    finally:
        await term.close()
