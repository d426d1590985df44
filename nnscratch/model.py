"""The multilayer perceptron: Linear, ReLU (and Dropout) per hidden layer, softmax at the end."""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ._checks import as_float_array, as_labels, check_finite
from .functional import _check_label_smoothing, _softmax, cross_entropy
from .layers import Dropout, Linear, ReLU, SoftmaxCrossEntropy, _check_dropout

Floats = NDArray[np.floating]
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class MLP:
    """A fully connected classifier: ``sizes[0]`` inputs, ``sizes[-1]`` classes.

    Parameters
    ----------
    sizes : sequence of int
        The layer widths, e.g. ``[784, 512, 10]``: at least an input and an output width.
    seed : int or numpy.random.Generator, optional
        Seeds the He initialisation: weights normal with standard deviation ``sqrt(2 / fan_in)``,
        drawn in float64 and then cast, so float32 and float64 models with one seed agree up to
        rounding. Biases start at zero.
    dtype : float32 or float64
        The dtype of the parameters and of every computation.
    dropout : float in [0, 1)
        The dropout probability on every hidden layer's output, in training mode only.

    Attributes
    ----------
    params : dict of str to ndarray
        ``"W1", "b1", "W2", ...``; ``W_l`` has shape ``(sizes[l-1], sizes[l])``. These are the
        arrays the layers compute with: update them in place.
    metadata : dict
        Free-form JSON-able information saved with the model (recipe, metrics...).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        seed: int | np.random.Generator | None = None,
        dtype: DTypeLike = np.float64,
        dropout: float = 0.0,
    ) -> None:
        sizes = _check_sizes(sizes)
        dtype = _check_dtype(dtype)
        rng = np.random.default_rng(seed)
        params = {}
        for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes), start=1):
            W = rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)
            params[f"W{layer}"] = W.astype(dtype)
            params[f"b{layer}"] = np.zeros(fan_out, dtype=dtype)
        self._setup(params, dropout)

    @classmethod
    def from_params(cls, params: Mapping[str, ArrayLike], *, dropout: float = 0.0) -> MLP:
        """Build a model from copies of ``params`` (``"W1", "b1", ...``), checking their names,
        shapes (each layer's input width is the previous one's output width), dtype and values.
        """
        model = cls.__new__(cls)
        model._setup(_checked_params(params), dropout)
        return model

    def _setup(self, params: dict[str, Floats], dropout: float) -> None:
        self.params = params
        self.dtype = params["W1"].dtype
        depth = len(params) // 2
        self.sizes = (len(params["W1"]),) + tuple(len(params[f"b{i}"]) for i in range(1, depth + 1))
        self.dropout = _check_dropout(dropout)
        self.metadata: dict[str, Any] = {}
        self._linears = [Linear(params[f"W{i}"], params[f"b{i}"]) for i in range(1, depth + 1)]
        self._relus = [ReLU() for _ in range(depth - 1)]
        self._dropouts = [Dropout(self.dropout) for _ in range(depth - 1)]
        self._last_logits: Floats | None = None  # of the last training batch, set by the step

    def __repr__(self) -> str:
        return f"MLP({list(self.sizes)}, dtype={self.dtype.name}, dropout={self.dropout})"

    def logits(self, x: ArrayLike) -> Floats:
        """The scores before the softmax, in evaluation mode: ``(n, sizes[0])`` -> ``(n, K)``."""
        return self._forward(self._check_input(x), rng=None)

    def predict_proba(self, x: ArrayLike) -> Floats:
        """The class probabilities: ``(n, sizes[0])`` -> ``(n, K)``, rows summing to 1."""
        return _softmax(self.logits(x))

    def predict(self, x: ArrayLike) -> NDArray[np.int64]:
        """The most probable class of each row of ``x``: shape ``(n,)``, int64."""
        return np.argmax(self.logits(x), axis=1).astype(np.int64, copy=False)

    def loss(self, x: ArrayLike, y: ArrayLike, *, label_smoothing: float = 0.0) -> float:
        """The mean cross-entropy on ``(x, y)`` in evaluation mode (no dropout)."""
        return cross_entropy(self.logits(x), y, label_smoothing=label_smoothing)

    def loss_and_grads(
        self,
        x: ArrayLike,
        y: ArrayLike,
        *,
        rng: np.random.Generator | None = None,
        label_smoothing: float = 0.0,
    ) -> tuple[float, dict[str, Floats]]:
        """The mean cross-entropy and its gradients by the shortcut (backpropagation).

        Parameters
        ----------
        x : array_like, shape (n, sizes[0])
            Real floating point, finite; converted to the model's dtype.
        y : array_like, shape (n,)
            Integer class labels.
        rng : numpy.random.Generator, optional
            Training mode: the dropout masks are drawn from it. None: no dropout.
        label_smoothing : float in [0, 1)

        Returns
        -------
        loss : float
        grads : dict of str to ndarray
            Keyed and shaped like :attr:`params`.
        """
        x = self._check_input(x)
        if len(x) == 0:
            raise ValueError("x must hold at least one sample to average the loss over")
        labels = as_labels(y, num_classes=self.sizes[-1], n=len(x))
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator or None, got {type(rng)}")
        return self._loss_and_grads(x, labels, rng, _check_label_smoothing(label_smoothing))

    def _loss_and_grads(
        self,
        x: Floats,
        y_int: NDArray[np.int64],
        rng: np.random.Generator | None,
        label_smoothing: float,
    ) -> tuple[float, dict[str, Floats]]:
        """:meth:`loss_and_grads` without any check: for a training loop that checked its data."""
        loss_layer = SoftmaxCrossEntropy(label_smoothing)
        self._last_logits = self._forward(x, rng)  # the training loop counts hits from them
        loss = loss_layer.forward(self._last_logits, y_int)
        delta = loss_layer.backward()
        hidden = zip(self._linears[1:], self._relus, self._dropouts, strict=True)
        for linear, relu, dropout in reversed(list(hidden)):
            delta = relu.backward(dropout.backward(linear.backward(delta)))
        self._linears[0].backward(delta, need_input_grad=False)
        grads = {}
        for i, linear in enumerate(self._linears, start=1):
            grads[f"W{i}"], grads[f"b{i}"] = linear.dW, linear.db
        return loss, grads

    def _forward(self, x: Floats, rng: np.random.Generator | None) -> Floats:
        a = x
        hidden = zip(self._linears[:-1], self._relus, self._dropouts, strict=True)
        for linear, relu, dropout in hidden:
            a = dropout.forward(relu.forward(linear.forward(a)), rng)
        return self._linears[-1].forward(a)

    def _check_input(self, x: ArrayLike) -> Floats:
        x = as_float_array(x, ndim=2, name="x")
        if x.shape[1] != self.sizes[0]:
            raise ValueError(f"x must have {self.sizes[0]} columns (features), got shape {x.shape}")
        x = x.astype(self.dtype, copy=False)
        check_finite(x, name="x")
        return x

    def copy_params(self) -> dict[str, Floats]:
        """A copy of every parameter array (e.g. to keep the best weights seen so far)."""
        return {name: value.copy() for name, value in self.params.items()}

    def set_params(self, params: Mapping[str, ArrayLike]) -> None:
        """Copy ``params`` into the model's own arrays, in place, after checking them all."""
        if set(params) != set(self.params):
            raise ValueError(f"params must be named {sorted(self.params)}, got {sorted(params)}")
        checked = {}
        for name, target in self.params.items():
            value = as_float_array(params[name], ndim=target.ndim, name=name)
            if value.shape != target.shape:
                raise ValueError(f"{name} must have shape {target.shape}, got {value.shape}")
            check_finite(value, name=name)
            checked[name] = value
        for name, value in checked.items():
            self.params[name][...] = value

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to ``path`` (see :func:`nnscratch.modelfile.save_model`)."""
        from .modelfile import save_model  # imported here: modelfile imports this module

        save_model(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MLP:
        """Read a model written by :meth:`save` (see :func:`nnscratch.modelfile.load_model`)."""
        from .modelfile import load_model  # imported here: modelfile imports this module

        return load_model(path)


def _check_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    sizes = tuple(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least an input and an output width, got {sizes}")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
            raise ValueError(f"layer widths must be positive integers, got {sizes}")
    return tuple(int(size) for size in sizes)


def _check_dtype(dtype: DTypeLike) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def _checked_params(params: Mapping[str, ArrayLike]) -> dict[str, Floats]:
    """Copies of ``params`` in the order W1, b1, W2, ..., after checking them all."""
    depth = len(params) // 2
    names = [f"{kind}{i}" for i in range(1, depth + 1) for kind in "Wb"]
    if depth < 1 or sorted(params) != sorted(names):
        raise ValueError(f"params must be named W1, b1, ..., WL, bL, got {sorted(params)}")
    checked = {}
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
    dtype = _check_dtype(checked["W1"].dtype)
    for name, value in checked.items():
        if value.dtype != dtype:
            raise ValueError(
                f"every parameter must have dtype {dtype} like W1, {name} has {value.dtype}"
            )
        check_finite(value, name=name)
    return {name: value.copy() for name, value in checked.items()}
