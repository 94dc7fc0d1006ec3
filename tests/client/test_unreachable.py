"""An endpoint that never answers (refused, no such host) fails a call within the short
connect budget, with one error naming it; one that answered keeps the whole budget."""

from __future__ import annotations

import random
import socket

import pytest

from cwsandbox_tui.client import events as ev
from cwsandbox_tui.client.adapter_v1beta2 import V1beta2Adapter
from cwsandbox_tui.client.client import Client, EndpointInfo
from cwsandbox_tui.client.errors import UnreachableError
from cwsandbox_tui.client.wire import open_channel
from tests.fake_clock import FakeClock

from .helpers import Recorder


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once it is closed


async def test_a_refused_endpoint_fails_within_the_connect_budget_naming_it() -> None:
    port = closed_port()
    url = f"http://127.0.0.1:{port}"
    clock = FakeClock()
    channel = open_channel(f"127.0.0.1:{port}", tls=False, root_certificates=None)
    client = Client(V1beta2Adapter(channel, []), EndpointInfo(url=url, source="--endpoint",
                                                              auth_mode="none", read_only=False),
                    clock=clock, rng=random.Random(4))
    recorder = Recorder()
    client.bus.subscribe(recorder)
    try:
        with pytest.raises(UnreachableError) as raised:
            await client.list_snapshots()
    finally:
        await client.close()
    assert str(raised.value) == f"cannot reach {url}: Connection refused"
    assert sum(clock.sleeps) == pytest.approx(2.0)  # the connect budget, not 30 s
    assert clock.sleeps[:4] == sorted(clock.sleeps[:4])  # growing pauses
    retries = recorder.of(ev.RetryScheduled)
    assert retries and all(r.connecting for r in retries)
    [failed] = recorder.of(ev.Failed)
    assert failed.message.startswith(f"cannot reach {url}: Connection refused")
    assert not client.reached
