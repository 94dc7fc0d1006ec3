"""Limits every request is held to before any work starts, checked from the message itself.

Every string (at any depth: repeated fields, maps, nested messages) is checked for NUL bytes
and length, every list and map for its count, every timestamp for its range and every
non-negative number for its sign. A failure is INVALID_ARGUMENT naming the field; the message
says how long a value was, never echoes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from ..errors import invalid

# Timestamp's valid range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
MIN_TIMESTAMP_SECONDS = -62135596800
MAX_TIMESTAMP_SECONDS = 253402300799

ID_CHARS = 128
DEFAULT_CHARS = 4096
MAX_ITEMS = 1024
MAX_TOTAL_BYTES = 1 << 20  # of all the strings of one repeated field or map together


@dataclass(frozen=True)
class Limit:
    chars: int = DEFAULT_CHARS
    items: int = MAX_ITEMS


# By field name (the same name means the same thing in every message).
LIMITS: dict[str, Limit] = {
    "sandbox_id": Limit(ID_CHARS),
    "file_system_snapshot_id": Limit(ID_CHARS),
    "resume_session_id": Limit(ID_CHARS),
    "idempotency_key": Limit(256),
    "page_token": Limit(512),
    "tags": Limit(256, 64),
    "runner_ids": Limit(ID_CHARS, 64),
    "profile_ids": Limit(ID_CHARS, 64),
    "profile_names": Limit(256, 64),
    "runner_id": Limit(ID_CHARS),
    "runner_group_id": Limit(ID_CHARS),
    "profile_name": Limit(256),
    "gpu_type": Limit(128),
    "architecture": Limit(64),
    "args": Limit(128 * 1024, 4096),
    "command": Limit(128 * 1024, 4096),  # StreamExec's command is a list of argv strings
    "environment_variables": Limit(128 * 1024, 1024),
    "env": Limit(128 * 1024, 1024),
    "container_image": Limit(1024),
    "bucket_name": Limit(256),
    "region": Limit(64),
    "size": Limit(64),
    "mount_path": Limit(4096),
    "filepath": Limit(4096),
    # coreweave.sandbox.v1 names
    "request_id": Limit(256),
    "resume_log_session_id": Limit(ID_CHARS),
    "volume_id": Limit(ID_CHARS),
    "volume_ids": Limit(ID_CHARS, 64),
    "snapshot_volumes": Limit(256, 16),
    "scratch_volume_name": Limit(256),
    "path": Limit(4096),
    "image": Limit(1024),
    "source_sandbox_id": Limit(ID_CHARS),
}

# Integer fields that must not be negative, by name.
NON_NEGATIVE = {"page_size", "tail_lines", "max_lifetime_seconds", "max_timeout_seconds",
                "graceful_shutdown_seconds", "resume_offset", "grace_period_seconds",
                "max_output_bytes"}

_TIMESTAMP = "google.protobuf.Timestamp"


def check_request(message: Message, prefix: str = "") -> None:
    """Raise INVALID_ARGUMENT for the first field of `message` that breaks a limit."""
    for fdesc, value in message.ListFields():
        name = f"{prefix}{fdesc.name}"
        limit = LIMITS.get(fdesc.name, Limit())
        if fdesc.message_type is not None and fdesc.message_type.GetOptions().map_entry:
            _check_map(name, value, limit, fdesc)
        elif _is_repeated(fdesc):
            if len(value) > limit.items:
                raise invalid(name, f"has {len(value)} items; at most {limit.items}")
            total = 0
            for index, item in enumerate(value):
                total += _check_value(f"{name}[{index}]", item, fdesc, limit)
            if total > MAX_TOTAL_BYTES:
                raise invalid(name, f"holds {total} bytes in all; at most {MAX_TOTAL_BYTES}")
        else:
            _check_value(name, value, fdesc, limit)


def _is_repeated(fdesc: FieldDescriptor) -> bool:
    repeated = getattr(fdesc, "is_repeated", None)
    if repeated is not None:
        return bool(repeated)
    return fdesc.label == FieldDescriptor.LABEL_REPEATED


def _check_map(name: str, value: object, limit: Limit, fdesc: FieldDescriptor) -> None:
    entries = dict(value)  # type: ignore[call-overload]
    if len(entries) > limit.items:
        raise invalid(name, f"has {len(entries)} entries; at most {limit.items}")
    value_field = fdesc.message_type.fields_by_name["value"]
    total = 0
    for index, (key, item) in enumerate(sorted(entries.items())):
        if isinstance(key, str):
            total += _check_string(f"{name} key #{index + 1}", key, Limit(1024))
            if name.endswith("env") or name.endswith("environment_variables"):
                if not key or "=" in key:
                    raise invalid(name, f"key #{index + 1} must be a non-empty name without '='")
        total += _check_value(f"{name}[key #{index + 1}]", item, value_field, limit)
    if total > MAX_TOTAL_BYTES:
        raise invalid(name, f"holds {total} bytes in all; at most {MAX_TOTAL_BYTES}")


def _check_value(name: str, value: object, fdesc: FieldDescriptor, limit: Limit) -> int:
    if isinstance(value, str):
        return _check_string(name, value, limit)
    if isinstance(value, Message):
        if value.DESCRIPTOR.full_name == _TIMESTAMP:
            _check_timestamp(name, value)
        else:
            check_request(value, f"{name}.")
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        if fdesc.name in NON_NEGATIVE and value < 0:
            raise invalid(name, f"must not be negative (got {value})")
    return 0


def _check_string(name: str, value: str, limit: Limit) -> int:
    if "\x00" in value:
        raise invalid(name, "must not contain NUL bytes")
    if len(value) > limit.chars:
        raise invalid(name, f"is {len(value)} characters long; at most {limit.chars}")
    return len(value)


def _check_timestamp(name: str, stamp: Message) -> None:
    seconds = getattr(stamp, "seconds", 0)
    nanos = getattr(stamp, "nanos", 0)
    if not MIN_TIMESTAMP_SECONDS <= seconds <= MAX_TIMESTAMP_SECONDS:
        raise invalid(name, "is outside the range of valid times (years 1 to 9999)")
    if not 0 <= nanos < 1_000_000_000:
        raise invalid(name, f"has nanos {nanos}; must be 0 to 999,999,999")
