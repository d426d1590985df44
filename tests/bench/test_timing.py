"""Tests for nnscratch.bench.timing: calls timed, statistics, the stopwatch; never a duration."""

from __future__ import annotations

import numpy as np

from nnscratch import bench


def test_time_call_runs_the_task_and_returns_one_time_per_run():
    calls = []
    seconds = bench.time_call(lambda: calls.append(1), repeats=4, min_seconds=0.0)
    assert len(seconds) == 4 and all(s >= 0 for s in seconds)
    assert len(calls) == 1 + 4  # one warm-up call, then one call per run (min_seconds 0)


def test_timing_statistics():
    timing = bench.Timing("t", (2.0, 1.0, 4.0), flops=4_000_000_000)
    assert (timing.median, timing.fastest, timing.slowest) == (2.0, 1.0, 4.0)
    assert timing.gflops == 2.0 and timing.gflops_range == (1.0, 4.0)


def test_stopwatch_passes_calls_through_and_records_each():
    stopwatch = bench.Stopwatch(lambda a, *, b: a + b)
    assert [stopwatch(i, b=10) for i in range(6)] == list(range(10, 16))
    assert len(stopwatch.seconds) == 6 and all(s >= 0 for s in stopwatch.seconds)
    stopwatch.seconds[:] = [1.0, 3.0, 2.0, 2.0, 5.0, 7.0]
    assert stopwatch.per_run(2, skip=1) == (2.0, 6.0)


def test_machine_description_names_numpy_and_the_blas():
    description = bench.machine_description()
    assert description.startswith(f"NumPy {np.__version__}, ")
    assert "BLAS" in description
