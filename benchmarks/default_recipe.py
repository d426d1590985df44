"""How long ``nnscratch train`` takes with the defaults, and the test accuracy it reaches.

Runs the real command (``python -m nnscratch train --seed S --json --quiet``, in a fresh
process) once per seed on the real MNIST, and prints per seed the training time the command
reports, the time of the whole command (start-up, loading and verifying the data, training,
testing, saving) and the test accuracy, with their medians. ``--record`` also writes them,
with the date, the machine (CPU, cores, BLAS) and the recipe measured, to
``nnscratch/default_recipe.json``, which ``nnscratch train --help`` quotes
(:func:`nnscratch.recipes.measured_default`); a test checks that the recipe recorded there
is still the default one.

The machine may be shared: the load average before the first run and after the last is
recorded with the figures, and the times are medians over the seeds.

Run: ``NNSCRATCH_DATA_DIR=... python benchmarks/default_recipe.py --record`` (three runs of
about half a minute each on two idle cores).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import nnscratch
from nnscratch import data, recipes
from nnscratch.recipes import Recipe

RECORD = Path(nnscratch.__file__).parent / recipes.MEASUREMENT


def main(argv: list[str] | None = None) -> None:
    """Measure, print the table, and record it if asked."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--record", action="store_true", help=f"write {RECORD}")
    args = parser.parse_args(argv)
    if not os.environ.get(data.DATA_DIR_VARIABLE):
        raise SystemExit(f"set {data.DATA_DIR_VARIABLE} to the folder holding mnist/")

    machine = describe_machine()
    load = os.getloadavg()[0]
    print(f"{machine['cores']}-core {machine['cpu']}, {machine['blas']}; load average {load:.2f}")
    print(f"{'seed':>4} {'training s':>10} {'command s':>9} {'test accuracy':>13}")
    runs = []
    for seed in args.seeds:
        run = train_once(seed)
        runs.append(run)
        print(
            f"{seed:>4} {run['training_seconds']:>10.1f} {run['command_seconds']:>9.1f} "
            f"{run['test_accuracy']:>13.2%}"
        )
    median = {key: statistics.median(run[key] for run in runs) for key in runs[0] if key != "seed"}
    print(
        f"{'med.':>4} {median['training_seconds']:>10.1f} {median['command_seconds']:>9.1f} "
        f"{median['test_accuracy']:>13.2%}"
    )
    load_after = os.getloadavg()[0]
    print(f"load average after the runs {load_after:.2f}")
    if args.record:
        record = {
            "date": datetime.date.today().isoformat(),
            "machine": machine,
            "load_average_before": round(load, 2),
            "load_average_after": round(load_after, 2),
            "versions": {"nnscratch": nnscratch.__version__, "numpy": np.__version__},
            "recipe": Recipe().settings(),
            "runs": runs,
            "median": median,
        }
        RECORD.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(f"recorded in {RECORD}")


def train_once(seed: int) -> dict[str, float]:
    """One ``nnscratch train`` with the defaults and ``seed``, in a fresh process."""
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-m", "nnscratch", "train", "--seed", str(seed)]
        command += ["--out", os.path.join(folder, "model.npz"), "--json", "--quiet"]
        start = time.perf_counter()
        finished = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
    if finished.returncode:
        raise SystemExit(finished.stderr)
    report = json.loads(finished.stdout)
    return {
        "seed": seed,
        "training_seconds": report["training_seconds"],
        "command_seconds": seconds,
        "test_accuracy": report["test"]["accuracy"],
    }


def describe_machine() -> dict[str, object]:
    """The CPU's name, the cores this process may use, and the BLAS NumPy calls."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        blas = "BLAS unknown (pip install threadpoolctl)"
    else:
        pools = [pool for pool in threadpool_info() if pool.get("user_api") == "blas"]
        blas = "; ".join(
            f"{pool.get('internal_api')} {pool.get('version')}, {pool.get('architecture')} "
            f"kernels, {pool.get('num_threads')} threads"
            for pool in pools
        )
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": cores, "blas": blas or "no BLAS found"}


if __name__ == "__main__":
    main()
