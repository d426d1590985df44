"""Reading a picture of a digit and preparing it the way the MNIST digits were prepared.

MNIST digits are light ink on a dark background; each was scaled, keeping its aspect ratio, so
that its larger side is 20 pixels (anti-aliased, hence the grey levels), then placed in a
28 x 28 field with its centre of mass at the centre, pixel (14, 14). `prepare_digit` does this
to any grey-scale array with NumPy alone; `read_gray` reads an image file into one (with
Pillow), at the depth of its pixels (8-bit, 16-bit, floating point), and `load_digit` does
both. The ink's polarity, light on dark or dark on light, is guessed (`guess_ink`) unless it
is given.

A stranger's image file cannot make the reader use much memory: files over `MAX_FILE_BYTES`
are refused and the others read into memory first (so that a forged length makes Pillow
read to the end of the bytes, not allocate what the length says); a JPEG is decoded at a
reduced scale when it is large; an image of more than `MAX_PIXELS` pixels is refused before
it is decoded, and one larger than `READ_SIDE` on its longer side is reduced (by an integer
factor, averaging blocks of pixels) before any array is made of it.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from ._checks import as_float_array, check_choice, check_finite
from ._optional import import_optional

__all__ = [
    "INK_CHOICES",
    "ImageWarning",
    "MAX_FILE_BYTES",
    "MAX_PIXELS",
    "READ_SIDE",
    "guess_ink",
    "load_digit",
    "prepare_digit",
    "read_gray",
]

Ink = Literal["auto", "light", "dark"]

SIZE = 28  # the side of an MNIST image
BOX = 20  # the side of the box the digit is scaled into
INK_THRESHOLD = 0.2  # a pixel is ink if it stands out this much (of the darkest-to-lightest range)
MIN_CONTRAST = 0.1  # below this difference from the background, an image is blank
FRAME_FILL = 0.9  # an edge line at least this full of ink is part of a frame around the digit
INK_CHOICES: tuple[str, ...] = ("auto", "light", "dark")
"""The ``ink`` choices: guess, light ink on a dark background (MNIST's), dark ink on light."""
MAX_FILE_BYTES = 64 << 20
"""The largest image file read: 64 MiB."""
MAX_PIXELS = 40_000_000
"""The most pixels an image file may have (after a JPEG's reduced decoding), e.g. 8000 x 5000:
larger ones are refused before they are decoded."""
READ_SIDE = 1024
"""Images larger than this on their longer side are reduced by an integer factor to at most
this (the digit is scaled to 20 pixels anyway)."""

_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
_REDUCIBLE = ("L", "LA", "La", "I", "F", "RGB", "RGBA", "RGBa")  # modes Image.reduce takes


class ImageWarning(UserWarning):
    """What Pillow warned about while reading a file (damaged metadata...), said again naming
    the file: ``"photo.jpg: Corrupt EXIF data..."``."""


def prepare_digit(gray: ArrayLike, *, ink: Ink = "auto") -> NDArray[np.floating]:
    """Turn a grey-scale picture of one digit into a 28 x 28 MNIST-style image.

    1. Polarity: with ``ink="dark"`` (dark ink on a light background) the image is inverted,
       so that the ink is light as in MNIST; ``"auto"`` decides as :func:`guess_ink` does.
    2. Background: the median level of the image is subtracted (the background covers most of
       a picture of a digit). A frame, edge lines of ink on all four sides (at least
       ``FRAME_FILL`` of each line), is cut off. The contrast is stretched so the strongest
       ink is 1; pixels fainter than ``INK_THRESHOLD`` become background (0).
    3. Crop to the bounding box of the ink; scale it, keeping the aspect ratio, so the larger
       side is 20 pixels (anti-aliased: a triangle filter as wide as the scale factor).
    4. Paste it into a 28 x 28 field of zeros, shifted by whole pixels so its centre of mass
       (in row and column indices) is within half a pixel of (14, 14), as MNIST was; ink
       shifted beyond the edge is cut off.

    Parameters
    ----------
    gray : array_like, shape (h, w)
        Floats in [0, 1] (0 black, 1 white) or uint8 in [0, 255].
    ink : {"auto", "light", "dark"}
        The ink's polarity; ``"auto"`` guesses it (:func:`guess_ink`).

    Returns
    -------
    ndarray, shape (28, 28)
        Values in [0, 1], light ink on black; the input's float dtype (float64 for uint8).

    Raises
    ------
    ValueError
        If the array is not 2-D grey levels in range, ``ink`` is not one of
        :data:`INK_CHOICES`, or the image is blank (no ink stands out from the background by
        at least ``MIN_CONTRAST``).
    """
    g, dtype = _as_gray(gray)
    check_choice(ink, "ink", INK_CHOICES)
    strokes = _ink(g, dark=(_guess(g) if ink == "auto" else ink) == "dark")
    rows, cols = np.flatnonzero(strokes.any(axis=1)), np.flatnonzero(strokes.any(axis=0))
    crop = strokes[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return _centre_by_mass(_scale_into_box(crop)).astype(dtype, copy=False)


def guess_ink(gray: ArrayLike) -> Literal["light", "dark"]:
    """The polarity ``prepare_digit(gray, ink="auto")`` assumes: ``"dark"`` (dark ink on a
    light background) or ``"light"`` (light on dark, as MNIST).

    The background is the image's median level; the ink is what lies furthest from it,
    darker or lighter (a tie is ``"light"``). A dark frame around a digit drawn dark on light
    paper does not fool it, nor does grey paper.

    Parameters
    ----------
    gray : array_like, shape (h, w)
        Floats in [0, 1] or uint8, as for :func:`prepare_digit`.
    """
    g, _ = _as_gray(gray)
    return _guess(g)


def read_gray(path: str | os.PathLike[str]) -> NDArray[np.float64]:
    """Read an image file as grey levels in [0, 1], at the depth of its pixels.

    Any format Pillow reads (PNG, JPEG, BMP, GIF, TIFF...). 8-bit images (grey, colour,
    palette) are converted to grey (luma); 16-bit grey images are read to all their 65536
    levels; floating-point images (e.g. TIFF) must hold levels in [0, 1]. A transparent
    background is filled with the level opposite to the ink's; the EXIF orientation of a
    photo is applied. A large JPEG is decoded at a reduced scale, any image larger than
    :data:`READ_SIDE` is reduced, a file over :data:`MAX_FILE_BYTES` or an image of more
    than :data:`MAX_PIXELS` pixels is refused. Pillow's warnings (e.g. about damaged
    metadata) are issued again as one :class:`ImageWarning` naming the file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    ndarray of float64, shape (h, w)
        0 black, 1 white.

    Raises
    ------
    ValueError
        Naming the file, if it is not an image Pillow can read, is damaged, too large, or of
        levels out of range.
    OSError
        If the file cannot be opened (e.g. it does not exist).
    ImportError
        If Pillow is not installed.
    """
    import_optional("PIL", package="Pillow", needed_for="reading image files")
    from PIL import Image, ImageOps

    source = os.fspath(path)
    size = os.stat(path).st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(
            f"{source}: the file is too large: {size:,} bytes, more than the "
            f"{MAX_FILE_BYTES:,} read as an image"
        )
    with open(path, "rb") as file:
        # In memory: a damaged length field then makes Pillow read to the end of the bytes,
        # where reading the file itself would first allocate the length it asks for.
        content = io.BytesIO(file.read())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with _pillow_errors(source):
            image = Image.open(content)
        with image:
            with _pillow_errors(source):
                image.draft(None, (READ_SIDE, READ_SIDE))  # a JPEG decodes at 1/2, 1/4, 1/8
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ValueError(
                    f"{source}: the image is too large: {width} x {height} pixels, more than "
                    f"the {MAX_PIXELS:,} read; scale it down first"
                )
            with _pillow_errors(source):
                image.load()
                upright = ImageOps.exif_transpose(_reduced(image))
            gray = _to_gray(upright, source)
    messages = dict.fromkeys(str(warning.message) for warning in caught)
    if messages:
        warnings.warn(f"{source}: {'; '.join(messages)}", ImageWarning, stacklevel=2)
    return gray


@contextmanager
def _pillow_errors(source: str) -> Iterator[None]:
    """Turn what Pillow raises for a file that is not a readable image into a ValueError
    naming it; a file that cannot be opened at all stays an OSError."""
    from PIL import Image, UnidentifiedImageError

    try:
        yield
    except Image.DecompressionBombError as exc:
        raise ValueError(f"{source}: the image is too large ({exc})") from None
    except UnidentifiedImageError as exc:
        raise ValueError(f"{source}: not an image file Pillow can read ({exc})") from None
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (OSError, SyntaxError, EOFError, ValueError) as exc:
        raise ValueError(f"{source}: damaged image file ({exc})") from None


def load_digit(
    path: str | os.PathLike[str], *, dtype: DTypeLike = np.float32, ink: Ink = "auto"
) -> NDArray[np.floating]:
    """Read an image file of one digit and prepare it as MNIST was.

    :func:`read_gray`, then :func:`prepare_digit`.

    Parameters
    ----------
    path : str or path-like
    dtype : float32 or float64
        Of the result (float32 like ``nnscratch.prepare.preprocess``).
    ink : {"auto", "light", "dark"}
        The ink's polarity; ``"auto"`` guesses it (:func:`guess_ink`).

    Returns
    -------
    ndarray, shape (784,)
        Values in [0, 1]: one row for ``MLP.predict``.

    Raises
    ------
    ValueError
        Naming the file, if it is not an image Pillow can read, is damaged, too large or
        blank; or if ``dtype`` is not a floating-point type, or ``ink`` not a choice.
    OSError
        If the file cannot be opened (e.g. it does not exist).
    ImportError
        If Pillow is not installed.
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating-point type, got {dtype}")
    check_choice(ink, "ink", INK_CHOICES)
    gray = read_gray(path)
    try:
        digit = prepare_digit(gray, ink=ink)
    except ValueError as exc:
        raise ValueError(f"{os.fspath(path)}: {exc}") from exc
    return digit.reshape(SIZE * SIZE).astype(dtype)


def _reduced(image: Any) -> Any:
    """``image`` reduced by an integer factor so that its longer side is at most READ_SIDE
    (block averages, in a mode Pillow can reduce), or ``image`` itself if it is small."""
    factor = math.ceil(max(image.size) / READ_SIDE)
    if factor <= 1:
        return image
    if image.mode in _SIXTEEN_BIT:
        image = image.convert("I")
    elif image.mode not in _REDUCIBLE:  # "1", "P", "PA", "CMYK", "YCbCr"...
        image = image.convert("RGBA")
    return image.reduce(factor)


def _to_gray(image: Any, source: str) -> NDArray[np.float64]:
    """Grey levels in [0, 1] of a Pillow image at its depth, transparency composited onto a
    background."""
    if image.mode in (*_SIXTEEN_BIT, "I"):
        levels = np.asarray(image).astype(np.float64)
        if levels.size and (levels.min() < 0 or levels.max() > 65535):
            raise ValueError(
                f"{source}: integer grey levels must lie in [0, 65535], found "
                f"[{levels.min():.0f}, {levels.max():.0f}]"
            )
        return levels / 65535
    if image.mode == "F":
        levels = np.asarray(image).astype(np.float64)
        if not np.isfinite(levels).all() or (
            levels.size and (levels.min() < 0 or levels.max() > 1)
        ):
            found = f"[{np.nanmin(levels)}, {np.nanmax(levels)}]" if levels.size else "none"
            raise ValueError(
                f"{source}: floating-point grey levels must be finite and lie in [0, 1], "
                f"found {found}"
            )
        return levels
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


def _guess(g: NDArray[np.float64]) -> Literal["light", "dark"]:
    """Dark ink if the darkest pixel is further below the median than the lightest is above."""
    background = float(np.median(g))
    return "dark" if background - g.min() > g.max() - background else "light"


def _ink(g: NDArray[np.float64], *, dark: bool) -> NDArray[np.float64]:
    """Light ink on 0, strongest ink 1, faint pixels 0, a frame cut off (the result may be
    smaller than ``g``)."""
    if dark:
        g = 1 - g
    ink = np.clip(g - float(np.median(g)), 0, None)
    ink = _inside_frame(ink)
    contrast = ink.max()
    if contrast < MIN_CONTRAST:
        raise ValueError(
            f"the image is blank: no ink differs from the background by {MIN_CONTRAST} or more "
            f"(largest difference {contrast:.3g})"
        )
    ink /= contrast
    ink[ink < INK_THRESHOLD] = 0
    return ink


def _inside_frame(ink: NDArray[np.float64]) -> NDArray[np.float64]:
    """``ink`` without a frame: if its four edge lines are each at least ``FRAME_FILL`` ink
    (pixels of at least ``INK_THRESHOLD`` of the strongest), the lines that are, from each
    side inwards; unchanged if there is no frame, or nothing but frame."""
    strong = ink >= INK_THRESHOLD * ink.max() if ink.max() > 0 else np.zeros(ink.shape, bool)
    rows, cols = strong.mean(axis=1), strong.mean(axis=0)
    if min(rows[0], rows[-1], cols[0], cols[-1]) < FRAME_FILL:
        return ink
    top, bottom, left, right = 0, len(rows), 0, len(cols)
    while top < bottom and rows[top] >= FRAME_FILL:
        top += 1
    while bottom > top and rows[bottom - 1] >= FRAME_FILL:
        bottom -= 1
    while left < right and cols[left] >= FRAME_FILL:
        left += 1
    while right > left and cols[right - 1] >= FRAME_FILL:
        right -= 1
    inside = ink[top:bottom, left:right]
    return inside if inside.size and strong[top:bottom, left:right].any() else ink


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
