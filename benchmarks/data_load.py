"""How long it takes to get MNIST from its four .gz files into arrays, and into network inputs.

Times ``nnscratch.data.load_mnist`` (read, gunzip, SHA-256 of the decompressed bytes, parse,
check), the two unavoidable costs inside it measured alone (zlib decompression, SHA-256),
``read_idx`` without verification, and ``preprocess`` of the training and test images to
``(n, 784)`` float32. Each row is the median wall-clock time of several runs with their
spread (min and max), and the median CPU time of the process (all threads): on a shared,
busy machine the CPU time is the steadier figure. The files come from
``$NNSCRATCH_DATA_DIR/mnist`` (or ``--data-dir``).

``measure`` and ``format_table`` are importable, so that the book can print the same table.

Run: ``NNSCRATCH_DATA_DIR=../shared/datasets python benchmarks/data_load.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnscratch import data, prepare


@dataclass(frozen=True)
class Timing:
    """Seconds taken by one task over several runs: wall clock, and CPU time of all threads."""

    task: str
    seconds: tuple[float, ...]
    cpu_seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def low(self) -> float:
        return min(self.seconds)

    @property
    def high(self) -> float:
        return max(self.seconds)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpu_seconds)


def time_runs(task: Callable[[], object], repeats: int) -> tuple[tuple[float, ...], ...]:
    """Wall-clock and CPU seconds of ``repeats`` calls of ``task`` (results dropped)."""
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        task()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return tuple(wall), tuple(cpu)


def measure(data_dir: str | Path | None = None, *, repeats: int = 7) -> list[Timing]:
    """Time loading MNIST and preparing it, ``repeats`` runs per task.

    Parameters
    ----------
    data_dir : str or Path, optional
        The folder with the four files; by default the loader's search order.
    repeats : int
        Runs per task.

    Returns
    -------
    list of Timing
        One per task, in the order of the table.
    """
    paths = list(data.locate_files("mnist", data_dir, download=False).values())
    compressed = [path.read_bytes() for path in paths]
    raw = [zlib.decompress(blob, wbits=16 + zlib.MAX_WBITS) for blob in compressed]
    dataset = data.load_mnist(data_dir, download=False)
    tasks: dict[str, Callable[[], object]] = {
        "load_mnist(): read, gunzip, SHA-256, parse, check": lambda: data.load_mnist(
            data_dir, download=False
        ),
        "  zlib decompression alone (from memory)": lambda: [
            zlib.decompress(blob, wbits=16 + zlib.MAX_WBITS) for blob in compressed
        ],
        "  SHA-256 alone (of the decompressed bytes)": lambda: [
            hashlib.sha256(content).digest() for content in raw
        ],
        "read_idx() of the 4 files (no checksum)": lambda: [data.read_idx(p) for p in paths],
        "preprocess() train + test -> (n, 784) float32": lambda: (
            prepare.preprocess(dataset.x_train),
            prepare.preprocess(dataset.x_test),
        ),
    }
    return [Timing(name, *time_runs(task, repeats)) for name, task in tasks.items()]


def format_table(timings: list[Timing]) -> str:
    """A plain-text table in milliseconds: task, wall-clock median, min and max, CPU median."""
    width = max(len(timing.task) for timing in timings)
    lines = [f"{'task (ms)':<{width}}  {'median':>7}  {'min':>7}  {'max':>7}  {'CPU':>7}"]
    lines += [
        f"{t.task:<{width}}  {1e3 * t.median:7.1f}  {1e3 * t.low:7.1f}  {1e3 * t.high:7.1f}"
        f"  {1e3 * t.cpu:7.1f}"
        for t in timings
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="folder with the four MNIST files")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)

    paths = data.locate_files("mnist", args.data_dir, download=False)
    size = sum(path.stat().st_size for path in paths.values())
    print(f"MNIST from {Path(next(iter(paths.values()))).parent} ({size / 1e6:.1f} MB on disk)")
    print(f"NumPy {np.__version__}, zlib {zlib.ZLIB_RUNTIME_VERSION}, {args.repeats} runs each")
    print()
    print(format_table(measure(args.data_dir, repeats=args.repeats)))


if __name__ == "__main__":
    main()
