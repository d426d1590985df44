"""Tests for nnscratch.bench.ceiling: the ratio of work to its products alone; no duration."""

from __future__ import annotations

import pytest

from nnscratch import bench
from nnscratch.bench.timing import Timing

TINY = (12, 8, 3)


def cost(optimizer, batch_size, dtype, epochs, gemms):
    """An EpochCost with given epoch and per-step GEMM seconds (64 samples)."""
    zero = Timing("x", (0.0,) * len(epochs))
    parts = {"GEMM": Timing("GEMM", gemms)} | {
        name: zero for name in ("rest of forward/backward", "optimizer", "loop")
    }
    return bench.EpochCost(
        batch_size,
        dtype,
        optimizer,
        64,
        64,
        Timing("epoch", epochs),
        Timing("square", (1.0,) * len(epochs)),
        parts,
        {name: zero for name in bench.EXTRAS},
    )


def test_rows_are_epochs_over_their_products_with_the_targets():
    sgd = cost("sgd", 128, "float32", (2.0, 3.0, 4.0), (1.0, 2.0, 2.0))  # 1 step per epoch
    recipe = cost("adam", 256, "float32", (1.0,), (1.0,))
    float64 = cost("sgd", 128, "float64", (1.0,), (0.5,))
    predict = bench.InferenceCost(
        "float32", 10, Timing("predict", (1.25, 1.05)), Timing("products", (1.0, 1.0))
    )
    rows = bench.ceiling_rows([sgd, recipe, float64], [predict])
    assert [row.name for row in rows] == [
        "sgd, batch 128, float32",
        "adam, batch 256, float32",
        "sgd, batch 128, float64",
        "predict 10, float32",
    ]
    assert rows[0].ratios == (2.0, 1.5, 2.0) and rows[0].ratio == 2.0
    assert rows[0].seconds == 3.0 and rows[0].products_seconds == 2.0
    assert [row.target for row in rows] == [1.33, 1.4, None, 1.2]
    assert [row.meets_target for row in rows] == [False, True, None, True]
    assert rows[3].ratio == pytest.approx(1.15)
    table = bench.format_ceiling_table(rows).splitlines()
    assert len(table) == 5
    assert table[1].endswith("<= 1.33 not met") and table[2].endswith("<= 1.40 met")
    assert "(1.50-2.00)" in table[1] and not table[3].rstrip().endswith("met")


def test_rows_from_measured_epochs_and_predictions():
    measured = bench.epoch_cost(8, "float32", epochs=2, samples=64, square=16, sizes=TINY)
    predict = bench.inference_cost("float32", samples=40, repeats=2, sizes=TINY)
    rows = bench.ceiling_rows([measured], [predict])
    assert rows[0].ratios == measured.products_ratios and len(rows[1].ratios) == 2
    assert all(ratio > 0 for row in rows for ratio in row.ratios)
