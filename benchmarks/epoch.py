"""Seconds per training epoch against the machine's matrix-multiply peak, and where they go.

Runs :func:`nnscratch.train.fit` (the code the book's readers run, ``progress=False``) on
60,000 random MNIST-shaped images for the 784-512-10 network, at batch sizes 32, 128 and 512,
in float32 and float64, with SGD and momentum. Prints, per configuration, the median seconds per
epoch over several epochs (with the fastest and slowest), the effective GFLOP/s of the epoch's
matrix products, the peak (a large square product, timed after every epoch: the machine's
speed drifts when it is shared), the epoch's fraction of it, and the floor (the FLOPs at the
peak); then, per step, the time of the matrix products alone against the rest (element-wise
forward/backward work, the optimizer, the loop). Then the same for the book's recipe (Adam,
dropout, label smoothing) and the time to predict the 10,000 test images.
The measuring functions live in :mod:`nnscratch.bench`; this script only prints.

Run: ``python benchmarks/epoch.py`` (about two minutes on two idle cores); ``--fraction 0.2``
runs a fifth of each epoch and scales it up (the per-step cost is the same).
"""

from __future__ import annotations

import argparse
import time

from nnscratch import bench
from nnscratch.recipes import Recipe


def main(argv: list[str] | None = None) -> None:
    """Measure and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=list(bench.BATCH_SIZES))
    parser.add_argument(
        "--dtypes", nargs="+", default=list(bench.DTYPE_NAMES), choices=bench.DTYPE_NAMES
    )
    parser.add_argument("--epochs", type=int, default=5, help="epochs measured per row")
    parser.add_argument("--fraction", type=float, default=1.0, help="of each epoch, run")
    parser.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"])
    args = parser.parse_args(argv)

    print(bench.machine_description())
    start = time.perf_counter()
    print(
        f"network {'-'.join(map(str, bench.SIZES))}, {bench.MNIST_TRAIN:,} random images, "
        f"{bench.epoch_flops() / 1e9:.1f} GFLOP of matrix products per epoch"
    )
    print(
        f"fit with {args.optimizer}{' (momentum 0.9)' if args.optimizer == 'sgd' else ''}, "
        f"median of {args.epochs} epochs after one to warm up"
        + (f", each {args.fraction:g} of an epoch, scaled up" if args.fraction < 1 else "")
        + "; after each epoch, the step's GEMMs alone and the peak (a 2048^3 product)"
    )
    costs = [
        bench.epoch_cost(
            batch_size,
            dtype,
            epochs=args.epochs,
            fraction=args.fraction,
            optimizer=args.optimizer,
        )
        for dtype in args.dtypes
        for batch_size in args.batch_sizes
    ]
    print()
    print(bench.format_epoch_table(costs))
    print()
    print(bench.format_step_table(costs))

    recipe = Recipe()
    recipe_costs = [
        bench.epoch_cost(
            recipe.batch_size,
            dtype,
            epochs=args.epochs,
            fraction=args.fraction,
            optimizer=recipe.optimizer,
            dropout=recipe.dropout,
            label_smoothing=recipe.label_smoothing,
        )
        for dtype in args.dtypes
    ]
    print()
    print(
        f"the book's recipe: {recipe.optimizer}, dropout {recipe.dropout}, label smoothing "
        f"{recipe.label_smoothing}, batch {recipe.batch_size}"
    )
    print(bench.format_epoch_table(recipe_costs))
    print(bench.format_step_table(recipe_costs))

    print()
    for dtype in args.dtypes:
        predict = bench.inference_time(dtype)
        print(
            f"predict {bench.MNIST_TEST:,} images, {dtype}: {predict.median * 1e3:.1f} ms "
            f"({predict.fastest * 1e3:.1f}-{predict.slowest * 1e3:.1f}), "
            f"{predict.gflops:.1f} GFLOP/s"
        )
    print(f"(measured in {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
