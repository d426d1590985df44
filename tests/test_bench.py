"""Tests for nnscratch.bench: FLOP counts, the shapes timed, the tables; never a duration."""

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


def test_time_call_runs_the_task_and_returns_one_time_per_run():
    calls = []
    seconds = bench.time_call(lambda: calls.append(1), repeats=4, min_seconds=0.0)
    assert len(seconds) == 4 and all(s >= 0 for s in seconds)
    assert len(calls) == 1 + 4  # one warm-up call, then one call per run (min_seconds 0)


def test_timing_statistics():
    timing = bench.Timing("t", (2.0, 1.0, 4.0), flops=4_000_000_000)
    assert (timing.median, timing.fastest, timing.slowest) == (2.0, 1.0, 4.0)
    assert timing.gflops == 2.0 and timing.gflops_range == (1.0, 4.0)


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
    assert bench.step_gflops(timings, "float32", 4) == pytest.approx(
        sum(t.gemm.flops for t in step) / sum(t.timing.median for t in step) / 1e9
    )
    table = bench.format_gemm_table(timings).splitlines()
    assert len(table) == 1 + len(timings) and "16^3 square" in table[1]
    with pytest.raises(ValueError, match="no square product timed in float16"):
        bench.peak_gflops(timings, "float16")
    with pytest.raises(ValueError, match="no product timed in float32 at batch size 8"):
        bench.step_gflops(timings, "float32", 8)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_epoch_cost_runs_fit_and_splits_the_step(optimizer):
    cost = bench.epoch_cost(
        8,
        "float32",
        epochs=2,
        fraction=0.5,
        samples=64,
        optimizer=optimizer,
        dropout=0.2,
        label_smoothing=0.1,
        square=16,
        sizes=TINY,
    )
    assert (cost.batch_size, cost.dtype, cost.samples, cost.measured_samples) == (
        8,
        "float32",
        64,
        32,
    )
    assert cost.steps == 8 and len(cost.epoch.seconds) == 2
    assert cost.epoch.flops == bench.epoch_flops(64, TINY)
    assert list(cost.parts) == ["GEMM", "rest of forward/backward", "optimizer", "loop"]
    assert all(len(part.seconds) == 2 for part in cost.parts.values())
    assert len(cost.peak.seconds) == 2 and cost.peak.flops == 2 * 16**3
    assert cost.floor_seconds == pytest.approx(cost.epoch.flops / (cost.peak_gflops * 1e9))
    epoch, peak = cost.epoch.seconds, cost.peak.seconds
    assert cost.fractions_of_peak == pytest.approx(
        [(cost.epoch.flops / e) / (2 * 16**3 / p) for e, p in zip(epoch, peak, strict=True)]
    )
    steps = [s / cost.steps for s in epoch]
    assert cost.gemm_share == pytest.approx(
        np.median([g / s for g, s in zip(cost.parts["GEMM"].seconds, steps, strict=True)])
    )
    for table in (bench.format_epoch_table([cost]), bench.format_step_table([cost])):
        assert len(table.splitlines()) == 2


def test_epoch_cost_refuses_an_unknown_optimizer():
    with pytest.raises(ValueError, match="optimizer must be 'sgd' or 'adam', got 'lbfgs'"):
        bench.epoch_cost(8, samples=16, optimizer="lbfgs", sizes=TINY)


def test_the_loop_part_is_the_rest_of_the_step():
    cost = bench.epoch_cost(8, "float64", epochs=1, samples=16, square=16, sizes=TINY)
    parts = sum(part.seconds[0] for part in cost.parts.values())
    assert parts == pytest.approx(cost.epoch.seconds[0] / cost.steps)


def test_inference_time_times_predict():
    timing = bench.inference_time("float64", samples=50, repeats=3, sizes=TINY)
    assert len(timing.seconds) == 3 and timing.flops == 2 * 50 * (12 * 8 + 8 * 3)


def test_machine_description_names_numpy_and_the_blas():
    description = bench.machine_description()
    assert description.startswith(f"NumPy {np.__version__}, ")
    assert "BLAS" in description
