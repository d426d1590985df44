"""The network's input: images turned into rows of floats, and a validation set held out.

:func:`preprocess` turns uint8 images, such as :mod:`nnscratch.data` loads, into one row of
floats in [0, 1] per image, and :func:`train_validation_split` holds out a validation set, the
same one for the same seed.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ._checks import check_int

__all__ = ["preprocess", "train_validation_split"]


def preprocess(images: ArrayLike, *, dtype: DTypeLike = np.float32) -> NDArray[np.floating]:
    """Turn uint8 images into the network's input: one row of floats in [0, 1] per image.

    Parameters
    ----------
    images : array_like of uint8, shape (n, 28, 28) (or any (n, ...))
        Pixel values 0 to 255.
    dtype : floating dtype
        The output's dtype.

    Returns
    -------
    ndarray, shape (n, 784) (n by the product of the other dimensions)
        ``images / 255`` flattened per image.

    Raises
    ------
    ValueError
        If ``images`` is not uint8 with at least 2 dimensions, or ``dtype`` is not floating.
    """
    x = np.asarray(images)
    out_dtype = np.dtype(dtype)
    if x.dtype != np.uint8:
        raise ValueError(f"images must be uint8 pixel values 0-255, found dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"images must have shape (n, height, width), found shape {x.shape}")
    if out_dtype.kind != "f":
        raise ValueError(f"dtype must be a floating-point type, found {out_dtype}")
    flat = x.reshape(x.shape[0], math.prod(x.shape[1:]))
    return np.divide(flat, 255, dtype=out_dtype)


def train_validation_split(
    x: ArrayLike,
    y: ArrayLike,
    *,
    validation_size: int = 5000,
    seed: int | np.random.Generator = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split off a random validation set, the same one for the same seed.

    Parameters
    ----------
    x : array_like, shape (n, ...)
        Inputs, one per row (first axis).
    y : array_like, shape (n, ...)
        Targets aligned with ``x``.
    validation_size : int
        Rows in the validation set, from 1 to n - 1.
    seed : int or numpy.random.Generator
        Chooses the permutation.

    Returns
    -------
    x_train, y_train : ndarray, shapes (n - validation_size, ...)
    x_val, y_val : ndarray, shapes (validation_size, ...)
        Copies, rows in the order of the seeded permutation.

    Raises
    ------
    ValueError
        If ``x`` and ``y`` have different lengths or ``validation_size`` is out of range.
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise ValueError(f"x and y must have the same length, found shapes {x.shape} and {y.shape}")
    size = check_int(validation_size, "validation_size")
    if not 0 < size < len(x):
        raise ValueError(
            f"validation_size must be between 1 and {len(x) - 1} (n = {len(x)}), found {size}"
        )
    order = np.random.default_rng(seed).permutation(len(x))
    train, validation = order[size:], order[:size]
    return x[train], y[train], x[validation], y[validation]
