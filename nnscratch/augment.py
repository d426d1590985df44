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
The images are processed in chunks of about :data:`CHUNK_PIXELS` pixels, in work arrays
allocated once, so that the arrays of a chunk stay in the processor's caches; within a chunk
every step is one NumPy call on the whole chunk: there is no loop over the images in Python.
(``benchmarks/augment.py`` measures the time against a training epoch.)

- The Gaussian smoothing of a field ``U`` (one row of pixels after another) is the product
  ``G_rows @ U @ G_cols.T`` with the matrices of :func:`gaussian_matrix`. A chunk's fields are
  laid out as (row, image, column), so that both products are single large matrix products
  (the images side by side), and the second one also adds the affine map: its left factor
  gets the extra columns ``r`` and ``1``, its right factor the per-image coefficients. One
  matrix product gives every source coordinate of the chunk.
- The uniform noise takes one random byte per value (``(k + 1/2) / 128`` for ``k`` from -128
  to 127: a uniform distribution on 256 evenly spaced levels, variance ``(1 - 256**-2) / 3``
  against 1/3 for the continuous one), straight from the generator's bit generator; a
  Gaussian of width 4 averages some 200 of them, so the field cannot tell the difference,
  and the draw is twelve times cheaper than ``rng.random``.
- The source images are padded with zeros (one row and column before, two after) in the
  same (row, image, column) layout, so that the four neighbours of a source position are
  four fixed offsets from one flat index: one index computation, four ``np.take`` calls,
  and the neighbours of one output row of a chunk lie close together in memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import as_float_array, check_finite, check_int, check_interval

Floats = NDArray[np.floating]
Images = NDArray[Any]  # uint8, float32 or float64

MNIST_SHAPE = (28, 28)

CHUNK_PIXELS = 1 << 16
"""Output pixels processed together (83 MNIST images): the chunk's arrays stay in the cache."""

ONE_THREAD_PRODUCT = 1 << 18
"""OpenBLAS multiplies an (m, k) by a (k, n) matrix on one thread when ``m * n * k`` is at most
this (``65536 * GEMM_MULTITHREAD_THRESHOLD``, which is 4 by default): the module cuts its
products to that size."""

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
    field = None if elastic is None else _Smoothing(*_check_elastic(elastic), height, width)
    affine = random_affine(
        n, rng, rotate=rotate, scale=scale, shear=shear, translate=translate, shape=(height, width)
    )
    return _warp(images, affine, field, rng, out)


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
        field = _Smoothing(*_check_elastic(elastic), height, width)
        _check_generator(rng)
    return _warp(images, affine, field, rng, out)


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
    smoothing = _Smoothing(*_check_elastic((alpha, sigma)), height, width)
    fields = np.empty((n, 2, height, width), np.float32)
    step = _chunk_length(height, width)
    for begin in range(0, n, step):
        m = min(step, n - begin)
        right = np.empty((height, 2, m, width), np.float32)
        smoothing.smooth_noise(rng, np.empty_like(right), out=right)
        field = smoothing.left @ right.reshape(height, -1) + smoothing.offset
        fields[begin : begin + m] = field.reshape(height, 2, m, width).transpose(2, 1, 0, 3)
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


class _Smoothing:
    """The elastic displacement of a chunk of ``m`` images: ``left @ right + offset``.

    Laid out as (row, component, image, column), the displacement of both components of all
    the images is one matrix product, ``alpha * G_h @ (k + 1/2) / 128 @ G_w.T`` for the
    random bytes ``k``: ``left = alpha / 128 * G_h`` of shape (height, height), ``right`` the
    bytes smoothed along the columns, ``k @ G_w.T``, of shape (height, 2, m, width), and the
    half level a constant, ``offset = alpha / 256`` (the rows of ``G_h`` and ``G_w`` sum to 1).
    """

    def __init__(self, alpha: float, sigma: float, height: int, width: int) -> None:
        self.height, self.width = height, width
        self.left = (alpha / 128 * gaussian_matrix(height, sigma)).astype(np.float32)
        self.columns = gaussian_matrix(width, sigma).T.astype(np.float32)
        self.offset = alpha / 256

    def smooth_noise(self, rng: np.random.Generator, noise: Floats, *, out: Floats) -> None:
        """Draw random bytes into ``noise`` and write them smoothed along the columns into
        ``out``, both float32 of shape (height, 2, m, width): the factor ``right``."""
        np.copyto(noise, _random_bytes(rng, noise.size).reshape(noise.shape))
        width = self.width
        _matmul(noise.reshape(-1, width), self.columns, out=out.reshape(-1, width))


def _warp(
    images: Images,
    affine: Floats,
    field: _Smoothing | None,
    rng: np.random.Generator | None,
    out: Images | None,
) -> Images:
    """:func:`warp` on checked arguments, chunk by chunk."""
    n, height, width = images.shape
    out = np.empty_like(images) if out is None else _check_out(out, images)
    length = _chunk_length(height, width)
    warper = _Warper(height, width, min(length, n), images.dtype, field)
    for begin in range(0, n, length):
        chunk = slice(begin, begin + length)
        warper.warp(images[chunk], affine[chunk], rng, out=out[chunk])
    return out


class _Warper:
    """Warps chunks of up to ``length`` images in work arrays allocated once.

    The arithmetic is as fast in fresh arrays, but every fresh array of a few hundred
    kilobytes is mapped from the operating system page by page, and these page faults took
    longer than the arithmetic (the smoothed noise alone: 0.45 s per 60,000 images in fresh
    arrays, 0.15 s in reused ones).
    """

    def __init__(
        self, height: int, width: int, length: int, dtype: np.dtype, field: _Smoothing | None
    ) -> None:
        self.height, self.width, self.field = height, width, field
        work = np.dtype(np.float64 if dtype == np.float64 else np.float32)
        # The source positions are left @ right: the two last columns of left are r and 1,
        # and the two last rows of right the affine coefficients of each image (see
        # source_positions); before them, the elastic factors of _Smoothing.
        depth = 2 if field is None else height + 2
        self.left = np.empty((height, depth), np.float32)
        if field is not None:
            self.left[:, :height] = field.left
        self.left[:, -2] = np.arange(height)
        self.left[:, -1] = 1
        self.constant = 1 + (0 if field is None else field.offset)  # 1: the zero padding
        pixels = height * length * width
        self.buffers: dict[str, Images] = {
            "right": np.empty(depth * 2 * length * width, np.float32),
            "noise": np.empty(0 if field is None else 2 * pixels, np.float32),
            "positions": np.empty(2 * pixels, np.float32),
            "whole": np.empty(2 * pixels, np.float32),
            "index": np.empty(pixels, np.intp),
            "source": np.empty((height + 3) * length * (width + 3), work),
            "corners": np.empty(4 * pixels, work),
        }

    def array(self, name: str, *shape: int) -> Images:
        """The work array ``name`` as an array of ``shape`` (its first elements)."""
        return self.buffers[name][: math.prod(shape)].reshape(shape)

    def warp(
        self, images: Images, affine: Floats, rng: np.random.Generator | None, *, out: Images
    ) -> None:
        """Warp a chunk of ``m`` images (m, height, width) into ``out``."""
        self.resample(images, self.source_positions(affine, rng), out=out)

    def source_positions(
        self, affine: Floats, rng: np.random.Generator | None
    ) -> NDArray[np.float32]:
        """The source positions of a chunk, in the zero-padded frame: (height, 2, m, width).

        ``[:, 0]`` holds the rows, ``[:, 1]`` the columns, both +1 for the padding: row
        ``a[0, 0] * r + (a[0, 1] * c + a[0, 2] + 1)`` plus the elastic displacement, and the
        same for the column with ``a[1]``, as one matrix product ``left @ right``.
        """
        height, width, m = self.height, self.width, len(affine)
        right = self.array("right", self.left.shape[1], 2, m, width)
        if self.field is not None:
            assert rng is not None  # warp checked it: a field needs a generator
            noise = self.array("noise", height, 2, m, width)
            self.field.smooth_noise(rng, noise, out=right[:height])
        coefficients = affine.transpose(2, 1, 0)[:, :, :, None]  # (3, 2, m, 1)
        right[-2] = coefficients[0]
        right[-1] = coefficients[1] * np.arange(width) + (coefficients[2] + self.constant)
        positions = self.array("positions", height, 2, m, width)
        _matmul(self.left, right.reshape(len(right), -1), out=positions.reshape(height, -1))
        return positions

    def resample(self, images: Images, positions: NDArray[np.float32], *, out: Images) -> None:
        """Bilinear interpolation of ``images`` (m, height, width) at ``positions``, into
        ``out``; ``positions`` are overwritten (clipped, then their fractional parts)."""
        m, height, width = images.shape
        source = self.array("source", height + 3, m, width + 3)  # (row, image, column)
        source.fill(0)
        source[1 : height + 1, :, 1 : width + 1] = images.transpose(1, 0, 2)
        rows, columns = positions[:, 0], positions[:, 1]
        # Beyond the frame everything is 0, so clipping a position to it does not change its
        # value; the first and the last two padded rows (and columns) are zeros.
        np.clip(rows, 0, height + 1, out=rows)
        np.clip(columns, 0, width + 1, out=columns)
        whole = np.floor(positions, out=self.array("whole", height, 2, m, width))
        positions -= whole  # the fractional parts, in [0, 1)
        row_stride = m * (width + 3)
        flat_index = whole[:, 0]
        flat_index *= row_stride
        flat_index += whole[:, 1]
        image_starts = np.arange(0, row_stride, width + 3, dtype=np.float32)
        flat_index += np.repeat(image_starts, width).reshape(m, width)
        index = self.array("index", height, m, width)
        np.copyto(index, flat_index, casting="unsafe")  # whole numbers, exact in float32
        flat = source.reshape(-1)
        corners = self.array("corners", 4, height, m, width)
        for corner, offset in zip(corners, (0, 1, row_stride, row_stride + 1), strict=True):
            np.take(flat[offset:], index, mode="clip", out=corner)
        top_left, top_right, bottom_left, bottom_right = corners
        row_fraction, column_fraction = positions[:, 0], positions[:, 1]
        top_right -= top_left
        top_right *= column_fraction
        top_left += top_right  # the top pair, interpolated along the row
        bottom_right -= bottom_left
        bottom_right *= column_fraction
        bottom_left += bottom_right
        bottom_left -= top_left
        bottom_left *= row_fraction
        result = out.transpose(1, 0, 2)  # (row, image, column), like the chunk
        if out.dtype == top_left.dtype:
            np.add(top_left, bottom_left, out=result)
        else:  # uint8
            top_left += bottom_left
            np.copyto(result, np.rint(top_left, out=top_left), casting="unsafe")


def _matmul(a: Floats, b: Floats, *, out: Floats) -> None:
    """``a @ b`` into ``out`` (2-D, C-contiguous but for ``b`` when ``a`` is the taller), as a
    stack of products each of which OpenBLAS computes on one thread (:data:`ONE_THREAD_PRODUCT`).

    The products of this module are small and many; on the two-core machine, busy with other
    work, OpenBLAS's two threads made them 2 to 40 times slower than one thread (0.2 to 5.7 s
    instead of 0.07 to 0.09 s per 60,000 images), and they were not faster on an idle machine.
    """
    rows, inner = a.shape
    columns = b.shape[1]
    if rows >= columns:  # cut the rows of a
        step = max(1, ONE_THREAD_PRODUCT // (inner * columns))
        full = rows - rows % step
        np.matmul(a[:full].reshape(-1, step, inner), b, out=out[:full].reshape(-1, step, columns))
        np.matmul(a[full:], b, out=out[full:])
    else:  # cut the columns of b
        step = max(1, ONE_THREAD_PRODUCT // (inner * rows))
        full = columns - columns % step
        pieces = b[:, :full].reshape(inner, -1, step).transpose(1, 0, 2)
        np.matmul(a, pieces, out=out[:, :full].reshape(rows, -1, step).transpose(1, 0, 2))
        np.matmul(a, b[:, full:], out=out[:, full:])


def _random_bytes(rng: np.random.Generator, size: int) -> NDArray[np.int8]:
    """``size`` independent random bytes (int8, uniform on -128..127) from ``rng``'s bits."""
    generator = rng.bit_generator
    if isinstance(generator, np.random.MT19937):  # its raw values hold 32 random bits each
        return generator.random_raw(-(-size // 4)).astype(np.uint32).view(np.int8)[:size]
    return generator.random_raw(-(-size // 8)).view(np.int8)[:size]  # 64 bits each


def _chunk_length(height: int, width: int) -> int:
    """Images per chunk: about :data:`CHUNK_PIXELS` pixels, at least one image."""
    return max(1, CHUNK_PIXELS // (height * width))


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


def _check_out(out: object, images: Images) -> Images:
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
