"""Checks of request fields; each failure names the field and what is wrong."""

from __future__ import annotations

import ipaddress
import posixpath
import re

from .errors import invalid

_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_UNITS = {
    None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}
MAX_MOUNT_BYTES = 2**40
DEFAULT_MOUNT_SIZE = "10Gi"

# Mounting over these would break or expose the sandbox's own system files.
_RESERVED_DIRS = ("/proc", "/sys", "/dev", "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32",
                  "/lib64", "/boot", "/run", "/tmp")

_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BAD_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3")
_REGION = re.compile(r"^[A-Za-z]{2}(-[A-Za-z0-9]+){1,4}$")

MAX_GRACE_SECONDS = 300


def parse_size(value: str, field_name: str) -> int:
    """Parse a Kubernetes quantity such as `10Gi` into bytes."""
    match = _QUANTITY.match(value.strip())
    if not match:
        raise invalid(field_name, f"{value!r} is not a size like 512Mi, 10Gi or 1Ti")
    amount = float(match.group(1)) * _UNITS[match.group(2)]
    if amount <= 0:
        raise invalid(field_name, "must be greater than zero")
    if amount > MAX_MOUNT_BYTES:
        raise invalid(field_name, f"{value} is larger than the local limit of 1Ti")
    return int(amount)


def check_mount_path(value: str, field_name: str = "file_system.mount_path") -> str:
    if not value:
        raise invalid(field_name, "is required")
    if not value.startswith("/"):
        raise invalid(field_name, f"{value!r} must be an absolute path")
    normal = posixpath.normpath(value)
    if normal != value.rstrip("/") or ".." in value.split("/"):
        raise invalid(field_name, f"{value!r} must be a normalised path without '..' or '//'")
    if normal == "/":
        raise invalid(field_name, "must not be '/'")
    for reserved in _RESERVED_DIRS:
        if normal == reserved or normal.startswith(reserved + "/"):
            raise invalid(field_name,
                          f"{value!r} is inside the reserved system directory {reserved}")
    return normal


def check_bucket_name(value: str, field_name: str = "bucket_name") -> None:
    """S3 bucket naming rules."""
    if not 3 <= len(value) <= 63:
        raise invalid(field_name, f"must be 3 to 63 characters long (got {len(value)})")
    if not _BUCKET_CHARS.match(value):
        raise invalid(
            field_name,
            "may hold only lower-case letters, digits, '.' and '-', "
            "and must begin and end with a letter or digit",
        )
    if ".." in value:
        raise invalid(field_name, "must not contain two adjacent periods")
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        pass
    else:
        raise invalid(field_name, "must not be formatted as an IP address")
    for prefix in _BAD_PREFIXES:
        if value.startswith(prefix):
            raise invalid(field_name, f"must not start with {prefix!r}")
    for suffix in _BAD_SUFFIXES:
        if value.endswith(suffix):
            raise invalid(field_name, f"must not end with {suffix!r}")


def check_region(value: str, field_name: str = "region") -> None:
    if len(value) > 32 or not _REGION.match(value):
        raise invalid(field_name, f"{value!r} is not a region name like us-east-1 or US-EAST-04A")


def check_grace(value: int, field_name: str = "graceful_shutdown_seconds") -> None:
    if value < 0:
        raise invalid(field_name, f"must not be negative (got {value})")
    if value > MAX_GRACE_SECONDS:
        raise invalid(field_name, f"must be at most {MAX_GRACE_SECONDS} seconds (got {value})")
