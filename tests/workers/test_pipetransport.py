"""The pipe transport and the two-process PSI measurement built on it."""

from __future__ import annotations

import multiprocessing

import pytest

from workers import privacy_bench
from workers.pipetransport import PipeTransport
from workers.protocols.errors import PeerTimeout


def test_frames_cross_in_order_and_sending_ahead_never_blocks():
    a_end, b_end = multiprocessing.Pipe(duplex=True)
    a, b = PipeTransport(a_end, "a", "b"), PipeTransport(b_end, "b", "a")
    frames = [bytes([i % 256]) * (70_000 + i) for i in range(40)]  # far more than a pipe buffer holds, unread
    for f in frames:
        a.send("b", f)
        b.send("a", f)
    assert [b.recv("a", 5) for _ in frames] == frames
    assert [a.recv("b", 5) for _ in frames] == frames
    with pytest.raises(PeerTimeout):
        a.recv("b", 0.05)
    with pytest.raises(ValueError):
        a.send("c", b"x")
    a.close()
    b.close()


def test_the_two_process_psi_finds_the_intersection():
    ceiling = {"per_second_all_threads": 50_000.0, "cpu_us_per_mult": 30.0}
    out = privacy_bench.bench_psi_processes(3_000, 512, ceiling)
    assert out["intersection"] == 1_500 and out["processes"] == 2
    assert out["client_cpu_seconds"] > 0 and out["server_cpu_seconds"] > 0
