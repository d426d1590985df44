"""Measuring speed and memory: the machine's peak, what a training epoch costs against it, and
what the explicit Jacobians cost against the shortcut.

Training the network is a chain of matrix products (GEMMs, for GEneral Matrix Multiply) with
some element-wise work in between. This package times the products alone, in the shapes the
network uses (:func:`gemm_peak`), whole epochs of the real training loop,
:func:`nnscratch.train.fit` (:func:`epoch_cost`), and the backward pass by explicit Jacobians
against the shortcut (:func:`measure_cost`). The scripts in ``benchmarks/`` print these
tables, and the book's chapters call the same functions with shorter runs.

Every figure is a median over several runs, with the fastest and slowest run as its spread:
the machine may be shared, and a median is what a reader can expect to see. Nothing here
changes how many threads the BLAS library uses.

The package's modules: ``timing`` (timing calls, the machine's description), ``gemm`` (the
network's products and the peak), ``epoch`` (training epochs), ``inference`` (predictions),
``ceiling`` (how many times their own products they take, against the targets) and
``jacobian_cost`` (the Jacobians' cost); everything below is importable from
``nnscratch.bench`` itself.
"""

from ..architecture import DTYPE_NAMES
from .ceiling import TARGETS, CeilingRow, ceiling_rows, format_ceiling_table
from .epoch import (
    EXTRAS,
    EpochCost,
    epoch_cost,
    format_epoch_table,
    format_overhead_table,
    format_step_table,
    step_extras,
)
from .gemm import (
    BATCH_SIZES,
    MNIST_TRAIN,
    SIZES,
    Gemm,
    GemmTiming,
    epoch_flops,
    format_gemm_table,
    gemm_peak,
    network_gemms,
    peak_gflops,
    products,
)
from .inference import MNIST_TEST, InferenceCost, inference_cost, inference_time
from .jacobian_cost import (
    HIDDEN_SIZES,
    METHODS,
    CostFit,
    CostRow,
    fit_cost,
    fit_exponent,
    format_cost,
    measure_cost,
)
from .timing import Stopwatch, Timing, machine_description, time_call

__all__ = [
    "BATCH_SIZES",
    "DTYPE_NAMES",
    "EXTRAS",
    "HIDDEN_SIZES",
    "METHODS",
    "MNIST_TEST",
    "MNIST_TRAIN",
    "SIZES",
    "TARGETS",
    "CeilingRow",
    "CostFit",
    "CostRow",
    "EpochCost",
    "Gemm",
    "GemmTiming",
    "InferenceCost",
    "Stopwatch",
    "Timing",
    "ceiling_rows",
    "epoch_cost",
    "epoch_flops",
    "fit_cost",
    "fit_exponent",
    "format_ceiling_table",
    "format_cost",
    "format_epoch_table",
    "format_gemm_table",
    "format_overhead_table",
    "format_step_table",
    "gemm_peak",
    "inference_cost",
    "inference_time",
    "machine_description",
    "measure_cost",
    "network_gemms",
    "peak_gflops",
    "products",
    "step_extras",
    "time_call",
]
