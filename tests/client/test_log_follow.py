"""Following a log across disconnects: resumed without loss or repeats, or restarted."""

from __future__ import annotations

from cwsandbox_tui.backend.faults import Trigger
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client.client import Client
from cwsandbox_tui.client.models import LogChunk, LogReconnected, SandboxSpec

from .helpers import Recorder

NUMBERS = ("-c", "for i in $(seq 1 30); do echo n$i; done; sleep 0.3")


async def test_follow_resumes_after_a_cut(client: tuple[Client, Recorder],
                                          backend: BackendServer) -> None:
    c, _ = client
    sandbox = await c.start_sandbox(SandboxSpec(args=NUMBERS))
    backend.faults.cut_after = 7
    backend.faults.set_fault("StreamLogs", "cut", Trigger(first=2))
    items = [item async for item in c.follow_logs(sandbox.id)]
    chunks = [i for i in items if isinstance(i, LogChunk)]
    reconnects = [i for i in items if isinstance(i, LogReconnected)]
    assert len(reconnects) == 2 and all(r.resumed for r in reconnects)
    assert reconnects[0].offset == sum(len(c.data) for c in chunks[:7])
    text = b"".join(c.data for c in chunks)
    assert text == b"".join(b"n%d\n" % i for i in range(1, 31))


async def test_a_forgotten_session_starts_a_new_one(client: tuple[Client, Recorder],
                                                     backend: BackendServer) -> None:
    c, _ = client
    sandbox = await c.start_sandbox(SandboxSpec(args=NUMBERS))
    assert backend.streaming is not None
    backend.faults.cut_after = 3
    backend.faults.set_fault("StreamLogs", "cut", Trigger(first=1))
    items: list[LogChunk | LogReconnected] = []
    async for item in c.follow_logs(sandbox.id):
        if not items:
            backend.streaming.forget_log_sessions()  # as after a restart of the server
        items.append(item)
    cut, gap = [i for i in items if isinstance(i, LogReconnected)]
    assert cut.resumed and "stream cut" in cut.reason  # tried to resume, and then
    assert not gap.resumed and "SESSION_NOT_FOUND" in gap.reason  # the server had forgotten
    after = b"".join(i.data for i in items[items.index(gap):] if isinstance(i, LogChunk))
    assert after == b"".join(b"n%d\n" % i for i in range(1, 31))  # the new session, whole
