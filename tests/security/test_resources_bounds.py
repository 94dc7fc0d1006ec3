"""Bounded resources: listing caches under many page sizes, a tail of a huge log, output
without newlines. Memory is the resident size of this process, which runs the backend."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import grpc

from cwsandbox_tui.backend.faults import FaultPlan
from cwsandbox_tui.backend.logbook import LINE_LIMIT
from cwsandbox_tui.backend.server import BackendServer, ServerConfig
from cwsandbox_tui.proto.v1beta2 import gateway_pb2 as pb
from cwsandbox_tui.proto.v1beta2 import gateway_pb2_grpc
from tests.backend.helpers import (
    COMPLETED,
    log_text,
    read_logs,
    start_sandbox,
    stop,
    until_logged,
    wait_status,
)

from .support import (  # noqa: F401
    STALL_LIMIT_MS,
    Guarded,
    Probe,
    guarded_fixture,
    report,
    rss_bytes,
)

MB = 10**6


WARM_SIZES = 300  # distinct page sizes listed before growth is counted; 1,200 more follow


async def test_memory_stays_bounded_under_1500_distinct_page_sizes(tmp_path: Path) -> None:
    server = BackendServer(ServerConfig(data_dir=tmp_path / "backend", port=0,
                                        faults=FaultPlan(seed=1), seed_snapshots=1000))
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            gateway = gateway_pb2_grpc.GatewayServiceStub(channel)
            gc.collect()
            first = rss_bytes()
            start = peak = 0
            began = time.perf_counter()
            for size in range(1, 1501):
                page = await gateway.ListFileSystemSnapshots(
                    pb.ListFileSystemSnapshotsRequest(page_size=size))
                assert len(page.file_system_snapshots) == min(size, 1000)
                if size == WARM_SIZES:
                    # the allocator's and gRPC's own warm-up (20-50 MB here, by how much ran
                    # in this process before) is not the cache's: growth counts from here
                    gc.collect()
                    start = peak = rss_bytes()
                if size % 50 == 0 and size > WARM_SIZES:
                    peak = max(peak, rss_bytes())
            took = time.perf_counter() - began
            gc.collect()
            end = rss_bytes()
    finally:
        await server.stop(grace=0)
    report("page sizes", distinct_sizes=1500, rss_first_mb=f"{first / MB:.0f}",
           rss_after_warm_up_mb=f"{start / MB:.0f}", rss_peak_mb=f"{peak / MB:.0f}",
           rss_end_mb=f"{end / MB:.0f}", growth_mb=f"{(peak - start) / MB:.1f}",
           seconds=f"{took:.1f}")
    assert peak - start < 50 * MB


def write_big_log(path: Path, size: int) -> list[bytes]:
    """A log of `size` bytes in the backend's record format; returns its last 10 lines."""
    line = b"x" * 90
    block_lines = 10_000
    stamp = time.time_ns()
    offset = 0
    written = 0
    with open(path, "wb") as out:
        while written < size:
            records = []
            for _ in range(block_lines):
                offset += len(line) + 1
                records.append(b"%d:%d %s\n" % (stamp, offset, line))
            block = b"".join(records)
            out.write(block)
            written += len(block)
        last = [b"last line %d" % i for i in range(10)]
        for text in last:
            offset += len(text) + 1
            out.write(b"%d:%d %s\n" % (stamp, offset, text))
    return [text + b"\n" for text in last]


async def test_a_tail_of_a_170_mb_log_reads_from_the_end(guarded: Guarded) -> None:
    gateway, streaming = guarded.gateway, guarded.streaming
    sid = await start_sandbox(gateway, args=["-c", "echo started"], wait=False)
    await wait_status(gateway, sid, COMPLETED)
    assert guarded.server.engine is not None
    log_path = guarded.server.engine.runtime.sandbox_dir(sid) / "output.log"
    expected = write_big_log(log_path, 170 * MB)
    gc.collect()
    start = rss_bytes()
    probe = Probe(lambda: gateway.Get(pb.GetSandboxRequest(sandbox_id=sid)))

    async def tail() -> tuple[list[bytes], float]:
        began = time.perf_counter()
        frames = await read_logs(streaming, sid, tail_lines=10)
        return [f.data.data for f in frames if f.HasField("data")], time.perf_counter() - began

    lines, took = await probe.around(tail())
    assert lines == expected
    report("170 MB log tail", log_mb=f"{log_path.stat().st_size / MB:.0f}",
           tail_seconds=f"{took:.3f}", other_call_worst_ms=f"{probe.worst_ms:.1f}",
           other_call_median_ms=f"{probe.median_ms:.1f}", probes=len(probe.latencies),
           rss_growth_mb=f"{(probe.peak_rss - start) / MB:.1f}")
    assert probe.worst_ms < STALL_LIMIT_MS, probe.latencies
    assert probe.peak_rss - start < 50 * MB
    log_path.unlink()


async def test_output_without_newlines_is_stored_in_pieces(guarded: Guarded) -> None:
    gateway, streaming = guarded.gateway, guarded.streaming
    size = 8 * 2**20
    sid = await start_sandbox(gateway, args=[
        "-c", f"head -c {size} /dev/zero | tr '\\0' 'a'; echo; echo done; "
              "exec sleep infinity"])
    await until_logged(streaming, sid, b"done\n", timeout=30)
    assert guarded.server.engine is not None
    book = guarded.server.engine.runtime.live[sid].logbook
    # nothing of the long line is held in memory: it went to disk in pieces
    assert all(len(rest) < LINE_LIMIT for rest in book._pending.values())
    frames = await read_logs(streaming, sid)
    pieces = [f.data for f in frames if f.HasField("data")]
    assert max(len(p.data) for p in pieces) <= LINE_LIMIT + 1
    assert log_text(frames) == b"a" * size + b"\ndone\n"
    offsets = [p.offset for p in pieces]
    assert offsets == sorted(offsets) and offsets[-1] == size + len(b"\ndone\n")
    tail = await read_logs(streaming, sid, tail_lines=2)
    last_piece, done = [f.data.data for f in tail if f.HasField("data")]
    assert done == b"done\n" and set(last_piece) <= set(b"a\n") and last_piece.endswith(b"\n")
    await stop(gateway, sid)
    report("output without newlines", bytes=size, pieces=len(pieces),
           largest_piece=max(len(p.data) for p in pieces))
