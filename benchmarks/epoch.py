"""Seconds per training epoch against its own matrix products and the machine's peak.

Runs :func:`nnscratch.train.fit` (the code the book's readers run, ``progress=False``) on
55,000 random MNIST-shaped images (the training split) for the 784-512-10 network, at batch
sizes 32, 128 and 256, in float32 and float64, with SGD and momentum, then the book's recipe
(Adam, dropout, label smoothing, batch 256), then predicts the 10,000 test images. Prints,
per configuration:

- the median seconds per epoch over several epochs (fastest-slowest), its GFLOP/s, the peak (a
  large square product timed after every epoch), the fraction of it and the floor;
- per step, the products alone (timed after each epoch, in the step's own shapes) and the
  rest, part by part: forward extras (biases, ReLU, dropout), the loss, backward extras, the
  optimizer, the loop (gathering the batches, counting hits, Python);
- the products-alone ceiling: each epoch (and the prediction) over its own products, median
  and range over the runs, against the targets of issue 12.

The BLAS library and its kernel (threadpoolctl) head the output. The measuring functions
live in :mod:`nnscratch.bench`; this script only prints.

Run: ``python benchmarks/epoch.py`` (a few minutes on two idle cores); ``--fraction 0.2``
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
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128, 256])
    parser.add_argument(
        "--dtypes", nargs="+", default=list(bench.DTYPE_NAMES), choices=bench.DTYPE_NAMES
    )
    parser.add_argument("--epochs", type=int, default=3, help="epochs measured per row")
    parser.add_argument("--fraction", type=float, default=1.0, help="of each epoch, run")
    parser.add_argument(
        "--samples", type=int, default=55_000, help="images per epoch (the training split)"
    )
    parser.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"])
    args = parser.parse_args(argv)

    print(bench.machine_description())
    start = time.perf_counter()
    print(
        f"network {'-'.join(map(str, bench.SIZES))}, {args.samples:,} random images, "
        f"{bench.epoch_flops(args.samples) / 1e9:.1f} GFLOP of matrix products per epoch"
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
            samples=args.samples,
            optimizer=args.optimizer,
        )
        for dtype in args.dtypes
        for batch_size in args.batch_sizes
    ]
    print()
    print(bench.format_epoch_table(costs))
    print()
    print(bench.format_overhead_table(costs))

    recipe = Recipe()
    recipe_costs = [
        bench.epoch_cost(
            recipe.batch_size,
            dtype,
            epochs=args.epochs,
            fraction=args.fraction,
            samples=args.samples,
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
    print(bench.format_overhead_table(recipe_costs))

    predictions = [bench.inference_cost(dtype) for dtype in args.dtypes]
    print()
    print("each epoch (prediction) over its own matrix products alone, timed in the same run:")
    print(bench.format_ceiling_table(bench.ceiling_rows(costs + recipe_costs, predictions)))
    print(f"(measured in {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
