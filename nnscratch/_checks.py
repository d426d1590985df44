"""Argument checks shared by the modules: clear errors naming what was expected and found."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def as_float_array(x: ArrayLike, *, ndim: int, name: str = "x") -> NDArray[np.floating]:
    """Return ``x`` as a real floating array of rank ``ndim``, without copying if it already is one.

    Raises
    ------
    ValueError
        If ``x`` is not real floating point (integers, booleans, complex and objects are refused)
        or does not have ``ndim`` dimensions.
    """
    arr = np.asarray(x)
    if arr.dtype.kind != "f":
        raise ValueError(f"{name} must be a real floating-point array, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {arr.shape}")
    return arr


def check_finite(x: NDArray[np.floating], *, name: str = "x") -> None:
    """Raise ``ValueError`` if ``x`` holds a NaN or an infinity, saying where the first one is."""
    finite = np.isfinite(x)
    if not finite.all():
        where = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise ValueError(f"{name} must be finite, found {x[where]} at index {where}")


def as_labels(
    y: ArrayLike, *, num_classes: int | None = None, n: int | None = None, name: str = "y"
) -> NDArray[np.int64]:
    """Return integer class labels of shape ``(n,)`` as int64, checked.

    Parameters
    ----------
    y : array_like, shape (n,)
        Integer labels. Floats are accepted only if every value is integral.
    num_classes : int, optional
        If given, every label must lie in ``[0, num_classes)``.
    n : int, optional
        If given, the expected number of labels.

    Raises
    ------
    ValueError
        For a wrong rank or length, non-integral values, or labels out of range.
    """
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of class labels, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} must hold {n} labels (one per sample), got {arr.shape[0]}")
    if arr.dtype.kind == "f":
        if not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
            raise ValueError(f"{name} must hold integer class labels, got non-integral values")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer class labels, got dtype {arr.dtype}")
    labels = arr.astype(np.int64, copy=False)
    if num_classes is not None and labels.size:
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= num_classes:
            bad = low if low < 0 else high
            raise ValueError(f"{name} holds label {bad}, outside the range [0, {num_classes})")
    return labels
