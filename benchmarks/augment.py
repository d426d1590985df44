"""Seconds to distort 60,000 images, per kind of distortion, against one epoch of training.

Times :func:`nnscratch.augment.distort` on 60,000 random MNIST-shaped float32 images (28x28:
the speed does not depend on the pixel values) for each kind of distortion in :data:`KINDS`,
writing into one reused array as a training loop would; and, in the same rounds, one epoch of
:func:`nnscratch.train.fit` with the settings of the augmented recipe
(:data:`nnscratch.recipes.AUGMENTED`, without its distortions) on random data of the same
size. A round times every kind once, then the epoch. The table gives, per kind, the median
seconds over the rounds (fastest-slowest), and the median of its ratio to the epoch of the
same round: the machine may be shared and its speed drifts, so only a ratio measured within
one round compares like with like. The row "4 gathers alone" is the floor of bilinear
resampling in NumPy: the four ``np.take`` calls that read the neighbours of every output
pixel (at the positions of an elastic field, in zero-padded images), and nothing else.

Run: ``python benchmarks/augment.py`` (about a minute on two idle cores); ``--images`` and
``--epoch-fraction`` run fewer images and scale the times up.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict

import numpy as np

from nnscratch import augment, bench
from nnscratch.model import MLP
from nnscratch.recipes import AUGMENTED, Recipe
from nnscratch.train import fit

#: The distortions timed: the arguments of :func:`nnscratch.augment.distort`.
KINDS = {
    "resampling only": {},
    "affine": dict(rotate=15, scale=0.15, shear=15, translate=2),
    "elastic": dict(elastic=(34, 4)),
    "affine + elastic": dict(rotate=15, scale=0.15, shear=15, translate=2, elastic=(34, 4)),
    "augmented recipe's": asdict(AUGMENTED.distortions) if AUGMENTED.distortions else {},
}
GATHERS = "4 gathers alone"
EPOCH = "epoch of training"


def main(argv: list[str] | None = None) -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=bench.MNIST_TRAIN, help="distorted per call")
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (after a warm-up)")
    parser.add_argument("--epoch-fraction", type=float, default=1.0, help="of the epoch, run")
    args = parser.parse_args(argv)

    recipe = AUGMENTED.without_distortions()
    print(bench.machine_description())
    print(
        f"{bench.MNIST_TRAIN:,} float32 images of 28x28 (timed on {args.images:,}), median of "
        f"{args.rounds} rounds; each round: every kind once, then one epoch of training "
        f"({recipe.optimizer}, batch {recipe.batch_size}, dropout {recipe.dropout}, label "
        f"smoothing {recipe.label_smoothing}"
        + (f", {args.epoch_fraction:g} of it, scaled up" if args.epoch_fraction < 1 else "")
        + ")"
    )
    start = time.perf_counter()
    seconds = measure(args.images, args.rounds, args.epoch_fraction, recipe)
    print()
    print(format_table(seconds))
    print(f"(measured in {time.perf_counter() - start:.0f} s)")


def measure(
    images: int, rounds: int, epoch_fraction: float, recipe: Recipe, seed: int = 0
) -> dict[str, list[float]]:
    """Seconds per 60,000 images of every kind, and of the epoch, one entry per round."""
    rng = np.random.default_rng(seed)
    x_images = rng.random((images, 28, 28), dtype=np.float32)
    out = np.empty_like(x_images)
    scale = bench.MNIST_TRAIN / images
    samples = max(recipe.batch_size, round(bench.MNIST_TRAIN * epoch_fraction))
    x = rng.random((samples, 784), dtype=np.float32)
    y = rng.integers(0, 10, samples)
    model = MLP([784, *recipe.hidden, 10], seed=seed, dtype=recipe.dtype, dropout=recipe.dropout)
    optimizer = recipe.build_optimizer()

    def epoch(round_: int) -> float:
        history = fit(
            model,
            x,
            y,
            epochs=1,
            batch_size=recipe.batch_size,
            optimizer=optimizer,
            seed=round_,
            label_smoothing=recipe.label_smoothing,
            progress=False,
        )
        return history.seconds[0] * bench.MNIST_TRAIN / samples

    gathers = four_gathers(x_images, rng)
    seconds: dict[str, list[float]] = {name: [] for name in [*KINDS, GATHERS, EPOCH]}
    for round_ in range(rounds + 1):  # round 0 warms up
        for name, kwargs in KINDS.items():
            begin = time.perf_counter()
            augment.distort(x_images, rng, **kwargs, out=out)
            if round_:
                seconds[name].append((time.perf_counter() - begin) * scale)
        begin = time.perf_counter()
        gathers()
        gather_seconds = (time.perf_counter() - begin) * scale
        epoch_seconds = epoch(round_)
        if round_:
            seconds[GATHERS].append(gather_seconds)
            seconds[EPOCH].append(epoch_seconds)
    return seconds


def four_gathers(images: np.ndarray, rng: np.random.Generator) -> Callable[[], None]:
    """A task reading the four neighbours of every output pixel with ``np.take``, alone.

    The positions are those of elastic fields (34, 4); each image is padded with zeros (one
    pixel before, two after) and the positions clipped into the padded frame, as in
    :mod:`nnscratch.augment`; images are taken 128 at a time, their results overwritten.
    """
    n, height, width = images.shape
    padded = np.zeros((n, height + 3, width + 3), images.dtype)
    padded[:, 1 : height + 1, 1 : width + 1] = images
    rows, columns = np.mgrid[1 : height + 1, 1 : width + 1]
    field = augment.elastic_field(n, rng, 34, 4, shape=(height, width))
    y = np.clip(rows + field[:, 0], 0, height + 1).astype(np.intp)
    x = np.clip(columns + field[:, 1], 0, width + 1).astype(np.intp)
    index = (np.arange(n)[:, None, None] * (height + 3) + y) * (width + 3) + x
    flat = padded.reshape(-1)
    block = 128 * height * width
    corners = np.empty((4, block), images.dtype)
    offsets = (0, 1, width + 3, width + 4)

    def task() -> None:
        for begin in range(0, index.size, block):
            piece = index.reshape(-1)[begin : begin + block]
            for corner, offset in zip(corners, offsets, strict=True):
                np.take(flat[offset:], piece, mode="clip", out=corner[: len(piece)])

    return task


def format_table(seconds: dict[str, list[float]]) -> str:
    """Per kind: median seconds (fastest-slowest) and the median ratio to the same round's epoch."""
    epochs = seconds[EPOCH]
    lines = [f"{'distortion':<20} {'s/60,000':>9}  {'(fastest-slowest)':<18} {'/ epoch':>7}"]
    for name, times in seconds.items():
        ratio = statistics.median(t / e for t, e in zip(times, epochs, strict=True))
        spread = f"({min(times):.3f}-{max(times):.3f})"
        lines.append(f"{name:<20} {statistics.median(times):9.3f}  {spread:<18} {ratio:7.2f}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
