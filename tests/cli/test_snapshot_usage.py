"""`snapshots usage`: what fills the bucket, grouped, against a real backend."""

from __future__ import annotations

import time

import pytest

from cwsandbox_tui.backend import states
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.backend.store import SandboxRow, SnapshotRow, StoredSpec

from .helpers import DAY, cli, remaining

MiB = 2**20


def seed_usage(backend: BackendServer) -> None:
    """Two sources: sb-kept is listed (tags team-ml, llama), sb-gone is not; eight snapshots
    of fixed sizes over the four age bands."""
    assert backend.engine is not None
    store = backend.engine.store
    now = time.time()
    store.insert_sandbox(SandboxRow(
        id="sb-kept", status=states.COMPLETED, created_at=now - 40 * DAY,
        spec=StoredSpec(command="/bin/sh", container_image="python:3.11",
                         tags=["team-ml", "llama"])))
    rows = [  # id, source, status, trigger, age in days, MiB
        ("fss-1", "sb-kept", states.FSS_READY, states.TRIGGER_STOP, 0.5, 100),
        ("fss-2", "sb-kept", states.FSS_READY, states.TRIGGER_MANUAL, 3, 200),
        ("fss-3", "sb-kept", states.FSS_FAILED, states.TRIGGER_MANUAL, 3, 1),
        ("fss-4", "sb-gone", states.FSS_READY, states.TRIGGER_STOP, 10, 400),
        ("fss-5", "sb-gone", states.FSS_FAILED, states.TRIGGER_STOP, 12, 2),
        ("fss-6", "sb-gone", states.FSS_READY, states.TRIGGER_STOP, 45, 800),
        ("fss-7", "sb-kept", states.FSS_CREATING, states.TRIGGER_MANUAL, 0.1, 0),
        ("fss-8", "sb-gone", states.FSS_READY, states.TRIGGER_MANUAL, 60, 50),
    ]
    store.insert_snapshots([
        SnapshotRow(id=i, status=status, created_at=now - days * DAY,
                    updated_at=now - days * DAY, source_sandbox_id=source, trigger=trigger,
                    object_bucket="cwsandbox-managed", archive="", size_bytes=mib * MiB)
        for i, source, status, trigger, days, mib in rows])


@pytest.fixture
def env(backend: BackendServer) -> dict[str, str]:
    seed_usage(backend)
    return {"CWSANDBOX_BASE_URL": backend.url}


def compact(groups: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [(g["key"], g["count"], g["size_bytes"], g["filter"]) for g in groups]


async def test_by_status_json_biggest_first_with_the_safe_hints(
        backend: BackendServer, env: dict[str, str]) -> None:
    run = await cli("snapshots", "usage", "--by", "status", "--json", env=env)
    assert run.code == 0, run
    data = run.json()
    assert data["by"] == "status" and data["count"] == 8
    assert data["size_bytes"] == 1553 * MiB
    assert compact(data["groups"]) == [
        ("ready", 5, 1550 * MiB, "status=ready"), ("failed", 2, 3 * MiB, "status=failed"),
        ("creating", 1, 0, "status=creating")]
    assert [g["safe"] for g in data["groups"]] == ["", "FAILED", ""]
    assert abs(sum(g["share"] for g in data["groups"]) - 1.0) < 1e-9
    hints = {h["reason"]: (h["count"], h["size_bytes"], h["filter"])
             for h in data["safe_to_drop"]}
    assert hints == {"FAILED": (2, 3 * MiB, "status=failed"),
                     "sandbox gone": (4, 1252 * MiB, "sandbox=gone"),
                     "older than 7d": (4, 1252 * MiB, "age>=7d")}
    assert remaining(backend) == {f"fss-{n}" for n in range(1, 9)}  # nothing deleted


async def test_by_source_names_the_tags_and_the_sandboxes_gone(
        backend: BackendServer, env: dict[str, str]) -> None:
    as_json, as_table = await cli("snapshots", "usage", "--json", env=env), \
        await cli("snapshots", "usage", env=env)
    groups = as_json.json()["groups"]
    assert compact(groups) == [("sb-gone", 4, 1252 * MiB, "source=sb-gone"),
                               ("sb-kept", 4, 301 * MiB, "source=sb-kept")]
    assert [(g["exists"], g["tags"], g["safe"]) for g in groups] == [
        (False, [], "its sandbox is gone"), (True, ["team-ml", "llama"], "")]
    lines = as_table.stdout.splitlines()
    assert lines[0].split() == ["SOURCE", "COUNT", "SIZE", "SHARE", "NOTE"]
    assert lines[1].startswith("sb-gone") and "sandbox gone" in lines[1] and "81%" in lines[1]
    assert lines[2].startswith("sb-kept") and "team-ml,llama" in lines[2]
    assert "Usually safe to drop:" in as_table.stdout
    assert "(filter: status=failed)" in as_table.stdout


async def test_by_age_bands_and_by_trigger(backend: BackendServer, env: dict[str, str]) -> None:
    by_age = (await cli("snapshots", "usage", "--by", "age", "--json", env=env)).json()
    assert compact(by_age["groups"]) == [
        ("older", 2, 850 * MiB, "age>=30d"), ("a month", 2, 402 * MiB, "age>=7d age<30d"),
        ("a week", 2, 201 * MiB, "age>=1d age<7d"), ("a day", 2, 100 * MiB, "age<1d")]
    assert [g["safe"] for g in by_age["groups"]] == ["older than 7d", "older than 7d", "", ""]
    by_trigger = (await cli("snapshots", "usage", "--by", "trigger", "--json", env=env)).json()
    assert compact(by_trigger["groups"]) == [
        ("stop", 4, 1302 * MiB, "trigger=stop"), ("manual", 4, 251 * MiB, "trigger=manual")]


async def test_a_bad_grouping_is_a_usage_error(backend: BackendServer) -> None:
    run = await cli("snapshots", "usage", "--by", "colour",
                    env={"CWSANDBOX_BASE_URL": backend.url})
    assert run.code == 2 and "--by" in run.stderr and "colour" in run.stderr, run
    assert run.stdout == ""


async def test_no_snapshots(backend: BackendServer) -> None:
    run = await cli("snapshots", "usage", env={"CWSANDBOX_BASE_URL": backend.url})
    assert run.code == 0 and run.stdout.strip() == "No snapshots found.", run
