"""Scores that overflow: finding their rows, and computing them at a scale that cannot.

An input far beyond the pixel range (1e308, say) makes a model's scores overflow its dtype to
infinity, and the softmax of infinities is NaN. ReLU and leaky ReLU commute with positive
scaling, so a row
divided by ``s > 0`` before a layer, with that layer's bias divided by the scale so far, comes
out with every later score divided by ``s`` too, in the same order. :func:`scaled_scores`
computes such rows that way, and :func:`softmax_at_scale` their probabilities, without ever
forming the true scores. :meth:`nnscratch.model.MLP.predict_proba` and
:meth:`~nnscratch.model.MLP.predict` take this path for the rows :func:`overflowed_rows`
finds, and only for them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from . import kernels

Floats = NDArray[np.floating]


def overflowed_rows(z: Floats) -> NDArray[np.intp]:
    """The indices of the rows of ``z``, shape ``(n, K)``, that hold a non-finite score."""
    return np.flatnonzero(~np.isfinite(z).all(axis=1))


def scaled_scores(
    params: Mapping[str, Floats], x: Floats, *, slope: float = 0.0
) -> tuple[Floats, NDArray[np.float64]]:
    """Scores at a scale that cannot overflow, for rows whose plain scores do.

    Before each layer every row is divided by its largest magnitude if that exceeds 1, and
    the scales multiply up in ``log_scale``; the layer's bias is divided by the row's scale
    so far (it underflows to 0 when the scale dwarfs it, the right limit). The hidden layers
    apply ``max(z, slope * z)``: ReLU, or leaky ReLU for a slope in (0, 1). The true scores
    are ``exp(log_scale)[:, None] * z``.

    Parameters
    ----------
    params : mapping of str to ndarray
        A model's ``W1``, ``b1``, ..., ``WL``, ``bL``, in ``x``'s dtype.
    x : ndarray, shape (n, sizes[0])
        The rows, in the model's dtype.
    slope : float in [0, 1)
        The hidden activation's slope for negative inputs
        (:func:`nnscratch.architecture.negative_slope`).

    Returns
    -------
    z : ndarray, shape (n, K), ``x``'s dtype
    log_scale : ndarray of float64, shape (n,)
    """
    a, log_scale = x, np.zeros(len(x))
    depth = len(params) // 2
    with np.errstate(under="ignore"):
        for layer in range(1, depth + 1):
            shrink = np.maximum(np.abs(a).max(axis=1), 1).astype(x.dtype)
            a = a / shrink[:, None]
            log_scale += np.log(shrink, dtype=np.float64)
            bias = params[f"b{layer}"] * np.exp(-log_scale)[:, None]
            z = a @ params[f"W{layer}"] + bias.astype(x.dtype)
            a = np.maximum(z, slope * z) if layer < depth else z
    return z, log_scale


def softmax_at_scale(z: Floats, log_scale: NDArray[np.float64]) -> Floats:
    """``softmax(exp(log_scale)[:, None] * z)`` without forming the product, which may overflow.

    Each row's gaps to its largest score, ``d <= 0``, are multiplied by the scale as
    ``-exp(log(-d) + log_scale)``, which goes to ``-inf`` (a probability of 0) rather than
    overflow; computed in float64, returned in ``z``'s dtype.

    Parameters
    ----------
    z : ndarray, shape (n, K)
    log_scale : ndarray of float64, shape (n,)

    Returns
    -------
    ndarray, shape (n, K), ``z``'s dtype
        Rows summing to 1.
    """
    gaps = (z - z.max(axis=1, keepdims=True)).astype(np.float64)
    with np.errstate(divide="ignore", over="ignore"):
        scaled = -np.exp(np.log(-gaps) + log_scale[:, None])
    return kernels.softmax(scaled).astype(z.dtype)
