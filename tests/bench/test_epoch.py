"""Tests for nnscratch.bench.epoch: epochs of fit timed and split; never a duration."""

from __future__ import annotations

import numpy as np
import pytest

from nnscratch import bench

TINY = (12, 8, 3)  # a small network, so that the timing functions run in milliseconds


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
    assert cost.steps_per_epoch == 8 and len(cost.epoch.seconds) == 2
    assert cost.epoch.flops == bench.epoch_flops(64, TINY)
    assert list(cost.parts) == ["GEMM", "rest of forward/backward", "optimizer", "loop"]
    assert all(len(part.seconds) == 2 for part in cost.parts.values())
    assert len(cost.peak.seconds) == 2 and cost.peak.flops == 2 * 16**3
    assert cost.floor_seconds == pytest.approx(cost.epoch.flops / (cost.peak_gflops * 1e9))
    epoch, peak = cost.epoch.seconds, cost.peak.seconds
    assert cost.fractions_of_peak == pytest.approx(
        [(cost.epoch.flops / e) / (2 * 16**3 / p) for e, p in zip(epoch, peak, strict=True)]
    )
    steps = [s / cost.steps_per_epoch for s in epoch]
    assert cost.gemm_share == pytest.approx(
        np.median([g / s for g, s in zip(cost.parts["GEMM"].seconds, steps, strict=True)])
    )
    assert list(cost.extras) == list(bench.EXTRAS)
    rest = cost.parts["rest of forward/backward"].seconds
    assert [sum(cost.extras[n].seconds[i] for n in bench.EXTRAS) for i in range(2)] == (
        pytest.approx(list(rest))
    )
    assert cost.products_ratios == pytest.approx(
        [e / (g * 8) for e, g in zip(epoch, cost.parts["GEMM"].seconds, strict=True)]
    )
    assert cost.products_ratio == pytest.approx(np.median(cost.products_ratios))
    assert (cost.dropout, cost.label_smoothing) == (0.2, 0.1)
    tables = (
        bench.format_epoch_table([cost]),
        bench.format_step_table([cost]),
        bench.format_overhead_table([cost]),
    )
    for table in tables:
        assert len(table.splitlines()) == 2


def test_epoch_cost_refuses_an_unknown_optimizer():
    with pytest.raises(ValueError, match="optimizer must be one of 'sgd', 'adam', got 'lbfgs'"):
        bench.epoch_cost(8, samples=16, optimizer="lbfgs", sizes=TINY)


def test_the_loop_part_is_the_rest_of_the_step():
    cost = bench.epoch_cost(8, "float64", epochs=1, samples=16, square=16, sizes=TINY)
    parts = sum(part.seconds[0] for part in cost.parts.values())
    assert parts == pytest.approx(cost.epoch.seconds[0] / cost.steps_per_epoch)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_step_extras_times_the_three_phases(dropout):
    extras = bench.step_extras(8, "float32", dropout=dropout, sizes=TINY, repeats=3)
    assert list(extras) == list(bench.EXTRAS)
    assert extras["loss"] > 0  # the only phase that is not a difference of two times
