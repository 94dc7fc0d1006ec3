"""Opaque page tokens for keyset pagination: stable order, no duplicates, no gaps."""

from __future__ import annotations

import base64
import hashlib

from .errors import invalid

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def page_size(requested: int) -> int:
    if requested < 0:
        raise invalid("page_size", f"must not be negative (got {requested})")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode(kind: str, last_seq: int, query: str = "") -> str:
    raw = f"{kind}:{last_seq}:{_digest(query)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str, kind: str, query: str = "") -> int:
    """The sequence number after which the next page starts (0 for no token)."""
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        token_kind, seq, digest = raw.split(":")
        if len(seq) > 19 or not seq.isdigit():
            raise ValueError(seq)
        last_seq = int(seq)
    except (ValueError, UnicodeDecodeError):
        raise invalid("page_token", "is not a token this server issued") from None
    if last_seq >= 2**63:
        raise invalid("page_token", "is not a token this server issued")
    if token_kind != kind:
        raise invalid("page_token", f"belongs to another listing ({token_kind})")
    if digest != _digest(query):
        raise invalid("page_token", "was issued for different filters; start again without it")
    return last_seq


def _digest(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()[:12]
