"""How slow and how hungry backpropagation by explicit Jacobians is, against the shortcut.

Measures time and peak memory per sample of ``nnscratch.jacobian.loss_and_grads`` in each order
of the chain-rule product, and of ``MLP.loss_and_grads``, on networks ``784-h-10`` for growing
hidden sizes ``h``; fits the growth ``cost ~ h**exponent`` and extrapolates it to ``h = 512``.
The measuring functions live in :mod:`nnscratch.bench` (``measure_cost``, ``fit_cost``,
``format_cost``) so that the book can call them; this script only prints.

Run: ``python benchmarks/jacobian_cost.py`` (10 seconds on two idle cores, under a minute on
busy ones; ``--hidden 16 32 64 128 256 384`` fits the growth closer to 512 in 1.9 GB).
"""

from __future__ import annotations

import argparse
import platform
import time

from nnscratch import bench, jacobian_memory


def main(argv: list[str] | None = None) -> None:
    """Measure, fit and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=list(bench.HIDDEN_SIZES))
    parser.add_argument("--input-size", type=int, default=784)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--target", type=int, default=512, help="hidden size to extrapolate to")
    args = parser.parse_args(argv)

    print(f"Python {platform.python_version()}, {bench.machine_description()}")
    print(f"network {args.input_size}-h-10, float64, one sample, fastest of {args.repeats} runs")
    start = time.perf_counter()
    rows = bench.measure_cost(args.hidden, input_size=args.input_size, repeats=args.repeats)
    fits = bench.fit_cost(rows, target=args.target)
    print()
    print(bench.format_cost(rows, fits))
    print()
    print_target(args.input_size, args.target, args.repeats, fits)
    print(f"(measured in {time.perf_counter() - start:.0f} s)")


def print_target(input_size: int, target: int, repeats: int, fits: list[bench.CostFit]) -> None:
    """The shortcut measured at the target size, the extrapolations and the memory estimates."""
    sizes = [input_size, target, 10]
    (shortcut,) = bench.measure_cost(
        [target], input_size=input_size, methods=["shortcut"], repeats=repeats
    )
    print(
        f"{'-'.join(map(str, sizes))}: the shortcut, measured: {shortcut.seconds * 1e3:.3f} ms "
        f"and {shortcut.peak_bytes / 1e6:.2f} MB per sample"
    )
    for fit in fits:
        if fit.method in jacobian_memory.ORDERS:
            estimate = jacobian_memory.estimate_bytes(sizes, order=fit.method)
            print(
                f"  {fit.method:<7} order, extrapolated: {fit.seconds_at_target:.3g} s "
                f"({fit.seconds_at_target / shortcut.seconds:,.0f} x the shortcut), "
                f"{fit.bytes_at_target / 1e9:.2f} GB per sample; estimate_bytes: "
                f"{estimate / 1e9:.2f} GB ({estimate / shortcut.peak_bytes:,.0f} x)"
            )


if __name__ == "__main__":
    main()
