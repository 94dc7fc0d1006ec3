"""The scriptable commands, run as `python -m cwsandbox_tui ...` against a real backend.

The endpoint comes from CWSANDBOX_BASE_URL (the in-process backend of the test).
Exit codes: 0 ok, 1 failure, 2 usage, 3 partial failure of a bulk action.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from cwsandbox_tui.backend.faults import Trigger
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.backend.store import StoredSpec
from cwsandbox_tui.client.client import Client, EndpointInfo
from cwsandbox_tui.client.generations import choose
from cwsandbox_tui.client.models import SandboxSpec
from cwsandbox_tui.client.wire import open_channel

from .helpers import cli, remaining, seed


@pytest.fixture
def env(backend: BackendServer) -> dict[str, str]:
    return {"CWSANDBOX_BASE_URL": backend.url}


async def test_snapshots_list_json_and_table(backend: BackendServer, env: dict[str, str]) -> None:
    empty = await cli("snapshots", "list", env=env)
    assert empty.code == 0 and empty.stdout.strip() == "No snapshots found.", empty
    ids = seed(backend, ["fss-a", "fss-b", "fss-c"])
    as_json, as_table = await asyncio.gather(cli("snapshots", "list", "--json", env=env),
                                             cli("snapshots", "list", env=env))
    assert as_json.code == 0, as_json
    rows = as_json.json()
    assert [r["id"] for r in rows] == ids
    assert rows[0]["status"] == "ready" and rows[0]["size_bytes"] == 2048
    assert rows[0]["source_sandbox_id"] == "sb-seeded" and rows[0]["trigger"] == "manual"
    assert as_table.code == 0
    lines = as_table.stdout.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "TRIGGER", "SIZE", "SOURCE", "CREATED", "BUCKET"]
    assert [line.split()[0] for line in lines[1:]] == ids


async def test_snapshots_get(backend: BackendServer, env: dict[str, str]) -> None:
    seed(backend, ["fss-one"])
    found, missing = await asyncio.gather(cli("snapshots", "get", "fss-one", "--json", env=env),
                                          cli("snapshots", "get", "fss-nope", env=env))
    assert found.code == 0 and found.json()["id"] == "fss-one", found
    assert missing.code == 1, missing
    assert missing.stderr.startswith("error: ") and "fss-nope" in missing.stderr
    assert missing.stdout == ""


async def test_snapshots_delete_json(backend: BackendServer, env: dict[str, str]) -> None:
    seed(backend, ["fss-1", "fss-2", "fss-3"])
    run = await cli("snapshots", "delete", "fss-1", "fss-3", "--json", env=env)
    assert run.code == 0, run
    report = run.json()
    assert report["summary"] == "2 deleted" and report["cancelled"] is False
    assert report["items"] == [{"id": "fss-1", "outcome": "deleted", "message": ""},
                               {"id": "fss-3", "outcome": "deleted", "message": ""}]
    assert remaining(backend) == {"fss-2"}


async def test_delete_reports_an_unknown_id_and_deletes_the_known_ones(
        backend: BackendServer, env: dict[str, str]) -> None:
    seed(backend, ["fss-1", "fss-2"])
    unknown = await cli("snapshots", "delete", "fss-unknown", env=env)
    assert unknown.code == 1 and unknown.stdout.strip() == "1 not found", unknown
    assert "fss-unknown: not found: no snapshot has this id" in unknown.stderr
    run = await cli("snapshots", "delete", "fss-1", "fss-unknown", "--json", env=env)
    assert run.code == 3, run  # partial: the known id is deleted, the unknown one reported
    assert {i["id"]: i["outcome"] for i in run.json()["items"]} == {
        "fss-1": "deleted", "fss-unknown": "not_found"}
    assert remaining(backend) == {"fss-2"}
    seed(backend, ["fss-1"])
    gone_ok = await cli("snapshots", "delete", "fss-1", "fss-unknown", "--missing-ok", "--json",
                        env=env)
    assert gone_ok.code == 0, gone_ok
    assert {i["id"]: i["outcome"] for i in gone_ok.json()["items"]} == {
        "fss-1": "deleted", "fss-unknown": "already_gone"}


async def test_partial_failure_of_a_bulk_delete_exits_3(backend: BackendServer,
                                                        env: dict[str, str]) -> None:
    seed(backend, ["fss-1", "fss-2"])
    # The empty id is refused by the server (INVALID_ARGUMENT, final): a genuine partial failure.
    run = await cli("snapshots", "delete", "fss-1", "", "fss-2", "--missing-ok", "--json", env=env)
    assert run.code == 3, run
    outcomes = {i["id"]: i["outcome"] for i in run.json()["items"]}
    assert outcomes == {"fss-1": "deleted", "": "failed", "fss-2": "deleted"}
    assert remaining(backend) == set()
    text = await cli("snapshots", "delete", "", "--missing-ok", env=env)
    assert text.code == 1, text  # everything failed
    assert ": failed: " in text.stderr and text.stdout.strip() == "1 failed"


async def test_prune_dry_run_lists_without_deleting(backend: BackendServer,
                                                    env: dict[str, str]) -> None:
    old = seed(backend, ["fss-old-1", "fss-old-2"], age_days=10)
    new = seed(backend, ["fss-new-1"], age_days=1)
    table, as_json = await asyncio.gather(
        cli("snapshots", "prune", "--older-than", "7d", "--dry-run", env=env),
        cli("snapshots", "prune", "--older-than", "7d", "--dry-run", "--json", env=env))
    assert table.code == 0, table
    assert "fss-old-1" in table.stdout and "fss-old-2" in table.stdout
    assert "fss-new-1" not in table.stdout
    assert "Would delete 2 snapshots (4.0 KiB)." in table.stdout
    assert as_json.code == 0, as_json
    report = as_json.json()
    assert [s["id"] for s in report["would_delete"]] == old
    assert report["count"] == 2 and report["total_bytes"] == 4096
    assert remaining(backend) == set(old + new)


async def test_prune_without_yes_and_no_terminal_refuses(backend: BackendServer,
                                                         env: dict[str, str]) -> None:
    ids = seed(backend, ["fss-old-1"], age_days=30) + seed(backend, ["fss-new"])
    run = await cli("snapshots", "prune", "--older-than", "7d", env=env)
    assert run.code == 2, run
    assert "--yes" in run.stderr and "refusing to delete 1 snapshots" in run.stderr
    assert remaining(backend) == set(ids)


async def test_prune_older_than_deletes_exactly_the_old_ones(backend: BackendServer,
                                                             env: dict[str, str]) -> None:
    old = seed(backend, [f"fss-old-{n}" for n in range(6)], age_days=8)
    new = seed(backend, [f"fss-new-{n}" for n in range(4)], age_days=6.9)
    run = await cli("snapshots", "prune", "--older-than", "7d", "--yes", "--json", env=env)
    assert run.code == 0, run
    report = run.json()
    assert sorted(i["id"] for i in report["items"]) == sorted(old)
    assert {i["outcome"] for i in report["items"]} == {"deleted"}
    assert remaining(backend) == set(new)
    again = await cli("snapshots", "prune", "--older-than", "7d", "--yes", env=env)
    assert again.code == 0 and "Nothing matches; 0 snapshots" in again.stdout, again


async def test_prune_by_status_and_source(backend: BackendServer, env: dict[str, str]) -> None:
    from cwsandbox_tui.backend import states
    failed = seed(backend, ["fss-f1", "fss-f2"], status=states.FSS_FAILED)
    failed_other = seed(backend, ["fss-f3"], status=states.FSS_FAILED, source="sb-other")
    ready = seed(backend, ["fss-r1"])
    run = await cli("snapshots", "prune", "--status", "failed", "--source-sandbox", "sb-seeded",
                    "--yes", env=env)
    assert run.code == 0 and run.stdout.strip() == "2 deleted", run
    assert remaining(backend) == set(failed_other + ready)
    assert not set(failed) & remaining(backend)


async def test_retries_are_reported_on_stderr(backend: BackendServer,
                                              env: dict[str, str]) -> None:
    seed(backend, ["fss-1"])
    backend.faults.retry_delay = 0.05
    backend.faults.set_fault("ListFileSystemSnapshots", "throttle", Trigger(first=2))
    backend.faults.set_fault("DeleteFileSystemSnapshot", "lost", Trigger(first=1))
    listed = await cli("snapshots", "list", "--json", env=env)
    assert listed.code == 0 and [r["id"] for r in listed.json()] == ["fss-1"], listed
    lines = [line for line in listed.stderr.splitlines() if line.startswith("retrying")]
    assert lines == [
        "retrying List file-system snapshots: attempt 1 failed with "
        "CWSANDBOX_FSS_BACKEND_THROTTLED; next in 0.1 s (30 s of retry budget left)",
        "retrying List file-system snapshots: attempt 2 failed with "
        "CWSANDBOX_FSS_BACKEND_THROTTLED; next in 0.1 s (30 s of retry budget left)",
    ]
    deleted = await cli("snapshots", "delete", "fss-1", env=env)
    assert deleted.code == 0 and deleted.stdout.strip() == "1 deleted", deleted
    assert "retrying Delete file-system snapshots fss-1: attempt 1 failed with UNAVAILABLE" \
        in deleted.stderr
    assert remaining(backend) == set()


async def test_read_only_refuses_changes(backend: BackendServer, env: dict[str, str]) -> None:
    seed(backend, ["fss-old"], age_days=30)
    delete, prune, bucket = await asyncio.gather(
        cli("snapshots", "delete", "fss-old", "--readonly", env=env),
        cli("snapshots", "prune", "--older-than", "1d", "--yes", "--readonly", env=env),
        cli("bucket", "set", "mine", "--readonly", env=env))
    for run in (delete, prune, bucket):
        assert run.code == 1 and "read-only" in run.stderr, run
    assert remaining(backend) == {"fss-old"}
    listed = await cli("snapshots", "list", "--readonly", "--json", env=env)
    assert listed.code == 0 and len(listed.json()) == 1


async def test_bucket_commands(backend: BackendServer, env: dict[str, str]) -> None:
    got = await cli("bucket", "get", "--json", env=env)
    assert got.json() == {"bucket_name": "", "region": "", "mode": "cw_managed",
                          "effective_bucket_name": "cwsandbox-managed"}, got
    set_ = await cli("bucket", "set", "my-bucket", "--region", "us-east-1", "--json", env=env)
    assert set_.code == 0 and set_.json()["mode"] == "bring_your_own", set_
    text = await cli("bucket", "get", env=env)
    assert "bucket     my-bucket" in text.stdout and "region     us-east-1" in text.stdout
    reset = await cli("bucket", "reset", "--json", env=env)
    assert reset.json()["effective_bucket_name"] == "cwsandbox-managed", reset


@pytest.fixture
async def sdk_client(backend: BackendServer, api: str) -> AsyncIterator[Client]:
    channel = open_channel(f"127.0.0.1:{backend.port}", tls=False, root_certificates=None)
    client = Client(choose(api, channel, []), EndpointInfo(url=backend.url, source="test",
                                                       auth_mode="none", read_only=False),
                    rng=random.Random(0))
    yield client
    await client.close()


async def test_sandboxes_list_stop_and_conflict(backend: BackendServer, env: dict[str, str],
                                                sdk_client: Client, api: str) -> None:
    sandbox = await sdk_client.start_sandbox(SandboxSpec(mount_path="/workspace",
                                                         tags=("cli-test",)))
    listed = await cli("sandboxes", "list", "--json", env=env)
    assert listed.code == 0, listed
    [row] = listed.json()
    assert row["id"] == sandbox.id and row["status"] == "running" and row["tags"] == ["cli-test"]
    stopped = await cli("sandboxes", "stop", sandbox.id, "--snapshot", "--grace", "1", "--json",
                        env=env)
    assert stopped.code == 0, stopped
    result = stopped.json()
    assert result["final_status"] == "completed" and result["snapshot_id"].startswith("fss-")
    assert "deadline 636 s" in stopped.stderr  # 600 + grace 1 + 35 slack
    again = await cli("sandboxes", "stop", sandbox.id, "--snapshot", env=env)
    if api == "v1beta2":  # its local extension remembers the stop's snapshot: a no-op
        assert again.code == 0 and result["snapshot_id"] in again.stdout, again
    else:  # a v1 Sandbox carries no stop snapshot id: stopped is stopped, as for SDK 1.22.0
        assert again.code == 1 and "conflict: " in again.stderr, again
    other = await sdk_client.start_sandbox(SandboxSpec())
    plain = await cli("sandboxes", "stop", other.id, "--grace", "0", env=env)
    assert plain.code == 0 and plain.stdout.strip() == f"Stopped {other.id} (completed).", plain
    conflict = await cli("sandboxes", "stop", other.id, "--snapshot", env=env)
    assert conflict.code == 1, conflict
    assert "conflict: Cannot snapshot on stop: sandbox has already stopped." in conflict.stderr
    missing = await cli("sandboxes", "stop", "sb-nope", "--missing-ok", "--json", env=env)
    assert missing.code == 0 and missing.json()["final_status"] == "terminated", missing


async def test_sandboxes_delete_partial(backend: BackendServer, env: dict[str, str],
                                        sdk_client: Client) -> None:
    sandbox = await sdk_client.start_sandbox(SandboxSpec())
    run = await cli("sandboxes", "delete", sandbox.id, "sb-missing", "--json", env=env)
    assert run.code == 3, run
    outcome = run.json()
    assert outcome == {sandbox.id: "deleted", "sb-missing": "not_found"}
    ok = await cli("sandboxes", "delete", "sb-missing", "--missing-ok", env=env)
    assert ok.code == 0 and ok.stdout.strip() == "sb-missing already gone", ok


async def test_snapshots_create(backend: BackendServer, env: dict[str, str],
                                sdk_client: Client) -> None:
    sandbox = await sdk_client.start_sandbox(SandboxSpec(mount_path="/workspace"))
    waited, keyed = await asyncio.gather(
        cli("snapshots", "create", sandbox.id, "--json", env=env),
        cli("snapshots", "create", sandbox.id, "--no-wait", "--idempotency-key", "k-7", env=env))
    assert waited.code == 0, waited
    snap = waited.json()
    assert snap["status"] == "ready" and snap["source_sandbox_id"] == sandbox.id
    assert "deadline 605 s" in waited.stderr
    assert keyed.code == 0, keyed
    keyed_id, status = keyed.stdout.split()
    assert status in ("CREATING", "READY")
    again = await cli("snapshots", "create", sandbox.id, "--no-wait", "--idempotency-key", "k-7",
                      "--json", env=env)
    assert again.json()["id"] == keyed_id  # the same key is the same snapshot
    assert remaining(backend) == {snap["id"], keyed_id}
    nothing = await cli("snapshots", "create", "sb-nope", env=env)
    assert nothing.code == 1 and "sb-nope" in nothing.stderr, nothing


async def test_snapshots_list_is_in_creation_order(backend: BackendServer,
                                                   env: dict[str, str]) -> None:
    # Ids that sort the other way round from their ages, seeded newest first.
    seed(backend, ["fss-a-newest"], age_days=1)
    seed(backend, ["fss-b-middle"], age_days=2)
    seed(backend, ["fss-c-oldest"], age_days=3)
    listed = await cli("snapshots", "list", "--json", env=env)
    assert listed.code == 0, listed
    assert [r["id"] for r in listed.json()] == ["fss-c-oldest", "fss-b-middle", "fss-a-newest"]


async def test_sandboxes_list_shows_where_a_sandboxs_ports_are(backend: BackendServer,
                                                               env: dict[str, str]) -> None:
    assert backend.engine is not None
    row = backend.engine.start(StoredSpec(
        command="/bin/sh", args=["-c", "exec sleep 600"], container_image="python:3.11",
        services=[{"port": 8000, "name": "web", "protocol": "TCP"},
                  {"port": 9000, "name": "", "protocol": "TCP"}]))
    host = row.spec.service_address
    as_json, as_table = await asyncio.gather(cli("sandboxes", "list", "--json", env=env),
                                             cli("sandboxes", "list", env=env))
    [listed] = as_json.json()
    assert listed["service_address"] == f"{host}:8000"
    assert listed["ports"] == [{"port": 8000, "name": "web", "address": f"{host}:8000"},
                               {"port": 9000, "name": "", "address": f"{host}:9000"}]
    header, line = as_table.stdout.splitlines()[:2]
    assert header.split()[-1] == "SERVICE" and line.endswith(f"{host}:8000 (+1 port)"), line


async def test_sandboxes_get_shows_the_limits_it_runs_under(
        backend: BackendServer, env: dict[str, str], sdk_client: Client, api: str) -> None:
    sandbox = await sdk_client.start_sandbox(SandboxSpec(mount_path="/workspace", size="2Gi"))
    shown, as_json = await asyncio.gather(cli("sandboxes", "get", sandbox.id, env=env),
                                          cli("sandboxes", "get", sandbox.id, "--json", env=env))
    assert shown.code == 0 and as_json.code == 0, (shown, as_json)
    fields = dict(line.split(None, 1) for line in shown.stdout.splitlines()
                  if line.startswith(("ID", "STATUS", "LIMITS")))
    assert fields["ID"] == sandbox.id and fields["STATUS"] == "RUNNING", shown
    enforced = as_json.json()["enforced"]
    if api == "v1beta2":  # its local extension carries every limit
        assert fields["LIMITS"] == ("4096 processes, memory 8.0 GiB, mount 2.0 GiB, "
                                    "log keeps 64.0 MiB"), shown
        assert enforced == {"processes": 4096, "memory_bytes": 8 << 30,
                            "mount_bytes": 2 << 30, "log_bytes": 64 << 20}
    else:  # v1 reports the memory limit applied (status.effective_resource_requirements)
        assert fields["LIMITS"] == "memory 8.0 GiB", shown
        assert enforced["memory_bytes"] == 8 << 30
    missing = await cli("sandboxes", "get", "sb-nope", env=env)
    assert missing.code == 1 and "sb-nope" in missing.stderr and missing.stdout == "", missing
