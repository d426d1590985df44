"""Tests for nnscratch.bench.gemm: the network's products, their FLOP counts, the shapes timed
and the table; never a duration."""

from __future__ import annotations

import numpy as np
import pytest

from nnscratch import bench

TINY = (12, 8, 3)  # a small network, so that the timing functions run in milliseconds


def test_the_network_gemms_of_one_step():
    gemms = bench.network_gemms(128)
    assert [(g.name, g.m, g.k, g.n) for g in gemms] == [
        ("x @ W1", 128, 784, 512),
        ("a1 @ W2", 128, 512, 10),
        ("a1.T @ dz2", 512, 128, 10),
        ("x.T @ dz1", 784, 128, 512),
        ("dz2 @ W2.T", 128, 10, 512),
    ]
    assert [(g.transpose_a, g.transpose_b) for g in gemms] == [(False, False)] * 2 + [
        (True, False)
    ] * 2 + [(False, True)]


def test_epoch_flops_counts_forward_weight_gradients_and_the_hidden_input_gradient():
    n = 60_000
    forward = 2 * n * (784 * 512 + 512 * 10)
    assert bench.epoch_flops(n) == 2 * forward + 2 * n * 512 * 10
    assert bench.epoch_flops() == 98_181_120_000
    deeper = (6, 5, 4, 3)
    per_layer = 6 * 5 + 5 * 4 + 4 * 3
    assert bench.epoch_flops(10, deeper) == 2 * 10 * (2 * per_layer + 5 * 4 + 4 * 3)


@pytest.mark.parametrize("transpose", [(False, False), (True, False), (False, True)])
def test_gemm_operands_are_laid_out_like_the_network_holds_them(transpose):
    gemm = bench.Gemm("g", 4, 3, 2, *transpose)
    a, b, c = gemm.operands("float32", np.random.default_rng(0))
    assert (a.shape, b.shape, c.shape) == ((4, 3), (3, 2), (4, 2))
    assert {a.dtype, b.dtype, c.dtype} == {np.dtype(np.float32)}
    assert a.flags.f_contiguous == transpose[0] and a.flags.c_contiguous != transpose[0]
    assert b.flags.f_contiguous == transpose[1] and b.flags.c_contiguous != transpose[1]
    assert gemm.flops == 2 * 4 * 3 * 2 and gemm.shape == "4x3 @ 3x2"


def test_gemm_peak_and_its_table():
    timings = bench.gemm_peak([4], sizes=TINY, square=16, repeats=2, min_seconds=0.0)
    assert [(t.dtype, t.gemm.name) for t in timings] == [
        (dtype, name)
        for dtype in ("float32", "float64")
        for name in ["square"] + [g.name for g in bench.network_gemms(4, TINY)]
    ]
    assert bench.peak_gflops(timings, "float64") == timings[6].timing.gflops > 0
    step = [t for t in timings[:6] if t.batch_size == 4]
    assert len(step) == 5 and timings[0].batch_size is None
    table = bench.format_gemm_table(timings).splitlines()
    assert len(table) == 1 + len(timings) and "16^3 square" in table[1]
    with pytest.raises(ValueError, match="no square product timed in float16"):
        bench.peak_gflops(timings, "float16")
