"""Pure functions of the forward pass and the loss, and their derivatives.

Conventions: batch first, the classes on the last axis, and every function keeps its input's
float dtype (float32 in, float32 out, with no float64 temporaries on the way). The softmax and
the cross-entropy are stable by construction: the softmax subtracts the row maximum, and the
cross-entropy is computed from the log-softmax (log-sum-exp), never as ``log(softmax)``.

A target ``y`` is either integer labels of shape ``(n,)`` or rows of shape ``(n, K)``: one-hot
or probability rows (non-negative, each summing to 1). Label smoothing ``e`` mixes the target
with the uniform distribution, ``Y = (1 - e) * Y + e / K``.

Every function here checks its arguments and then calls the unchecked kernels of
:mod:`nnscratch.kernels`, which the layers call directly. NaN and infinite scores are not
checked (the model checks its inputs); they propagate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from . import kernels
from ._checks import (
    as_float_array,
    as_labels,
    check_count,
    check_fraction,
    check_probability_rows,
)

Floats = NDArray[np.floating]


def relu(z: ArrayLike) -> Floats:
    """The rectified linear unit, ``max(z, 0)``, elementwise; any shape."""
    z = as_float_array(z, ndim=np.ndim(z), name="z")
    return np.maximum(z, 0)


def relu_grad(z: ArrayLike) -> Floats:
    """The derivative of :func:`relu`: 1 where ``z > 0``, else 0 (we take 0 at the kink)."""
    z = as_float_array(z, ndim=np.ndim(z), name="z")
    return (z > 0).astype(z.dtype)


def leaky_relu(z: ArrayLike, slope: float = 0.01) -> Floats:
    """The leaky rectified linear unit, ``z`` where ``z > 0`` and ``slope * z`` elsewhere.

    Parameters
    ----------
    z : array_like, any shape
    slope : float in [0, 1)
        The slope for negative inputs; 0 gives :func:`relu`.

    Returns
    -------
    ndarray, shaped like ``z``, in its dtype
    """
    z = as_float_array(z, ndim=np.ndim(z), name="z")
    slope = check_fraction(slope, "the leaky ReLU slope")
    return np.where(z > 0, z, z * slope)


def leaky_relu_grad(z: ArrayLike, slope: float = 0.01) -> Floats:
    """The derivative of :func:`leaky_relu`: 1 where ``z > 0``, else ``slope`` (we take
    ``slope`` at the kink, as :func:`relu_grad` takes 0)."""
    z = as_float_array(z, ndim=np.ndim(z), name="z")
    slope = check_fraction(slope, "the leaky ReLU slope")
    return np.where(z > 0, 1, slope).astype(z.dtype)


def softmax(z: ArrayLike) -> Floats:
    """Softmax over the last axis: ``exp(z - max) / sum(exp(z - max))``.

    Parameters
    ----------
    z : array_like, shape (..., K)
        Scores (logits), real floating point, any batch shape.

    Returns
    -------
    ndarray, shape (..., K)
        Probabilities, each row summing to 1, in the dtype of ``z``.
    """
    return kernels.softmax(_as_scores(z, name="z"))


def log_softmax(z: ArrayLike) -> Floats:
    """The log of the softmax over the last axis by log-sum-exp: ``z - m - log(sum(exp(z - m)))``
    with ``m`` the row maximum.

    Parameters
    ----------
    z : array_like, shape (..., K)

    Returns
    -------
    ndarray, shape (..., K)
        Log-probabilities, in the dtype of ``z``; finite wherever the row's spread is finite.
    """
    return kernels.log_softmax(_as_scores(z, name="z"))


def one_hot(y: ArrayLike, num_classes: int, *, dtype: DTypeLike = np.float64) -> NDArray[Any]:
    """Rows with a 1 in the column of each label: shape ``(n, num_classes)``."""
    num_classes = check_count(num_classes, "num_classes")
    labels = as_labels(y, num_classes=num_classes)
    rows = np.zeros((len(labels), num_classes), dtype=dtype)
    rows[np.arange(len(labels)), labels] = 1
    return rows


def cross_entropy(logits: ArrayLike, y: ArrayLike, *, label_smoothing: float = 0.0) -> float:
    """Mean over the batch of the cross-entropy ``-sum_k Y_ik log softmax(logits)_ik``.

    Parameters
    ----------
    logits : array_like, shape (n, K)
    y : array_like, shape (n,) or (n, K)
        Integer labels, or one-hot or probability rows.
    label_smoothing : float in [0, 1)

    Returns
    -------
    float
        The loss, ``>= 0``; exactly ``-log p_true`` averaged when ``y`` is labels and there is no
        smoothing.
    """
    logits = _as_batch(logits, name="logits")
    smoothing = check_fraction(label_smoothing, "label_smoothing")
    target = _targets(y, logits.shape, logits.dtype)
    return kernels.mean_nll(kernels.log_softmax(logits), target, smoothing)


def softmax_jacobian(p: ArrayLike) -> Floats:
    """The Jacobian of the softmax, ``dp_i / dz_j = diag(p) - p p^T``, for each row of ``p``.

    Parameters
    ----------
    p : array_like, shape (..., K)
        Softmax outputs (the Jacobian is written in terms of the probabilities).

    Returns
    -------
    ndarray, shape (..., K, K)
        Symmetric matrices whose rows sum to zero (when each ``p`` sums to 1).
    """
    p = _as_scores(p, name="p")
    jacobian = -p[..., :, None] * p[..., None, :]
    diagonal = np.arange(p.shape[-1])
    jacobian[..., diagonal, diagonal] += p
    return jacobian


def cross_entropy_grad_proba(p: ArrayLike, y: ArrayLike, *, label_smoothing: float = 0.0) -> Floats:
    """The derivative of the mean cross-entropy with respect to the probabilities: ``-Y / (n p)``.

    Parameters
    ----------
    p : array_like, shape (n, K)
        Probabilities, e.g. the softmax of the logits.
    y : array_like, shape (n,) or (n, K)
    label_smoothing : float in [0, 1)

    Returns
    -------
    ndarray, shape (n, K)
        0 where the target ``Y`` is 0.

    Raises
    ------
    ValueError
        Where ``p`` is 0 for a class whose target is positive: ``-log p`` has no derivative there
        (the shortcut through the logits, :func:`cross_entropy_grad_logits`, is always defined).
    """
    p = _as_batch(p, name="p")
    smoothing = check_fraction(label_smoothing, "label_smoothing")
    grad = np.zeros_like(p)
    kernels.subtract_target(grad, _targets(y, p.shape, p.dtype), smoothing)  # grad = -Y
    needed = grad != 0
    if (p[needed] <= 0).any():
        raise ValueError("the derivative of -log p is undefined where p <= 0 for a target class")
    np.divide(grad, p, out=grad, where=needed)
    grad /= len(p)
    return grad


def cross_entropy_grad_logits(
    logits: ArrayLike, y: ArrayLike, *, label_smoothing: float = 0.0
) -> Floats:
    """The derivative of the mean cross-entropy with respect to the logits: ``(softmax - Y) / n``.

    Parameters
    ----------
    logits : array_like, shape (n, K)
    y : array_like, shape (n,) or (n, K)
    label_smoothing : float in [0, 1)

    Returns
    -------
    ndarray, shape (n, K)
    """
    logits = _as_batch(logits, name="logits")
    smoothing = check_fraction(label_smoothing, "label_smoothing")
    target = _targets(y, logits.shape, logits.dtype)
    grad = kernels.softmax(logits)
    kernels.subtract_target(grad, target, smoothing)
    grad /= len(grad)
    return grad


def _as_scores(z: ArrayLike, *, name: str) -> Floats:
    """Real floats of rank >= 1 with at least one class on the last axis."""
    z = np.asarray(z)
    z = as_float_array(z, ndim=max(z.ndim, 1), name=name)
    if z.shape[-1] == 0:
        raise ValueError(f"{name} needs at least one class on its last axis, got shape {z.shape}")
    return z


def _as_batch(z: ArrayLike, *, name: str) -> Floats:
    """Real floats of shape (n, K) with n >= 1 and K >= 1."""
    z = as_float_array(z, ndim=2, name=name)
    if 0 in z.shape:
        raise ValueError(f"{name} needs at least one sample and one class, got shape {z.shape}")
    return z


def _targets(y: ArrayLike, shape: tuple[int, ...], dtype: np.dtype) -> kernels.Target:
    """Checked int64 labels ``(n,)``, or probability rows of ``shape`` (n, K) and ``dtype``."""
    n, num_classes = shape
    y = np.asarray(y)
    if y.ndim == 1:
        return as_labels(y, num_classes=num_classes, n=n)
    if y.shape != (n, num_classes):
        raise ValueError(
            f"y must be integer labels of shape ({n},) or target rows of shape "
            f"({n}, {num_classes}), got shape {y.shape}"
        )
    if y.dtype.kind not in "biuf":
        raise ValueError(f"target rows y must hold real numbers, got dtype {y.dtype}")
    rows = y.astype(dtype, copy=False)
    check_probability_rows(rows, name="y")
    return rows
