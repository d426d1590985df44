"""Gradient checking: central finite differences, and how far two gradients are apart."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import check_count, check_positive
from .model import MLP

Floats = NDArray[np.floating]  # float64 only, checked when called (see FLOAT64_ONLY)

FLOAT64_ONLY = (
    "finite differences need float64: a float32 loss is rounded to about 1e-7 of its size, "
    "and dividing that rounding error by 2 * eps (tiny) would swamp the derivative"
)


def numerical_gradient(
    f: Callable[[Floats], float], x: Floats, *, eps: float = 1e-6
) -> NDArray[np.float64]:
    """The gradient of the scalar function ``f`` at ``x`` by central differences.

    Each entry is ``(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)``: two calls to ``f`` per entry,
    with an error of order ``eps**2``. ``x`` is modified in place during the calls (so ``f`` can
    be a loss that reads parameter arrays) and restored exactly, even if ``f`` raises.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``.
    x : ndarray of float64, any shape
    eps : float, positive

    Returns
    -------
    ndarray of float64, shaped like ``x``
    """
    return central_differences(f, x, np.arange(np.size(x)), eps=eps).reshape(np.shape(x))


def central_differences(
    f: Callable[[Floats], float],
    x: Floats,
    indices: NDArray[np.intp],
    *,
    eps: float = 1e-6,
) -> NDArray[np.float64]:
    """The partial derivatives of ``f`` at ``x`` for the entries with these flat indices.

    As :func:`numerical_gradient`, for chosen entries only: ``x`` must be a float64 ndarray,
    moved in place and restored exactly.

    Returns
    -------
    ndarray of float64, shape (len(indices),)
    """
    _check_float64(x)
    check_positive(eps, "eps")
    derivatives = np.empty(len(indices))
    for k, flat_index in enumerate(indices):
        index = np.unravel_index(flat_index, x.shape)
        original = x[index]
        try:
            x[index] = original + eps
            f_plus = float(f(x))
            x[index] = original - eps
            f_minus = float(f(x))
        finally:
            x[index] = original
        derivatives[k] = (f_plus - f_minus) / (2 * eps)
    return derivatives


def relative_error(a: ArrayLike, b: ArrayLike) -> float:
    """``||a - b|| / (||a|| + ||b||)`` (Euclidean norms over all entries), 0 when both are zero.

    The norm form is used rather than the worst entrywise ratio ``|a_i - b_i| / (|a_i| + |b_i|)``
    because gradients have entries that are exactly zero (a dead ReLU's weights, say), where the
    finite difference leaves rounding noise of about 1e-10: entrywise that is a relative error of
    1, though the gradients agree. The result lies in [0, 1].
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    scale = max(np.linalg.norm(a) + np.linalg.norm(b), np.finfo(np.float64).tiny)
    return float(np.linalg.norm(a - b) / scale)


def check_model(
    model: MLP,
    x: ArrayLike,
    y: ArrayLike,
    *,
    eps: float = 1e-6,
    label_smoothing: float = 0.0,
    max_entries: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Compare the model's shortcut gradients with finite differences, parameter by parameter.

    Parameters
    ----------
    model : MLP
        A float64 model (see :func:`numerical_gradient` for why); its loss is taken in
        evaluation mode (no dropout).
    x : array_like, shape (n, sizes[0])
    y : array_like, shape (n,)
    eps : float
        The finite-difference step.
    label_smoothing : float in [0, 1)
    max_entries : int, optional
        Check at most this many entries of each parameter, chosen at random (seeded by ``seed``):
        two loss evaluations per entry make a full check of a big network slow.
    seed : int

    Returns
    -------
    dict of str to float
        The :func:`relative_error` of each parameter's gradient, keyed like ``model.params``.
    """
    if model.dtype != np.float64:
        raise ValueError(f"check_model needs a float64 model, got {model.dtype}: {FLOAT64_ONLY}")
    check_positive(eps, "eps")
    if max_entries is not None:
        max_entries = check_count(max_entries, "max_entries")
    _, grads = model.loss_and_grads(x, y, label_smoothing=label_smoothing)
    rng = np.random.default_rng(seed)

    def loss(_: Floats) -> float:  # reads the parameters that are being moved
        return model.loss(x, y, label_smoothing=label_smoothing)

    errors = {}
    for name, param in model.params.items():
        indices = np.arange(param.size)
        if max_entries is not None and param.size > max_entries:
            indices = np.sort(rng.choice(param.size, size=max_entries, replace=False))
        numeric = central_differences(loss, param, indices, eps=eps)
        errors[name] = relative_error(grads[name].reshape(-1)[indices], numeric)
    return errors


def _check_float64(x: Floats) -> None:
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        found = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(
            f"x must be a float64 ndarray (changed in place), got {found}: {FLOAT64_ONLY}"
        )
