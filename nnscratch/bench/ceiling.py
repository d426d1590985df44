"""The products-alone ceiling: how many times its own matrix products a step or a prediction takes.

An epoch of training is at best as fast as the matrix products it computes, timed alone in
the same shapes: the rest (biases, activations, the loss, the optimizer's passes, the loop) is
overhead on top. :func:`ceiling_rows` turns measured epochs (:func:`~nnscratch.bench.epoch_cost`)
and predictions (:func:`~nnscratch.bench.inference_cost`) into rows of that ratio, each with
its target from ``TARGETS`` where there is one, and :func:`format_ceiling_table` prints
them. A ratio is the median over runs of the run's time over its products', both timed in
the same run: a ratio of one run on a shared machine holds better than either time.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from .epoch import EpochCost
from .inference import InferenceCost

TARGETS = {("sgd", 128): 1.33, ("adam", 256): 1.4, ("predict", None): 1.2}
"""The ratios aimed at, float32 (issue 12): SGD with momentum at batch 128, the book's recipe
(Adam, dropout, label smoothing) at batch 256, and predicting the 10,000 test images."""


@dataclass(frozen=True)
class CeilingRow:
    """One measured configuration against its products alone.

    Attributes
    ----------
    name : str
        E.g. ``"sgd, batch 128, float32"``.
    seconds : float
        The median time of the work (an epoch, or a prediction of the test set).
    products_seconds : float
        The median time of its products alone.
    ratios : tuple of float
        Per run: the work's time over its products', timed in the same run.
    target : float or None
        The ratio aimed at (``TARGETS``), None where there is none.
    """

    name: str
    seconds: float
    products_seconds: float
    ratios: tuple[float, ...]
    target: float | None = None

    @property
    def ratio(self) -> float:
        """The median of :attr:`ratios`."""
        return statistics.median(self.ratios)

    @property
    def meets_target(self) -> bool | None:
        """Whether the median ratio is at most the target (None without a target)."""
        return None if self.target is None else self.ratio <= self.target


def ceiling_rows(
    costs: Sequence[EpochCost], predictions: Sequence[InferenceCost] = ()
) -> list[CeilingRow]:
    """One row per measured epoch configuration, then one per prediction.

    A float32 row gets its target from ``TARGETS`` by optimizer and batch size (the
    recipe's row is the one with Adam at batch 256).
    """
    rows = []
    for c in costs:
        target = TARGETS.get((c.optimizer, c.batch_size)) if c.dtype == "float32" else None
        rows.append(
            CeilingRow(
                f"{c.optimizer}, batch {c.batch_size}, {c.dtype}",
                c.epoch.median,
                c.parts["GEMM"].median * c.steps_per_epoch,
                c.products_ratios,
                target,
            )
        )
    for p in predictions:
        target = TARGETS[("predict", None)] if p.dtype == "float32" else None
        name = f"predict {p.samples:,}, {p.dtype}"
        rows.append(
            CeilingRow(name, p.predict.median, p.products.median, p.products_ratios, target)
        )
    return rows


def format_ceiling_table(rows: Sequence[CeilingRow]) -> str:
    """Seconds of the work and of its products, the ratio (median, lowest-highest), target."""
    lines = [f"{'':<28} {'s':>8} {'products s':>10} {'ratio':>6} {'(lowest-highest)':<17} target"]
    for row in rows:
        spread = f"({min(row.ratios):.2f}-{max(row.ratios):.2f})"
        if row.target is None:
            verdict = ""
        else:
            verdict = f"<= {row.target:.2f} {'met' if row.meets_target else 'not met'}"
        lines.append(
            f"{row.name:<28} {row.seconds:8.3f} {row.products_seconds:10.3f} {row.ratio:6.2f} "
            f"{spread:<17} {verdict}"
        )
    return "\n".join(lines)
