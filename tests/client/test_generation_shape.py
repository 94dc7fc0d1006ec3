"""One shape per API generation: each adapter has every call of `Generation` with the same
parameters, and `auto` settles each of its choices once, however many calls ask at once."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.client import adapter_v1, adapter_v1beta2
from cwsandbox_tui.client.client import Client, EndpointInfo
from cwsandbox_tui.client.generation import Choice, Generation, Spoken
from cwsandbox_tui.client.generations import Auto, choose
from cwsandbox_tui.client.pending import Opening
from cwsandbox_tui.client.wire import open_channel

from .helpers import count_calls

ADAPTERS = (adapter_v1.V1Adapter, adapter_v1beta2.V1beta2Adapter)
PROBE_V1 = "GetFileSystemSnapshotBucketConfig"  # auto's question: does it speak v1?
PROBE_DISCOVERY = "ListProfiles"  # and, for runners and profiles: does it speak v1beta2?


def _members(*protocols: type) -> set[str]:
    return {name for protocol in protocols for name in vars(protocol)
            if not name.startswith("_")}


def _parameters(function: object) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default)
            for p in inspect.signature(function).parameters.values()]  # type: ignore[arg-type]


def _same_shape(cls: type, protocol: type, name: str) -> None:
    wanted = getattr(protocol, name)
    assert hasattr(cls, name), f"{cls.__module__}.{cls.__name__} has no {name}"
    if isinstance(wanted, property):
        return  # a property or a plain attribute both answer it
    got = getattr(cls, name)
    where = f"{cls.__module__}.{cls.__name__}.{name}"
    assert _parameters(got) == _parameters(wanted), where
    assert inspect.iscoroutinefunction(got) == inspect.iscoroutinefunction(wanted), where


@pytest.mark.parametrize("cls", ADAPTERS, ids=lambda c: c.__module__.rpartition(".")[2])
def test_each_adapter_has_every_call_of_the_generation_shape(cls: type) -> None:
    names = _members(Spoken, Generation)
    assert {"exec", "terminal", "logs", "list_page", "stop", "list_volumes"} <= names
    for name in sorted(names):
        _same_shape(cls, Generation, name)


@pytest.mark.parametrize("cls", (*ADAPTERS, Auto, Opening), ids=lambda c: c.__name__)
def test_adapters_auto_and_an_opening_are_choices(cls: type) -> None:
    names = _members(Spoken, Choice)
    assert {"generation", "discovery", "close"} <= names
    for name in sorted(names):
        _same_shape(cls, Choice, name)


async def test_auto_settles_each_choice_once_however_many_calls_ask_at_once(
        backend: BackendServer) -> None:
    count_calls(backend, PROBE_V1, PROBE_DISCOVERY)
    # Slow answers: every first call is waiting on the same question at once.
    backend.faults.set_latency(PROBE_V1, 0.2)
    backend.faults.set_latency(PROBE_DISCOVERY, 0.2)
    channel = open_channel(f"127.0.0.1:{backend.port}", tls=False, root_certificates=None)
    client = Client(choose("auto", channel, []), EndpointInfo(
        url=backend.url, source="test", auth_mode="none", read_only=False))
    try:
        assert client.api_version == "auto"
        listings = await asyncio.gather(*(client.list_runners() for _ in range(6)),
                                        *(client.list_snapshots() for _ in range(6)))
        assert backend.faults.calls(PROBE_V1) == 1, "auto asked more than once if v1 is spoken"
        assert backend.faults.calls(PROBE_DISCOVERY) == 1, \
            "auto asked more than once where discovery is spoken"
        assert client.api_version == "v1"  # both are served: the current one
        for runners in listings[:6]:  # discovery in v1beta2, which names runners' profiles
            assert [r.profile_names for r in runners] == [("default",)]  # type: ignore[union-attr]
        await client.list_runners()
        await client.list_sandboxes()
        assert (backend.faults.calls(PROBE_V1), backend.faults.calls(PROBE_DISCOVERY)) == (1, 1)
    finally:
        await client.close()
