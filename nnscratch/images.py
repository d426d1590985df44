"""Reading a picture of a digit and preparing it the way the MNIST digits were prepared.

MNIST digits are light ink on a dark background; each was scaled, keeping its aspect ratio, so
that its larger side is 20 pixels (anti-aliased, hence the grey levels), then placed in a
28 x 28 field with its centre of mass at the centre, pixel (14, 14). `prepare_digit` does this
to any grey-scale array with NumPy alone; `load_digit` reads an image file first (with Pillow).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ._checks import as_float_array, check_finite
from ._optional import import_optional

__all__ = ["load_digit", "prepare_digit"]

SIZE = 28  # the side of an MNIST image
BOX = 20  # the side of the box the digit is scaled into
INK_THRESHOLD = 0.2  # a pixel is ink if it stands out this much (of the darkest-to-lightest range)
MIN_CONTRAST = 0.1  # below this difference from the background, an image is blank


def prepare_digit(gray: ArrayLike) -> NDArray[np.floating]:
    """Turn a grey-scale picture of one digit into a 28 x 28 MNIST-style image.

    1. Polarity: if the border is mostly light (median above 0.5) the digit is dark on light and
       the image is inverted, so the ink is light as in MNIST.
    2. Background: the border's median level is subtracted and the contrast stretched so the
       strongest ink is 1; pixels fainter than ``INK_THRESHOLD`` become background (0).
    3. Crop to the bounding box of the ink; scale it, keeping the aspect ratio, so the larger
       side is 20 pixels (anti-aliased: a triangle filter as wide as the scale factor).
    4. Paste it into a 28 x 28 field of zeros, shifted by whole pixels so its centre of mass
       (in row and column indices) is within half a pixel of (14, 14), as MNIST was; ink
       shifted beyond the edge is cut off.

    Parameters
    ----------
    gray : array_like, shape (h, w)
        Floats in [0, 1] (0 black, 1 white) or uint8 in [0, 255].

    Returns
    -------
    ndarray, shape (28, 28)
        Values in [0, 1], light ink on black; the input's float dtype (float64 for uint8).

    Raises
    ------
    ValueError
        If the array is not 2-D grey levels in range, or the image is blank (no ink stands out
        from the background by at least ``MIN_CONTRAST``).
    """
    g, dtype = _as_gray(gray)
    ink = _ink(g)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return _centre_by_mass(_scale_into_box(crop)).astype(dtype, copy=False)


def load_digit(
    path: str | os.PathLike[str], *, dtype: DTypeLike = np.float32
) -> NDArray[np.floating]:
    """Read an image file of one digit and prepare it as MNIST was (see `prepare_digit`).

    Any format Pillow reads (PNG, JPEG, BMP, GIF...). Colour is converted to grey (luma); a
    transparent background is filled with the colour opposite to the ink's; the EXIF orientation
    of a photo is applied.

    Parameters
    ----------
    path : str or path-like
    dtype : float32 or float64
        Of the result (float32 like ``nnscratch.data.preprocess``).

    Returns
    -------
    ndarray, shape (784,)
        Values in [0, 1]: one row for ``MLP.predict``.

    Raises
    ------
    ValueError
        Naming the file, if it is not an image Pillow can read or the image is blank; or if
        ``dtype`` is not a floating-point type.
    OSError
        If the file cannot be opened (e.g. it does not exist).
    ImportError
        If Pillow is not installed.
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating-point type, got {dtype}")
    import_optional("PIL", package="Pillow", needed_for="reading image files")
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            gray = _to_gray(ImageOps.exif_transpose(image))
    except (UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ValueError(f"{os.fspath(path)}: not an image file Pillow can read ({exc})") from exc
    except OSError as exc:
        if isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError):
            raise
        raise ValueError(f"{os.fspath(path)}: damaged image file ({exc})") from exc
    try:
        digit = prepare_digit(gray)
    except ValueError as exc:
        raise ValueError(f"{os.fspath(path)}: {exc}") from exc
    return digit.reshape(SIZE * SIZE).astype(dtype)


def _to_gray(image: Any) -> NDArray[np.float64]:
    """Grey levels in [0, 1] of a Pillow image, transparency composited onto a background."""
    luma_alpha = np.asarray(image.convert("LA"), dtype=np.float64) / 255
    luma, alpha = luma_alpha[..., 0], luma_alpha[..., 1]
    if (alpha == 1).all():
        return luma
    # Strokes drawn on a transparent canvas: fill the canvas with the opposite of the ink.
    ink_level = np.sum(luma * alpha) / max(np.sum(alpha), 1e-12)
    background = 1.0 if ink_level < 0.5 else 0.0
    return luma * alpha + background * (1 - alpha)


def _as_gray(gray: ArrayLike) -> tuple[NDArray[np.float64], np.dtype]:
    """Check the array; return it as float64 in [0, 1] and the dtype to return."""
    arr = np.asarray(gray)
    arr = arr / 255.0 if arr.dtype == np.uint8 else as_float_array(arr, ndim=2, name="gray")
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValueError(f"gray must be a non-empty 2-D image (h, w), got shape {arr.shape}")
    check_finite(arr, name="gray")
    if arr.min() < 0 or arr.max() > 1:
        raise ValueError(
            f"gray must hold grey levels in [0, 1] (or uint8), found [{arr.min()}, {arr.max()}]"
        )
    return arr.astype(np.float64), arr.dtype


def _ink(g: NDArray[np.float64]) -> NDArray[np.float64]:
    """Light ink on 0, strongest ink 1, faint pixels 0; decided from the border's median."""
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    background = float(np.median(border))
    if background > 0.5:  # dark on light: invert
        g, background = 1 - g, 1 - background
    ink = np.clip(g - background, 0, None)
    contrast = ink.max()
    if contrast < MIN_CONTRAST:
        raise ValueError(
            f"the image is blank: no ink differs from the background by {MIN_CONTRAST} or more "
            f"(largest difference {contrast:.3g})"
        )
    ink /= contrast
    ink[ink < INK_THRESHOLD] = 0
    return ink


def _scale_into_box(crop: NDArray[np.float64]) -> NDArray[np.float64]:
    """Resample so the larger side is ``BOX`` pixels, keeping the aspect ratio."""
    h, w = crop.shape
    scale = BOX / max(h, w)
    out_h, out_w = max(1, round(h * scale)), max(1, round(w * scale))
    scaled = _resampling_matrix(h, out_h) @ crop @ _resampling_matrix(w, out_w).T
    return np.clip(scaled, 0, 1, out=scaled)  # the weights sum to 1, up to rounding


def _resampling_matrix(n_in: int, n_out: int) -> NDArray[np.float64]:
    """``(n_out, n_in)`` weights of a triangle filter widened by the scale factor (anti-aliasing).

    Output pixel ``i`` is centred at ``(i + 0.5) * n_in / n_out`` in input coordinates; each row
    sums to 1, so the result stays in [0, 1]. Equal sizes give the identity.
    """
    ratio = n_in / n_out
    support = max(ratio, 1.0)
    centres = (np.arange(n_out) + 0.5) * ratio
    weights = np.clip(1 - np.abs(np.arange(n_in) + 0.5 - centres[:, None]) / support, 0, None)
    return weights / weights.sum(axis=1, keepdims=True)


def _centre_by_mass(patch: NDArray[np.float64]) -> NDArray[np.float64]:
    """Paste ``patch`` into a 28 x 28 field so its centre of mass lands nearest to (14, 14)."""
    h, w = patch.shape
    mass = patch.sum()
    cy = patch.sum(axis=1) @ np.arange(h) / mass
    cx = patch.sum(axis=0) @ np.arange(w) / mass
    top, left = int(np.floor(SIZE / 2 - cy + 0.5)), int(np.floor(SIZE / 2 - cx + 0.5))
    out = np.zeros((SIZE, SIZE))
    r0, r1 = max(top, 0), min(top + h, SIZE)
    c0, c1 = max(left, 0), min(left + w, SIZE)
    out[r0:r1, c0:c1] = patch[r0 - top : r1 - top, c0 - left : c1 - left]
    return out
