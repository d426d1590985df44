"""The multilayer perceptron: Linear, ReLU (and Dropout) per hidden layer, softmax at the end.

The hidden activation is ReLU, or leaky ReLU for the program this book started from
(``activation="leaky_relu"``); the choices a model may make are those of
:mod:`nnscratch.architecture`.

:meth:`MLP.train_step` is one step of the shortcut, the forward pass and backpropagation
through the layers of :mod:`nnscratch.layers`, on a batch the caller has checked;
:meth:`MLP.loss_and_grads` checks its inputs and takes that step. Models are saved and loaded
as model files (:mod:`nnscratch.mlpfile`): the weights, and a header saying what network
they make.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from . import architecture, kernels, mlpfile, overflow
from ._checks import (
    as_batch,
    as_float_array,
    as_labels,
    check_choice,
    check_finite,
    check_fraction,
)
from .functional import cross_entropy
from .layers import Dropout, Linear, SoftmaxCrossEntropy

Floats = NDArray[np.floating]


class MLP:
    """A fully connected classifier: ``sizes[0]`` inputs, ``sizes[-1]`` classes.

    Parameters
    ----------
    sizes : sequence of int
        The layer widths, e.g. ``[784, 512, 10]``: at least an input and an output width.
    seed : int or numpy.random.Generator, optional
        Seeds the initial weights, drawn in float64 and then cast, so float32 and float64
        models with one seed agree up to rounding. Biases start at zero.
    dtype : float32 or float64
        The dtype of the parameters and of every computation.
    dropout : float in [0, 1)
        The dropout probability on every hidden layer's output, in training mode only.
    activation : one of :data:`~nnscratch.architecture.ACTIVATIONS`, "relu" or "leaky_relu"
        The hidden layers' activation.
    init : one of :data:`~nnscratch.architecture.INITS`, "he" or "uniform"
        He's initialisation, weights normal with variance ``2 / ((1 + s**2) fan_in)`` (``s``
        the activation's slope for negative inputs: 0 for ReLU), or weights uniform on
        [-1, 1), the choice of the program this book started from. The choice shapes only
        the initial weights, so it is not kept in the model.

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
        activation: str = "relu",
        init: str = "he",
    ) -> None:
        params = architecture.initial_params(
            sizes, np.random.default_rng(seed), dtype=dtype, activation=activation, init=init
        )
        self._setup(params, dropout, activation)

    @classmethod
    def from_params(
        cls, params: Mapping[str, ArrayLike], *, dropout: float = 0.0, activation: str = "relu"
    ) -> MLP:
        """Build a model from copies of ``params`` (``"W1", "b1", ...``), checking their names,
        shapes (each layer's input width is the previous one's output width), dtype and values.
        """
        model = cls.__new__(cls)
        model._setup(architecture.checked_params(params), dropout, activation)
        return model

    def _setup(self, params: dict[str, Floats], dropout: float, activation: str) -> None:
        self.params = params
        self.dtype = params["W1"].dtype
        depth = len(params) // 2
        self.sizes = (len(params["W1"]),) + tuple(len(params[f"b{i}"]) for i in range(1, depth + 1))
        self.dropout = check_fraction(dropout, "the dropout probability")
        self.activation = check_choice(activation, "activation", architecture.ACTIVATIONS)
        self.metadata: dict[str, Any] = {}
        self._linears = [Linear(params[f"W{i}"], params[f"b{i}"]) for i in range(1, depth + 1)]
        self._activations = [architecture.activation_layer(activation) for _ in range(depth - 1)]
        self._dropouts = [Dropout(self.dropout) for _ in range(depth - 1)]
        self._buffers: dict[int, _StepBuffers] = {}

    def __repr__(self) -> str:
        activation = "" if self.activation == "relu" else f", activation={self.activation!r}"
        return (
            f"MLP({list(self.sizes)}, dtype={self.dtype.name}, dropout={self.dropout}{activation})"
        )

    def logits(self, x: ArrayLike) -> Floats:
        """The scores before the softmax, in evaluation mode: ``(n, sizes[0])`` -> ``(n, K)``.

        Raises
        ------
        ValueError
            For inputs that are not finite or not of the model's width, values beyond the range
            of the model's dtype, or inputs so large that the scores overflow it (which
            :meth:`predict_proba` and :meth:`predict` still answer).
        """
        x = self._inputs(x)
        z = self._scores(x)
        overflowed = overflow.overflowed_rows(z)
        if overflowed.size:
            row = int(overflowed[0])
            raise ValueError(
                f"the scores overflow {self.dtype.name} for {overflowed.size} row(s) of x, the "
                f"first row {row} (largest input magnitude {np.abs(x[row]).max():.3g}); "
                "predict_proba and predict compute such rows at a scale that cannot overflow"
            )
        return z

    def predict_proba(self, x: ArrayLike) -> Floats:
        """The class probabilities: ``(n, sizes[0])`` -> ``(n, K)``, rows summing to 1.

        Finite and correct for any finite input in the model's dtype: the softmax subtracts
        each row's largest score, and the rows whose scores would overflow (inputs far beyond
        the pixel range, like 1e308) are computed at a smaller scale (see :meth:`predict`).
        """
        x = self._inputs(x)
        z = self._scores(x)
        overflowed = overflow.overflowed_rows(z)
        if not overflowed.size:
            return kernels.softmax(z)
        p = np.empty_like(z)
        kept = np.setdiff1d(np.arange(len(z)), overflowed)
        p[kept] = kernels.softmax(z[kept])
        p[overflowed] = overflow.softmax_at_scale(
            *overflow.scaled_scores(
                self.params, x[overflowed], slope=architecture.negative_slope(self.activation)
            )
        )
        return p

    def predict(self, x: ArrayLike) -> NDArray[np.int64]:
        """The most probable class of each row of ``x``: shape ``(n,)``, int64.

        For any finite input in the model's dtype. A row whose scores would overflow is
        computed at a smaller scale, which keeps their order (:mod:`nnscratch.overflow`).
        """
        x = self._inputs(x)
        z = self._scores(x)
        labels = np.argmax(z, axis=1).astype(np.int64, copy=False)
        overflowed = overflow.overflowed_rows(z)
        if overflowed.size:
            scaled, _ = overflow.scaled_scores(
                self.params, x[overflowed], slope=architecture.negative_slope(self.activation)
            )
            labels[overflowed] = np.argmax(scaled, axis=1)
        return labels

    def _inputs(self, x: ArrayLike) -> Floats:
        """``x`` checked as a batch of inputs in the model's dtype (empty allowed), refusing
        values that the conversion from a wider dtype would turn into infinities."""
        values = np.asarray(x)
        if values.dtype.kind == "f" and values.dtype.itemsize > self.dtype.itemsize:
            limit = np.finfo(self.dtype).max
            beyond = np.isfinite(values) & (np.abs(values) > limit)
            if beyond.any():
                where = tuple(int(i) for i in np.argwhere(beyond)[0])
                raise ValueError(
                    f"x holds {values[where]:.3g} at index {where}, beyond the range of this "
                    f"{self.dtype.name} model (magnitudes up to {limit:.3g}): pass a "
                    f"{self.dtype.name} array or smaller values"
                )
        return as_batch(values, features=self.sizes[0], dtype=self.dtype, allow_empty=True)

    def _scores(self, x: Floats) -> Floats:
        """The forward pass in evaluation mode; overflow gives infinities, silently."""
        with np.errstate(over="ignore", invalid="ignore"):
            return self._forward(x, rng=None)

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
            Keyed and shaped like :attr:`params`; new arrays, the caller's to keep.
        """
        x = as_batch(x, features=self.sizes[0], dtype=self.dtype)
        labels = as_labels(y, num_classes=self.sizes[-1], n=len(x))
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator or None, got {type(rng)}")
        loss, grads, _ = self.train_step(x, labels, rng=rng, label_smoothing=label_smoothing)
        return loss, {name: grad.copy() for name, grad in grads.items()}

    def train_step(
        self,
        x: Floats,
        y: NDArray[np.int64],
        *,
        rng: np.random.Generator | None = None,
        label_smoothing: float = 0.0,
    ) -> tuple[float, dict[str, Floats], Floats]:
        """One training step's forward and backward pass, on a batch the caller has checked.

        What :meth:`loss_and_grads` does after checking its inputs, for a training loop that
        checked its data once: only the dtypes and shapes are checked here, not the values
        (NaN, infinity, labels out of range), which would cost a pass over the batch.

        Parameters
        ----------
        x : ndarray of the model's dtype, shape (n, sizes[0])
            Finite, ``n >= 1``. The layers read it but do not change it.
        y : ndarray of int64, shape (n,)
            Class labels in ``[0, sizes[-1])``.
        rng : numpy.random.Generator, optional
            Training mode: the dropout masks are drawn from it. None: no dropout.
        label_smoothing : float in [0, 1)

        Returns
        -------
        loss : float
            The mean cross-entropy of the batch.
        grads : dict of str to ndarray
            Keyed and shaped like :attr:`params`; the layers' own arrays, valid until the next
            step.
        logits : ndarray, shape (n, sizes[-1])
            The scores of the forward pass (after dropout, before the update): a training loop
            counts its hits from them without a second forward pass. Like the gradients, an
            array the next step overwrites (every step on ``n`` samples writes into the same
            buffers).
        """
        self._check_step_batch(x, y)
        buffers = self._step_buffers(len(x))
        loss_layer = SoftmaxCrossEntropy(label_smoothing)
        logits = self._forward(x, rng, buffers.z)
        loss = loss_layer.forward(logits, y)
        delta = loss_layer.backward()
        hidden = zip(self._linears[1:], self._activations, self._dropouts, buffers.dx, strict=True)
        for linear, activation, dropout, dx in reversed(list(hidden)):
            delta = activation.backward(dropout.backward(linear.backward(delta, out=dx)))
        self._linears[0].backward(delta, need_input_grad=False)
        grads = {}
        for i, linear in enumerate(self._linears, start=1):
            grads[f"W{i}"], grads[f"b{i}"] = linear.dW, linear.db
        return loss, grads, logits

    def _check_step_batch(self, x: Floats, y: NDArray[np.int64]) -> None:
        """The checks :meth:`train_step` can afford: types, dtypes and shapes, no values."""
        width, dtype = self.sizes[0], self.dtype
        if not isinstance(x, np.ndarray) or x.dtype != dtype or x.ndim != 2 or x.shape[1] != width:
            found = f"{x.dtype} of shape {x.shape}" if isinstance(x, np.ndarray) else type(x)
            raise ValueError(
                f"train_step takes x as {dtype} of shape (n, {width}), found {found} "
                "(loss_and_grads checks and converts any input)"
            )
        if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.shape != (len(x),):
            found = f"{y.dtype} of shape {y.shape}" if isinstance(y, np.ndarray) else type(y)
            raise ValueError(
                f"train_step takes y as int64 labels of shape ({len(x)},), found {found} "
                "(loss_and_grads checks and converts any labels)"
            )
        if len(x) == 0:
            raise ValueError("train_step needs at least one sample to average the loss over")

    def _step_buffers(self, n: int) -> _StepBuffers:
        """The buffers of a training step on ``n`` samples, allocated on its first step.

        The buffers of the last ``_KEPT_BUFFERS`` batch sizes are kept (a training loop has
        two: its batches and its last, smaller one).
        """
        buffers = self._buffers.pop(n, None)
        if buffers is None:
            buffers = _StepBuffers.allocate(n, self.sizes, self.dtype)
        self._buffers[n] = buffers  # last: the most recently used
        while len(self._buffers) > _KEPT_BUFFERS:
            del self._buffers[next(iter(self._buffers))]
        return buffers

    def _forward(
        self, x: Floats, rng: np.random.Generator | None, out: Sequence[Floats] | None = None
    ) -> Floats:
        """The logits of ``x``; each layer's ``z`` written into ``out`` (one array per layer),
        or into new arrays."""
        a = x
        outs: Sequence[Floats | None] = [None] * len(self._linears) if out is None else out
        # outs has one more entry than there are hidden layers: the last is the logits'.
        layers = zip(self._linears[:-1], self._activations, self._dropouts, outs, strict=False)
        for linear, activation, dropout, z in layers:
            a = dropout.forward(activation.forward(linear.forward(a, out=z)), rng)
        return self._linears[-1].forward(a, out=outs[-1])

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
        """Write the model to ``path``, a ``.npz`` model file (see :mod:`nnscratch.mlpfile`).

        Atomically: the parameters, and a header with the sizes, the dtype, the dropout, the
        activation and :attr:`metadata`, which must be JSON-serialisable (as in
        :func:`nnscratch.modelfile.save`).

        Raises
        ------
        ValueError
            If ``path`` does not end in ``.npz``, the parameters no longer match the sizes
            and dtype or are not finite, or the metadata cannot be written as JSON.
        """
        header = {
            "sizes": list(self.sizes),
            "dtype": self.dtype.name,
            "dropout": self.dropout,
            "activation": self.activation,
            "metadata": self.metadata,
        }
        mlpfile.save(path, self.params, header)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MLP:
        """Read a model written by :meth:`save`, checking everything in the file.

        Returns
        -------
        MLP
            With the saved weights, dropout, activation and ``metadata``; it predicts exactly
            as the saved model did.

        Raises
        ------
        nnscratch.modelfile.ModelFileError
            If the file is not a valid model file (see :func:`nnscratch.mlpfile.load`), or
            its header does not describe a network (sizes, dtype, dropout, activation,
            metadata) or not the one its arrays make.
        OSError
            If the file cannot be read at all (e.g. it does not exist).
        """
        arrays, header = mlpfile.load(
            path, dtypes=architecture.DTYPE_NAMES, activations=architecture.ACTIVATIONS
        )
        model = cls.from_params(arrays, dropout=header["dropout"], activation=header["activation"])
        model.metadata = header["metadata"]
        return model


_KEPT_BUFFERS = 2
"""Batch sizes whose training-step buffers a model keeps."""


@dataclass(frozen=True)
class _StepBuffers:
    """What a training step on ``n`` samples writes into: ``z`` per layer, ``(n, sizes[l])``,
    and ``dx`` per layer after the first, ``(n, sizes[l - 1])``.

    Allocated once and reused from step to step: the step's products write into them
    instead of into new arrays.
    """

    z: list[Floats]
    dx: list[Floats]

    @classmethod
    def allocate(cls, n: int, sizes: Sequence[int], dtype: np.dtype) -> _StepBuffers:
        return cls(
            z=[np.empty((n, width), dtype) for width in sizes[1:]],
            dx=[np.empty((n, width), dtype) for width in sizes[1:-1]],
        )
