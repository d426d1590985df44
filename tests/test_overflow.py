"""Tests for nnscratch.overflow: scores that overflow, computed at a scale that cannot, as
MLP.predict_proba and MLP.predict use them for inputs far beyond the pixel range."""

import math
import warnings
from fractions import Fraction

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal

from nnscratch import kernels, overflow
from nnscratch.model import MLP


def test_overflowed_rows_are_those_with_a_non_finite_score():
    z = np.array([[0.0, 1.0], [np.inf, 1.0], [2.0, 3.0], [-np.inf, np.nan]])
    assert_array_equal(overflow.overflowed_rows(z), [1, 3])
    assert overflow.overflowed_rows(z[[0, 2]]).size == 0


def test_scaled_scores_are_the_scores_divided_by_their_scale():
    model = MLP([5, 7, 4], seed=1)
    x = np.random.default_rng(0).uniform(0, 1, (3, 5)) * 1e3
    z, log_scale = overflow.scaled_scores(model.params, x)
    assert z.shape == (3, 4) and log_scale.shape == (3,) and (log_scale > 0).all()
    assert_allclose(np.exp(log_scale)[:, None] * z, model.logits(x), rtol=1e-12)


def test_softmax_at_scale_is_the_softmax_of_the_product():
    z = np.array([[0.5, -1.0, 2.0], [3.0, 3.0, -2.0]])
    log_scale = np.log([2.0, 0.5])
    expected = kernels.softmax(np.exp(log_scale)[:, None] * z)
    assert_allclose(overflow.softmax_at_scale(z, log_scale), expected, rtol=1e-12)
    huge = overflow.softmax_at_scale(z, np.array([800.0, 800.0]))  # the product overflows
    assert_array_equal(huge, [[0.0, 0.0, 1.0], [0.5, 0.5, 0.0]])


def exact_proba(model: MLP, x: np.ndarray) -> np.ndarray:
    """The softmax of the model's scores computed exactly, in rational arithmetic."""
    rows = []
    for row in x:
        a = [Fraction(float(v)) for v in row]
        depth = len(model.sizes) - 1
        for layer in range(1, depth + 1):
            W, b = model.params[f"W{layer}"], model.params[f"b{layer}"]
            z = [
                sum((a[i] * Fraction(float(W[i, j])) for i in range(len(a))), Fraction(0))
                + Fraction(float(b[j]))
                for j in range(W.shape[1])
            ]
            a = [max(v, Fraction(0)) for v in z] if layer < depth else z
        p = []
        for k in range(len(a)):
            terms = [(a[j] - a[k]) for j in range(len(a))]
            total = sum(
                math.inf if t > 700 else 0.0 if t < -700 else math.exp(float(t)) for t in terms
            )
            p.append(1 / total)
        rows.append(p)
    return np.array(rows)


@pytest.mark.parametrize(
    ("dtype", "scale"),
    [
        (dtype, scale)
        for dtype in (np.float64, np.float32)
        for scale in (1.0, 3.0, 1e3, 1e30, 1e38, 1e100, 1e300, 1e308)
        if scale <= float(np.finfo(dtype).max)
    ],
)
def test_predict_proba_is_right_for_huge_inputs(dtype, scale):
    """Issue 11: finite inputs of 1e308 gave NaN probabilities (the scores overflowed)."""
    model = MLP([50, 16, 4], seed=1, dtype=dtype)
    rng = np.random.default_rng(0)
    x = (rng.uniform(0, 1, (6, 50)) * scale).astype(dtype)  # pixels, scaled
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proba, labels = model.predict_proba(x), model.predict(x)
    assert proba.dtype == dtype and np.isfinite(proba).all()
    exact = exact_proba(model, x)
    tolerance = {np.float64: 1e-9, np.float32: 1e-5}[dtype]
    assert_allclose(proba, exact, rtol=tolerance, atol=tolerance)
    assert_array_equal(labels, exact.argmax(axis=1))


@given(
    arrays(
        np.float64,
        (3, 5),
        elements=st.floats(allow_nan=False, allow_infinity=False, width=64),
    )
)
@settings(max_examples=200, deadline=None)
def test_any_finite_input_gives_probabilities(x):
    """Issue 11: for any finite input, rows of finite probabilities and a consistent class."""
    model = MLP([5, 7, 4], seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proba, labels = model.predict_proba(x), model.predict(x)
    assert np.isfinite(proba).all() and (proba >= 0).all() and (proba <= 1).all()
    assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
    assert_array_equal(proba[np.arange(3), labels], proba.max(axis=1))


def test_rows_that_fit_are_computed_as_always():
    """Only the rows whose scores overflow take the scaled path: the others keep their bits."""
    model = MLP([5, 7, 4], seed=1)
    x = np.random.default_rng(0).uniform(0, 1, (4, 5))
    mixed = np.vstack([x[:2], 1e308 * x[2:3], x[2:]])
    assert_array_equal(model.predict_proba(mixed)[[0, 1, 3, 4]], model.predict_proba(x))
    assert_array_equal(model.predict(mixed)[[0, 1, 3, 4]], model.predict(x))


def test_a_leaky_relu_model_keeps_its_slope_on_the_scaled_path():
    """Huge inputs of a leaky-ReLU model: the scaled path applies leaky ReLU too (it applied
    ReLU, and this model then saw no difference between the classes: class 0 by the tie)."""
    model = MLP.from_params(
        {
            "W1": np.array([[-10.0], [0.0]]),
            "b1": np.zeros(1),
            "W2": np.array([[1.0, -1.0]]),
            "b2": np.zeros(2),
        },
        activation="leaky_relu",
    )
    x = np.array([[1e308, 0.0]])
    assert model.predict(x).tolist() == [1]  # -1e309 * 0.01 < 0: class 1, as at any scale
    np.testing.assert_array_equal(model.predict_proba(x), [[0.0, 1.0]])
    assert model.predict(x / 1e308).tolist() == [1]
