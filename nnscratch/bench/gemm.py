"""The matrix products of the network, timed alone: the machine's peak and the network's shapes.

Training the network is a chain of matrix products (GEMMs, for GEneral Matrix Multiply) with
some element-wise work in between. :func:`network_gemms` lists the products of one training
step, :func:`epoch_flops` counts their floating-point operations over an epoch, and
:func:`gemm_peak` times them, and one large square product: the machine's *peak*.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike, NDArray

from .._checks import check_choice
from ..architecture import DTYPE_NAMES
from .timing import Timing, time_call

SIZES = (784, 512, 10)  # the book's network
BATCH_SIZES = (32, 128, 512)
MNIST_TRAIN = 60_000


@dataclass(frozen=True)
class Gemm:
    """One matrix product ``A @ B`` with ``A`` of shape (m, k) and ``B`` of shape (k, n).

    ``transpose_a`` (``transpose_b``) means that ``A`` (``B``) is the transposed view of a
    C-ordered array, as in ``x.T @ dz`` (``dz @ W.T``): BLAS reads it in the other order.
    """

    name: str
    m: int
    k: int
    n: int
    transpose_a: bool = False
    transpose_b: bool = False

    @property
    def flops(self) -> int:
        """``2 m k n``: one multiplication and one addition per term of every dot product."""
        return 2 * self.m * self.k * self.n

    @property
    def shape(self) -> str:
        """E.g. ``"128x784 @ 784x512"``."""
        return f"{self.m}x{self.k} @ {self.k}x{self.n}"

    def operands(
        self, dtype: DTypeLike, rng: np.random.Generator
    ) -> tuple[NDArray[np.floating], NDArray[np.floating], NDArray[np.floating]]:
        """Random ``A``, ``B`` laid out as the network holds them, and an output ``C`` (m, n)."""
        a = random_floats(rng, (self.k, self.m) if self.transpose_a else (self.m, self.k), dtype)
        b = random_floats(rng, (self.n, self.k) if self.transpose_b else (self.k, self.n), dtype)
        return (
            (a.T if self.transpose_a else a),
            (b.T if self.transpose_b else b),
            np.empty((self.m, self.n), dtype=dtype),
        )


def network_gemms(batch_size: int, sizes: Sequence[int] = SIZES) -> list[Gemm]:
    """The matrix products of one training step on a batch of ``batch_size`` samples.

    Per layer ``l`` with weights ``W`` of shape (fan_in, fan_out): the forward product
    ``a @ W``, the weight gradient ``a.T @ dz``, and, except for the first layer (nothing needs
    the gradient with respect to the images), the input gradient ``dz @ W.T``.
    """
    forward, weights, inputs = [], [], []
    for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
        a = "x" if layer == 1 else f"a{layer - 1}"
        forward.append(Gemm(f"{a} @ W{layer}", batch_size, fan_in, fan_out))
        weights.append(Gemm(f"{a}.T @ dz{layer}", fan_in, batch_size, fan_out, transpose_a=True))
        if layer > 1:
            inputs.append(
                Gemm(f"dz{layer} @ W{layer}.T", batch_size, fan_out, fan_in, transpose_b=True)
            )
    return forward + weights[::-1] + inputs[::-1]


def epoch_flops(samples: int = MNIST_TRAIN, sizes: Sequence[int] = SIZES) -> int:
    """Floating-point operations of the matrix products of one epoch over ``samples`` images.

    Forward ``2 n sum(fan_in fan_out)``, the same again for the weight gradients, and
    ``2 n sum(fan_in fan_out)`` over the layers after the first for the input gradients.
    """
    return sum(gemm.flops for gemm in network_gemms(samples, sizes))


@dataclass(frozen=True)
class GemmTiming:
    """A :class:`Gemm` timed in one dtype; ``batch_size`` is None for the square product."""

    gemm: Gemm
    dtype: str
    timing: Timing
    batch_size: int | None = None


def gemm_peak(
    batch_sizes: Sequence[int] = (128,),
    *,
    sizes: Sequence[int] = SIZES,
    square: int = 2048,
    dtypes: Sequence[str] = DTYPE_NAMES,
    repeats: int = 5,
    min_seconds: float = 0.05,
    seed: int = 0,
) -> list[GemmTiming]:
    """Time the network's matrix products at each batch size, and a ``square`` one, per dtype.

    Each product writes into a preallocated output (``np.matmul(a, b, out=c)``), so that only
    the multiplication is timed. The square product (``square`` cubed) is the machine's best
    case: the *peak* the network's time is compared with.

    Returns
    -------
    list of GemmTiming
        Per dtype: the square product, then per batch size the network's products in the
        order of :func:`network_gemms`.
    """
    rng = np.random.default_rng(seed)
    gemms: list[tuple[int | None, Gemm]] = [(None, Gemm("square", square, square, square))]
    gemms += [(batch, gemm) for batch in batch_sizes for gemm in network_gemms(batch, sizes)]
    results = []
    for dtype in dtypes:
        for batch_size, gemm in gemms:
            a, b, c = gemm.operands(dtype, rng)
            product = functools.partial(np.matmul, a, b, out=c)
            seconds = time_call(product, repeats=repeats, min_seconds=min_seconds)
            timing = Timing(gemm.name, seconds, gemm.flops)
            results.append(GemmTiming(gemm, np.dtype(dtype).name, timing, batch_size))
    return results


def peak_gflops(timings: Sequence[GemmTiming], dtype: str) -> float:
    """The square product's median GFLOP/s in ``dtype``: the peak an epoch is compared with."""
    for timing in timings:
        if timing.gemm.name == "square" and timing.dtype == np.dtype(dtype).name:
            return timing.timing.gflops
    raise ValueError(f"no square product timed in {dtype}")


def format_gemm_table(timings: Sequence[GemmTiming]) -> str:
    """A plain-text table: product, shape, dtype, median ms, GFLOP/s median (slowest-fastest)."""
    lines = [
        f"{'product':<14} {'shape':<22} {'dtype':<8} {'ms':>9}  {'GFLOP/s':>8}  (slowest-fastest)"
    ]
    for t in timings:
        low, high = t.timing.gflops_range
        name = f"{t.gemm.m}^3 square" if t.gemm.name == "square" else t.gemm.name
        lines.append(
            f"{name:<14} {t.gemm.shape:<22} {t.dtype:<8} {t.timing.median * 1e3:9.3f}  "
            f"{t.timing.gflops:8.1f}  ({low:.0f}-{high:.0f})"
        )
    return "\n".join(lines)


def products(gemms: Sequence[Gemm], dtype: DTypeLike, seed: int) -> Callable[[], None]:
    """A task computing ``gemms`` one after the other, on random operands made once."""
    rng = np.random.default_rng(seed)
    operands = [gemm.operands(dtype, rng) for gemm in gemms]

    def compute() -> None:
        for a, b, c in operands:
            np.matmul(a, b, out=c)

    return compute


def random_floats(
    rng: np.random.Generator, shape: tuple[int, ...], dtype: DTypeLike
) -> NDArray[np.floating]:
    """Uniform random values in [0, 1) of ``shape``, drawn in ``dtype`` (float32 or float64)."""
    if check_choice(np.dtype(dtype).name, "dtype", DTYPE_NAMES) == "float32":
        return rng.random(shape, dtype=np.float32)
    return rng.random(shape, dtype=np.float64)
