"""Timing work on a shared machine: medians over runs, and the machine's description."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


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


class Stopwatch:
    """Wraps a callable, recording the seconds spent in each call.

    A stopwatch is called like the function it wraps, so it can stand in for it wherever a
    callable is accepted (e.g. the ``step`` of :func:`nnscratch.train.fit`).
    """

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.seconds: list[float] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = self.function(*args, **kwargs)
        self.seconds.append(time.perf_counter() - start)
        return result

    def per_run(self, calls: int, skip: int) -> tuple[float, ...]:
        """Mean seconds per call in each run of ``calls`` calls, after ``skip`` runs."""
        runs = np.reshape(self.seconds, (-1, calls))[skip:]
        return tuple(float(seconds) for seconds in runs.mean(axis=1))
