"""Snapshot bucket settings: Get, Set with validation, revert, and where archives land."""

from __future__ import annotations

import grpc
import pytest

from cwsandbox_tui.backend.engine import MANAGED_BUCKET
from cwsandbox_tui.backend.server import BackendServer
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb

from .helpers import (
    FSS_READY,
    INVALID,
    MOUNT,
    Gateway,
    add_file,
    expect_error,
    get_snapshot,
    read_file,
    snapshot,
    start_request,
    start_sandbox,
)

MANAGED = pb.FILE_SYSTEM_SNAPSHOT_BUCKET_MODE_CW_MANAGED
OWN = pb.FILE_SYSTEM_SNAPSHOT_BUCKET_MODE_BRING_YOUR_OWN


async def get_config(gateway: Gateway) -> pb.FileSystemSnapshotBucketConfig:
    return await gateway.GetFileSystemSnapshotBucketConfig(
        pb.GetFileSystemSnapshotBucketConfigRequest())


async def set_config(gateway: Gateway, bucket_name: str = "", region: str = ""
                     ) -> pb.FileSystemSnapshotBucketConfig:
    return await gateway.SetFileSystemSnapshotBucketConfig(
        pb.SetFileSystemSnapshotBucketConfigRequest(bucket_name=bucket_name, region=region))


async def test_default_is_the_managed_bucket(gateway: Gateway) -> None:
    config = await get_config(gateway)
    assert config.bucket_name == "" and config.region == ""
    assert config.mode == MANAGED
    assert config.effective_bucket_name == MANAGED_BUCKET


async def test_set_get_and_revert(gateway: Gateway) -> None:
    echoed = await set_config(gateway, "my-bucket.data", "us-east-1")
    assert (echoed.bucket_name, echoed.region) == ("my-bucket.data", "us-east-1")
    assert echoed.mode == OWN and echoed.effective_bucket_name == "my-bucket.data"
    assert await get_config(gateway) == echoed
    # a full replace: an omitted region clears the stored one
    without_region = await set_config(gateway, "other-bucket")
    assert without_region.region == "" and without_region.mode == OWN
    assert (await set_config(gateway, "bucket-2", "US-EAST-04A")).region == "US-EAST-04A"
    reverted = await set_config(gateway)  # the SDK's revert is an empty message
    assert reverted.mode == MANAGED and reverted.bucket_name == "" and reverted.region == ""
    assert reverted.effective_bucket_name == MANAGED_BUCKET
    assert await get_config(gateway) == reverted


@pytest.mark.parametrize("name", [
    "ab", "a" * 64, "My-Bucket", "bucket_name", "-bucket", "bucket-", ".bucket", "bucket.",
    "two..dots", "192.168.10.20", "xn--bucket", "sthree-bucket", "amzn-s3-demo-bucket",
    "bucket-s3alias", "bucket--ol-s3", "bucket.mrap", "bucket--x-s3", "spaces in it", "ümlaut",
])
async def test_bad_bucket_names_name_the_field(gateway: Gateway, name: str) -> None:
    before = await get_config(gateway)
    found = await expect_error(set_config(gateway, name, "us-east-1"), INVALID,
                               field_name="bucket_name")
    assert found.violations["bucket_name"]
    assert await get_config(gateway) == before, "a refused Set changes nothing"


@pytest.mark.parametrize("region", ["us_east_1", "x", "useast", "us-" + "a" * 40, "us east 1",
                                    "-us-east-1"])
async def test_bad_regions_name_the_field(gateway: Gateway, region: str) -> None:
    await expect_error(set_config(gateway, "good-bucket", region), INVALID, field_name="region")
    assert (await get_config(gateway)).mode == MANAGED


async def test_region_without_a_bucket_is_refused(gateway: Gateway) -> None:
    await expect_error(set_config(gateway, "", "us-east-1"), INVALID, field_name="region")


@pytest.mark.parametrize("name", ["abc", "a" * 63, "my.bucket-1", "0bucket9"])
async def test_good_bucket_names(gateway: Gateway, name: str) -> None:
    assert (await set_config(gateway, name, "eu-west-2")).effective_bucket_name == name


async def test_new_snapshots_go_to_the_effective_bucket_old_ones_stay(
        backend: BackendServer, gateway: Gateway) -> None:
    assert backend.engine is not None
    sid = await start_sandbox(gateway)
    await add_file(gateway, sid, f"{MOUNT}/f", b"f")
    managed = await get_snapshot(gateway, (await snapshot(gateway, sid)).file_system_snapshot_id)
    assert managed.object_bucket == MANAGED_BUCKET
    await set_config(gateway, "team-bucket", "us-west-1")
    own = await get_snapshot(gateway, (await snapshot(gateway, sid)).file_system_snapshot_id)
    assert own.status == FSS_READY and own.object_bucket == "team-bucket"
    assert (backend.engine.buckets_dir / "team-bucket" / f"{own.file_system_snapshot_id}.tar"
            ).exists()
    assert (await get_snapshot(gateway, managed.file_system_snapshot_id)).object_bucket == \
        MANAGED_BUCKET
    # an archive in another bucket than the current one cannot be restored ...
    found = await expect_error(gateway.Start(start_request(
        restore=managed.file_system_snapshot_id)), grpc.StatusCode.FAILED_PRECONDITION,
        reason="CWSANDBOX_FSS_BUCKET_MISMATCH")
    assert found.metadata["file_system_snapshot_id"] == managed.file_system_snapshot_id
    restored = await start_sandbox(gateway, restore=own.file_system_snapshot_id)
    assert await read_file(gateway, restored, f"{MOUNT}/f") == b"f"
    # ... until the bucket is reverted
    await set_config(gateway)
    again = await start_sandbox(gateway, restore=managed.file_system_snapshot_id)
    assert await read_file(gateway, again, f"{MOUNT}/f") == b"f"
