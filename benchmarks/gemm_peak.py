"""The machine's matrix-multiply (GEMM) throughput, in the shapes the network uses and at its best.

Times ``np.matmul`` into a preallocated output, in float32 and float64, for the products of one
training step of the 784-512-10 network at each batch size (the forward products, the weight
gradients ``a.T @ dz`` and the hidden layer's input gradient ``dz @ W2.T``) and for one large
square product, the machine's peak. Each row: median milliseconds per product and GFLOP/s at
the median, with the slowest and fastest of the runs. The measuring functions live in
:mod:`nnscratch.bench`, so that the book can call them; this script only prints.

Run: ``python benchmarks/gemm_peak.py`` (about 15 seconds on two idle cores; ``--quick`` for a
shorter, noisier run).
"""

from __future__ import annotations

import argparse
import time

from nnscratch import bench


def main(argv: list[str] | None = None) -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=list(bench.BATCH_SIZES))
    parser.add_argument("--square", type=int, default=2048, help="size of the square product")
    parser.add_argument("--repeats", type=int, default=7, help="runs per product")
    parser.add_argument("--min-seconds", type=float, default=0.1, help="length of one run")
    parser.add_argument("--quick", action="store_true", help="3 runs of 0.02 s each")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.min_seconds = 3, 0.02

    print(bench.machine_description())
    print(
        f"network {'-'.join(map(str, bench.SIZES))}; median of {args.repeats} runs of at least "
        f"{args.min_seconds} s each"
    )
    start = time.perf_counter()
    timings = bench.gemm_peak(
        args.batch_sizes, square=args.square, repeats=args.repeats, min_seconds=args.min_seconds
    )
    print()
    print(bench.format_gemm_table(timings))
    print()
    for dtype in bench.DTYPE_NAMES:
        peak = bench.peak_gflops(timings, dtype)
        print(
            f"peak {dtype}: {peak:.1f} GFLOP/s; the floor of an epoch "
            f"({bench.epoch_flops() / 1e9:.1f} GFLOP) is {bench.epoch_flops() / peak / 1e9:.3f} s"
        )
    print(f"(measured in {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
