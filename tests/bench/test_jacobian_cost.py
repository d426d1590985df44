"""Tests for nnscratch.bench.jacobian_cost: the explicit Jacobians measured against the
shortcut, the fits and the tables; never a duration."""

from __future__ import annotations

import numpy as np
import pytest

from nnscratch import bench


def test_fit_exponent_recovers_a_power_law():
    sizes = np.array([8, 16, 32, 64])
    exponent, c = bench.fit_exponent(sizes, 3.0 * sizes**2.5)
    assert exponent == pytest.approx(2.5) and c == pytest.approx(3.0)


def test_measure_fit_and_format():
    rows = bench.measure_cost((2, 4, 8), input_size=5, num_classes=3, repeats=1)
    assert [(row.hidden, row.method) for row in rows] == [
        (hidden, method) for hidden in (2, 4, 8) for method in bench.METHODS
    ]
    assert all(row.seconds > 0 and row.peak_bytes > 0 for row in rows)
    fits = bench.fit_cost(rows, target=16)
    assert [fit.method for fit in fits] == list(bench.METHODS)
    assert all(np.isfinite(fit.time_exponent) and fit.bytes_at_target > 0 for fit in fits)
    table = bench.format_cost(rows, fits)
    assert "shortcut" in table and "forward" in table and "h=16" in table
    with pytest.raises(ValueError, match="methods"):
        bench.measure_cost((2,), methods=("sideways",))
