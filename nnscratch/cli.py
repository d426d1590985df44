"""The command line: train a model, evaluate it, read digits from pictures, show a recipe.

``nnscratch train`` trains with the book's best recipe (see `nnscratch.recipes.Recipe`), or one
read from a TOML file, and saves a model file; ``nnscratch evaluate MODEL`` prints the metrics on
the test set; ``nnscratch predict MODEL IMAGE...`` reads the digit in each picture; ``nnscratch
recipe MODEL`` prints, as TOML, the settings a model was trained with, which ``train --config``
reads back to train the same model again.

Every option is checked before any data is loaded or any work starts. A user mistake (a bad
option, a missing file, a bad model file, data not found, not enough memory) prints one line
``nnscratch: error: ...`` to stderr, naming the option, and exits with a non-zero status: 2 for
a usage error, 1 for a failure, 130 when interrupted (Ctrl-C), 128 + the signal's number for
``SIGTERM`` (143) and ``SIGHUP`` (129), which clean up as Ctrl-C does, and 141 when the reader
of the output went away (``nnscratch predict ... | head -1``: the status of a program ended by
``SIGPIPE``, which is what ``head`` users and ``set -o pipefail`` expect), with no message.
With ``--json`` a command prints one JSON object on stdout and nothing else there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import __version__, data, images, metrics, options, recipes, reports, runs
from ._checks import check_int
from ._files import Terminated, signals_raise
from .model import MLP

__all__ = ["build_parser", "main"]

PROG = "nnscratch"
USAGE_ERROR, FAILURE, INTERRUPTED, OUTPUT_CLOSED = 2, 1, 130, 141
# Exceptions that report a user's mistake or the environment, not a bug: one line, no traceback.
USER_ERRORS = (OSError, ValueError, ImportError, FloatingPointError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status.

    Returns
    -------
    int
        0 on success, 1 if something failed (a message is on stderr), 2 for a usage error,
        130 if interrupted, 143 or 129 if ended by ``SIGTERM`` or ``SIGHUP``, 141 if the
        output was closed.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except options.UsageError as exc:
        return _error(str(exc), USAGE_ERROR)
    except SystemExit as exc:  # --help and --version print and exit normally
        return int(exc.code or 0)
    with signals_raise():  # SIGTERM and SIGHUP unwind like Ctrl-C: every `finally` runs
        try:
            status: int = args.run(args)
            sys.stdout.flush()  # a closed pipe shows here, not at exit
        except options.UsageError as exc:
            return _error(str(exc), USAGE_ERROR)
        except KeyboardInterrupt:
            return _error("interrupted", INTERRUPTED)
        except Terminated as exc:
            return _error(str(exc), 128 + exc.signum)
        except BrokenPipeError:
            return _output_closed()
        except MemoryError as exc:
            detail = _one_line(str(exc))
            return _error(f"out of memory: {detail}" if detail else "out of memory", FAILURE)
        except USER_ERRORS as exc:
            return _error(_describe(exc), FAILURE)
    return status


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``nnscratch`` command and its sub-commands."""
    parser = options.Parser(
        prog=PROG,
        description="Neural networks from scratch: an MNIST digit classifier in NumPy.",
        epilog="Run 'nnscratch COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", dest="command", required=True)
    _add_train(commands)
    _add_evaluate(commands)
    _add_predict(commands)
    _add_recipe(commands)
    return parser


def _error(message: str, status: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return status


def _output_closed() -> int:
    """The reader of stdout went away: say nothing, and keep the exit's flush from failing."""
    try:
        stdout = sys.stdout.fileno()
    except (OSError, ValueError):  # stdout is not a file (io.UnsupportedOperation is both)
        return OUTPUT_CLOSED
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, stdout)
    os.close(devnull)
    return OUTPUT_CLOSED


def _describe(exc: BaseException) -> str:
    """One line saying what went wrong, with the whole cause."""
    if isinstance(exc, data.DataNotFoundError):  # its advice is the library's: add the option
        return f"{_one_line(str(exc))} Or pass --data-dir DIR, the folder that holds them."
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{os.fspath(exc.filename)}: {exc.strerror}"
    return _one_line(str(exc)) or type(exc).__name__


def _one_line(text: str) -> str:
    """The lines of ``text`` joined into one."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


# --------------------------------------------------------------------------- train


def _add_train(commands: Any) -> None:
    sub = commands.add_parser(
        "train",
        help="train a classifier and save it",
        description="Train a classifier with the book's best recipe (override any part of it "
        "below, or read a recipe from a TOML file with --config), hold out a validation set, "
        "report the test accuracy and loss, and save the model with its recipe and metrics. "
        + reports.measured_default_text(),
    )
    options.add_recipe_options(sub, recipes.Recipe)
    sub.add_argument(
        "--augment",
        action="store_true",
        help="start from the augmented recipe (nnscratch.recipes.AUGMENTED: every batch "
        "distorted afresh, 20 epochs, 99%% test accuracy or more) instead of the default one; "
        "--config and the options above override it",
    )
    sub.add_argument(
        "--config",
        metavar="FILE",
        help="a TOML file of settings (as 'nnscratch recipe MODEL' prints them); the options "
        "given here override it",
    )
    sub.add_argument(
        "--seed", type=options.PARSERS[int], help="seeds everything, an integer >= 0 (default: 0)"
    )
    options.add_data_options(sub, "the data set to train on (default: mnist)")
    sub.add_argument(
        "--out", default="model.npz", metavar="PATH", help="model file (default: model.npz)"
    )
    sub.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        help="show progress bars (default: when stderr is a terminal; otherwise a line per epoch)",
    )
    sub.add_argument("--quiet", action="store_true", help="print nothing but errors")
    sub.add_argument("--json", action="store_true", help="print one JSON object at the end")
    sub.set_defaults(run=_train)


def _train(args: argparse.Namespace) -> int:
    run = options.Run(args)
    options.check_out(args.out)
    progress = options.progress_bars(args)
    options.check_data_dir(args.data_dir)
    run.check_fits()
    dataset = data.load(run.dataset, args.data_dir)
    recipe = run.recipe
    talk = not (args.quiet or args.json)
    if talk:
        print(
            f"{dataset.name}{reports.read_from(dataset)}: {len(dataset.x_train)} training images "
            f"({recipe.validation_size} held out for validation), {len(dataset.x_test)} test "
            "images"
        )
        print("recipe: " + ", ".join(f"{k}={v}" for k, v in recipe.settings().items()))
    start = time.perf_counter()
    model, history = runs.train_recipe(
        dataset.x_train,
        dataset.y_train,
        recipe,
        seed=run.seed,
        progress=progress,
        callbacks=[] if progress or args.quiet else [reports.EpochLines(recipe.epochs)],
    )
    seconds = time.perf_counter() - start
    x = reports.prepared_test_set(model, dataset)
    scores = reports.score_test_set(model, x, dataset.y_test, model.predict_proba(x))
    model.metadata.update(dataset=dataset.name, training_seconds=seconds, metrics=scores)
    model.save(args.out)
    if args.json:
        _print_json(
            reports.train_report(args.out, dataset, run.seed, recipe, history, seconds, scores)
        )
    elif talk:
        print(f"training time: {seconds:.1f} s")
        print(
            f"test accuracy: {scores['accuracy']:.2%}, test loss: {scores['loss']:.4f} "
            f"({scores['n']} images)"
        )
        print(f"saved the model to {args.out}")
    return 0


def _print_json(report: Mapping[str, Any]) -> None:
    print(json.dumps(report, allow_nan=False))


# --------------------------------------------------------------------------- evaluate


def _add_evaluate(commands: Any) -> None:
    sub = commands.add_parser(
        "evaluate",
        help="report a model's metrics on the test set",
        description="Print the classification report (precision, recall, F1, specificity and "
        "the counts TP, FP, FN and TN of each class against the rest), the confusion matrix, "
        "the test loss and the expected calibration error of a saved model on a test set.",
    )
    sub.add_argument("model", metavar="MODEL", help="a model file written by 'nnscratch train'")
    options.add_data_options(sub, "the test set (default: the one the model was trained on)")
    sub.add_argument("--json", action="store_true", help="print one JSON object instead")
    sub.set_defaults(run=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    options.check_data_dir(args.data_dir)
    model = MLP.load(args.model)
    dataset = data.load(args.dataset or _trained_on(model, args.model) or "mnist", args.data_dir)
    x, y = reports.prepared_test_set(model, dataset), dataset.y_test
    proba = model.predict_proba(x)
    scores = reports.score_test_set(model, x, y, proba)
    y_pred = proba.argmax(axis=1)
    k = len(dataset.classes)
    cm = metrics.confusion_matrix(y, y_pred, num_classes=k)
    if args.json:
        _print_json(reports.evaluation_report(args.model, dataset, y, y_pred, cm, scores))
        return 0
    print(f"model: {args.model} ({'-'.join(map(str, model.sizes))}, {model.dtype.name})")
    print(f"data: the {dataset.name} test set{reports.read_from(dataset)}, {len(y)} images\n")
    report = metrics.classification_report(
        y, y_pred, target_names=dataset.classes, num_classes=k, counts=True
    )
    print(report)
    print("confusion matrix (rows: true class, columns: predicted class):")
    print(metrics.format_confusion_matrix(cm, dataset.classes))
    print(f"\ntest loss (cross-entropy): {scores['loss']:.4f}")
    print(
        f"expected calibration error ({reports.CALIBRATION_BINS} bins): "
        f"{scores['expected_calibration_error']:.4f}"
    )
    return 0


def _trained_on(model: MLP, path: str) -> str | None:
    """The data set the model file says the model was trained on; None if it does not say."""
    name = model.metadata.get("dataset")
    if name is None or (isinstance(name, str) and name in data.CLASSES):
        return name
    raise ValueError(
        f"{path}: the model file says it was trained on {json.dumps(name)[:60]}, not one of "
        f"{', '.join(data.CLASSES)}; pass --dataset"
    )


# --------------------------------------------------------------------------- predict


def _add_predict(commands: Any) -> None:
    sub = commands.add_parser(
        "predict",
        help="read the digit in each picture",
        description="Prepare each picture as the MNIST digits were (grey scale, inverted if the "
        "digit is dark on light, scaled into a 20x20 box, centred by centre of mass in 28x28) "
        "and print the predicted class, its probability and the ink assumed, one line per "
        "file. A file that cannot be read gets an error line on stderr; the others are still "
        "predicted.",
    )
    sub.add_argument("model", metavar="MODEL", help="a model file written by 'nnscratch train'")
    sub.add_argument("images", metavar="IMAGE", nargs="+", help="image files (PNG, JPEG, ...)")
    sub.add_argument(
        "--ink",
        choices=images.INK_CHOICES,
        default="auto",
        help="the digit's ink: light on a dark background (as MNIST), dark on a light one, or "
        "auto, guessed from each picture (default: auto)",
    )
    sub.add_argument("--json", action="store_true", help="print one JSON object instead")
    sub.set_defaults(run=_predict)


def _predict(args: argparse.Namespace) -> int:
    model = MLP.load(args.model)
    if model.sizes[0] != recipes.IMAGE_FEATURES:
        raise ValueError(
            f"{args.model}: the model takes {model.sizes[0]} inputs, not 28 x 28 = 784 pixels"
        )
    names = _class_names(model, args.model)
    guessed = args.ink == "auto"
    predictions, errors = [], []
    for path in args.images:
        try:
            x, ink = _read_digit(path, args.ink, model.dtype)
        except (OSError, ValueError) as exc:
            errors.append({"image": path, "error": _describe(exc)})
            _error(errors[-1]["error"], FAILURE)
            continue
        proba = model.predict_proba(x[None, :])[0]
        label = int(proba.argmax())
        if args.json:
            predictions.append(
                {
                    "image": path,
                    "label": label,
                    "class": names[label],
                    "probability": float(proba[label]),
                    "probabilities": proba.astype(float).tolist(),
                    "ink": ink,
                    "ink_guessed": guessed,
                }
            )
        else:  # one line at a time, for a reader such as `head`
            background = "dark" if ink == "light" else "light"
            how = " (guessed; --ink overrides)" if guessed else ""
            line = f"{path}: {names[label]} ({proba[label]:.1%}), {ink} ink on {background}"
            print(line + how, flush=True)
    if args.json:
        _print_json({"model": args.model, "predictions": predictions, "errors": errors})
    return FAILURE if errors else 0


def _read_digit(path: str, ink: images.Ink, dtype: np.dtype) -> tuple[np.ndarray, str]:
    """The picture at ``path`` as a row of the network's input, and the ink assumed ("light" or
    "dark", guessed if ``ink`` is "auto"); Pillow's warnings become our warning lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gray = images.read_gray(path)
    for warning in caught:
        print(f"{PROG}: warning: {_one_line(str(warning.message))}", file=sys.stderr)
    if ink == "auto":
        ink = images.guess_ink(gray)
    try:
        digit = images.prepare_digit(gray, ink=ink)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    return digit.reshape(recipes.IMAGE_FEATURES).astype(dtype), ink


def _class_names(model: MLP, path: str) -> tuple[str, ...]:
    names = data.CLASSES[_trained_on(model, path) or "mnist"]
    return names if len(names) == model.sizes[-1] else tuple(map(str, range(model.sizes[-1])))


# --------------------------------------------------------------------------- recipe


def _add_recipe(commands: Any) -> None:
    sub = commands.add_parser(
        "recipe",
        help="print the recipe a model was trained with, as TOML",
        description="Print, as a TOML file that 'nnscratch train --config FILE' reads, the "
        "data set, the seed and the recipe a model file was trained with: training from it "
        "gives the same model again, bit for bit on the same machine.",
    )
    sub.add_argument("model", metavar="MODEL", help="a model file written by 'nnscratch train'")
    sub.set_defaults(run=_recipe)


def _recipe(args: argparse.Namespace) -> int:
    model = MLP.load(args.model)
    recorded = model.metadata.get("recipe")
    if not isinstance(recorded, dict):
        raise ValueError(f"{args.model}: the model file records no recipe (not from 'train')")

    def name(setting: str) -> str:
        return f"{args.model}: recipe {setting}"

    recipe = recipes.Recipe.from_settings(recorded, name=name)
    seed = check_int(model.metadata.get("seed"), f"{args.model}: seed", minimum=0)
    dataset = _trained_on(model, args.model) or "mnist"
    comments = (
        f"The settings {os.path.basename(args.model)} was trained with.",
        "Train it again, bit for bit on the same machine: nnscratch train --config FILE",
    )
    settings = {"dataset": dataset, "seed": seed, **recipe.settings()}
    print(recipes.toml_table(settings, comments=comments), end="")
    return 0
