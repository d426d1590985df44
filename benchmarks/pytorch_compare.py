"""The same training epoch in nnscratch and in PyTorch's CPU build, on the same machine.

Both train the 784-512-10 network (ReLU, softmax cross-entropy) in float32 with SGD and
momentum 0.9 on the same 60,000 random MNIST-shaped images, in shuffled batches, with every
thread the machine offers to each library. nnscratch runs :func:`nnscratch.train.fit` (the
loop the book's readers run, ``progress=False``); PyTorch runs the textbook loop
(``zero_grad``, forward, ``cross_entropy``, ``backward``, ``step``) on tensors shuffled
once per epoch, like ``fit``. Neither computes the gradient with respect to the images. The
two alternate, run by run (each run: one epoch to warm up, one timed), so that both see the
machine in the same state. Each row: the median seconds per epoch over the runs, with the
fastest and slowest, and the median over the runs of nnscratch's epoch over PyTorch's, with
its range, against the target of issue 12 at batch 128 (at most 0.8).

PyTorch is not a dependency of nnscratch: install it yourself to run this script (on this
machine, ``pip install torch`` in a separate environment); without it the script says so
and exits.

Run: ``python benchmarks/pytorch_compare.py`` (about a minute on two idle cores).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

import numpy as np

from nnscratch import bench
from nnscratch.model import MLP
from nnscratch.optim import SGD
from nnscratch.train import fit

LR, MOMENTUM = 0.01, 0.9
TARGET = {128: 0.8}  # nnscratch's epoch over PyTorch's, float32, SGD with momentum


def nnscratch_epochs(x: np.ndarray, y: np.ndarray, batch_size: int, epochs: int) -> list[float]:
    """Seconds per epoch of ``fit``, after one epoch to warm up."""
    model = MLP(bench.SIZES, seed=0, dtype=np.float32)
    optimizer = SGD(LR, momentum=MOMENTUM)
    history = fit(
        model,
        x,
        y,
        optimizer=optimizer,
        epochs=epochs + 1,
        batch_size=batch_size,
        seed=0,
        progress=False,
    )
    return history.seconds[1:]


def torch_epochs(x: np.ndarray, y: np.ndarray, batch_size: int, epochs: int) -> list[float]:
    """Seconds per epoch of the PyTorch loop, after one epoch to warm up."""
    import torch

    torch.manual_seed(0)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    d, h, k = bench.SIZES
    model = torch.nn.Sequential(torch.nn.Linear(d, h), torch.nn.ReLU(), torch.nn.Linear(h, k))
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    seconds = []
    for _ in range(epochs + 1):
        start = time.perf_counter()
        order = torch.randperm(len(xt))
        x_epoch, y_epoch = xt[order], yt[order]
        for begin in range(0, len(xt), batch_size):
            optimizer.zero_grad(set_to_none=True)
            logits = model(x_epoch[begin : begin + batch_size])
            loss = torch.nn.functional.cross_entropy(logits, y_epoch[begin : begin + batch_size])
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - start)
    return seconds[1:]


def _spread(seconds: Sequence[float]) -> str:
    return f"{statistics.median(seconds):8.3f} ({min(seconds):.3f}-{max(seconds):.3f})"


def main(argv: list[str] | None = None) -> None:
    """Measure and print the table (or say that PyTorch is missing)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128, 256])
    parser.add_argument("--runs", type=int, default=3, help="alternated runs per row")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed: `pip install torch` (CPU build) to compare with it.")
        return

    print(bench.machine_description())
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    rng = np.random.default_rng(0)
    x = rng.random((bench.MNIST_TRAIN, bench.SIZES[0]), dtype=np.float32)
    y = rng.integers(0, bench.SIZES[-1], size=bench.MNIST_TRAIN)
    print(
        f"network {'-'.join(map(str, bench.SIZES))}, float32, SGD (momentum {MOMENTUM}), "
        f"{len(x):,} random images; {args.runs} alternated runs, each one epoch after one "
        "to warm up"
    )
    print()
    print(
        f"{'batch':>5} {'nnscratch s/epoch':<27} {'PyTorch s/epoch':<27} "
        f"{'nnscratch/PyTorch':>17} {'(lowest-highest)':<17} target"
    )
    for batch_size in args.batch_sizes:
        ours, theirs = [], []
        for _ in range(args.runs):
            ours += nnscratch_epochs(x, y, batch_size, epochs=1)
            theirs += torch_epochs(x, y, batch_size, epochs=1)
        ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
        ratio = statistics.median(ratios)
        target = TARGET.get(batch_size)
        verdict = "" if target is None else f"<= {target} {'met' if ratio <= target else 'not met'}"
        spread = f"({min(ratios):.2f}-{max(ratios):.2f})"
        print(
            f"{batch_size:>5} {_spread(ours):<27} {_spread(theirs):<27} {ratio:17.2f} "
            f"{spread:<17} {verdict}"
        )


if __name__ == "__main__":
    main()
