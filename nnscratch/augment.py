"""Random distortions of whole batches of images: affine maps and elastic fields, in NumPy.

A distortion moves ink: output pixel ``(r, c)`` of an image takes the value of the input at
some *source position* ``(y, x)``, read between pixels by bilinear interpolation (and as 0
outside the image). The source positions come from two kinds of maps, composed:

- an **affine map** per image, ``(y, x) = A @ (r, c, 1)`` with ``A`` of shape (2, 3), which
  rotates, scales, shears and translates the image about its centre;
- an **elastic field** (Simard, Steinkraus & Platt 2003): a displacement added to the
  source position, drawn uniformly in [-1, 1] at every pixel, independently for ``y`` and
  ``x``, smoothed by a Gaussian of width ``sigma`` pixels and scaled by ``alpha``. Smoothed,
  the random displacements of neighbouring pixels agree, and the digit bends like a
  rubber sheet instead of dissolving into noise.

:func:`distort` draws both at random for a batch, and :class:`Distortions` holds its
parameters (the augmented recipe of :mod:`nnscratch.recipes` holds one); :func:`random_affine`
draws the affine maps alone; :func:`warp` applies given affine maps (and random elastic
fields, if asked); :func:`elastic_field` returns elastic displacements themselves, to look
at; and :func:`gaussian_matrix` is the smoothing, as a matrix.

How it is made fast
-------------------
:mod:`nnscratch.resampling` does the work, on checked arguments: the batch in chunks that stay
in the processor's caches, in work arrays kept from call to call; within a chunk one NumPy
call per step and no loop over the images in Python.
Every source coordinate of a chunk is one matrix product (the Gaussian smoothing of the
fields and the affine maps together), and the four neighbours of a position are four fixed
offsets from one flat index. The uniform noise takes one random byte per value (``(k + 1/2)
/ 128`` for ``k`` from -128 to 127: a uniform distribution on 256 evenly spaced levels,
variance ``(1 - 256**-2) / 3`` against 1/3 for the continuous one), straight from the
generator's bit generator; a Gaussian of width 4 averages some 200 of them, so the field
cannot tell the difference, and the draw is twelve times cheaper than ``rng.random``.
(``benchmarks/augment.py`` measures the time against a training epoch.)
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import resampling
from ._checks import as_float_array, check_finite, check_int, check_interval

Floats = NDArray[np.floating]
Images = NDArray[Any]  # uint8, float32 or float64

MNIST_SHAPE = (28, 28)

TRUNCATE = 4.0
"""The Gaussian of :func:`gaussian_matrix` is cut off at this many ``sigma`` (as in SciPy)."""

IMAGE_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32), np.dtype(np.float64))


def distort(
    images: ArrayLike,
    rng: np.random.Generator,
    *,
    rotate: float = 0.0,
    scale: float = 0.0,
    shear: float = 0.0,
    translate: float = 0.0,
    elastic: tuple[float, float] | None = None,
    out: Images | None = None,
) -> Images:
    """Distort every image of a batch at random: an affine map, then an elastic field.

    The defaults mean "no distortion": ``distort(images, rng)`` returns the images unchanged.

    Parameters
    ----------
    images : array_like, shape (n, height, width)
        uint8, float32 or float64 (finite).
    rng : numpy.random.Generator
        Every random choice is drawn from it: the same seed gives the same bits.
    rotate : float
        The largest rotation, in degrees, in [0, 180]: each image is rotated by an angle
        drawn uniformly in ``[-rotate, rotate]``.
    scale : float
        The largest relative change of size, in [0, 1): each image is scaled by a factor
        drawn uniformly in ``[1 - scale, 1 + scale]``.
    shear : float
        The largest horizontal shear angle, in degrees, in [0, 90).
    translate : float
        The largest shift, in pixels, >= 0: each image moves by amounts drawn uniformly in
        ``[-translate, translate]``, down and right independently.
    elastic : (alpha, sigma), optional
        Add an elastic field of strength ``alpha`` (>= 0, pixels per unit of noise) smoothed
        by a Gaussian of width ``sigma`` (> 0, pixels); Simard et al. used (34, 4) on MNIST.
    out : ndarray, optional
        Where to write the result: an array like ``images`` (shape and dtype), which may be
        ``images`` itself. A training loop that distorts every epoch saves the allocation and
        the page faults of fresh memory (measured: a sixth to a fifth of the time).

    Returns
    -------
    ndarray, shape (n, height, width)
        The distorted images, in the dtype of ``images`` (uint8 rounded to the nearest).

    See Also
    --------
    random_affine : the affine maps drawn here (first, from ``rng``), and their composition.
    warp : the resampling, with the elastic field drawn next from ``rng``.
    """
    images = _check_images(images)
    n, height, width = images.shape
    field = None if elastic is None else elastic_factors(*_check_elastic(elastic), height, width)
    affine = random_affine(
        n, rng, rotate=rotate, scale=scale, shear=shear, translate=translate, shape=(height, width)
    )
    out = _out_array(out, images)
    return resampling.warp_batch(images, affine, field, rng, out)


@dataclass(frozen=True)
class Distortions:
    """The parameters of :func:`distort`, as one value a training recipe can hold.

    ``Distortions()`` distorts nothing. The fields are checked on creation, with the errors of
    :func:`distort`; an ``elastic`` list (read back from JSON) becomes a tuple.

    Attributes
    ----------
    rotate, scale, shear, translate : float
        As in :func:`distort`.
    elastic : (alpha, sigma) or None
        As in :func:`distort`.
    """

    rotate: float = 0.0
    scale: float = 0.0
    shear: float = 0.0
    translate: float = 0.0
    elastic: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.elastic is not None:
            object.__setattr__(self, "elastic", _check_elastic(self.elastic))
        _check_affine_ranges(self.rotate, self.scale, self.shear, self.translate)

    def __call__(
        self, images: ArrayLike, rng: np.random.Generator, *, out: Images | None = None
    ) -> Images:
        """``distort(images, rng, ..., out=out)`` with these parameters."""
        return distort(
            images,
            rng,
            rotate=self.rotate,
            scale=self.scale,
            shear=self.shear,
            translate=self.translate,
            elastic=self.elastic,
            out=out,
        )


def random_affine(
    n: int,
    rng: np.random.Generator,
    *,
    rotate: float = 0.0,
    scale: float = 0.0,
    shear: float = 0.0,
    translate: float = 0.0,
    shape: tuple[int, int] = MNIST_SHAPE,
) -> Floats:
    """Draw ``n`` random affine maps about the centre of images of ``shape``, for :func:`warp`.

    Each map moves the ink of an image by ``q = centre + s R Sh (p - centre) + t`` (in
    (row, column) pixel coordinates): a horizontal shear ``Sh`` by an angle ``phi``, a
    rotation ``R`` by ``theta`` (counter-clockwise as displayed, rows pointing down), a
    scaling by ``s`` and a translation ``t``, each drawn uniformly in its range (the
    parameters are those of :func:`distort`). What is returned is the inverse, the map from
    an output pixel to its source position, which is what resampling needs.

    Parameters
    ----------
    n : int
        The number of maps, >= 0.
    rng : numpy.random.Generator
        Draws ``5 * n`` uniform numbers, whatever the parameters.
    rotate, scale, shear, translate : float
        As in :func:`distort`; 0 means none of it.
    shape : (height, width)
        The images' shape: it sets the centre, ``((height - 1) / 2, (width - 1) / 2)``.

    Returns
    -------
    ndarray of float64, shape (n, 2, 3)
        ``affine[i] @ (r, c, 1)`` is the source position ``(y, x)`` of output pixel
        ``(r, c)`` of image ``i``; ``[[1, 0, 0], [0, 1, 0]]`` is the identity.
    """
    n = check_int(n, "n")
    _check_generator(rng)
    rotate, scale, shear, translate = _check_affine_ranges(rotate, scale, shear, translate)
    height, width = _check_shape(shape)
    theta, factor, phi, shift_y, shift_x = (
        centre + half_width * (2 * u - 1)
        for u, centre, half_width in zip(
            rng.random((5, n)),
            (0, 1, 0, 0, 0),
            (np.radians(rotate), scale, np.radians(shear), translate, translate),
            strict=True,
        )
    )
    cos, sin, tan = np.cos(theta), np.sin(theta), np.tan(phi)
    # The inverse of s R Sh is Sh^-1 R^-1 / s, with R^-1 = [[cos, sin], [-sin, cos]] and
    # Sh^-1 = [[1, 0], [-tan, 1]] acting on (row, column) vectors.
    inverse = np.stack([[cos, sin], [-tan * cos - sin, cos - tan * sin]]) / factor
    inverse = inverse.transpose(2, 0, 1)  # (n, 2, 2)
    centre = np.array([(height - 1) / 2, (width - 1) / 2])
    moved_centre = centre + np.stack([shift_y, shift_x], axis=1)  # (n, 2): where it goes
    offset = centre - np.einsum("nij,nj->ni", inverse, moved_centre)
    return np.concatenate([inverse, offset[:, :, None]], axis=2)


def warp(
    images: ArrayLike,
    affine: ArrayLike,
    *,
    elastic: tuple[float, float] | None = None,
    rng: np.random.Generator | None = None,
    out: Images | None = None,
) -> Images:
    """Resample every image at the source positions of its affine map, plus an elastic field.

    Output pixel ``(r, c)`` of image ``i`` is the bilinear interpolation of the image at
    ``affine[i] @ (r, c, 1) + d[i, :, r, c]``, where the image is taken as 0 outside its
    pixels and ``d`` is the elastic displacement (zero without ``elastic``; otherwise drawn
    from ``rng`` exactly as :func:`elastic_field` would draw it).

    Parameters
    ----------
    images : array_like, shape (n, height, width)
        uint8, float32 or float64 (finite).
    affine : array_like, shape (n, 2, 3)
        Per image, the map from output pixel ``(r, c, 1)`` to source position ``(y, x)``,
        in pixels (rows down, columns right); e.g. from :func:`random_affine`.
    elastic : (alpha, sigma), optional
        As in :func:`distort`.
    rng : numpy.random.Generator, optional
        Needed with ``elastic``.
    out : ndarray, optional
        As in :func:`distort`.

    Returns
    -------
    ndarray, shape (n, height, width)
        In the dtype of ``images``; uint8 rounded to the nearest. Interpolation is computed
        in float64 for float64 images and in float32 otherwise; source positions are float32.
    """
    images = _check_images(images)
    n, height, width = images.shape
    affine = _check_affine(affine, n)
    field = None
    if elastic is not None:
        field = elastic_factors(*_check_elastic(elastic), height, width)
        _check_generator(rng)
    out = _out_array(out, images)
    return resampling.warp_batch(images, affine, field, rng, out)


def elastic_field(
    n: int,
    rng: np.random.Generator,
    alpha: float,
    sigma: float,
    *,
    shape: tuple[int, int] = MNIST_SHAPE,
) -> NDArray[np.float32]:
    """Draw ``n`` elastic displacement fields: uniform noise, smoothed, times ``alpha``.

    Each of the two components (rows, columns) of each field is ``alpha * G_h @ U @ G_w.T``
    with ``U`` uniform in (-1, 1) at every pixel (on 256 levels, see the module notes) and
    ``G_h``, ``G_w`` the :func:`gaussian_matrix` of width ``sigma`` for the height and the
    width. :func:`warp` and :func:`distort` draw their fields the same way, from the same
    random numbers for the same generator state.

    Parameters
    ----------
    n : int
        The number of fields, >= 0.
    rng : numpy.random.Generator
    alpha : float
        The strength, >= 0, in pixels per unit of noise.
    sigma : float
        The width of the Gaussian, > 0, in pixels.
    shape : (height, width)

    Returns
    -------
    ndarray of float32, shape (n, 2, height, width)
        ``d[i, 0]`` is added to the source row of every pixel of image ``i``, ``d[i, 1]`` to
        its source column.
    """
    n = check_int(n, "n")
    _check_generator(rng)
    height, width = _check_shape(shape)
    factors = elastic_factors(*_check_elastic((alpha, sigma)), height, width)
    fields = np.empty((n, 2, height, width), np.float32)
    begin = 0
    for m in resampling.chunk_lengths(n, height, width):  # the chunks of warp, drawn alike
        noise = resampling.random_bytes(rng, factors.noise_size(m))
        right = np.empty((height, 2, m, width), np.float32)
        factors.smooth(noise, work=np.empty_like(right), out=right)
        field = factors.left @ right.reshape(height, -1) + factors.offset
        fields[begin : begin + m] = field.reshape(height, 2, m, width).transpose(2, 1, 0, 3)
        begin += m
    return fields


def gaussian_matrix(size: int, sigma: float) -> NDArray[np.float64]:
    """The Gaussian smoothing of a length-``size`` signal, as a ``(size, size)`` matrix.

    ``gaussian_matrix(size, sigma) @ u`` is the convolution of ``u`` with the normalised
    Gaussian ``exp(-k**2 / (2 sigma**2))``, cut off at ``|k| <=`` :data:`TRUNCATE` ``sigma``,
    the signal being extended beyond its ends by reflection (``... u1 u0 | u0 u1 ...``): the
    same as ``scipy.ndimage.gaussian_filter1d(u, sigma, mode="reflect")``. Every row sums to
    1; with the reflection the matrix is symmetric.

    Parameters
    ----------
    size : int
        The length of the signal, >= 1.
    sigma : float
        The width of the Gaussian in samples, > 0.
    """
    size = check_int(size, "size", minimum=1)
    sigma = check_interval(sigma, "sigma", 0, math.inf, open_below=True, open_above=True)
    radius = int(TRUNCATE * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    reached = (np.arange(size)[:, None] + offsets) % (2 * size)  # reflection has period 2 size
    reached = np.where(reached < size, reached, 2 * size - 1 - reached)
    matrix = np.zeros((size, size))
    rows = np.repeat(np.arange(size), len(offsets))
    np.add.at(matrix, (rows, reached.ravel()), np.tile(kernel, size))
    return matrix


@functools.lru_cache(maxsize=8)
def elastic_factors(
    alpha: float, sigma: float, height: int, width: int
) -> resampling.ElasticFactors:
    """The matrices of the elastic fields of strength ``alpha`` and width ``sigma`` for images
    of ``height`` by ``width``, for :mod:`nnscratch.resampling` (the same object for the same
    arguments, so that its work arrays are reused). Trusts its arguments."""
    return resampling.ElasticFactors(
        left=(alpha / 128 * gaussian_matrix(height, sigma)).astype(np.float32),
        columns=gaussian_matrix(width, sigma).T.astype(np.float32),
        offset=alpha / 256,
    )


def _check_images(images: ArrayLike) -> Images:
    images = np.asarray(images)
    if images.dtype not in IMAGE_DTYPES:
        raise ValueError(f"images must be uint8, float32 or float64, found dtype {images.dtype}")
    if images.ndim != 3 or 0 in images.shape[1:]:
        raise ValueError(f"images must have shape (n, height, width), found shape {images.shape}")
    if (images.shape[1] + 3) * (images.shape[2] + 3) > 2**24:
        raise ValueError(
            "images must have at most 2**24 pixels with a 3-pixel margin (float32 indexes them "
            f"exactly), found shape {images.shape}"
        )
    if images.dtype.kind == "f" and not np.isfinite(np.sum(images)):  # one quick pass
        check_finite(images, name="images")  # names the first NaN or infinity, if any
    return images


def _check_affine(affine: ArrayLike, n: int) -> Floats:
    affine = as_float_array(affine, ndim=3, name="affine")
    if affine.shape != (n, 2, 3):
        raise ValueError(
            f"affine must have shape ({n}, 2, 3): one 2x3 map per image, found {affine.shape}"
        )
    check_finite(affine, name="affine")
    return affine


def _out_array(out: object, images: Images) -> Images:
    """A new array like ``images`` if ``out`` is None, else ``out`` checked."""
    if out is None:
        return np.empty_like(images)
    if not isinstance(out, np.ndarray) or out.shape != images.shape or out.dtype != images.dtype:
        found = f"{out.shape} {out.dtype}" if isinstance(out, np.ndarray) else type(out).__name__
        raise ValueError(
            f"out must be an array like images, of shape {images.shape} and dtype "
            f"{images.dtype}, found {found}"
        )
    if not out.flags.writeable:
        raise ValueError("out must be writeable, found a read-only array")
    in_place = out.ctypes.data == images.ctypes.data and out.strides == images.strides
    if not in_place and np.may_share_memory(out, images):
        raise ValueError("out must be images itself or not overlap it, found a partial overlap")
    return out


def _check_elastic(elastic: object) -> tuple[float, float]:
    expected = "elastic must be None or a pair (alpha, sigma) with alpha >= 0 and sigma > 0"
    if not isinstance(elastic, tuple | list) or len(elastic) != 2:
        raise ValueError(f"{expected}, found {elastic!r}")
    alpha = check_interval(elastic[0], "alpha (the elastic strength)", 0, math.inf, open_above=True)
    sigma = check_interval(
        elastic[1],
        "sigma (the elastic smoothness)",
        0,
        math.inf,
        open_below=True,
        open_above=True,
        unit=" of pixels",
    )
    return alpha, sigma


def _check_affine_ranges(
    rotate: object, scale: object, shear: object, translate: object
) -> tuple[float, float, float, float]:
    return (
        check_interval(rotate, "rotate", 0, 180, unit=" of degrees"),
        check_interval(scale, "scale", 0, 1, open_above=True),
        check_interval(shear, "shear", 0, 90, open_above=True, unit=" of degrees"),
        check_interval(translate, "translate", 0, math.inf, open_above=True, unit=" of pixels"),
    )


def _check_generator(rng: object) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            "rng must be a numpy.random.Generator (e.g. np.random.default_rng(0)), "
            f"found {type(rng).__name__}"
        )


def _check_shape(shape: object) -> tuple[int, int]:
    if not isinstance(shape, tuple | list) or len(shape) != 2:
        raise ValueError(f"shape must be a pair (height, width), found {shape!r}")
    return (
        check_int(shape[0], "the height", minimum=1),
        check_int(shape[1], "the width", minimum=1),
    )
