"""Tests for nnscratch.jacobian_memory: the Jacobians' shapes, the memory they need, the
budget."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import nnscratch as ns
from nnscratch import jacobian_memory as jm


def make_problem(sizes: list[int], n: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    model = ns.MLP(sizes, seed=seed)
    x = rng.standard_normal((n, sizes[0]))
    y = rng.integers(sizes[-1], size=n)
    return model, x, y


def test_jacobian_shapes():
    assert jm.jacobian_shapes([5, 7, 3]) == [
        ("dL/dp", (1, 3)),
        ("dp/dz2", (3, 3)),
        ("dz2/dW2", (3, 21)),
        ("dz2/db2", (3, 3)),
        ("dz2/da1", (3, 7)),
        ("da1/dz1", (7, 7)),
        ("dz1/dW1", (7, 35)),
        ("dz1/db1", (7, 7)),
    ]
    assert jm.jacobian_shapes(ns.MLP([5, 7, 3], seed=0)) == jm.jacobian_shapes([5, 7, 3])
    assert ("dz1/dW1", (512, 401_408)) in jm.jacobian_shapes([784, 512, 10])


@pytest.mark.parametrize("order", jm.ORDERS)
@pytest.mark.parametrize("sizes", [[100, 64, 10], [30, 40, 20, 5], [784, 32, 10]], ids=str)
def test_estimate_matches_the_memory_used(sizes, order):
    model, x, y = make_problem(sizes, n=2)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ns.jacobian.loss_and_grads(model, x, y, order=order)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert 0.8 <= peak / jm.estimate_bytes(model, order=order) <= 1.25


def test_estimate_for_the_full_network():
    weight_jacobian = 512 * 401_408 * 8
    reverse = jm.estimate_bytes([784, 512, 10], order="reverse")
    forward = jm.estimate_bytes([784, 512, 10], order="forward")
    assert weight_jacobian < reverse < 1.05 * weight_jacobian
    assert 2 * weight_jacobian < forward < 2.1 * weight_jacobian
    assert jm.estimate_bytes([784, 512, 10], dtype=np.float32) == reverse // 2


def test_default_limit():
    assert isinstance(jm.default_max_bytes(), int) and jm.default_max_bytes() > 0
    model, x, y = make_problem([4, 3])
    assert jm.check_fits(model, order="reverse") == jm.estimate_bytes(model)


def test_unknown_order():
    model, x, y = make_problem([4, 3])
    with pytest.raises(ValueError, match="order"):
        jm.estimate_bytes(model, order="backward")
