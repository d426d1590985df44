"""What a prediction costs: :meth:`nnscratch.model.MLP.predict` on the test set, timed.

:func:`inference_time` times ``model.predict`` on random MNIST-shaped images, as many as the
test set holds; :func:`inference_cost` times it alternately with the network's forward
products alone, in the same shapes, to say how many times its own products a prediction takes
(the same ratio as :class:`~nnscratch.bench.EpochCost`'s for a training epoch).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import DTypeLike

from ..model import MLP
from .gemm import SIZES, network_gemms, products, random_floats
from .timing import Timing, time_call

MNIST_TEST = 10_000
"""The images of MNIST's test set."""


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
    x = random_floats(rng, (samples, sizes[0]), dtype)
    model = MLP(sizes, seed=seed, dtype=dtype)
    flops = 2 * samples * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    seconds = time_call(lambda: model.predict(x), repeats=repeats, min_seconds=0.0)
    return Timing("predict", seconds, flops)


@dataclass(frozen=True)
class InferenceCost:
    """Predicting ``samples`` images against the two forward products alone, run by run.

    Attributes
    ----------
    predict : Timing
        Seconds of ``model.predict`` (its checks of the input included), one entry per run.
    products : Timing
        Seconds of the forward products alone, in the same shapes, timed right after each run.
    """

    dtype: str
    samples: int
    predict: Timing
    products: Timing

    @property
    def products_ratios(self) -> tuple[float, ...]:
        """Per run: the prediction's time over its products'."""
        pairs = zip(self.predict.seconds, self.products.seconds, strict=True)
        return tuple(p / g for p, g in pairs)

    @property
    def products_ratio(self) -> float:
        """The median of :attr:`products_ratios`."""
        return statistics.median(self.products_ratios)


def inference_cost(
    dtype: DTypeLike = "float32",
    *,
    samples: int = MNIST_TEST,
    repeats: int = 7,
    sizes: Sequence[int] = SIZES,
    seed: int = 0,
) -> InferenceCost:
    """Time ``model.predict`` on ``samples`` random images and its products alone, alternately.

    One call of each first warms up; then ``repeats`` rounds of one prediction followed by
    the network's forward products (``x @ W`` per layer, :func:`network_gemms`' first ones)
    in the prediction's shapes.
    """
    rng = np.random.default_rng(seed)
    x = random_floats(rng, (samples, sizes[0]), dtype)
    model = MLP(sizes, seed=seed, dtype=dtype)
    forward = network_gemms(samples, sizes)[: len(sizes) - 1]
    tasks = {"predict": lambda: model.predict(x), "products": products(forward, dtype, seed)}
    seconds: dict[str, list[float]] = {name: [] for name in tasks}
    for _ in range(repeats + 1):
        for name, task in tasks.items():
            start = time.perf_counter()
            task()
            seconds[name].append(time.perf_counter() - start)
    flops = sum(gemm.flops for gemm in forward)
    return InferenceCost(
        np.dtype(dtype).name,
        samples,
        Timing("predict", tuple(seconds["predict"][1:]), flops),
        Timing("products", tuple(seconds["products"][1:]), flops),
    )
