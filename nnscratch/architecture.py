"""What an MLP may be made of, checked: its dtypes, activations, initial weights, parameters.

:class:`~nnscratch.model.MLP` builds on these; a recipe, a model file and the command line
offer the same choices (:data:`DTYPE_NAMES`, :data:`ACTIVATIONS`, :data:`INITS`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ._checks import as_float_array, check_choice, check_finite, check_layer_sizes
from .layers import LeakyReLU, ReLU

Floats = NDArray[np.floating]

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
"""The dtypes a model computes in."""
DTYPE_NAMES = tuple(dtype.name for dtype in DTYPES)
"""Their names, ``("float32", "float64")``: the choices of a recipe or a command line."""
ACTIVATIONS = ("relu", "leaky_relu")
"""The hidden layers' activations: ReLU, or leaky ReLU with slope :data:`LEAKY_RELU_SLOPE`."""
LEAKY_RELU_SLOPE = 0.01
"""The slope of leaky ReLU for negative inputs."""
INITS = ("he", "uniform")
"""The initialisations of the weights: He's normal, or uniform on [-1, 1)."""


def check_dtype(dtype: DTypeLike) -> np.dtype:
    """``dtype`` as one of :data:`DTYPES`, or a ValueError."""
    dtype = np.dtype(dtype)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def negative_slope(activation: str) -> float:
    """The activation's slope for negative inputs: 0 for ReLU."""
    return LEAKY_RELU_SLOPE if activation == "leaky_relu" else 0.0


def activation_layer(activation: str) -> ReLU | LeakyReLU:
    """A fresh layer of ``activation``, one of :data:`ACTIVATIONS` (unchecked)."""
    return LeakyReLU(LEAKY_RELU_SLOPE) if activation == "leaky_relu" else ReLU()


def initial_params(
    sizes: Sequence[int],
    rng: np.random.Generator,
    *,
    dtype: DTypeLike,
    activation: str,
    init: str,
) -> dict[str, Floats]:
    """Initial weights and biases ``W1, b1, ..., WL, bL`` for layers of ``sizes``, checked.

    ``Wl`` of shape ``(sizes[l - 1], sizes[l])``: for ``init="he"`` normal with variance
    ``2 / ((1 + s**2) fan_in)`` (``s`` the activation's :func:`negative_slope`), for
    ``"uniform"`` uniform on [-1, 1); ``bl`` zeros of shape ``(sizes[l],)``; all in ``dtype``,
    drawn from ``rng`` layer by layer.
    """
    sizes = check_layer_sizes(sizes)
    dtype = check_dtype(dtype)
    slope = negative_slope(check_choice(activation, "activation", ACTIVATIONS))
    check_choice(init, "init", INITS)
    params = {}
    for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes), start=1):
        if init == "he":
            W = rng.standard_normal((fan_in, fan_out)) * np.sqrt(2 / ((1 + slope**2) * fan_in))
        else:
            W = rng.uniform(-1, 1, size=(fan_in, fan_out))
        params[f"W{layer}"] = W.astype(dtype)
        params[f"b{layer}"] = np.zeros(fan_out, dtype=dtype)
    return params


def checked_params(params: Mapping[str, ArrayLike]) -> dict[str, Floats]:
    """Copies of ``params`` in the order W1, b1, W2, ..., after checking them all."""
    depth = len(params) // 2
    names = [f"{kind}{i}" for i in range(1, depth + 1) for kind in "Wb"]
    if depth < 1 or sorted(params) != sorted(names):
        raise ValueError(f"params must be named W1, b1, ..., WL, bL, got {sorted(params)}")
    checked: dict[str, Floats] = {}
    for i in range(1, depth + 1):
        W = as_float_array(params[f"W{i}"], ndim=2, name=f"W{i}")
        b = as_float_array(params[f"b{i}"], ndim=1, name=f"b{i}")
        if i > 1 and len(W) != len(checked[f"b{i - 1}"]):
            raise ValueError(
                f"W{i} must have {len(checked[f'b{i - 1}'])} rows, got shape {W.shape}"
            )
        if b.shape != W.shape[1:]:
            raise ValueError(f"b{i} must have shape {W.shape[1:]} to match W{i}, got {b.shape}")
        checked[f"W{i}"], checked[f"b{i}"] = W, b
    dtype = check_dtype(checked["W1"].dtype)
    for name, value in checked.items():
        if value.dtype != dtype:
            raise ValueError(
                f"every parameter must have dtype {dtype} like W1, {name} has {value.dtype}"
            )
        check_finite(value, name=name)
    return {name: value.copy() for name, value in checked.items()}
