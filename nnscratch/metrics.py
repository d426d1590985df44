"""Classification metrics with scikit-learn's conventions, so results can be checked against it.

Labels are integers ``0 .. K-1``. Where a ratio has a zero denominator (a class that is never
predicted has no precision; a class that never occurs has no recall) the value is 0, as with
scikit-learn's ``zero_division=0``, and no warning or floating-point error is raised. Every
average runs over all ``K`` classes, as scikit-learn does when given ``labels=range(K)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import as_float_array, as_labels, check_count, check_int, check_probability_rows

__all__ = [
    "ReliabilityCurve",
    "accuracy",
    "classification_report",
    "confusion_matrix",
    "expected_calibration_error",
    "format_confusion_matrix",
    "log_loss",
    "precision_recall_f1",
    "reliability_curve",
    "specificity",
]

Average = Literal["macro", "micro", "weighted"] | None
Scores = NDArray[np.float64]


def _label_pair(
    y_true: ArrayLike, y_pred: ArrayLike, num_classes: int | None
) -> tuple[NDArray[np.int64], NDArray[np.int64], int]:
    """Check two label arrays of equal, non-zero length; return them and the number of classes."""
    true = as_labels(y_true, name="y_true")
    pred = as_labels(y_pred, n=true.shape[0], name="y_pred")
    if true.shape[0] == 0:
        raise ValueError("y_true and y_pred must hold at least one label, got none")
    if num_classes is None:
        num_classes = int(max(true.max(), pred.max())) + 1
    num_classes = check_count(num_classes, "num_classes")
    as_labels(true, num_classes=num_classes, name="y_true")
    as_labels(pred, num_classes=num_classes, name="y_pred")
    return true, pred, num_classes


def _ratio(numerator: ArrayLike, denominator: ArrayLike) -> NDArray[np.float64]:
    """``numerator / denominator`` elementwise, 0 where the denominator is 0 (no warnings)."""
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    out = np.zeros(np.broadcast_shapes(num.shape, den.shape))
    np.divide(num, den, out=out, where=den != 0)
    return out


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Fraction of labels predicted exactly.

    Parameters
    ----------
    y_true, y_pred : array_like of int, shape (n,)
        True and predicted class labels, ``n >= 1``.

    Returns
    -------
    float
        In ``[0, 1]``.
    """
    true, pred, _ = _label_pair(y_true, y_pred, None)
    return float(np.mean(true == pred))


def confusion_matrix(
    y_true: ArrayLike, y_pred: ArrayLike, num_classes: int | None = None
) -> NDArray[np.int64]:
    """Count every (true, predicted) pair of labels.

    Parameters
    ----------
    y_true, y_pred : array_like of int, shape (n,)
        True and predicted class labels.
    num_classes : int, optional
        ``K``. If omitted, the largest label seen plus one.

    Returns
    -------
    ndarray of int64, shape (K, K)
        ``C[i, j]`` is the number of samples of true class ``i`` predicted as class ``j``
        (rows: true, columns: predicted), as in ``sklearn.metrics.confusion_matrix``.
    """
    true, pred, k = _label_pair(y_true, y_pred, num_classes)
    return np.bincount(true * k + pred, minlength=k * k).reshape(k, k)


@overload
def precision_recall_f1(
    y_true: ArrayLike, y_pred: ArrayLike, average: None = None, num_classes: int | None = None
) -> tuple[Scores, Scores, Scores]: ...
@overload
def precision_recall_f1(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    average: Literal["macro", "micro", "weighted"],
    num_classes: int | None = None,
) -> tuple[float, float, float]: ...
def precision_recall_f1(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    average: Average = None,
    num_classes: int | None = None,
) -> tuple[Scores, Scores, Scores] | tuple[float, float, float]:
    """Precision, recall and F1 score, per class or averaged.

    Per class ``k``: precision ``= TP / (TP + FP)``, recall ``= TP / (TP + FN)``,
    F1 ``= 2 TP / (2 TP + FP + FN)``; each is 0 when its denominator is 0 (a class never
    predicted has precision 0, a class absent from ``y_true`` has recall 0).

    Parameters
    ----------
    y_true, y_pred : array_like of int, shape (n,)
        True and predicted class labels.
    average : {None, "macro", "micro", "weighted"}
        ``None`` returns one value per class. ``"macro"`` is the unweighted mean over the ``K``
        classes, ``"weighted"`` the mean weighted by each class's support (its count in
        ``y_true``), ``"micro"`` pools the counts of all classes (for single-label data all
        three then equal the accuracy).
    num_classes : int, optional
        ``K``. If omitted, the largest label seen plus one.

    Returns
    -------
    precision, recall, f1 : ndarray of float64, shape (K,), or three floats if averaged
    """
    if average not in (None, "macro", "micro", "weighted"):
        raise ValueError(f"average must be None, 'macro', 'micro' or 'weighted', got {average!r}")
    cm = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(cm)
    predicted = cm.sum(axis=0)
    support = cm.sum(axis=1)
    if average == "micro":
        tp, predicted, support = tp.sum(), predicted.sum(), support.sum()
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * tp, predicted + support)
    if average is None:
        return precision, recall, f1
    if average == "micro":
        return float(precision), float(recall), float(f1)
    weights = support if average == "weighted" else None
    mean_precision, mean_recall, mean_f1 = (
        float(np.average(scores, weights=weights)) for scores in (precision, recall, f1)
    )
    return mean_precision, mean_recall, mean_f1


def specificity(
    y_true: ArrayLike, y_pred: ArrayLike, num_classes: int | None = None
) -> NDArray[np.float64]:
    """Per-class specificity (true negative rate), ``TN / (TN + FP)``, one class against the rest.

    Parameters
    ----------
    y_true, y_pred : array_like of int, shape (n,)
        True and predicted class labels.
    num_classes : int, optional
        ``K``. If omitted, the largest label seen plus one.

    Returns
    -------
    ndarray of float64, shape (K,)
        0 for a class that every sample belongs to (it has no negatives).
    """
    cm = confusion_matrix(y_true, y_pred, num_classes)
    n = cm.sum()
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    negatives = n - cm.sum(axis=1)
    return _ratio(negatives - fp, negatives)


def _check_proba(
    y_true: ArrayLike, proba: ArrayLike
) -> tuple[NDArray[np.int64], NDArray[np.floating]]:
    """Check a matrix of class probabilities (rows sum to one) and its labels."""
    p = as_float_array(proba, ndim=2, name="proba")
    n, k = p.shape
    if n == 0 or k == 0:
        raise ValueError(f"proba must have at least one row and one column, got shape {p.shape}")
    check_probability_rows(p, name="proba")
    return as_labels(y_true, num_classes=k, n=n, name="y_true"), p


def log_loss(y_true: ArrayLike, proba: ArrayLike) -> float:
    """Mean negative log-probability of the true class (cross-entropy of predicted probabilities).

    Computed as ``-mean(log p[i, y_i])`` with no clipping. If some sample's true class has
    probability exactly 0 the loss is ``inf`` (returned without a warning); scikit-learn
    instead clips probabilities to ``[eps, 1 - eps]`` and returns a large finite number. For
    probabilities above the machine epsilon the two agree. To get a finite loss from a model,
    use the loss computed from logits (``MLP.loss``), which never underflows.

    Parameters
    ----------
    y_true : array_like of int, shape (n,)
        True class labels in ``[0, K)``.
    proba : array_like of float, shape (n, K)
        Predicted probabilities; non-negative, finite, each row summing to 1.

    Returns
    -------
    float
    """
    y, p = _check_proba(y_true, proba)
    p_true = p[np.arange(y.shape[0]), y]
    if (p_true == 0).any():
        return float("inf")
    return float(-np.mean(np.log(p_true)))


@dataclass(frozen=True)
class ReliabilityCurve:
    """Confidence against accuracy in equal-width bins of confidence (a reliability diagram).

    Attributes
    ----------
    bin_edges : ndarray, shape (n_bins + 1,)
        ``0, 1/n_bins, ..., 1``; bin ``b`` holds confidences in ``(edges[b], edges[b + 1]]``
        (the first bin also holds 0).
    confidence : ndarray, shape (n_bins,)
        Mean confidence (highest class probability) of the samples in each bin; NaN for an
        empty bin, which has nothing to average, so plots leave it out.
    accuracy : ndarray, shape (n_bins,)
        Fraction of the bin's samples whose most probable class is right; NaN for an empty bin.
    counts : ndarray of int64, shape (n_bins,)
        Number of samples in each bin.
    expected_calibration_error : float
        ``sum_b counts[b] / n * |accuracy[b] - confidence[b]|`` over the non-empty bins.
    """

    bin_edges: NDArray[np.floating]
    confidence: NDArray[np.floating]
    accuracy: NDArray[np.floating]
    counts: NDArray[np.int64]
    expected_calibration_error: float


def reliability_curve(y_true: ArrayLike, proba: ArrayLike, *, n_bins: int = 15) -> ReliabilityCurve:
    """Bin the predictions by confidence and compare each bin's confidence with its accuracy.

    Parameters
    ----------
    y_true : array_like of int, shape (n,)
        True class labels in ``[0, K)``.
    proba : array_like of float, shape (n, K)
        Predicted probabilities, each row summing to 1.
    n_bins : int
        Number of equal-width bins on ``[0, 1]``.

    Returns
    -------
    ReliabilityCurve
        Per-bin arrays in ``proba``'s dtype, counts, and the expected calibration error.
    """
    n_bins = check_count(n_bins, "n_bins")
    y, p = _check_proba(y_true, proba)
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(p.dtype)
    edges = np.linspace(0, 1, n_bins + 1, dtype=p.dtype)
    bins = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    filled = counts > 0
    mean_conf = np.full(n_bins, np.nan, dtype=p.dtype)
    mean_acc = np.full(n_bins, np.nan, dtype=p.dtype)
    mean_conf[filled] = np.bincount(bins, weights=conf, minlength=n_bins)[filled] / counts[filled]
    mean_acc[filled] = np.bincount(bins, weights=correct, minlength=n_bins)[filled] / counts[filled]
    gaps = np.abs(mean_acc[filled] - mean_conf[filled]).astype(np.float64)
    ece = float(np.sum(counts[filled] / y.shape[0] * gaps))
    return ReliabilityCurve(edges, mean_conf, mean_acc, counts, ece)


def expected_calibration_error(y_true: ArrayLike, proba: ArrayLike, *, n_bins: int = 15) -> float:
    """Expected calibration error: the count-weighted mean gap between confidence and accuracy.

    Parameters
    ----------
    y_true : array_like of int, shape (n,)
    proba : array_like of float, shape (n, K)
    n_bins : int
        Number of equal-width confidence bins, see `reliability_curve`.

    Returns
    -------
    float
        In ``[0, 1]``; 0 for a perfectly calibrated model.
    """
    return reliability_curve(y_true, proba, n_bins=n_bins).expected_calibration_error


def classification_report(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    target_names: list[str] | tuple[str, ...] | None = None,
    digits: int = 3,
    num_classes: int | None = None,
) -> str:
    """A text table of precision, recall, F1 and support per class, laid out as scikit-learn's.

    Below the classes come the accuracy and the macro and weighted averages.

    Parameters
    ----------
    y_true, y_pred : array_like of int, shape (n,)
        True and predicted class labels.
    target_names : sequence of str, optional
        One name per class; defaults to the labels ``"0" .. "K-1"``.
    digits : int
        Decimals shown for the scores.
    num_classes : int, optional
        ``K``. If omitted, ``len(target_names)`` if given, else the largest label seen plus one.

    Returns
    -------
    str
        The table, one line per row, ending with a newline.
    """
    if target_names is not None:
        target_names = [str(name) for name in target_names]
        if num_classes is None:
            num_classes = len(target_names)
    true, pred, k = _label_pair(y_true, y_pred, num_classes)
    names = [str(i) for i in range(k)] if target_names is None else target_names
    if len(names) != k:
        raise ValueError(f"target_names must hold {k} names (one per class), got {len(names)}")
    digits = check_int(digits, "digits")
    support = np.bincount(true, minlength=k)
    width = max(*(len(name) for name in names), len("weighted avg"), digits)
    row = "{:>{w}s} " + " {:>9.{d}f}" * 3 + " {:>9}\n"
    headers = ("precision", "recall", "f1-score", "support")
    lines = [" " * (width + 1) + "".join(f" {h:>9}" for h in headers) + "\n\n"]
    per_class = precision_recall_f1(true, pred, None, k)
    for name, *scores, count in zip(names, *per_class, support, strict=True):
        lines.append(row.format(name, *scores, count, w=width, d=digits))
    lines.append("\n")
    acc_row = "{:>{w}s} " + " {:>9}" * 2 + " {:>9.{d}f} {:>9}\n"
    n = true.shape[0]
    lines.append(acc_row.format("accuracy", "", "", accuracy(true, pred), n, w=width, d=digits))
    for average in ("macro", "weighted"):
        means = precision_recall_f1(true, pred, average, k)
        lines.append(row.format(f"{average} avg", *means, n, w=width, d=digits))
    return "".join(lines)


def format_confusion_matrix(cm: ArrayLike, class_names: Sequence[str] | None = None) -> str:
    """A confusion matrix as text: one row per true class, columns headed by the predicted label.

    Parameters
    ----------
    cm : array_like of int, shape (K, K)
        As from :func:`confusion_matrix` (rows: true class, columns: predicted class).
    class_names : sequence of str, optional
        One name per class, shown with its label at the start of each row (a name that is
        the label itself, like MNIST's digits, is shown once); default the labels.

    Returns
    -------
    str
        ``K + 1`` lines, right-aligned columns, no trailing newline.
    """
    counts = np.asarray(cm)
    square = counts.ndim == 2 and counts.shape[0] == counts.shape[1] > 0
    if not square or counts.dtype.kind not in "iu":
        raise ValueError(f"cm must be a square matrix of counts, got {counts.dtype} {counts.shape}")
    k = len(counts)
    names = [str(label) for label in range(k)] if class_names is None else list(class_names)
    if len(names) != k:
        raise ValueError(f"class_names must hold {k} names (one per class), got {len(names)}")
    rows = [name if name == str(label) else f"{label} {name}" for label, name in enumerate(names)]
    left = max(len(row) for row in rows)
    width = max(len(str(counts.max())), len(str(k - 1))) + 1
    header = " " * left + "".join(f"{label:>{width}}" for label in range(k))
    lines = [
        f"{row:>{left}}" + "".join(f"{count:>{width}}" for count in line)
        for row, line in zip(rows, counts, strict=True)
    ]
    return "\n".join([header, *lines])
