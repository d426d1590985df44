"""What the command line reports: a model's scores on the test set, and each command's report.

:func:`score_test_set` gives what ``nnscratch train`` records in a model file and ``evaluate``
reports; :func:`train_report` and :func:`evaluation_report` are the JSON objects the two print
with ``--json``. :class:`EpochLines` prints a line per epoch where there are no progress bars,
and :func:`measured_default_text` tells ``train --help`` how long the defaults took and how
well they did, as ``benchmarks/default_recipe.py`` measured.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from . import data, metrics, prepare, recipes
from .model import MLP
from .train import History

__all__ = [
    "CALIBRATION_BINS",
    "EpochLines",
    "evaluation_report",
    "measured_default_text",
    "prepared_test_set",
    "read_from",
    "score_test_set",
    "train_report",
]

CALIBRATION_BINS = 15
"""The bins of the expected calibration error the command line reports."""


def measured_default_text() -> str:
    """What ``benchmarks/default_recipe.py`` measured of the defaults, for ``train --help``."""
    try:
        record = recipes.measured_default()
    except OSError:
        return "(The measured time and accuracy of the defaults are missing from this install.)"
    try:  # settings added since then, at their defaults, change nothing measured
        measured = recipes.Recipe.from_settings(record["recipe"])
    except ValueError:  # a setting measured then is gone
        measured = None
    if measured != recipes.Recipe():
        return "(The defaults changed since their time and accuracy were last measured.)"
    runs, median = record["runs"], record["median"]
    accuracies = [run["test_accuracy"] for run in runs]
    machine = record["machine"]
    load = record["load_average_before"]  # the work of others (the runs add their own after)
    shared = (
        f", shared with other work (a load average of {load:.1f} before the runs)"
        if load > 1
        else ""
    )
    return (
        f"With the defaults, training took {median['training_seconds']:.0f} s (the whole "
        f"command {median['command_seconds']:.0f} s) and reached {min(accuracies):.2%} to "
        f"{max(accuracies):.2%} test accuracy (median {median['test_accuracy']:.2%}) over "
        f"seeds {', '.join(str(run['seed']) for run in runs)}, as measured on {record['date']} "
        f"on a {machine['cores']}-core {machine['cpu']} ({machine['blas']}){shared} by "
        "benchmarks/default_recipe.py."
    )


class EpochLines:
    """A callback of :func:`~nnscratch.train.fit` printing one line per epoch to stderr."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def __call__(self, epoch: int, history: History) -> None:
        line = (
            f"epoch {epoch + 1}/{self.epochs}: loss {history.train_loss[-1]:.4f}, accuracy "
            f"{history.train_accuracy[-1]:.2%}"
        )
        if history.val_loss:
            line += (
                f"; validation loss {history.val_loss[-1]:.4f}, accuracy "
                f"{history.val_accuracy[-1]:.2%}"
            )
        print(f"{line}; {history.seconds[-1]:.1f} s", file=sys.stderr, flush=True)


def train_report(
    path: str,
    dataset: data.Dataset,
    seed: int,
    recipe: recipes.Recipe,
    history: History,
    seconds: float,
    scores: dict[str, Any],
) -> dict[str, Any]:
    """What ``nnscratch train --json`` prints: the model file ``path``, the data, the seed and
    the recipe, the history, the training time and the test set's ``scores``
    (:func:`score_test_set`)."""
    return {
        "model": path,
        "dataset": dataset.name,
        "data_folders": list(map(str, dataset.folders)),
        "seed": seed,
        "recipe": recipe.settings(),
        "training_images": len(dataset.x_train) - recipe.validation_size,
        "validation_images": recipe.validation_size,
        "training_seconds": seconds,
        "history": history.summary(),
        "test": scores,
    }


def score_test_set(model: MLP, x: np.ndarray, y: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """Accuracy, loss and calibration on the test set: what a model file records and
    ``evaluate`` reports.

    Parameters
    ----------
    model : MLP
    x : ndarray, shape (n, features)
        The test inputs.
    y : ndarray of int, shape (n,)
        Their labels.
    proba : ndarray, shape (n, classes)
        ``model.predict_proba(x)``.

    Returns
    -------
    dict
        ``"split"`` ("test"), ``"n"``, ``"accuracy"``, ``"loss"`` and
        ``"expected_calibration_error"`` (over :data:`CALIBRATION_BINS` bins).
    """
    return {
        "split": "test",
        "n": len(y),
        "accuracy": metrics.accuracy(y, proba.argmax(axis=1)),
        "loss": model.loss(x, y),
        "expected_calibration_error": metrics.expected_calibration_error(
            y, proba, n_bins=CALIBRATION_BINS
        ),
    }


def prepared_test_set(model: MLP, dataset: data.Dataset) -> np.ndarray:
    """The test images of ``dataset`` as ``model``'s input, shape (n, 784), in its dtype.

    Raises
    ------
    ValueError
        If the model does not map the data set's 784 pixels to its number of classes.
    """
    classes = len(dataset.classes)
    if model.sizes[0] != recipes.IMAGE_FEATURES or model.sizes[-1] != classes:
        raise ValueError(
            f"the model maps {model.sizes[0]} inputs to {model.sizes[-1]} classes, but "
            f"{dataset.name} has {recipes.IMAGE_FEATURES} pixels per image and {classes} classes"
        )
    return prepare.preprocess(dataset.x_test, dtype=model.dtype)


def evaluation_report(
    path: str,
    dataset: data.Dataset,
    y: np.ndarray,
    y_pred: np.ndarray,
    cm: np.ndarray,
    scores: dict[str, Any],
) -> dict[str, Any]:
    """What ``nnscratch evaluate --json`` prints: the model file ``path``, the data, the test
    set's ``scores`` (:func:`score_test_set`), and per class and on average the precision,
    recall, F1, specificity, support and one-vs-rest counts, with the confusion matrix.

    Parameters
    ----------
    path : str
    dataset : Dataset
    y, y_pred : ndarray of int, shape (n,)
        The true and the predicted labels of the test images.
    cm : ndarray of int, shape (classes, classes)
        Their confusion matrix (rows: true, columns: predicted).
    scores : dict
    """
    k = len(dataset.classes)
    per_class = metrics.precision_recall_f1(y, y_pred, num_classes=k)
    specificity = metrics.specificity(y, y_pred, num_classes=k)
    tp, fp, fn, tn = metrics.one_vs_rest_counts(y, y_pred, num_classes=k)
    averages = {
        f"{average}_avg": dict(
            zip(
                ("precision", "recall", "f1"),
                metrics.precision_recall_f1(y, y_pred, average=average, num_classes=k),
                strict=True,
            )
        )
        for average in ("macro", "weighted")
    }
    return {
        "model": path,
        "dataset": dataset.name,
        "data_folders": list(map(str, dataset.folders)),
        **scores,
        "classes": [
            {
                "label": label,
                "name": name,
                "precision": float(per_class[0][label]),
                "recall": float(per_class[1][label]),
                "f1": float(per_class[2][label]),
                "specificity": float(specificity[label]),
                "support": int(cm[label].sum()),
                "tp": int(tp[label]),
                "fp": int(fp[label]),
                "fn": int(fn[label]),
                "tn": int(tn[label]),
            }
            for label, name in enumerate(dataset.classes)
        ],
        **averages,
        "confusion_matrix": cm.tolist(),
    }


def read_from(dataset: data.Dataset) -> str:
    """`` (read from FOLDER)``: which folder the data set's files came from, if any."""
    folders = ", ".join(map(str, dataset.folders))
    return f" (read from {folders})" if folders else ""
