"""What an MLP may be made of (nnscratch.architecture): dtypes, activations, weights, params."""

from __future__ import annotations

import numpy as np
import pytest

from nnscratch import architecture
from nnscratch.layers import LeakyReLU, ReLU


@pytest.mark.parametrize("dtype", ["float32", np.float64, np.dtype("float32")])
def test_check_dtype_takes_the_model_dtypes(dtype):
    assert architecture.check_dtype(dtype) in architecture.DTYPES


@pytest.mark.parametrize("dtype", ["float16", "int64", np.longdouble])
def test_check_dtype_refuses_the_others(dtype):
    with pytest.raises(ValueError, match="dtype must be float32 or float64, got"):
        architecture.check_dtype(dtype)


def test_the_dtype_names_are_the_dtypes():
    assert architecture.DTYPE_NAMES == ("float32", "float64")


def test_activation_layers_and_slopes():
    assert isinstance(architecture.activation_layer("relu"), ReLU)
    leaky = architecture.activation_layer("leaky_relu")
    assert isinstance(leaky, LeakyReLU) and leaky.slope == architecture.LEAKY_RELU_SLOPE
    assert architecture.negative_slope("relu") == 0
    assert architecture.negative_slope("leaky_relu") == architecture.LEAKY_RELU_SLOPE


@pytest.mark.parametrize("activation", architecture.ACTIVATIONS)
def test_he_weights_have_the_variance_of_the_activation(activation):
    params = architecture.initial_params(
        [2000, 300, 10],
        np.random.default_rng(0),
        dtype="float64",
        activation=activation,
        init="he",
    )
    slope = architecture.negative_slope(activation)
    expected = 2 / ((1 + slope**2) * 2000)
    assert params["W1"].var() == pytest.approx(expected, rel=0.02)
    assert list(params) == ["W1", "b1", "W2", "b2"]
    assert not params["b1"].any() and params["b2"].shape == (10,)


def test_uniform_weights_in_minus_one_one_in_the_dtype():
    params = architecture.initial_params(
        [50, 40, 3], np.random.default_rng(1), dtype="float32", activation="relu", init="uniform"
    )
    assert all(value.dtype == np.float32 for value in params.values())
    assert params["W1"].min() >= -1 and params["W1"].max() < 1
    assert params["W1"].std() == pytest.approx(1 / np.sqrt(3), rel=0.05)


def test_initial_params_checks_its_choices():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="init"):
        architecture.initial_params([3, 2], rng, dtype="float64", activation="relu", init="xavier")
    with pytest.raises(ValueError, match="activation"):
        architecture.initial_params([3, 2], rng, dtype="float64", activation="tanh", init="he")
    with pytest.raises(ValueError, match="dtype"):
        architecture.initial_params([3, 2], rng, dtype="int8", activation="relu", init="he")


def test_checked_params_copies_in_order():
    W1, b1 = np.ones((3, 2)), np.zeros(2)
    checked = architecture.checked_params({"b1": b1, "W1": W1})
    assert list(checked) == ["W1", "b1"]
    assert checked["W1"] is not W1 and np.array_equal(checked["W1"], W1)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"W1": np.ones((3, 2))}, "named W1, b1"),
        ({"W1": np.ones((3, 2)), "b1": np.zeros(3)}, "b1 must have shape"),
        (
            {"W1": np.ones((3, 2)), "b1": np.zeros(2), "W2": np.ones((3, 1)), "b2": np.zeros(1)},
            "W2 must have 2 rows",
        ),
        ({"W1": np.ones((3, 2), np.float32), "b1": np.zeros(2)}, "dtype float32 like W1"),
        ({"W1": np.full((3, 2), np.nan), "b1": np.zeros(2)}, "W1"),
    ],
)
def test_checked_params_names_what_is_wrong(params, message):
    with pytest.raises(ValueError, match=message):
        architecture.checked_params(params)
