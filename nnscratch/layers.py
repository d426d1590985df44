"""Layers with a forward and a backward pass: the shortcut way to compute gradients.

Each layer caches in ``forward`` only what its ``backward`` needs, and ``backward`` turns the
gradient of the loss with respect to the layer's output into the gradient with respect to its
input. The layers trust their inputs (the model checks them once), call the unchecked kernels
of :mod:`nnscratch.kernels`, and work on whole batches,
with no loop over samples. Where an array is not needed any more they overwrite it rather than
allocate a new one: the forward passes of ``ReLU`` and ``Dropout`` write into their input, their
backward passes into the gradient they are given, and the loss turns its cached probabilities
into its gradient.
"""

from __future__ import annotations

from typing import Literal, overload

import numpy as np
from numpy.typing import NDArray

from . import kernels
from ._checks import as_float_array, check_fraction

Floats = NDArray[np.floating]


class Linear:
    """The affine map ``z = x @ W + b``.

    Parameters
    ----------
    W : ndarray, shape (fan_in, fan_out)
    b : ndarray, shape (fan_out,)
        Held by reference, not copied: an optimizer updating them in place is seen here.

    Attributes
    ----------
    dW, db : ndarray
        The gradients set by :meth:`backward`, shaped like ``W`` and ``b`` (zero before); the
        same two arrays, overwritten by every backward pass.
    """

    def __init__(self, W: Floats, b: Floats) -> None:
        self.W = as_float_array(W, ndim=2, name="W")
        self.b = as_float_array(b, ndim=1, name="b")
        if self.b.shape != self.W.shape[1:]:
            raise ValueError(f"b must have shape {self.W.shape[1:]} to match W, got {b.shape}")
        self.x: Floats | None = None
        self.dW: Floats = np.zeros_like(self.W)
        self.db: Floats = np.zeros_like(self.b)

    def forward(self, x: Floats, *, out: Floats | None = None) -> Floats:
        """``x`` of shape (n, fan_in) -> ``z`` of shape (n, fan_out); caches ``x``.

        ``z`` is written into ``out`` when it is given (an array of that shape and of the
        weights' dtype), else into a new array.
        """
        self.x = x
        z = np.matmul(x, self.W, out=out)
        z += self.b
        return z

    @overload
    def backward(self, dz: Floats, *, out: Floats | None = None) -> Floats: ...
    @overload
    def backward(self, dz: Floats, *, need_input_grad: Literal[False]) -> None: ...
    def backward(
        self, dz: Floats, *, need_input_grad: bool = True, out: Floats | None = None
    ) -> Floats | None:
        """Set ``dW = x^T dz`` and ``db = sum of the rows of dz``; return ``dx = dz W^T``.

        ``dz`` of shape (n, fan_out) -> ``dx`` of shape (n, fan_in), written into ``out`` when
        it is given, or None when ``need_input_grad`` is false (the first layer: nothing needs
        the input's gradient). ``dW`` and ``db`` are written into the same arrays at every
        step: a new gradient the size of ``W`` would cost the allocation of fresh memory pages
        on every step.
        """
        if self.x is None:
            raise RuntimeError("backward needs a forward first")
        np.matmul(self.x.T, dz, out=self.dW)
        np.sum(dz, axis=0, out=self.db)
        return np.matmul(dz, self.W.T, out=out) if need_input_grad else None


class ReLU:
    """``a = max(z, 0)``, in place: ``forward`` overwrites ``z`` and ``backward`` its argument."""

    def __init__(self) -> None:
        self.a: Floats | None = None

    def forward(self, z: Floats) -> Floats:
        """Return the activation, written into ``z``; caches it (its sign is all backward needs)."""
        self.a = np.maximum(z, 0, out=z)
        return self.a

    def backward(self, da: Floats) -> Floats:
        """Return ``dz = da * (a > 0)``, written into ``da``."""
        if self.a is None:
            raise RuntimeError("backward needs a forward first")
        da *= self.a > 0
        return da


class LeakyReLU:
    """``a = z`` where ``z > 0``, else ``slope * z``; in place, like :class:`ReLU`.

    Parameters
    ----------
    slope : float in [0, 1)
        The slope for negative inputs (0 would be :class:`ReLU`).
    """

    def __init__(self, slope: float) -> None:
        self.slope = check_fraction(slope, "the leaky ReLU slope")
        self.negative: NDArray[np.bool_] | None = None

    def forward(self, z: Floats) -> Floats:
        """Return the activation, written into ``z``; caches where ``z <= 0``."""
        self.negative = z <= 0
        np.multiply(z, self.slope, out=z, where=self.negative)
        return z

    def backward(self, da: Floats) -> Floats:
        """Return ``dz = da`` where ``z > 0``, else ``slope * da``, written into ``da``."""
        if self.negative is None:
            raise RuntimeError("backward needs a forward first")
        np.multiply(da, self.slope, out=da, where=self.negative)
        return da


class Dropout:
    """Inverted dropout: in training, zero each entry with probability ``p`` and scale the rest
    by ``1 / (1 - p)``, so that the expected activation is unchanged and evaluation needs nothing.

    Parameters
    ----------
    p : float in [0, 1)
        The probability of dropping an entry.
    """

    def __init__(self, p: float) -> None:
        self.p = check_fraction(p, "the dropout probability")
        self.mask: Floats | None = None
        self.spare: Floats | None = None  # the array the masks are written into, reused

    def forward(self, a: Floats, rng: np.random.Generator | None = None) -> Floats:
        """Training mode when ``rng`` is given: draw a keep-mask from it and apply it to ``a``,
        in place. The mask is written into the same array at every step of the same shape (the
        next forward pass overwrites it).

        Without ``rng`` (evaluation), or with ``p == 0``, return ``a`` itself and draw nothing.
        """
        if rng is None or self.p == 0:
            self.mask = None
            return a
        if self.spare is None or self.spare.shape != a.shape or self.spare.dtype != a.dtype:
            self.spare = np.empty(a.shape, a.dtype)
        self.mask = kernels.scaled_keep_mask(a.shape, self.p, rng, a.dtype, out=self.spare)
        a *= self.mask
        return a

    def backward(self, d: Floats) -> Floats:
        """Return ``d * mask`` (written into ``d``), or ``d`` when forward dropped nothing."""
        if self.mask is not None:
            d *= self.mask
        return d


class SoftmaxCrossEntropy:
    """Softmax and the mean cross-entropy fused: the gradient is simply ``(p - Y) / n``.

    Parameters
    ----------
    label_smoothing : float in [0, 1)
        ``Y = (1 - e) * Y + e / K``.
    """

    def __init__(self, label_smoothing: float = 0.0) -> None:
        self.label_smoothing = check_fraction(label_smoothing, "label_smoothing")
        self.p: Floats | None = None
        self.target: kernels.Target | None = None

    def forward(self, logits: Floats, y: kernels.Target) -> float:
        """Return the mean loss; cache the probabilities and the target.

        ``logits`` of shape (n, K); ``y`` int64 labels (n,) or target rows (n, K) of the
        logits' dtype (unchecked: see :func:`nnscratch.functional.cross_entropy` for a
        checked version).
        """
        log_p = kernels.log_softmax(logits)
        loss = kernels.mean_nll(log_p, y, self.label_smoothing)
        self.p = np.exp(log_p, out=log_p)  # exp(log p) = p, in the same buffer
        self.target = y
        return loss

    def backward(self) -> Floats:
        """Return the gradient with respect to the logits, ``(p - Y) / n``, shape (n, K).

        It is computed in place in the cached ``p``, so each forward allows one backward.
        """
        if self.p is None or self.target is None:
            raise RuntimeError("backward needs a forward first (each forward allows one backward)")
        delta, self.p = self.p, None
        kernels.subtract_target(delta, self.target, self.label_smoothing)
        delta /= len(delta)
        return delta
