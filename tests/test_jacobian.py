"""The long way (explicit Jacobians) against the shortcut and against finite differences."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import nnscratch as ns
from nnscratch import jacobian as jac
from nnscratch import jacobian_memory as jm
from nnscratch.gradcheck import numerical_gradient, relative_error

TOLERANCE = 1e-7  # relative error, float64
SHAPES = [[4, 3], [5, 7, 3], [6, 8, 5, 4], [3, 6, 6, 6, 2]]


def make_problem(sizes: list[int], n: int = 5, seed: int = 0, **kwargs):
    rng = np.random.default_rng(seed)
    model = ns.MLP(sizes, seed=seed, **kwargs)
    x = rng.standard_normal((n, sizes[0]))
    y = rng.integers(sizes[-1], size=n)
    return model, x, y


def numerical_jacobian(f: Callable[[np.ndarray], np.ndarray], v: np.ndarray) -> np.ndarray:
    """Row j is the central-difference gradient of the j-th output of ``f`` at ``v``."""
    v = np.array(v, dtype=np.float64)
    rows = len(np.atleast_1d(f(v)))
    return np.stack(
        [numerical_gradient(lambda u, j=j: float(np.atleast_1d(f(u))[j]), v) for j in range(rows)]
    )


# --- The whole chain ----------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ns.architecture.ACTIVATIONS)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("order", jm.ORDERS)
@pytest.mark.parametrize("sizes", SHAPES, ids=str)
def test_equals_the_shortcut(sizes, order, label_smoothing, activation):
    model, x, y = make_problem(sizes, activation=activation)
    loss, grads = jac.loss_and_grads(model, x, y, order=order, label_smoothing=label_smoothing)
    expected_loss, expected = model.loss_and_grads(x, y, label_smoothing=label_smoothing)
    assert isinstance(loss, float)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    assert list(grads) == list(model.params)
    for name, grad in grads.items():
        assert grad.shape == model.params[name].shape and grad.dtype == np.float64
        assert relative_error(grad, expected[name]) <= TOLERANCE


@pytest.mark.parametrize("activation", ns.architecture.ACTIVATIONS)
@pytest.mark.parametrize("order", jm.ORDERS)
@pytest.mark.parametrize("sizes", SHAPES, ids=str)
def test_equals_finite_differences(sizes, order, activation):
    model, x, y = make_problem(sizes, seed=1, activation=activation)
    _, grads = jac.loss_and_grads(model, x, y, order=order)
    for name, param in model.params.items():
        numeric = numerical_gradient(lambda _: model.loss(x, y), param)
        assert relative_error(grads[name], numeric) <= TOLERANCE, name


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    n=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
# Every hidden unit dead and the labels balanced: the exact gradient of b3 is 0, and the two
# routes round it to 0 and to -2.8e-17, a relative error of 1 between two zeros.
@example(sizes=[2, 1, 1, 3], n=3, seed=1221)
def test_both_orders_equal_the_shortcut_for_any_shape(sizes, n, seed):
    model, x, y = make_problem(sizes, n=n, seed=seed)
    _, expected = model.loss_and_grads(x, y)
    for order in jm.ORDERS:
        _, grads = jac.loss_and_grads(model, x, y, order=order)
        for name in expected:
            both_zero = np.allclose(grads[name], 0, atol=1e-15) and np.allclose(
                expected[name], 0, atol=1e-15
            )
            assert both_zero or relative_error(grads[name], expected[name]) <= TOLERANCE


def test_dropout_is_off():
    model, x, y = make_problem([5, 7, 3], dropout=0.5)
    _, expected = model.loss_and_grads(x, y)
    _, grads = jac.loss_and_grads(model, x, y)
    assert all(relative_error(grads[name], expected[name]) <= TOLERANCE for name in expected)


def test_float32_stays_float32():
    model, x, y = make_problem([6, 8, 5, 4], dtype=np.float32)
    expected_loss, expected = model.loss_and_grads(x, y)
    for order in jm.ORDERS:
        loss, grads = jac.loss_and_grads(model, x, y, order=order)
        assert loss == pytest.approx(expected_loss, rel=1e-5)
        for name, grad in grads.items():
            assert grad.dtype == np.float32
            assert relative_error(grad, expected[name]) <= 1e-5


# --- Each step on its own -----------------------------------------------------------------------


def test_cross_entropy_jacobian():
    rng = np.random.default_rng(2)
    p = rng.uniform(0.1, 1.0, size=4)
    y = np.array([0.1, 0.6, 0.0, 0.3])
    jacobian = jac.cross_entropy_jacobian(p, y)
    assert jacobian.shape == (1, 4)
    numeric = numerical_jacobian(lambda q: -np.sum(y * np.log(q)), p)
    assert relative_error(jacobian, numeric) <= TOLERANCE


def test_cross_entropy_jacobian_refuses_a_zero_probability_of_a_target():
    with pytest.raises(ValueError, match="undefined"):
        jac.cross_entropy_jacobian(np.array([0.0, 1.0]), np.array([1.0, 0.0]))
    assert jac.cross_entropy_jacobian(np.array([0.0, 1.0]), np.array([0.0, 1.0]))[0, 0] == 0


def test_softmax_jacobian():
    z = np.random.default_rng(3).standard_normal(5)
    jacobian = jac.softmax_jacobian(ns.functional.softmax(z))
    assert jacobian.shape == (5, 5)
    assert relative_error(jacobian, numerical_jacobian(ns.functional.softmax, z)) <= TOLERANCE


def test_linear_jacobians():
    rng = np.random.default_rng(4)
    x, W, b = rng.standard_normal(3), rng.standard_normal((3, 4)), rng.standard_normal(4)
    by_input = jac.linear_input_jacobian(W)
    by_weights = jac.linear_weight_jacobian(x, 4)
    by_bias = jac.linear_bias_jacobian(4)
    assert by_input.shape == (4, 3) and by_weights.shape == (4, 12) and by_bias.shape == (4, 4)
    numeric_input = numerical_jacobian(lambda u: u @ W + b, x)
    numeric_weights = numerical_jacobian(lambda w: x @ w.reshape(3, 4) + b, W.reshape(-1))
    numeric_bias = numerical_jacobian(lambda c: x @ W + c, b)
    assert relative_error(by_input, numeric_input) <= TOLERANCE
    assert relative_error(by_weights, numeric_weights) <= TOLERANCE
    assert relative_error(by_bias, numeric_bias) <= TOLERANCE


@pytest.mark.parametrize(("fan_in", "fan_out"), [(1, 1), (3, 4), (5, 2)])
def test_weight_jacobian_is_the_kronecker_product(fan_in, fan_out):
    x = np.random.default_rng(5).standard_normal(fan_in)
    expected = np.kron(x[None, :], np.eye(fan_out))  # entry [j, i*fan_out+k] = x_i delta_jk
    np.testing.assert_array_equal(jac.linear_weight_jacobian(x, fan_out), expected)


def test_relu_jacobian_is_diagonal():
    z = np.array([-2.0, -0.5, 0.25, 3.0, 1.0])
    jacobian = jac.relu_jacobian(z)
    np.testing.assert_array_equal(jacobian, np.diag([0.0, 0.0, 1.0, 1.0, 1.0]))
    numeric = numerical_jacobian(ns.functional.relu, z)
    assert relative_error(jacobian, numeric) <= TOLERANCE


def test_leaky_relu_jacobian_is_diagonal():
    z = np.array([-2.0, -0.5, 0.25, 3.0, 1.0])
    jacobian = jac.leaky_relu_jacobian(z)
    np.testing.assert_array_equal(jacobian, np.diag([0.01, 0.01, 1.0, 1.0, 1.0]))
    numeric = numerical_jacobian(ns.functional.leaky_relu, z)
    assert relative_error(jacobian, numeric) <= TOLERANCE


def test_step_jacobians_keep_float32():
    x = np.ones(3, dtype=np.float32)
    p = np.full(3, 1 / 3, dtype=np.float32)
    assert jac.linear_weight_jacobian(x, 2).dtype == np.float32
    assert jac.relu_jacobian(x).dtype == np.float32
    assert jac.leaky_relu_jacobian(x).dtype == np.float32
    assert jac.softmax_jacobian(p).dtype == np.float32
    assert jac.cross_entropy_jacobian(p, p).dtype == np.float32


# --- Refusing what would not fit ------------------------------------------------------------------


@pytest.mark.parametrize("order", jm.ORDERS)
def test_refuses_what_would_not_fit_before_allocating(order):
    model = ns.MLP([784, 512, 10], seed=0)
    x, y = np.zeros((1, 784)), np.array([3])
    tracemalloc.start()
    try:
        with pytest.raises(jm.JacobianTooLargeError) as caught:
            jac.loss_and_grads(model, x, y, order=order, max_bytes=10**8)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert isinstance(caught.value, MemoryError)
    message = str(caught.value)
    estimate = jm.estimate_bytes(model, order=order)
    assert f"{estimate / 1e9:.2f} GB" in message
    assert "0.10 GB" in message and "dz1/dW1" in message and "512 x 401,408" in message
    assert peak < 10**6


# --- Refusals -----------------------------------------------------------------------------------


def test_unknown_order():
    model, x, y = make_problem([4, 3])
    with pytest.raises(ValueError, match="order"):
        jac.loss_and_grads(model, x, y, order="sideways")


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        (np.zeros((2, 5)), [0, 1], "columns"),
        (np.zeros((2, 4), dtype=np.int64), [0, 1], "floating"),
        (np.array([[0.0, np.nan, 0.0, 0.0], [0.0] * 4]), [0, 1], "finite"),
        (np.zeros((2, 4)), [0, 3], "range"),
        (np.zeros((2, 4)), [0], "labels"),
        (np.zeros((0, 4)), np.zeros(0, dtype=int), "at least one"),
    ],
)
def test_bad_inputs(x, y, match):
    model = ns.MLP([4, 3], seed=0)
    with pytest.raises(ValueError, match=match):
        jac.loss_and_grads(model, x, y)


@pytest.mark.parametrize("max_bytes", [0, -5, float("nan"), True, "1 GB"])
def test_bad_limit(max_bytes):
    model, x, y = make_problem([4, 3])
    with pytest.raises(ValueError, match="max_bytes"):
        jac.loss_and_grads(model, x, y, max_bytes=max_bytes)


def test_bad_label_smoothing():
    model, x, y = make_problem([4, 3])
    with pytest.raises(ValueError, match="label_smoothing"):
        jac.loss_and_grads(model, x, y, label_smoothing=1.0)
