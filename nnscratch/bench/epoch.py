"""What a training epoch costs: :func:`nnscratch.train.fit` timed, against the machine's peak.

:func:`epoch_cost` runs whole epochs of the real training loop on random MNIST-shaped data and
splits a step's time into the matrix products (timed alone, in the same shapes), the rest of
the forward and backward pass, the optimizer's update, and the loop around them; the peak,
one large square product, is timed after every epoch, so each epoch is compared with the
machine as it was at that moment.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from .._checks import check_choice
from ..layers import Dropout, Linear, ReLU, SoftmaxCrossEntropy
from ..model import MLP
from ..optim import SGD, Adam, Floats, Optimizer
from ..train import fit
from .gemm import MNIST_TRAIN, SIZES, Gemm, epoch_flops, network_gemms, products, random_floats
from .timing import Stopwatch, Timing, time_call


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
        "rest of forward/backward" (the rest of ``model.train_step``), "optimizer"
        (``optimizer.step``) and "loop" (the rest of the step: shuffling and gathering the
        epoch's batches, counting the correct predictions, the schedule, Python).
    extras : dict of str to Timing
        "rest of forward/backward" split in three, ``EXTRAS``: the forward pass's work
        besides its products (biases, activation, dropout), the loss (softmax, cross-entropy
        and its gradient) and the backward pass's besides its products; in the proportions
        of the same step taken apart and timed phase by phase (:func:`step_extras`).
    dropout, label_smoothing : float
        As the step was run.
    """

    batch_size: int
    dtype: str
    optimizer: str
    samples: int
    measured_samples: int
    epoch: Timing
    peak: Timing
    parts: dict[str, Timing]
    extras: dict[str, Timing]
    dropout: float = 0.0
    label_smoothing: float = 0.0

    @property
    def steps_per_epoch(self) -> int:
        """Steps per epoch of ``samples`` images."""
        return math.ceil(self.samples / self.batch_size)

    @property
    def step_seconds(self) -> float:
        """Median seconds per step."""
        return self.epoch.median / self.steps_per_epoch

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
            g / (e / self.steps_per_epoch) for g, e in zip(gemm, self.epoch.seconds, strict=True)
        )

    @property
    def products_ratios(self) -> tuple[float, ...]:
        """Per epoch: its time over its products alone (timed right after it)."""
        steps = self.steps_per_epoch
        return tuple(
            e / (g * steps)
            for e, g in zip(self.epoch.seconds, self.parts["GEMM"].seconds, strict=True)
        )

    @property
    def products_ratio(self) -> float:
        """The median of :attr:`products_ratios`: how many times its own products an epoch
        takes (1 would be an epoch that is nothing but its matrix products)."""
        return statistics.median(self.products_ratios)

    @property
    def floor_seconds(self) -> float:
        """The epoch's FLOPs at the median peak: no epoch can be faster."""
        return self.epoch.flops / (self.peak_gflops * 1e9)


class _TimedUpdates(Optimizer):
    """Mixed in before an optimizer class: each update (``step``) runs under a stopwatch."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.updates = Stopwatch(super().step)

    def step(self, params: Mapping[str, Floats], grads: Mapping[str, Floats]) -> None:
        self.updates(params, grads)


class _TimedSGD(_TimedUpdates, SGD):
    """SGD whose updates are timed."""


class _TimedAdam(_TimedUpdates, Adam):
    """Adam whose updates are timed."""


def _timed_optimizer(name: str) -> _TimedUpdates:
    """SGD with momentum 0.9 or Adam, as ``name`` says, with a stopwatch on its updates."""
    if check_choice(name, "optimizer", ("sgd", "adam")) == "sgd":
        return _TimedSGD(0.01, momentum=0.9)
    return _TimedAdam(1e-3)


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
    which is not counted. The two calls ``fit`` makes per step run under stopwatches, to see
    where a step's time goes: ``model.train_step``, wrapped and handed to ``fit`` as its
    ``step``, and ``optimizer.step``, timed by the optimizer itself (a subclass of SGD or Adam
    that does nothing else). After every epoch, a callback times the step's matrix products
    alone (for at least 20 ms) and one ``square`` product, the peak (callbacks run outside the
    epoch's time).

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
    steps_per_epoch = max(1, round(samples * fraction / batch_size))
    measured = steps_per_epoch * batch_size
    rng = np.random.default_rng(seed)
    x = random_floats(rng, (measured, sizes[0]), dtype)
    y = rng.integers(0, sizes[-1], size=measured)
    model = MLP(sizes, seed=seed, dtype=dtype, dropout=dropout)
    opt = _timed_optimizer(optimizer)
    train_step = Stopwatch(model.train_step)
    step_gemms = network_gemms(batch_size, sizes)
    step_products = products(step_gemms, dtype, seed)
    square_gemm = Gemm("square", square, square, square)
    square_product = products([square_gemm], dtype, seed)
    gemm_seconds, square_seconds = [], []

    def time_products(epoch: int, history: object) -> None:
        gemm_seconds.append(time_call(step_products, repeats=1, min_seconds=0.02)[0])
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
        step=train_step,
    )
    scale = samples / measured
    epoch = Timing(
        "epoch", tuple(s * scale for s in history.seconds[1:]), epoch_flops(samples, sizes)
    )
    step = [seconds / steps_per_epoch for seconds in history.seconds[1:]]
    gemm = gemm_seconds[1:]
    fb = train_step.per_run(steps_per_epoch, skip=1)
    up = opt.updates.per_run(steps_per_epoch, skip=1)
    parts = {
        "GEMM": Timing("GEMM", tuple(gemm), sum(g.flops for g in step_gemms)),
        "rest of forward/backward": Timing(
            "forward/backward", tuple(f - g for f, g in zip(fb, gemm, strict=True))
        ),
        "optimizer": Timing("optimizer", up),
        "loop": Timing("loop", tuple(s - f - u for s, f, u in zip(step, fb, up, strict=True))),
    }
    peak = Timing("square", tuple(square_seconds[1:]), square_gemm.flops)
    phases = step_extras(
        batch_size, dtype, dropout=dropout, label_smoothing=label_smoothing, sizes=sizes, seed=seed
    )
    shares = _shares(phases)
    rest = parts["rest of forward/backward"].seconds
    extras = {name: Timing(name, tuple(r * shares[name] for r in rest)) for name in EXTRAS}
    return EpochCost(
        batch_size,
        np.dtype(dtype).name,
        optimizer,
        samples,
        measured,
        epoch,
        peak,
        parts,
        extras,
        dropout,
        label_smoothing,
    )


EXTRAS = ("forward extras", "loss", "backward extras")
"""The three parts of a step's forward and backward pass besides its matrix products."""


def step_extras(
    batch_size: int,
    dtype: DTypeLike = "float32",
    *,
    dropout: float = 0.0,
    label_smoothing: float = 0.0,
    sizes: Sequence[int] = SIZES,
    seed: int = 0,
    repeats: int = 30,
) -> dict[str, float]:
    """Seconds of each of ``EXTRAS`` in one training step, the step taken apart.

    The step of :meth:`nnscratch.model.MLP.train_step` is rebuilt from the public layers of
    :mod:`nnscratch.layers` (Linear, ReLU, Dropout, SoftmaxCrossEntropy, writing into
    buffers as the model's step does) and its three phases are timed one after the other,
    ``repeats`` times: the forward pass, the loss and its gradient, the backward pass. The
    forward and backward products, timed alone in the same shapes alternately with the
    phases, are subtracted from their phase. Each figure is the fastest of the ``repeats``
    rounds: a difference of two times needs the times least disturbed by a shared machine.
    The dropout masks are drawn from a generator seeded by ``seed``.
    """
    rng = np.random.default_rng(seed)
    depth = len(sizes) - 1
    x = random_floats(rng, (batch_size, sizes[0]), dtype)
    y = rng.integers(0, sizes[-1], size=batch_size)
    model = MLP(sizes, seed=seed, dtype=dtype)
    linears = [Linear(model.params[f"W{i}"], model.params[f"b{i}"]) for i in range(1, depth + 1)]
    activations = [ReLU() for _ in range(depth - 1)]
    dropouts = [Dropout(dropout) for _ in range(depth - 1)]
    loss_layer = SoftmaxCrossEntropy(label_smoothing)
    z = [np.empty((batch_size, width), x.dtype) for width in sizes[1:]]
    dx = [np.empty((batch_size, width), x.dtype) for width in sizes[1:-1]]
    hidden = list(zip(linears[:-1], activations, dropouts, z, strict=False))
    backward_layers = list(zip(linears[1:], activations, dropouts, dx, strict=True))[::-1]
    gemms = network_gemms(batch_size, sizes)
    forward_products = products(gemms[:depth], dtype, seed)
    backward_products = products(gemms[depth:], dtype, seed)
    state: dict[str, Floats] = {}

    def forward() -> None:
        a = x
        for linear, activation, drop, out in hidden:
            a = drop.forward(activation.forward(linear.forward(a, out=out)), rng)
        state["logits"] = linears[-1].forward(a, out=z[-1])

    def loss() -> None:
        loss_layer.forward(state["logits"], y)
        state["delta"] = loss_layer.backward()

    def backward() -> None:
        delta = state["delta"]
        for linear, activation, drop, out in backward_layers:
            delta = activation.backward(drop.backward(linear.backward(delta, out=out)))
        linears[0].backward(delta, need_input_grad=False)

    tasks = {
        "forward": forward,
        "loss": loss,
        "backward": backward,
        "forward products": forward_products,
        "backward products": backward_products,
    }
    seconds: dict[str, list[float]] = {name: [] for name in tasks}
    for _ in range(repeats + 1):  # the first round warms up
        for name, task in tasks.items():
            start = time.perf_counter()
            task()
            seconds[name].append(time.perf_counter() - start)
    best = {name: min(values[1:]) for name, values in seconds.items()}
    return {
        "forward extras": best["forward"] - best["forward products"],
        "loss": best["loss"],
        "backward extras": best["backward"] - best["backward products"],
    }


def _shares(phases: Mapping[str, float]) -> dict[str, float]:
    """Each phase's share of their sum, a negative phase (noise) counted as zero."""
    clipped = {name: max(seconds, 0.0) for name, seconds in phases.items()}
    total = sum(clipped.values())
    if total == 0:
        return {name: 1 / len(clipped) for name in clipped}
    return {name: seconds / total for name, seconds in clipped.items()}


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


def format_overhead_table(costs: Sequence[EpochCost]) -> str:
    """Per step, in milliseconds (medians): the products and everything else, part by part.

    The columns after "GEMM" are ``EXTRAS``, the optimizer and the loop (gathering the
    batches included); with the products they add up to the step.
    """
    names = [*EXTRAS, "optimizer", "loop"]
    header = f"{'batch':>5} {'dtype':<8} {'optimizer':<9} {'step':>7} {'GEMM':>7} "
    lines = [header + " ".join(f"{n:>15}" for n in names) + "   (ms per step)"]
    for c in costs:
        values = [*(c.extras[n].median for n in EXTRAS), *(c.parts[n].median for n in names[3:])]
        lines.append(
            f"{c.batch_size:>5} {c.dtype:<8} {c.optimizer:<9} {c.step_seconds * 1e3:7.3f} "
            f"{c.parts['GEMM'].median * 1e3:7.3f} " + " ".join(f"{v * 1e3:15.3f}" for v in values)
        )
    return "\n".join(lines)
