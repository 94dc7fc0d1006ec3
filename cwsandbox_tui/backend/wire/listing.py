"""Listing pages of snapshots built from each record's encoded message, kept while it is
unchanged, and handed to gRPC as bytes: the mechanism, shared by the API generations.

A refresh of a large table lists every snapshot again. Building a message per row, then the
response, then parsing it back and serializing it again cost ~17 ms a page of 1,000; a page
built from kept bytes costs one query of (seq, id) pairs, a dictionary lookup per row and one
join. The store tells this cache of every change to a record (`Store.on_snapshot_change`), so
a kept message is never served past a change.

Each generation supplies its encoder (a listing row -> that record's encoded message): the
v1beta2 and v1 `ListFileSystemSnapshotsResponse` both carry the rows as field 1 and the next
page token as field 2, so the framing and the page are the same for both.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import grpc

from ..store import Store

# A record's encoded message from its row of Store.LISTING_COLUMNS (seq first).
Encode = Callable[[tuple[Any, ...]], bytes]

_ROWS_FIELD = b"\x0a"  # ListFileSystemSnapshotsResponse field 1, length-delimited
_TOKEN_FIELD = b"\x12"  # field 2 (next_page_token), length-delimited


def varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def passthrough(response: Any) -> bytes:
    """The response serializer of a method whose handler may answer with encoded bytes."""
    return response if isinstance(response, bytes) else bytes(response.SerializeToString())


class SnapshotWire:
    """Each snapshot's message framed as one entry of field 1 of a listing response.

    Kept by id within a byte budget. When the budget is full, new entries are not kept (the
    ones kept stay): a listing reads every page in order, so dropping the oldest first would
    drop each page just before the next listing asks for it again, and keep nothing useful.
    """

    ENTRY_OVERHEAD = 250  # the id string, the bytes object and the dictionary slot, roughly

    def __init__(self, store: Store, encode: Encode, budget: int = 64 * 2**20) -> None:
        self._store = store
        self._encode = encode
        self._framed: dict[str, bytes] = {}
        self._budget = budget
        self._bytes = 0
        store.on_snapshot_change(self.forget)

    def forget(self, snapshot_id: str) -> None:
        old = self._framed.pop(snapshot_id, None)
        if old is not None:
            self._bytes -= len(old) + self.ENTRY_OVERHEAD

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._framed)

    def page(self, keys: Sequence[tuple[int, str]], next_token: str) -> bytes:
        """The encoded ListFileSystemSnapshotsResponse of these (seq, id) records, in order
        (the keys may skip records, as a filtered page does)."""
        framed = self._framed
        parts = [framed.get(snapshot_id) for _, snapshot_id in keys]
        if None in parts:
            self._encode_missing(keys, parts)
        if next_token:
            token = next_token.encode()
            parts.append(_TOKEN_FIELD + varint(len(token)) + token)
        return b"".join(parts)  # type: ignore[arg-type]  # no None is left

    def _encode_missing(self, keys: Sequence[tuple[int, str]],
                        parts: list[bytes | None]) -> None:
        # The records of the page's range, read in the same turn of the loop as the keys
        # (nothing can change in between), so they are the same records.
        rows = {row[1]: row for row in self._store.snapshot_listing_range(keys[0][0],
                                                                           keys[-1][0])}
        for index, (_, snapshot_id) in enumerate(keys):
            if parts[index] is not None:
                continue
            encoded = self._encode(rows[snapshot_id])
            entry = _ROWS_FIELD + varint(len(encoded)) + encoded
            parts[index] = entry
            cost = len(entry) + self.ENTRY_OVERHEAD
            if self._bytes + cost <= self._budget:
                self._framed[snapshot_id] = entry
                self._bytes += cost


class PageBytes:
    """Whole encoded listing pages by (page token, page size, and any filter of the request:
    `scope`), dropped at any change to any
    snapshot record (the store says so). A refresh of an unchanged table (the dashboard
    lists everything again every few seconds) is then served without reading the store.
    Like `SnapshotWire`, it keeps what it has when its budget is full. Pages of only the
    `shapes` most recently used (size, scope) pairs are kept: a client pages one way, so a
    caller cycling through page sizes (1,500 of them, say) gets no cache, not the budget."""

    def __init__(self, store: Store, budget: int = 32 * 2**20, shapes: int = 4) -> None:
        self._pages: OrderedDict[tuple[Any, ...], dict[str, bytes]] = OrderedDict()
        self._budget = budget
        self._shapes = shapes
        self._bytes = 0
        store.on_snapshot_change(self.clear)

    def get(self, token: str, size: int, *scope: str) -> bytes | None:
        shape = (size, *scope)
        pages = self._pages.get(shape)
        if pages is None:
            return None
        self._pages.move_to_end(shape)
        return pages.get(token)

    def put(self, token: str, size: int, page: bytes, *scope: str) -> None:
        shape = (size, *scope)
        pages = self._pages.get(shape)
        if pages is None:
            while len(self._pages) >= self._shapes:
                _, dropped = self._pages.popitem(last=False)
                self._bytes -= sum(len(kept) for kept in dropped.values())
            pages = self._pages[shape] = {}
        else:
            self._pages.move_to_end(shape)
        if self._bytes + len(page) <= self._budget:
            pages[token] = page
            self._bytes += len(page)

    def clear(self, _changed: str = "") -> None:
        if self._pages:
            self._pages.clear()
            self._bytes = 0

    def __len__(self) -> int:
        return sum(len(pages) for pages in self._pages.values())


class _Handlers:
    """Stands in for a server to collect the handlers the generated code registers."""

    def __init__(self) -> None:
        self.name = ""
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass

    def add_registered_method_handlers(self, name: str,
                                       handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        self.name, self.handlers = name, handlers


def register_encoded(add_servicer: Callable[[Any, Any], None], service: Any,
                     server: grpc.aio.Server, encoded: dict[str, Any]) -> None:
    """Add `service` to `server` as the generated `add_servicer` does, except that each method
    named in `encoded` (name -> its request class) may answer with its response already
    encoded as bytes."""
    collected = _Handlers()
    add_servicer(service, collected)
    for name, request in encoded.items():
        collected.handlers[name] = grpc.unary_unary_rpc_method_handler(
            getattr(service, name), request_deserializer=request.FromString,
            response_serializer=passthrough)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(collected.name, collected.handlers),))
    server.add_registered_method_handlers(collected.name, collected.handlers)
