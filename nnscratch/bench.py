"""Measuring speed: the machine's matrix-multiply peak and what a training epoch costs against it.

Training the network is a chain of matrix products (GEMMs, for GEneral Matrix Multiply) with some
element-wise work in between. This module times the products alone, in the shapes the network
uses (:func:`gemm_peak`), and whole epochs of the real training loop, :func:`nnscratch.train.fit`
(:func:`epoch_cost`); the difference between the two is the overhead outside the products. The
scripts ``benchmarks/gemm_peak.py`` and ``benchmarks/epoch.py`` print these tables, and the
book's performance chapter calls the same functions with shorter runs.

Every figure is a median over several runs, with the fastest and slowest run as its spread: the
machine may be shared, and a median is what a reader can expect to see. Nothing here changes how
many threads the BLAS library uses.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

from .model import MLP
from .optim import SGD, Adam, Optimizer
from .train import fit

SIZES = (784, 512, 10)  # the book's network
BATCH_SIZES = (32, 128, 512)
DTYPES = ("float32", "float64")
MNIST_TRAIN = 60_000
MNIST_TEST = 10_000


def machine_description() -> str:
    """NumPy's version and the BLAS library it calls: name, version, kernel, threads.

    The BLAS details come from threadpoolctl (an optional dependency, imported here); without
    it the description says how to get them.
    """
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return f"NumPy {np.__version__}, BLAS unknown (pip install threadpoolctl to report it)"
    pools = [pool for pool in threadpool_info() if pool.get("user_api") == "blas"]
    blas = "; ".join(
        f"BLAS {pool.get('internal_api')} {pool.get('version')}, kernel "
        f"{pool.get('architecture')}, {pool.get('num_threads')} threads"
        for pool in pools
    )
    return f"NumPy {np.__version__}, {blas or 'no BLAS found by threadpoolctl'}"


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
        a = rng.random((self.k, self.m) if self.transpose_a else (self.m, self.k), dtype=dtype)
        b = rng.random((self.n, self.k) if self.transpose_b else (self.k, self.n), dtype=dtype)
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
class Timing:
    """Seconds per call of some work, one entry per run; ``flops`` of work per call (0: none)."""

    name: str
    seconds: tuple[float, ...]
    flops: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def fastest(self) -> float:
        return min(self.seconds)

    @property
    def slowest(self) -> float:
        return max(self.seconds)

    @property
    def gflops(self) -> float:
        """GFLOP/s at the median time."""
        return self.flops / self.median / 1e9

    @property
    def gflops_range(self) -> tuple[float, float]:
        """GFLOP/s of the slowest and of the fastest run."""
        return self.flops / self.slowest / 1e9, self.flops / self.fastest / 1e9


def time_call(
    task: Callable[[], object], *, repeats: int = 5, min_seconds: float = 0.05
) -> tuple[float, ...]:
    """Seconds per call of ``task``: ``repeats`` runs, each of enough calls to last ``min_seconds``.

    One call first warms up (caches, lazily allocated buffers) and sets the number of calls
    per run, so that very short tasks are not lost in the clock's resolution.
    """
    start = time.perf_counter()
    task()
    once = time.perf_counter() - start
    calls = max(1, math.ceil(min_seconds / max(once, 1e-7)))
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            task()
        seconds.append((time.perf_counter() - start) / calls)
    return tuple(seconds)


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
    dtypes: Sequence[str] = DTYPES,
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
    gemms = [(None, Gemm("square", square, square, square))]
    gemms += [(batch, gemm) for batch in batch_sizes for gemm in network_gemms(batch, sizes)]
    results = []
    for dtype in dtypes:
        for batch_size, gemm in gemms:
            a, b, c = gemm.operands(dtype, rng)
            seconds = time_call(
                lambda a=a, b=b, c=c: np.matmul(a, b, out=c),
                repeats=repeats,
                min_seconds=min_seconds,
            )
            timing = Timing(gemm.name, seconds, gemm.flops)
            results.append(GemmTiming(gemm, np.dtype(dtype).name, timing, batch_size))
    return results


def step_gflops(timings: Sequence[GemmTiming], dtype: str, batch_size: int) -> float:
    """GFLOP/s of a step's products at ``batch_size``: their FLOPs over their median times."""
    mine = [t for t in timings if t.batch_size == batch_size and t.dtype == np.dtype(dtype).name]
    if not mine:
        raise ValueError(f"no product timed in {dtype} at batch size {batch_size}")
    return sum(t.gemm.flops for t in mine) / sum(t.timing.median for t in mine) / 1e9


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


@dataclass(frozen=True)
class EpochCost:
    """What one epoch of :func:`nnscratch.train.fit` costs, against the peak measured alongside.

    Every tuple below has one entry per measured epoch, in order: the GEMMs and the peak were
    timed right after that epoch, so that each epoch is compared with the machine as it was
    at that moment (on a shared machine, the speed of the same product drifts).

    Attributes
    ----------
    batch_size : int
    dtype : str
    optimizer : str
        "sgd" (with momentum 0.9) or "adam".
    samples : int
        The images per epoch the figures are for (60,000 for MNIST).
    measured_samples : int
        The images per epoch actually run: a shorter epoch is scaled up to ``samples``.
    epoch : Timing
        Seconds per epoch of ``samples`` images, and the FLOPs of the epoch's matrix products.
    peak : Timing
        Seconds of one large square product, and its FLOPs: the machine's peak.
    parts : dict of str to Timing
        Seconds per step: "GEMM" (the step's products timed alone, in the same shapes),
        "rest of forward/backward" (the rest of ``model._loss_and_grads``), "optimizer"
        (``optimizer.step``) and "loop" (the rest of the step: shuffling and gathering the
        epoch's batches, counting the correct predictions, the schedule, Python).
    """

    batch_size: int
    dtype: str
    optimizer: str
    samples: int
    measured_samples: int
    epoch: Timing
    peak: Timing
    parts: dict[str, Timing]

    @property
    def steps(self) -> int:
        """Steps per epoch of ``samples`` images."""
        return math.ceil(self.samples / self.batch_size)

    @property
    def step_seconds(self) -> float:
        """Median seconds per step."""
        return self.epoch.median / self.steps

    @property
    def peak_gflops(self) -> float:
        """The peak's median GFLOP/s."""
        return self.peak.gflops

    @property
    def fractions_of_peak(self) -> tuple[float, ...]:
        """Per epoch: its effective GFLOP/s over the peak measured right after it."""
        return tuple(
            (self.epoch.flops / epoch) / (self.peak.flops / peak)
            for epoch, peak in zip(self.epoch.seconds, self.peak.seconds, strict=True)
        )

    @property
    def fraction_of_peak(self) -> float:
        """The median of :attr:`fractions_of_peak`."""
        return statistics.median(self.fractions_of_peak)

    @property
    def gemm_share(self) -> float:
        """The median over the epochs of the GEMMs' share of a step's time."""
        gemm = self.parts["GEMM"].seconds
        return statistics.median(
            g / (e / self.steps) for g, e in zip(gemm, self.epoch.seconds, strict=True)
        )

    @property
    def floor_seconds(self) -> float:
        """The epoch's FLOPs at the median peak: no epoch can be faster."""
        return self.epoch.flops / (self.peak_gflops * 1e9)


class _Stopwatch:
    """Wraps a callable, adding up the seconds spent in each call."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function, self.seconds = function, []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = self.function(*args, **kwargs)
        self.seconds.append(time.perf_counter() - start)
        return result

    def per_step(self, steps: int, skip: int) -> tuple[float, ...]:
        """Mean seconds per call in each run of ``steps`` calls, after ``skip`` runs."""
        runs = np.reshape(self.seconds, (-1, steps))[skip:]
        return tuple(float(seconds) for seconds in runs.mean(axis=1))


def _optimizer(name: str) -> Optimizer:
    if name == "sgd":
        return SGD(0.01, momentum=0.9)
    if name == "adam":
        return Adam(1e-3)
    raise ValueError(f"optimizer must be 'sgd' or 'adam', got {name!r}")


def _products(gemms: Sequence[Gemm], dtype: DTypeLike, seed: int) -> Callable[[], None]:
    """A task computing ``gemms`` one after the other, on random operands made once."""
    rng = np.random.default_rng(seed)
    operands = [gemm.operands(dtype, rng) for gemm in gemms]

    def products() -> None:
        for a, b, c in operands:
            np.matmul(a, b, out=c)

    return products


def epoch_cost(
    batch_size: int,
    dtype: DTypeLike = "float32",
    *,
    epochs: int = 3,
    fraction: float = 1.0,
    samples: int = MNIST_TRAIN,
    optimizer: str = "sgd",
    dropout: float = 0.0,
    label_smoothing: float = 0.0,
    square: int = 2048,
    sizes: Sequence[int] = SIZES,
    seed: int = 0,
) -> EpochCost:
    """Time ``epochs`` epochs of :func:`nnscratch.train.fit` on random MNIST-shaped data.

    The data are uniform random pixels in [0, 1) and random labels: the speed of the
    arithmetic does not depend on the values. ``fit`` runs one more epoch first, to warm up,
    which is not counted. The two calls ``fit`` makes per step, ``model._loss_and_grads`` and
    ``optimizer.step``, are wrapped in stopwatches to see where a step's time goes; after
    every epoch, a callback times the step's matrix products alone (for at least 20 ms) and
    one ``square`` product, the peak (callbacks run outside the epoch's time).

    Parameters
    ----------
    batch_size : int
    dtype : float32 or float64
    epochs : int
        Epochs measured (the runs the median is taken over).
    fraction : float in (0, 1]
        Run epochs of this fraction of ``samples`` images (whole batches, at least one) and
        scale their time up: shorter runs, the same per-step cost.
    samples : int
        The images of a full epoch.
    optimizer : "sgd" or "adam"
        SGD with momentum 0.9, or Adam.
    dropout, label_smoothing : float
        As in :class:`nnscratch.model.MLP` and :func:`nnscratch.train.fit`.
    square : int
        The size of the square product that measures the peak.
    sizes : sequence of int
        The network's layer widths.
    seed : int
        Seeds the data, the model and ``fit``.
    """
    steps = max(1, round(samples * fraction / batch_size))
    measured = steps * batch_size
    rng = np.random.default_rng(seed)
    x = rng.random((measured, sizes[0]), dtype=np.dtype(dtype))
    y = rng.integers(0, sizes[-1], size=measured)
    model = MLP(sizes, seed=seed, dtype=dtype, dropout=dropout)
    opt = _optimizer(optimizer)
    forward_backward = model._loss_and_grads = _Stopwatch(model._loss_and_grads)
    update = opt.step = _Stopwatch(opt.step)
    step_gemms = network_gemms(batch_size, sizes)
    products = _products(step_gemms, dtype, seed)
    square_gemm = Gemm("square", square, square, square)
    square_product = _products([square_gemm], dtype, seed)
    gemm_seconds, square_seconds = [], []

    def time_products(epoch: int, history: object) -> None:
        gemm_seconds.append(time_call(products, repeats=1, min_seconds=0.02)[0])
        square_seconds.append(time_call(square_product, repeats=1, min_seconds=0.0)[0])

    history = fit(
        model,
        x,
        y,
        epochs=epochs + 1,
        batch_size=batch_size,
        optimizer=opt,
        seed=seed,
        label_smoothing=label_smoothing,
        progress=False,
        callbacks=[time_products],
    )
    scale = samples / measured
    epoch = Timing(
        "epoch", tuple(s * scale for s in history.seconds[1:]), epoch_flops(samples, sizes)
    )
    step = history.seconds[1:]
    gemm = gemm_seconds[1:]
    fb = forward_backward.per_step(steps, skip=1)
    up = update.per_step(steps, skip=1)
    parts = {
        "GEMM": Timing("GEMM", tuple(gemm), sum(g.flops for g in step_gemms)),
        "rest of forward/backward": Timing(
            "forward/backward", tuple(f - g for f, g in zip(fb, gemm, strict=True))
        ),
        "optimizer": Timing("optimizer", up),
        "loop": Timing(
            "loop", tuple(s / steps - f - u for s, f, u in zip(step, fb, up, strict=True))
        ),
    }
    peak = Timing("square", tuple(square_seconds[1:]), square_gemm.flops)
    return EpochCost(
        batch_size, np.dtype(dtype).name, optimizer, samples, measured, epoch, peak, parts
    )


def inference_time(
    dtype: DTypeLike = "float32",
    *,
    samples: int = MNIST_TEST,
    repeats: int = 7,
    sizes: Sequence[int] = SIZES,
    seed: int = 0,
) -> Timing:
    """Seconds for ``model.predict`` on ``samples`` random MNIST-shaped images (the test set).

    The time includes ``predict``'s checks of its input (shape, dtype, finite values).
    """
    rng = np.random.default_rng(seed)
    x = rng.random((samples, sizes[0]), dtype=np.dtype(dtype))
    model = MLP(sizes, seed=seed, dtype=dtype)
    flops = 2 * samples * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    seconds = time_call(lambda: model.predict(x), repeats=repeats, min_seconds=0.0)
    return Timing("predict", seconds, flops)


def format_epoch_table(costs: Sequence[EpochCost]) -> str:
    """Seconds per epoch (median, slowest-fastest), GFLOP/s, fraction of the peak, the floor."""
    lines = [
        f"{'batch':>5} {'dtype':<8} {'s/epoch':>8} {'(fastest-slowest)':<18} {'GFLOP/s':>8} "
        f"{'peak':>6} {'of peak':>8} {'floor s':>8}"
    ]
    for c in costs:
        lines.append(
            f"{c.batch_size:>5} {c.dtype:<8} {c.epoch.median:8.3f} "
            f"{f'({c.epoch.fastest:.3f}-{c.epoch.slowest:.3f})':<18} {c.epoch.gflops:8.1f} "
            f"{c.peak_gflops:6.0f} {c.fraction_of_peak:8.0%} {c.floor_seconds:8.3f}"
        )
    return "\n".join(lines)


def format_step_table(costs: Sequence[EpochCost]) -> str:
    """Per step, in milliseconds: the whole step and its parts (medians), and the GEMM share."""
    names = list(costs[0].parts)
    header = f"{'batch':>5} {'dtype':<8} {'step':>7} " + " ".join(f"{n:>9}" for n in names)
    lines = [header + f" {'GEMM share':>10}   (ms per step)"]
    for c in costs:
        parts = " ".join(f"{c.parts[n].median * 1e3:{max(9, len(n))}.3f}" for n in names)
        lines.append(
            f"{c.batch_size:>5} {c.dtype:<8} {c.step_seconds * 1e3:7.3f} {parts} "
            f"{c.gemm_share:10.0%}"
        )
    return "\n".join(lines)
