"""The command line: train a model, evaluate it, and read digits from pictures.

``nnscratch train`` trains with the book's best recipe (see `nnscratch.recipes.Recipe`) and saves
a model file; ``nnscratch evaluate MODEL`` prints the metrics on the test set; ``nnscratch predict
MODEL IMAGE...`` reads the digit in each picture. A user mistake (a missing file, a bad model
file, a bad option value, data not found) prints one line ``nnscratch: error: ...`` to stderr and
exits with a non-zero status, without a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, fields, replace
from typing import Any, NoReturn, TypeVar

import numpy as np

from . import __version__, data, images, metrics, recipes
from .model import DTYPE_NAMES, MLP

__all__ = ["build_parser", "main"]

Number = TypeVar("Number", int, float)

PROG = "nnscratch"
IMAGE_FEATURES = 28 * 28
CALIBRATION_BINS = 15
USAGE_ERROR, FAILURE, INTERRUPTED = 2, 1, 130
# Exceptions that report a user's mistake or the environment, not a bug: one line, no traceback.
USER_ERRORS = (OSError, ValueError, ImportError, FloatingPointError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status.

    Returns
    -------
    int
        0 on success, 1 if something failed (a message is on stderr), 2 for a usage error,
        130 if interrupted.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        return _error(str(exc), USAGE_ERROR)
    except SystemExit as exc:  # --help and --version print and exit normally
        return int(exc.code or 0)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        return _error("interrupted", INTERRUPTED)
    except USER_ERRORS as exc:
        return _error(_describe(exc), FAILURE)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``nnscratch`` command and its sub-commands."""
    parser = _Parser(
        prog=PROG,
        description="Neural networks from scratch: an MNIST digit classifier in NumPy.",
        epilog="Run 'nnscratch COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", required=True)
    _add_train(commands)
    _add_evaluate(commands)
    _add_predict(commands)
    return parser


class _UsageError(Exception):
    """A command line argparse refused; the message says why."""


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises instead of printing the usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see '{self.prog} --help')")


def _error(message: str, status: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status


def _describe(exc: BaseException) -> str:
    """One line saying what went wrong."""
    if isinstance(exc, data.DataNotFoundError):
        first = str(exc).splitlines()[0]
        return f"{first} Pass --data-dir DIR (a folder holding them) or set NNSCRATCH_DATA_DIR."
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{os.fspath(exc.filename)}: {exc.strerror}"
    message = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return message or type(exc).__name__


# --------------------------------------------------------------------------- argument types


def _number(
    kind: Callable[[str], Number], what: str, accept: Callable[[Number], bool]
) -> Callable[[str], Number]:
    """An argparse ``type``: ``kind(text)`` if that parses and ``accept`` holds, else a usage
    error saying that the option must be ``what``."""

    def convert(text: str) -> Number:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return convert


_positive_int = _number(int, "an integer >= 1", lambda value: value >= 1)
_non_negative_int = _number(int, "an integer >= 0", lambda value: value >= 0)
_positive_float = _number(float, "a number > 0", lambda value: 0 < value < math.inf)
_non_negative_float = _number(float, "a number >= 0", lambda value: 0 <= value < math.inf)
_fraction = _number(float, "a number in [0, 1)", lambda value: 0 <= value < 1)


# --------------------------------------------------------------------------- train

# Options that override a field of recipes.Recipe (None: keep the recipe's default).
RECIPE_OPTIONS = {
    "epochs": ("--epochs", _positive_int, "N", "passes over the training data"),
    "batch_size": ("--batch-size", _positive_int, "B", "images per step"),
    "optimizer": ("--optimizer", str, None, "adam or sgd (with momentum)"),
    "lr": ("--lr", _positive_float, "LR", "peak learning rate"),
    "schedule": ("--schedule", str, None, "learning-rate schedule after the warm-up"),
    "warmup_epochs": ("--warmup-epochs", _non_negative_float, "E", "linear warm-up, < epochs"),
    "dropout": ("--dropout", _fraction, "P", "dropout probability on the hidden layers"),
    "label_smoothing": ("--label-smoothing", _fraction, "E", "label smoothing"),
    "weight_decay": ("--weight-decay", _non_negative_float, "W", "L2 weight decay"),
    "validation_size": ("--validation-size", _non_negative_int, "N", "images held out"),
    "dtype": ("--dtype", str, None, "float type of the weights and computations"),
}
CHOICES = {"optimizer": recipes.OPTIMIZERS, "schedule": recipes.SCHEDULES, "dtype": DTYPE_NAMES}


def _add_train(commands: Any) -> None:
    default = recipes.Recipe()
    sub = commands.add_parser(
        "train",
        help="train a classifier and save it",
        description="Train a classifier with the book's best recipe (override any part of it "
        "below), hold out a validation set, report the test accuracy and loss, and save the "
        "model with its recipe and metrics.",
    )
    sub.add_argument(
        "--hidden",
        type=_positive_int,
        nargs="*",
        action="extend",
        metavar="WIDTH",
        help=f"hidden layer widths, e.g. --hidden 512 256; none for a linear model "
        f"(default: {' '.join(map(str, default.hidden))})",
    )
    for name, (flag, kind, metavar, text) in RECIPE_OPTIONS.items():
        sub.add_argument(
            flag,
            dest=name,
            type=kind,
            metavar=metavar,
            choices=CHOICES.get(name),
            help=f"{text} (default: {getattr(default, name)})",
        )
    sub.add_argument(
        "--augment",
        dest="augmented",
        action="store_true",
        help="start from the augmented recipe (nnscratch.recipes.AUGMENTED: every batch "
        "distorted afresh) instead of the default one; the options above override it",
    )
    sub.add_argument("--seed", type=int, default=0, help="seeds everything (default: 0)")
    _add_data_options(sub, "the data set to train on (default: mnist)")
    sub.add_argument(
        "--out", default="model.npz", metavar="PATH", help="model file (default: model.npz)"
    )
    sub.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    sub.set_defaults(run=_train)


def _add_data_options(sub: argparse.ArgumentParser, dataset_help: str) -> None:
    sub.add_argument("--dataset", choices=tuple(data.CLASSES), help=dataset_help)
    sub.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder holding the data set's four IDX files (otherwise $NNSCRATCH_DATA_DIR, "
        "then the cache, downloading what is missing)",
    )


def _train(args: argparse.Namespace) -> int:
    recipe = _recipe(args)
    _check_output_path(args.out)
    dataset = _load_dataset(args.dataset or "mnist", args.data_dir)
    print(
        f"{dataset.name}: {len(dataset.x_train)} training images "
        f"({recipe.validation_size} held out for validation), {len(dataset.x_test)} test images"
    )
    print("recipe: " + ", ".join(f"{k}={v}" for k, v in asdict(recipe).items()))
    start = time.perf_counter()
    model, _ = recipes.train_recipe(
        dataset.x_train, dataset.y_train, recipe, seed=args.seed, progress=not args.no_progress
    )
    seconds = time.perf_counter() - start
    x = _test_inputs(model, dataset)
    scores = _test_scores(model, x, dataset.y_test, model.predict_proba(x))
    model.metadata.update(dataset=dataset.name, training_seconds=seconds, metrics=scores)
    model.save(args.out)
    print(f"training time: {seconds:.1f} s")
    print(
        f"test accuracy: {scores['accuracy']:.2%}, test loss: {scores['loss']:.4f} "
        f"({scores['n']} images)"
    )
    print(f"saved the model to {args.out}")
    return 0


def _recipe(args: argparse.Namespace) -> recipes.Recipe:
    """The default (or, with --augment, the augmented) recipe with the options given."""
    given = {f.name: getattr(args, f.name, None) for f in fields(recipes.Recipe)}
    start = recipes.AUGMENTED if args.augmented else recipes.Recipe()
    return replace(start, **{k: v for k, v in given.items() if v is not None})


def _check_output_path(path: str) -> None:
    """Refuse a model path that would fail only after training."""
    if not path.endswith(".npz"):
        raise ValueError(f"--out must name a .npz file, got {path!r}")
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise ValueError(f"--out: the folder {folder!r} does not exist")


def _load_dataset(name: str, data_dir: str | None) -> data.Dataset:
    if name not in data.CLASSES:
        raise ValueError(f"unknown data set {name!r}; choose from {', '.join(data.CLASSES)}")
    return data.load(name, data_dir)


def _test_scores(model: MLP, x: np.ndarray, y: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """Accuracy, loss and calibration on the test set ``(x, y)`` whose predicted probabilities
    are ``proba``: what a model file records and ``evaluate`` reports."""
    return {
        "split": "test",
        "n": len(y),
        "accuracy": metrics.accuracy(y, proba.argmax(axis=1)),
        "loss": model.loss(x, y),
        "expected_calibration_error": metrics.expected_calibration_error(
            y, proba, n_bins=CALIBRATION_BINS
        ),
    }


def _test_inputs(model: MLP, dataset: data.Dataset) -> np.ndarray:
    classes = len(dataset.classes)
    if model.sizes[0] != IMAGE_FEATURES or model.sizes[-1] != classes:
        raise ValueError(
            f"the model maps {model.sizes[0]} inputs to {model.sizes[-1]} classes, "
            f"but {dataset.name} has {IMAGE_FEATURES} pixels per image and {classes} classes"
        )
    return data.preprocess(dataset.x_test, dtype=model.dtype)


# --------------------------------------------------------------------------- evaluate


def _add_evaluate(commands: Any) -> None:
    sub = commands.add_parser(
        "evaluate",
        help="report a model's metrics on the test set",
        description="Print the classification report, the confusion matrix, the test loss and "
        "the expected calibration error of a saved model on a test set.",
    )
    sub.add_argument("model", metavar="MODEL", help="a model file written by 'nnscratch train'")
    _add_data_options(sub, "the test set (default: the one the model was trained on)")
    sub.add_argument("--json", action="store_true", help="print one JSON object instead")
    sub.set_defaults(run=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    model = MLP.load(args.model)
    dataset = _load_dataset(args.dataset or _trained_on(model), args.data_dir)
    x, y = _test_inputs(model, dataset), dataset.y_test
    proba = model.predict_proba(x)
    scores = _test_scores(model, x, y, proba)
    y_pred = proba.argmax(axis=1)
    k = len(dataset.classes)
    cm = metrics.confusion_matrix(y, y_pred, num_classes=k)
    if args.json:
        report = _json_report(args.model, dataset, y, y_pred, cm, scores)
        print(json.dumps(report, indent=None))
        return 0
    print(f"model: {args.model} ({'-'.join(map(str, model.sizes))}, {model.dtype.name})")
    print(f"data: the {dataset.name} test set, {len(y)} images\n")
    print(metrics.classification_report(y, y_pred, target_names=dataset.classes, num_classes=k))
    print("confusion matrix (rows: true class, columns: predicted class):")
    print(metrics.format_confusion_matrix(cm, dataset.classes))
    print(f"\ntest loss (cross-entropy): {scores['loss']:.4f}")
    print(
        f"expected calibration error ({CALIBRATION_BINS} bins): "
        f"{scores['expected_calibration_error']:.4f}"
    )
    return 0


def _trained_on(model: MLP) -> str:
    name = model.metadata.get("dataset", "mnist")
    return name if name in data.CLASSES else "mnist"


def _json_report(
    path: str,
    dataset: data.Dataset,
    y: np.ndarray,
    y_pred: np.ndarray,
    cm: np.ndarray,
    scores: dict[str, Any],
) -> dict[str, Any]:
    k = len(dataset.classes)
    per_class = metrics.precision_recall_f1(y, y_pred, num_classes=k)
    specificity = metrics.specificity(y, y_pred, num_classes=k)
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
            }
            for label, name in enumerate(dataset.classes)
        ],
        **averages,
        "confusion_matrix": cm.tolist(),
    }


# --------------------------------------------------------------------------- predict


def _add_predict(commands: Any) -> None:
    sub = commands.add_parser(
        "predict",
        help="read the digit in each picture",
        description="Prepare each picture as the MNIST digits were (grey scale, inverted if the "
        "digit is dark on light, scaled into a 20x20 box, centred by centre of mass in 28x28) "
        "and print the predicted class and its probability, one line per file. A file that "
        "cannot be read gets an error line on stderr; the others are still predicted.",
    )
    sub.add_argument("model", metavar="MODEL", help="a model file written by 'nnscratch train'")
    sub.add_argument("images", metavar="IMAGE", nargs="+", help="image files (PNG, JPEG, ...)")
    sub.set_defaults(run=_predict)


def _predict(args: argparse.Namespace) -> int:
    model = MLP.load(args.model)
    if model.sizes[0] != IMAGE_FEATURES:
        raise ValueError(
            f"{args.model}: the model takes {model.sizes[0]} inputs, not 28 x 28 = 784 pixels"
        )
    names = _class_names(model)
    failures = 0
    for path in args.images:
        try:
            x = images.load_digit(path, dtype=model.dtype)
        except (OSError, ValueError) as exc:
            failures += 1
            _error(_describe(exc), FAILURE)
            continue
        proba = model.predict_proba(x[None, :])[0]
        label = int(proba.argmax())
        print(f"{path}: {names[label]} ({proba[label]:.1%})")
    return FAILURE if failures else 0


def _class_names(model: MLP) -> tuple[str, ...]:
    names = data.CLASSES[_trained_on(model)]
    return names if len(names) == model.sizes[-1] else tuple(map(str, range(model.sizes[-1])))
