"""Tests for nnscratch.bench.inference: predictions timed, against their products; never a
duration."""

from __future__ import annotations

import numpy as np
import pytest

from nnscratch import bench

TINY = (12, 8, 3)  # a small network, so that the timing functions run in milliseconds


def test_inference_time_times_predict():
    timing = bench.inference_time("float64", samples=50, repeats=3, sizes=TINY)
    assert len(timing.seconds) == 3 and timing.flops == 2 * 50 * (12 * 8 + 8 * 3)


def test_inference_cost_alternates_predict_and_its_products():
    cost = bench.inference_cost("float64", samples=50, repeats=3, sizes=TINY)
    assert (cost.dtype, cost.samples) == ("float64", 50)
    assert len(cost.predict.seconds) == len(cost.products.seconds) == 3
    assert cost.predict.flops == cost.products.flops == 2 * 50 * (12 * 8 + 8 * 3)
    pairs = zip(cost.predict.seconds, cost.products.seconds, strict=True)
    assert cost.products_ratios == tuple(p / g for p, g in pairs)
    assert cost.products_ratio == pytest.approx(np.median(cost.products_ratios))
