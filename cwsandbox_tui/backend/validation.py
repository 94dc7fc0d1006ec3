"""Checks of request fields; each failure names the field and what is wrong.

The rules themselves live in `cwsandbox_tui.naming`, which the dashboard checks its forms
with too, so a person is told the same thing before and after sending.
"""

from __future__ import annotations

import posixpath

from .. import naming
from .errors import invalid

DEFAULT_MOUNT_SIZE = "10Gi"


def _check(problem: str | None, field_name: str) -> None:
    if problem:
        raise invalid(field_name, problem)


def parse_size(value: str, field_name: str) -> int:
    """Parse a Kubernetes quantity such as `10Gi` into bytes."""
    _check(naming.size_problem(value), field_name)
    amount = naming.quantity_bytes(value)
    assert amount is not None
    return amount


def check_mount_path(value: str, field_name: str = "file_system.mount_path") -> str:
    _check(naming.mount_path_problem(value), field_name)
    return posixpath.normpath(value)


def check_bucket_name(value: str, field_name: str = "bucket_name") -> None:
    _check(naming.bucket_name_problem(value), field_name)


def check_region(value: str, field_name: str = "region") -> None:
    _check(naming.region_problem(value), field_name)


def check_grace(value: int, field_name: str = "graceful_shutdown_seconds") -> None:
    _check(naming.grace_problem(value), field_name)
