"""The inner loop of :mod:`nnscratch.augment`: source positions and bilinear resampling, fast.

:func:`warp_batch` resamples a batch of images at the source positions of per-image affine
maps plus, optionally, elastic fields (:class:`ElasticFactors`). It trusts its arguments:
:mod:`nnscratch.augment` checks them and is the interface; this module is how it is fast.

- The batch is cut into chunks of about :data:`CHUNK_PIXELS` pixels (:func:`chunk_lengths`,
  equal lengths), processed in work arrays kept from call to call (a :class:`Warper`), so
  that a chunk's arrays stay in the processor's caches and no fresh memory is mapped page
  by page at every batch. Within a chunk every step is one NumPy call on the whole chunk.
- One thread does it all: sharing a batch's chunks between two threads was not faster on
  the two-core machine (measured with another process on it: 0.44 to 0.75 s against 0.46
  to 0.48 s per 55,000 images alone, 0.87 to 0.92 s against 0.58 s inside training epochs;
  each chunk is some thirty short NumPy calls, and the threads queue for the interpreter
  lock between them).
- The Gaussian smoothing of a field ``U`` is ``G_rows @ U @ G_cols.T``; laid out as (row,
  image, column), both products are single matrix products, and the second one also adds
  the affine map: one product gives every source coordinate of the chunk.
- The source images are padded with zeros (one row and column before, two after) in the
  same (row, image, column) layout, so the four neighbours of a source position are four
  fixed offsets from one flat index: one index computation and four ``np.take`` calls.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.floating]
Images = NDArray[Any]  # uint8, float32 or float64

CHUNK_PIXELS = 1 << 16
"""Output pixels processed together (83 MNIST images): the chunk's arrays stay in the cache."""

ONE_THREAD_PRODUCT = 1 << 18
"""OpenBLAS multiplies an (m, k) by a (k, n) matrix on one thread when ``m * n * k`` is at most
this (``65536 * GEMM_MULTITHREAD_THRESHOLD``, which is 4 by default): the module cuts its
products to that size."""


@dataclass(frozen=True, eq=False)  # compared and hashed by identity, as a cache key
class ElasticFactors:
    """The elastic displacement of a chunk of ``m`` images: ``left @ right + offset``.

    Laid out as (row, component, image, column), the displacement of both components of all
    the images is one matrix product, ``alpha * G_h @ (k + 1/2) / 128 @ G_w.T`` for random
    bytes ``k``: ``left = alpha / 128 * G_h``, float32 of shape (height, height); ``right`` the
    bytes smoothed along the columns, ``k @ columns`` with ``columns = G_w.T``, float32 of
    shape (width, width); and the half level a constant, ``offset = alpha / 256`` (the rows of
    ``G_h`` and ``G_w`` sum to 1).
    """

    left: NDArray[np.float32]
    columns: NDArray[np.float32]
    offset: float

    def noise_size(self, m: int) -> int:
        """The random bytes the fields of ``m`` images take: two per pixel."""
        return 2 * m * len(self.left) * len(self.columns)

    def smooth(self, noise: NDArray[np.int8], *, work: Floats, out: Floats) -> None:
        """Smooth random bytes along the columns: ``noise`` (height, 2, m, width) as float32
        in ``work``, times ``columns``, into ``out`` (same shape): the factor ``right``."""
        np.copyto(work, noise.reshape(work.shape))
        width = len(self.columns)
        one_thread_matmul(work.reshape(-1, width), self.columns, out=out.reshape(-1, width))


def warp_batch(
    images: Images,
    affine: Floats,
    elastic: ElasticFactors | None,
    rng: np.random.Generator | None,
    out: Images,
) -> Images:
    """Resample ``images`` (n, height, width) at ``affine`` (n, 2, 3) plus elastic fields drawn
    from ``rng`` (with ``elastic``), into ``out`` (like ``images``), chunk by chunk.

    Trusts its arguments (see :func:`nnscratch.augment.warp`, which checks them).
    """
    n, height, width = images.shape
    lengths = chunk_lengths(n, height, width)
    key = (height, width, max(lengths, default=1), images.dtype, elastic)
    with _borrowed_warper(key) as warper:
        begin = 0
        for m in lengths:
            noise = None
            if elastic is not None:
                assert rng is not None  # augment checked it: a field needs a generator
                noise = random_bytes(rng, elastic.noise_size(m))
            chunk = slice(begin, begin + m)
            warper.warp(images[chunk], affine[chunk], noise, out=out[chunk])
            begin += m
    return out


def chunk_lengths(n: int, height: int, width: int) -> list[int]:
    """The lengths of the chunks of ``n`` images: as equal as can be, each at most about
    :data:`CHUNK_PIXELS` pixels (at least one image)."""
    if n == 0:
        return []
    most = max(1, CHUNK_PIXELS // (height * width))
    count = -(-n // most)
    small, extra = divmod(n, count)
    return [small + 1] * extra + [small] * (count - extra)


def random_bytes(rng: np.random.Generator, size: int) -> NDArray[np.int8]:
    """``size`` independent random bytes (int8, uniform on -128..127) from ``rng``'s bits."""
    generator = rng.bit_generator
    if isinstance(generator, np.random.MT19937):  # its raw values hold 32 random bits each
        return generator.random_raw(-(-size // 4)).astype(np.uint32).view(np.int8)[:size]
    return generator.random_raw(-(-size // 8)).view(np.int8)[:size]  # 64 bits each


def one_thread_matmul(a: Floats, b: Floats, *, out: Floats) -> None:
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


class Warper:
    """Warps chunks of up to ``length`` images in work arrays allocated once.

    The arithmetic is as fast in fresh arrays, but every fresh array of a few hundred
    kilobytes is mapped from the operating system page by page, and these page faults took
    longer than the arithmetic (the smoothed noise alone: 0.45 s per 60,000 images in fresh
    arrays, 0.15 s in reused ones).
    """

    def __init__(
        self, height: int, width: int, length: int, dtype: np.dtype, elastic: ElasticFactors | None
    ) -> None:
        self.height, self.width, self.elastic = height, width, elastic
        work = np.dtype(np.float64 if dtype == np.float64 else np.float32)
        # The source positions are left @ right: the two last columns of left are r and 1,
        # and the two last rows of right the affine coefficients of each image (see
        # source_positions); before them, the elastic factors.
        depth = 2 if elastic is None else height + 2
        self.left = np.empty((height, depth), np.float32)
        if elastic is not None:
            self.left[:, :height] = elastic.left
        self.left[:, -2] = np.arange(height)
        self.left[:, -1] = 1
        self.constant = 1 + (0 if elastic is None else elastic.offset)  # 1: the zero padding
        self.columns = np.arange(width, dtype=np.float32)
        pixels = height * length * width
        self.buffers: dict[str, Images] = {
            "right": np.empty(depth * 2 * length * width, np.float32),
            "noise": np.empty(0 if elastic is None else 2 * pixels, np.float32),
            "positions": np.empty(2 * pixels, np.float32),
            "whole": np.empty(2 * pixels, np.float32),
            "index": np.empty(pixels, np.intp),
            "source": np.empty((height + 3) * length * (width + 3), work),
            "corners": np.empty(4 * pixels, work),
        }
        self.padded_for = -1  # the chunk length whose zero margins "source" holds
        self.starts = np.empty((0, width), np.float32)  # see image_starts

    def image_starts(self, m: int) -> NDArray[np.float32]:
        """The flat index of each image's first column in a padded row of a chunk of ``m``
        images: (m, width), the same for every row."""
        if self.starts.shape[0] != m:
            starts = np.arange(0, m * (self.width + 3), self.width + 3, dtype=np.float32)
            self.starts = np.repeat(starts[:, None], self.width, axis=1)
        return self.starts

    def array(self, name: str, *shape: int) -> Images:
        """The work array ``name`` as an array of ``shape`` (its first elements)."""
        return self.buffers[name][: math.prod(shape)].reshape(shape)

    def warp(
        self,
        images: Images,
        affine: Floats,
        noise: NDArray[np.int8] | None,
        *,
        out: Images,
    ) -> None:
        """Warp a chunk of ``m`` images (m, height, width) into ``out``; ``noise`` holds the
        random bytes of its elastic fields (:meth:`ElasticFactors.noise_size`), if any."""
        self.resample(images, self.source_positions(affine, noise), out=out)

    def source_positions(
        self, affine: Floats, noise: NDArray[np.int8] | None
    ) -> NDArray[np.float32]:
        """The source positions of a chunk, in the zero-padded frame: (height, 2, m, width).

        ``[:, 0]`` holds the rows, ``[:, 1]`` the columns, both +1 for the padding: row
        ``a[0, 0] * r + (a[0, 1] * c + a[0, 2] + 1)`` plus the elastic displacement, and the
        same for the column with ``a[1]``, as one matrix product ``left @ right``.
        """
        height, width, m = self.height, self.width, len(affine)
        right = self.array("right", self.left.shape[1], 2, m, width)
        if self.elastic is not None:
            assert noise is not None  # warp_batch drew it
            work = self.array("noise", height, 2, m, width)
            self.elastic.smooth(noise, work=work, out=right[:height])
        coefficients = affine.transpose(2, 1, 0)[:, :, :, None]  # (3, 2, m, 1)
        right[-2] = coefficients[0]
        np.multiply(coefficients[1], self.columns, out=right[-1])
        right[-1] += coefficients[2] + self.constant
        positions = self.array("positions", height, 2, m, width)
        one_thread_matmul(
            self.left, right.reshape(len(right), -1), out=positions.reshape(height, -1)
        )
        return positions

    def resample(self, images: Images, positions: NDArray[np.float32], *, out: Images) -> None:
        """Bilinear interpolation of ``images`` (m, height, width) at ``positions``, into
        ``out``; ``positions`` are overwritten (clipped, then their fractional parts)."""
        m, height, width = images.shape
        source = self.array("source", height + 3, m, width + 3)  # (row, image, column)
        if self.padded_for != m:  # the margins are never written: zero them once per length
            source.fill(0)
            self.padded_for = m
        source[1 : height + 1, :, 1 : width + 1] = images.transpose(1, 0, 2)
        # Beyond the frame everything is 0, so clipping a position to it does not change its
        # value; the first and the last two padded rows (and columns) are zeros.
        if height == width:
            np.clip(positions, 0, height + 1, out=positions)
        else:
            np.clip(positions[:, 0], 0, height + 1, out=positions[:, 0])
            np.clip(positions[:, 1], 0, width + 1, out=positions[:, 1])
        whole = np.floor(positions, out=self.array("whole", height, 2, m, width))
        positions -= whole  # the fractional parts, in [0, 1)
        row_stride = m * (width + 3)
        flat_index = whole[:, 0]  # whole numbers, exact in float32 (augment checks the size)
        flat_index *= row_stride
        flat_index += whole[:, 1]
        index = self.array("index", height, m, width)
        np.add(flat_index, self.image_starts(m), out=index, casting="unsafe")
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


_spare_warpers: dict[tuple[Any, ...], list[Warper]] = {}
_spare_lock = threading.Lock()


@contextmanager
def _borrowed_warper(key: tuple[Any, ...]) -> Iterator[Warper]:
    """A :class:`Warper` for ``key`` (height, width, length, dtype, elastic), reused from
    earlier calls when one is free (one per thread that distorts at the same time); only the
    last key's warpers are kept (a few megabytes each)."""
    with _spare_lock:
        spare = _spare_warpers.get(key)
        warper = spare.pop() if spare else None
    if warper is None:
        warper = Warper(*key)
    try:
        yield warper
    finally:
        with _spare_lock:
            if key not in _spare_warpers:
                _spare_warpers.clear()
                _spare_warpers[key] = []
            _spare_warpers[key].append(warper)
