"""Rules for names and quantities that both ends check: each returns a problem or None.

The backend answers a broken rule with INVALID_ARGUMENT; the dashboard checks the same rules
before it sends anything, so a person sees the problem at the field at once.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re

from .units import SIZE_EXAMPLES, parse_size

MAX_MOUNT_BYTES = 2**40
RESERVED_DIRS = ("/proc", "/sys", "/dev", "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32",
                 "/lib64", "/boot", "/run", "/tmp")
_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BAD_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3")
_REGION = re.compile(r"^[A-Za-z]{2}(-[A-Za-z0-9]+){1,4}$")
MAX_GRACE_SECONDS = 300


def quantity_bytes(value: str) -> int | None:
    """A size such as `10Gi` in bytes, or None if it is not one (see `units`)."""
    return parse_size(value)


_CPU = re.compile(r"^(\d+(?:\.\d+)?)(m)?$")


def cpu_millicores(value: str) -> int | None:
    """A Kubernetes CPU quantity (`500m`, `2`, `0.5`) in millicores, or None if not one."""
    match = _CPU.match(value.strip())
    if not match:
        return None
    amount = float(match.group(1)) * (1 if match.group(2) else 1000)
    if amount == float("inf"):
        return None  # 1e400-like digits: not a CPU amount
    return int(amount)


def cpu_problem(value: str) -> str | None:
    amount = cpu_millicores(value)
    if amount is None:
        return f"{value!r} is not a CPU amount like 500m or 2"
    return "must be greater than zero" if amount <= 0 else None


def memory_problem(value: str) -> str | None:
    amount = quantity_bytes(value)
    if amount is None:
        return f"{value!r} is not a memory amount like 512Mi or 2Gi"
    return "must be greater than zero" if amount <= 0 else None


def size_problem(value: str) -> str | None:
    amount = quantity_bytes(value)
    if amount is None:
        shown = repr(value) if len(value) <= 64 else f"a value of {len(value)} characters"
        return f"{shown} is not a size like {SIZE_EXAMPLES}"
    if amount <= 0:
        return "must be greater than zero"
    if amount > MAX_MOUNT_BYTES:
        return f"{value.strip()[:64]} is larger than the limit of 1Ti"
    return None


def mount_path_problem(value: str) -> str | None:
    if not value:
        return "is required"
    if not value.startswith("/"):
        return f"{value!r} must be an absolute path"
    normal = posixpath.normpath(value)
    if normal != value.rstrip("/") or ".." in value.split("/"):
        return f"{value!r} must be a normalised path without '..' or '//'"
    if normal == "/":
        return "must not be '/'"
    for reserved in RESERVED_DIRS:
        if normal == reserved or normal.startswith(reserved + "/"):
            return f"{value!r} is inside the reserved system directory {reserved}"
    return None


def bucket_name_problem(value: str) -> str | None:
    """S3 bucket naming rules."""
    if not 3 <= len(value) <= 63:
        return f"must be 3 to 63 characters long (got {len(value)})"
    if not _BUCKET_CHARS.match(value):
        return ("may hold only lower-case letters, digits, '.' and '-', "
                "and must begin and end with a letter or digit")
    if ".." in value:
        return "must not contain two adjacent periods"
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        pass
    else:
        return "must not be formatted as an IP address"
    for prefix in _BAD_PREFIXES:
        if value.startswith(prefix):
            return f"must not start with {prefix!r}"
    for suffix in _BAD_SUFFIXES:
        if value.endswith(suffix):
            return f"must not end with {suffix!r}"
    return None


def region_problem(value: str) -> str | None:
    if len(value) > 32 or not _REGION.match(value):
        return f"{value!r} is not a region name like us-east-1 or US-EAST-04A"
    return None


def grace_problem(value: float) -> str | None:
    if value < 0:
        return f"must not be negative (got {value:g})"
    if value > MAX_GRACE_SECONDS:
        return f"must be at most {MAX_GRACE_SECONDS} seconds (got {value:g})"
    return None
