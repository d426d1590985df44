"""Tests of nnscratch.gradcheck: finite differences, the relative error, and check_model."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from nnscratch.gradcheck import check_model, numerical_gradient, relative_error
from nnscratch.model import MLP


def test_numerical_gradient_of_known_functions():
    x = np.array([[0.5, -1.0, 2.0], [3.0, 0.0, -0.25]])
    assert_allclose(numerical_gradient(lambda v: float((v**2).sum()), x), 2 * x, atol=1e-9)
    assert_allclose(numerical_gradient(lambda v: float(np.sin(v).sum()), x), np.cos(x), atol=1e-9)
    assert_allclose(numerical_gradient(lambda v: float(v**3), np.array(2.0)), 12.0, rtol=1e-9)


def test_numerical_gradient_restores_x_exactly():
    x = np.random.default_rng(0).normal(size=(4, 5))
    before = x.copy()
    numerical_gradient(lambda v: float(np.exp(v).sum()), x, eps=1e-3)
    assert_array_equal(x, before)


def test_numerical_gradient_restores_x_when_f_raises():
    x = np.array([1.0, 2.0])

    def fails(v):
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        numerical_gradient(fails, x)
    assert_array_equal(x, [1.0, 2.0])


def test_numerical_gradient_sees_a_non_contiguous_view():
    params = np.zeros((3, 4))
    view = params[:, ::2]
    grad = numerical_gradient(lambda _: float((params * np.arange(12).reshape(3, 4)).sum()), view)
    assert_allclose(grad, np.arange(12).reshape(3, 4)[:, ::2], atol=1e-8)


@pytest.mark.parametrize("x", [np.zeros(3, np.float32), [1.0, 2.0], np.zeros(2, int)])
def test_numerical_gradient_needs_a_float64_array(x):
    with pytest.raises(ValueError, match="x must be a float64 ndarray .* finite differences need"):
        numerical_gradient(lambda v: 0.0, x)


def test_numerical_gradient_needs_a_positive_step():
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        numerical_gradient(lambda v: 0.0, np.zeros(2), eps=0.0)


def test_relative_error():
    a = np.array([3.0, 0.0, -4.0])
    assert relative_error(a, a) == 0.0
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(a, -a) == 1.0
    assert relative_error(a, np.zeros(3)) == 1.0
    assert relative_error(a, a + [0, 1e-10, 0]) == pytest.approx(1e-11)  # noise on a zero entry


def test_relative_error_refuses_different_shapes():
    with pytest.raises(ValueError, match=r"same shape, got \(2,\) and \(3,\)"):
        relative_error(np.zeros(2), np.zeros(3))


def test_check_model_on_a_larger_network_with_a_sample_of_entries():
    model = MLP([50, 32, 10], seed=0)
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 50)), rng.integers(0, 10, 16)
    errors = check_model(model, x, y, max_entries=25, label_smoothing=0.1)
    assert list(errors) == ["W1", "b1", "W2", "b2"]
    print(f"\nworst relative gradient error in test_gradcheck.py: {max(errors.values()):.2e}")
    assert max(errors.values()) <= 1e-7
    assert check_model(model, x, y, max_entries=25, label_smoothing=0.1) == errors


def test_check_model_finds_a_wrong_gradient(monkeypatch):
    model = MLP([4, 5, 3], seed=0)
    x, y = np.random.default_rng(1).random((6, 4)), np.array([0, 1, 2, 0, 1, 2])
    right = model.loss_and_grads

    def wrong(*args, **kwargs):
        loss, grads = right(*args, **kwargs)
        return loss, grads | {"b1": 1.01 * grads["b1"]}

    monkeypatch.setattr(model, "loss_and_grads", wrong)
    errors = check_model(model, x, y)
    assert errors["b1"] > 1e-3 and errors["W1"] < 1e-7


def test_check_model_needs_a_float64_model():
    model = MLP([2, 2], seed=0, dtype=np.float32)
    with pytest.raises(ValueError, match="needs a float64 model, got float32"):
        check_model(model, np.zeros((1, 2)), [0])


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"eps": -1e-6}, "eps"), ({"max_entries": 0}, "max_entries")]
)
def test_check_model_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        check_model(MLP([2, 2], seed=0), np.zeros((1, 2)), [0], **kwargs)
