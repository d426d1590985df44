"""What the explicit Jacobians cost against the shortcut: time and memory, measured and fitted.

:func:`measure_cost` times one call of :func:`nnscratch.jacobian.loss_and_grads` in each
order, and of the shortcut ``MLP.loss_and_grads``, on one sample of networks with one hidden
layer of growing size, and traces their peak memory; :func:`fit_cost` fits how each grows
(``cost ~ c * hidden**exponent``) and extrapolates to the book's 512 hidden units;
:func:`format_cost` prints both as tables. The script ``benchmarks/jacobian_cost.py`` and the
chapter on Jacobians call them.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import jacobian
from .._checks import check_choice
from ..model import MLP

Floats = NDArray[np.floating]

METHODS = ("shortcut", "reverse", "forward")
"""What :func:`measure_cost` measures: ``MLP.loss_and_grads``, and
:func:`nnscratch.jacobian.loss_and_grads` in each order."""

HIDDEN_SIZES = (16, 32, 64, 128, 256)
"""The hidden sizes :func:`measure_cost` tries by default: the largest needs 0.8 GB."""


@dataclass(frozen=True)
class CostRow:
    """Time and memory of one method on one sample of a ``input-hidden-classes`` network."""

    hidden: int
    method: str
    seconds: float  # fastest of the repeats (the least disturbed by other work)
    peak_bytes: int  # tracemalloc's peak during one call


@dataclass(frozen=True)
class CostFit:
    """How a method's cost grows with the hidden size: ``cost ~ c * hidden**exponent``."""

    method: str
    time_exponent: float
    memory_exponent: float
    target: int  # the hidden size extrapolated to
    seconds_at_target: float
    bytes_at_target: float


def measure_cost(
    hidden_sizes: Sequence[int] = HIDDEN_SIZES,
    *,
    input_size: int = 784,
    num_classes: int = 10,
    methods: Sequence[str] = METHODS,
    repeats: int = 5,
    seed: int = 0,
) -> list[CostRow]:
    """Time and peak memory per sample of each method, for networks with one hidden layer.

    Each network is ``MLP([input_size, hidden, num_classes], seed=seed)`` in float64, given one
    sample. Memory is the peak that ``tracemalloc`` sees during a first call; time the fastest of
    ``repeats`` calls after it (the one least disturbed by other work on the machine). With the
    defaults this takes 5 seconds on two idle cores (half a minute on busy ones), and 0.8 GB.

    Returns
    -------
    list of CostRow
        One per hidden size and method, in that order.
    """
    for method in methods:
        check_choice(method, "every one of methods", METHODS)
    rng = np.random.default_rng(seed)
    rows = []
    for hidden in hidden_sizes:
        model = MLP([input_size, hidden, num_classes], seed=seed)
        x = rng.random((1, input_size))
        y = rng.integers(num_classes, size=1)
        for method in methods:
            call = _one_call(model, x, y, method)
            peak_bytes = _peak_bytes(call)  # also warms up
            seconds = min(_seconds(call) for _ in range(repeats))
            rows.append(CostRow(hidden, method, seconds, peak_bytes))
    return rows


def fit_exponent(sizes: ArrayLike, values: ArrayLike) -> tuple[float, float]:
    """Least squares on a log-log scale: ``values ~ c * sizes**exponent``.

    Returns
    -------
    exponent, c : float
    """
    exponent, log_c = np.polyfit(np.log(sizes), np.log(values), 1)
    return float(exponent), float(np.exp(log_c))


def fit_cost(rows: Sequence[CostRow], *, target: int = 512, points: int = 3) -> list[CostFit]:
    """Fit the growth of each method's time and memory and extrapolate it to ``target``.

    Only the ``points`` largest hidden sizes are fitted: at small sizes fixed overheads hide
    the growth.
    """
    fits = []
    for method in dict.fromkeys(row.method for row in rows):
        mine = sorted((row for row in rows if row.method == method), key=lambda row: row.hidden)
        mine = mine[-points:]
        hidden = [row.hidden for row in mine]
        time_exponent, time_c = fit_exponent(hidden, [row.seconds for row in mine])
        memory_exponent, memory_c = fit_exponent(hidden, [row.peak_bytes for row in mine])
        fits.append(
            CostFit(
                method,
                time_exponent,
                memory_exponent,
                target,
                time_c * target**time_exponent,
                memory_c * target**memory_exponent,
            )
        )
    return fits


def format_cost(rows: Sequence[CostRow], fits: Sequence[CostFit]) -> str:
    """The measurements and the fits as two plain-text tables, with factors over the shortcut."""
    shortcut = {row.hidden: row for row in rows if row.method == "shortcut"}
    lines = [
        f"{'hidden':>6}  {'method':<8}  {'ms/sample':>10}  {'x shortcut':>10}  "
        f"{'peak MB':>9}  {'x shortcut':>10}"
    ]
    for row in rows:
        base = shortcut.get(row.hidden)
        time_factor = _factor(row.seconds, base.seconds if base else None)
        memory_factor = _factor(row.peak_bytes, base.peak_bytes if base else None)
        lines.append(
            f"{row.hidden:>6}  {row.method:<8}  {row.seconds * 1e3:>10.3f}  {time_factor:>10}  "
            f"{row.peak_bytes / 1e6:>9.3f}  {memory_factor:>10}"
        )
    base_fit = next((fit for fit in fits if fit.method == "shortcut"), None)
    at_target = f"s/sample at h={fits[0].target if fits else '-'}"
    lines += [
        "",
        f"{'method':<8}  {'time ~ h^':>9}  {'memory ~ h^':>11}  {at_target:>16}  "
        f"{'x shortcut':>10}  {'GB/sample':>9}  {'x shortcut':>10}",
    ]
    for fit in fits:
        time_factor = _factor(
            fit.seconds_at_target, base_fit.seconds_at_target if base_fit else None
        )
        memory_factor = _factor(fit.bytes_at_target, base_fit.bytes_at_target if base_fit else None)
        lines.append(
            f"{fit.method:<8}  {fit.time_exponent:>9.2f}  {fit.memory_exponent:>11.2f}  "
            f"{fit.seconds_at_target:>16.4g}  {time_factor:>10}  "
            f"{fit.bytes_at_target / 1e9:>9.4g}  {memory_factor:>10}"
        )
    return "\n".join(lines)


def _factor(value: float, base: float | None) -> str:
    return f"{value / base:,.0f}" if base else "-"


def _one_call(model: MLP, x: Floats, y: NDArray[np.int64], method: str) -> Callable[[], object]:
    if method == "shortcut":
        return lambda: model.loss_and_grads(x, y)
    return lambda: jacobian.loss_and_grads(model, x, y, order=method)


def _seconds(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def _peak_bytes(call: Callable[[], object]) -> int:
    """The peak of memory traced during ``call()``, above what was traced before it."""
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    try:
        call()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        if not was_tracing:
            tracemalloc.stop()
