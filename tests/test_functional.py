"""Tests of nnscratch.functional: values, stability, properties, derivatives, errors, dtypes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose, assert_array_equal

from nnscratch.functional import (
    cross_entropy,
    cross_entropy_grad_logits,
    cross_entropy_grad_proba,
    leaky_relu,
    leaky_relu_grad,
    log_softmax,
    one_hot,
    relu,
    relu_grad,
    softmax,
    softmax_jacobian,
)
from nnscratch.gradcheck import numerical_gradient, relative_error


def logit_batches(bound: float, dtype=np.float64):
    """Hypothesis strategy: (n, K) logits with entries in [-bound, bound]."""
    shapes = st.tuples(st.integers(1, 6), st.integers(1, 8))
    return arrays(
        dtype, shapes, elements=st.floats(-bound, bound, width=np.dtype(dtype).itemsize * 8)
    )


@st.composite
def logits_and_labels(draw, bound: float):
    logits = draw(logit_batches(bound))
    n, K = logits.shape
    labels = draw(arrays(np.int64, n, elements=st.integers(0, K - 1)))
    return logits, labels


def test_relu_and_its_derivative():
    z = np.array([-2.0, -0.0, 0.0, 0.5, 3.0])
    assert_array_equal(relu(z), [0, 0, 0, 0.5, 3])
    assert_array_equal(relu_grad(z), [0, 0, 0, 1, 1])


def test_leaky_relu_and_its_derivative():
    z = np.array([-2.0, -0.0, 0.0, 0.5, 3.0])
    assert_array_equal(leaky_relu(z), [-0.02, 0, 0, 0.5, 3])
    assert_array_equal(leaky_relu_grad(z), [0.01, 0.01, 0.01, 1, 1])
    assert_array_equal(leaky_relu(z, slope=0.0), relu(z))
    assert_array_equal(leaky_relu_grad(z, slope=0.25), [0.25, 0.25, 0.25, 1, 1])


def test_leaky_relu_derivative_matches_finite_differences_off_the_kink():
    z = np.array([-3.0, -0.7, -0.01, 0.02, 0.9, 4.0])
    numeric = np.diag(
        [numerical_gradient(lambda v, i=i: float(leaky_relu(v)[i]), z.copy())[i] for i in range(6)]
    )
    assert relative_error(np.diag(leaky_relu_grad(z)), numeric) < 1e-9


def test_softmax_known_values():
    z = np.array([[0.0, np.log(3.0)], [1.0, 1.0]])
    assert_allclose(softmax(z), [[0.25, 0.75], [0.5, 0.5]], rtol=1e-15)
    assert_allclose(log_softmax(z), np.log([[0.25, 0.75], [0.5, 0.5]]), rtol=1e-15)


@pytest.mark.parametrize(
    ("z", "expected"),
    [
        ([[1e4, -1e4]], [[1.0, 0.0]]),
        ([[1e300, -1e300, 0.0]], [[1.0, 0.0, 0.0]]),
        ([[-1e308, 1e308]], [[0.0, 1.0]]),  # the gap overflows: exp(-inf) = 0 is still right
        ([[1e300, 1e300, 1e300, 1e300]], [[0.25] * 4]),  # a row of equal huge values
        ([[-1e300, -1e300]], [[0.5, 0.5]]),
        ([[7.0], [-1e300]], [[1.0], [1.0]]),  # a one-element row
    ],
)
def test_softmax_extreme_logits(z, expected):
    assert_allclose(softmax(np.array(z)), expected, rtol=1e-15)


def test_log_softmax_extreme_logits_are_exact():
    assert_array_equal(log_softmax(np.array([1e4, -1e4])), [0.0, -2e4])
    assert_array_equal(log_softmax(np.array([1e300, -1e300])), [0.0, -2e300])
    assert_array_equal(log_softmax(np.array([[1e300]])), [[0.0]])


def test_softmax_any_batch_shape():
    z = np.random.default_rng(0).normal(size=(2, 3, 4))
    p = softmax(z)
    assert p.shape == (2, 3, 4)
    assert_allclose(p.sum(axis=-1), 1, rtol=1e-15)
    assert_allclose(p[1, 2], softmax(z[1, 2]), rtol=1e-15)


@given(logit_batches(1e300))
def test_softmax_rows_sum_to_one_for_any_finite_logits(z):
    p = softmax(z)
    assert np.isfinite(p).all() and (p >= 0).all()
    assert_allclose(p.sum(axis=1), 1, rtol=1e-12)


@given(logit_batches(1e4, np.float32))
def test_softmax_rows_sum_to_one_in_float32(z):
    p = softmax(z)
    assert p.dtype == np.float32
    assert_allclose(p.sum(axis=1), 1, rtol=1e-5)


@given(logit_batches(1e4), arrays(np.float64, 6, elements=st.floats(-1e4, 1e4)))
def test_softmax_is_invariant_to_a_constant_per_row(z, shifts):
    c = shifts[: len(z), None]
    assert_allclose(softmax(z + c), softmax(z), rtol=1e-9, atol=1e-11)


@given(logits_and_labels(1e300))
def test_cross_entropy_is_finite_and_non_negative(batch):
    logits, labels = batch
    loss = cross_entropy(logits, labels)
    assert np.isfinite(loss) and loss >= 0
    assert np.isfinite(cross_entropy(logits, labels, label_smoothing=0.3))


@given(logits_and_labels(30.0))
def test_cross_entropy_is_minus_log_of_the_true_class_probability(batch):
    logits, labels = batch
    p_true = softmax(logits)[np.arange(len(labels)), labels]
    assert_allclose(cross_entropy(logits, labels), -np.log(p_true).mean(), rtol=1e-12, atol=1e-14)


def test_cross_entropy_extremes():
    assert cross_entropy(np.array([[1e300, -1e300]]), [1]) == 2e300
    assert cross_entropy(np.array([[1e4, -1e4]]), [0]) == 0.0
    assert cross_entropy(np.array([[1e300], [-5.0]]), [0, 0]) == 0.0  # one class: no loss
    assert cross_entropy(np.full((2, 4), 1e300), [1, 3]) == pytest.approx(np.log(4))


def test_cross_entropy_with_rows_and_label_smoothing():
    rng = np.random.default_rng(1)
    logits, labels = rng.normal(size=(5, 4)), rng.integers(0, 4, 5)
    onehot = one_hot(labels, 4)
    assert cross_entropy(logits, onehot) == pytest.approx(cross_entropy(logits, labels), rel=1e-15)
    smoothed = 0.8 * onehot + 0.2 / 4
    expected = -(smoothed * log_softmax(logits)).sum() / 5
    assert cross_entropy(logits, labels, label_smoothing=0.2) == pytest.approx(expected, rel=1e-14)
    assert cross_entropy(logits, smoothed) == pytest.approx(expected, rel=1e-14)
    assert cross_entropy(logits, onehot, label_smoothing=0.2) == pytest.approx(expected, rel=1e-14)
    assert cross_entropy(logits, onehot.astype(int)) == cross_entropy(logits, onehot)


def test_one_hot():
    assert_array_equal(one_hot([2, 0], 3), [[0, 0, 1], [1, 0, 0]])
    assert one_hot([1], 2, dtype=np.float32).dtype == np.float32


@given(
    arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 6)), elements=st.floats(-50, 50))
)
def test_softmax_jacobian_is_symmetric_with_rows_summing_to_zero(z):
    J = softmax_jacobian(softmax(z))
    assert J.shape == z.shape + z.shape[-1:]
    assert_array_equal(J, np.swapaxes(J, -1, -2))
    assert_allclose(J.sum(axis=-1), 0, atol=1e-15)


def test_softmax_jacobian_matches_finite_differences():
    z = np.random.default_rng(2).normal(size=4)
    numeric = np.stack([numerical_gradient(lambda v, i=i: softmax(v)[i], z) for i in range(4)])
    assert relative_error(softmax_jacobian(softmax(z)), numeric) < 1e-9


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("targets", ["labels", "rows"])
def test_cross_entropy_gradients(label_smoothing, targets):
    rng = np.random.default_rng(3)
    logits, labels = rng.normal(size=(5, 4)), rng.integers(0, 4, 5)
    y = labels if targets == "labels" else rng.dirichlet(np.ones(4), size=5)
    grad = cross_entropy_grad_logits(logits, y, label_smoothing=label_smoothing)
    numeric = numerical_gradient(
        lambda v: cross_entropy(v, y, label_smoothing=label_smoothing), logits.copy()
    )
    assert relative_error(grad, numeric) < 1e-8
    # the long way round: dL/dz = dL/dp times the softmax Jacobian, sample by sample
    p = softmax(logits)
    dp = cross_entropy_grad_proba(p, y, label_smoothing=label_smoothing)
    assert_allclose(np.einsum("nk,nkj->nj", dp, softmax_jacobian(p)), grad, atol=1e-15)


def test_cross_entropy_grad_logits_is_p_minus_y_over_n():
    logits, labels = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]), np.array([2, 0])
    expected = (softmax(logits) - one_hot(labels, 3)) / 2
    assert_allclose(cross_entropy_grad_logits(logits, labels), expected, rtol=1e-15)


def test_cross_entropy_grad_proba_is_minus_y_over_n_p():
    p = np.array([[0.5, 0.5, 0.0], [0.1, 0.2, 0.7]])
    assert_allclose(cross_entropy_grad_proba(p, [0, 2]), [[-1.0, 0, 0], [0, 0, -1 / 1.4]])


def test_cross_entropy_grad_proba_is_undefined_at_zero_for_the_true_class():
    with pytest.raises(ValueError, match="undefined where p <= 0"):
        cross_entropy_grad_proba(np.array([[1.0, 0.0]]), [1])


EVERY_FUNCTION = [
    lambda z: relu(z),
    lambda z: relu_grad(z),
    lambda z: leaky_relu(z),
    lambda z: leaky_relu_grad(z),
    lambda z: softmax(z),
    lambda z: log_softmax(z),
    lambda z: softmax_jacobian(softmax(z)),
    lambda z: cross_entropy_grad_logits(z, [0, 2], label_smoothing=0.1),
    lambda z: cross_entropy_grad_logits(z, one_hot([0, 2], 3, dtype=np.float32)),
    lambda z: cross_entropy_grad_proba(softmax(z), [0, 2], label_smoothing=0.1),
]


@pytest.mark.parametrize("function", EVERY_FUNCTION)
def test_float32_stays_float32(function):
    z = np.array([[1.0, -2.0, 3.0], [0.5, 0.25, -10.0]], dtype=np.float32)
    assert function(z).dtype == np.float32


LOGITS = np.zeros((2, 3))

INVALID = [
    (lambda: softmax(np.float64(1.0)), "must have 1 dimension"),
    (lambda: softmax(np.zeros((2, 0))), "at least one class"),
    (lambda: softmax(np.array([1, 2])), "real floating-point"),
    (lambda: relu(np.array([1 + 2j])), "real floating-point"),
    (lambda: leaky_relu(np.array([1, 2])), "real floating-point"),
    (lambda: leaky_relu(np.zeros(2), slope=1.0), r"slope must lie in \[0, 1\)"),
    (lambda: leaky_relu_grad(np.zeros(2), slope=-0.1), "slope must lie in"),
    (lambda: log_softmax(np.array([True])), "real floating-point"),
    (lambda: softmax_jacobian(np.float64(0.5)), "must have 1 dimension"),
    (lambda: cross_entropy(np.zeros(3), [0]), "must have 2 dimension"),
    (lambda: cross_entropy(np.zeros((0, 3)), []), "at least one sample"),
    (lambda: cross_entropy(LOGITS, [0, 3]), r"label 3, outside the range \[0, 3\)"),
    (lambda: cross_entropy(LOGITS, [-1, 0]), "label -1, outside"),
    (lambda: cross_entropy(LOGITS, [0.5, 1.0]), "non-integral"),
    (lambda: cross_entropy(LOGITS, [0, 1, 2]), "must hold 2 labels"),
    (lambda: cross_entropy(LOGITS, np.zeros((2, 3, 1))), r"shape \(2,\) or target rows"),
    (lambda: cross_entropy(LOGITS, np.zeros((2, 2))), r"shape \(2, 3\), got shape \(2, 2\)"),
    (lambda: cross_entropy(LOGITS, [[1.2, -0.2, 0], [1, 0, 0]]), "non-negative"),
    (lambda: cross_entropy(LOGITS, [[0.5, 0.4, 0], [1, 0, 0]]), "row 0 sums to 0.9"),
    (lambda: cross_entropy(LOGITS, [[np.nan, 1, 0], [1, 0, 0]]), "y must be finite"),
    (lambda: cross_entropy(LOGITS, [["a", "b", "c"]] * 2), "real numbers"),
    (lambda: cross_entropy(LOGITS, [0, 1], label_smoothing=1.0), r"label_smoothing .* \[0, 1\)"),
    (lambda: cross_entropy(LOGITS, [0, 1], label_smoothing=-0.1), "label_smoothing"),
    (lambda: cross_entropy_grad_logits(LOGITS, [0, 9]), "outside the range"),
    (lambda: cross_entropy_grad_proba(LOGITS, [0]), "must hold 2 labels"),
    (lambda: one_hot([0, 3], 3), "outside the range"),
    (lambda: one_hot([0], 0), "an integer >= 1"),
    (lambda: one_hot([0], 2.0), "must be an integer"),
]


@pytest.mark.parametrize(("call", "message"), INVALID)
def test_invalid_inputs_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
