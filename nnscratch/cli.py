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
import importlib.util
import json
import os
import sys
import time
import tomllib
import typing
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from typing import Any, NoReturn, TypeVar

import numpy as np

from . import __version__, data, images, metrics, prepare, recipes, runs
from ._checks import check_choice, check_int
from ._files import Terminated, check_writable, signals_raise
from .model import MLP
from .train import History

__all__ = ["build_parser", "main"]

Number = TypeVar("Number", int, float)

PROG = "nnscratch"
CALIBRATION_BINS = 15
USAGE_ERROR, FAILURE, INTERRUPTED, OUTPUT_CLOSED = 2, 1, 130, 141
# Exceptions that report a user's mistake or the environment, not a bug: one line, no traceback.
USER_ERRORS = (OSError, ValueError, ImportError, FloatingPointError)
# The training images of each data set: the pinned digests of their files fix these counts.
TRAINING_IMAGES = {"mnist": 60_000, "fashion-mnist": 60_000}
# Settings of a run besides the recipe's, in a --config file and in 'nnscratch recipe'.
RUN_SETTINGS = ("dataset", "seed")


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
    except _UsageError as exc:
        return _error(str(exc), USAGE_ERROR)
    except SystemExit as exc:  # --help and --version print and exit normally
        return int(exc.code or 0)
    with signals_raise():  # SIGTERM and SIGHUP unwind like Ctrl-C: every `finally` runs
        try:
            status: int = args.run(args)
            sys.stdout.flush()  # a closed pipe shows here, not at exit
        except _UsageError as exc:
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
    _add_recipe(commands)
    return parser


class _UsageError(Exception):
    """A command line argparse refused, or an option value the checks refused."""


class _Parser(argparse.ArgumentParser):
    """An argument parser that raises instead of printing the usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see '{self.prog} --help')")


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


# --------------------------------------------------------------------------- argument types


def _parse(kind: Callable[[str], Number], what: str) -> Callable[[str], Number]:
    """An argparse ``type``: ``kind(text)``, or a usage error saying the option must be ``what``.

    Ranges are checked later, by the checks the library uses, naming the option.
    """

    def convert(text: str) -> Number:
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None

    return convert


PARSERS: dict[type, Callable[[str], Any]] = {
    int: _parse(int, "an integer"),
    float: _parse(float, "a number"),
    str: str,
}
METAVARS: dict[type, str] = {int: "N", float: "X"}


def _flag(name: str) -> str:
    """The option of the recipe field (or run setting) ``name``: ``--warmup-epochs``."""
    return "--" + name.replace("_", "-")


# --------------------------------------------------------------------------- train


def _add_train(commands: Any) -> None:
    sub = commands.add_parser(
        "train",
        help="train a classifier and save it",
        description="Train a classifier with the book's best recipe (override any part of it "
        "below, or read a recipe from a TOML file with --config), hold out a validation set, "
        "report the test accuracy and loss, and save the model with its recipe and metrics. "
        + _measured_default_text(),
    )
    _add_recipe_options(sub, recipes.Recipe)
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
        "--seed", type=PARSERS[int], help="seeds everything, an integer >= 0 (default: 0)"
    )
    _add_data_options(sub, "the data set to train on (default: mnist)")
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


def _measured_default_text() -> str:
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


def _add_recipe_options(sub: argparse.ArgumentParser, recipe: type[recipes.Recipe]) -> None:
    """One option per field of ``recipe``, from its type and metadata (default: None, unset)."""
    default = recipe()
    hints = typing.get_type_hints(recipe)
    for spec in fields(recipe):
        hint, value = hints[spec.name], getattr(default, spec.name)
        shown = " ".join(map(str, value)) if isinstance(value, tuple) else value
        text = f"{spec.metadata['help']} (default: {shown})".replace("%", "%%")
        options: dict[str, Any] = {"dest": spec.name, "help": text}
        if hint is bool:
            options["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(hint) is tuple:
            item = typing.get_args(hint)[0]
            options.update(type=PARSERS[item], metavar=METAVARS.get(item), nargs="*")
            options["action"] = "extend"
        elif hint in PARSERS:
            options.update(type=PARSERS[hint], metavar=METAVARS.get(hint))
            options["choices"] = spec.metadata["choices"] or None
        else:
            raise TypeError(f"the command line cannot read a {hint} setting ({spec.name})")
        sub.add_argument(_flag(spec.name), **options)


def _add_data_options(sub: argparse.ArgumentParser, dataset_help: str) -> None:
    sub.add_argument("--dataset", choices=tuple(data.CLASSES), help=dataset_help)
    sub.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder holding the data set's four IDX files, or its parent holding a folder "
        "named after the data set, such as mnist/ (otherwise $NNSCRATCH_DATA_DIR, taken "
        "the same way, then the cache, downloading what is missing)",
    )


class _Run:
    """The settings of one training run, each with the name the user gave it, all checked."""

    def __init__(self, args: argparse.Namespace) -> None:
        settings: dict[str, Any] = {}
        self.names: dict[str, str] = {}
        if args.augment:
            default = recipes.Recipe().settings()
            augmented = recipes.AUGMENTED.settings().items()
            settings.update({key: value for key, value in augmented if value != default[key]})
            self.names.update({key: f"--augment's {key}" for key in settings})
        if args.config is not None:
            table = _read_config(args.config)
            settings.update(table)
            self.names.update({key: f"{args.config}: {key}" for key in table})
        for name in (*RUN_SETTINGS, *(spec.name for spec in fields(recipes.Recipe))):
            if getattr(args, name, None) is not None:
                settings[name] = getattr(args, name)
                self.names[name] = _flag(name)
        try:
            self.seed = check_int(settings.pop("seed", 0), self.name("seed"), minimum=0)
            dataset = settings.pop("dataset", "mnist")
            self.dataset = check_choice(dataset, self.name("dataset"), tuple(data.CLASSES))
            self.recipe = recipes.Recipe.from_settings(settings, name=self.name)
        except ValueError as exc:
            raise _UsageError(str(exc)) from None

    def name(self, setting: str) -> str:
        """How the user named ``setting``: an option, or a key of the config file."""
        return self.names.get(setting, _flag(setting))

    def check_fits(self) -> None:
        """Refuse, before the data loads, what the data set or the machine cannot hold."""
        n_train = TRAINING_IMAGES[self.dataset]
        if self.recipe.validation_size >= n_train:
            raise _UsageError(
                f"{self.name('validation_size')} must be less than the {n_train} training "
                f"images of {self.dataset}, got {self.recipe.validation_size}"
            )
        needed = self.recipe.memory_estimate(n_train - self.recipe.validation_size)
        available = _physical_memory()
        if available is not None and needed > available:
            widths = " ".join(map(str, self.recipe.hidden))
            raise ValueError(
                f"{self.name('hidden')} {widths}: training would need at least "
                f"{_bytes(needed)} of memory (weights, gradients, optimizer state, data and "
                f"one batch), and this machine has {_bytes(available)}; choose smaller widths"
            )


def _read_config(path: str) -> dict[str, Any]:
    """The table of a TOML config file: a usage error naming ``--config`` if unreadable."""
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except OSError as exc:
        raise _UsageError(f"--config {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise _UsageError(f"--config {path}: not a valid TOML file: {exc}") from None


def _physical_memory() -> int | None:
    """The machine's memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _bytes(count: float) -> str:
    """``count`` bytes in binary units: ``23.5 GiB``."""
    units = ("KiB", "MiB", "GiB", "TiB", "PiB")
    if count < 1024:
        return f"{count:.0f} bytes"
    power = 0
    while count >= 1024 and power < len(units):
        count /= 1024
        power += 1
    return f"{count:.3g} {units[power - 1]}"


def _train(args: argparse.Namespace) -> int:
    run = _Run(args)
    _check_out(args.out)
    progress = _progress(args)
    _check_data_dir(args.data_dir)
    run.check_fits()
    dataset = data.load(run.dataset, args.data_dir)
    recipe = run.recipe
    talk = not (args.quiet or args.json)
    if talk:
        print(
            f"{dataset.name}{_read_from(dataset)}: {len(dataset.x_train)} training images "
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
        callbacks=[] if progress or args.quiet else [_EpochLines(recipe.epochs)],
    )
    seconds = time.perf_counter() - start
    x = _test_inputs(model, dataset)
    scores = _test_scores(model, x, dataset.y_test, model.predict_proba(x))
    model.metadata.update(dataset=dataset.name, training_seconds=seconds, metrics=scores)
    model.save(args.out)
    if args.json:
        _print_json(_train_report(args.out, dataset, run, history, seconds, scores))
    elif talk:
        print(f"training time: {seconds:.1f} s")
        print(
            f"test accuracy: {scores['accuracy']:.2%}, test loss: {scores['loss']:.4f} "
            f"({scores['n']} images)"
        )
        print(f"saved the model to {args.out}")
    return 0


def _read_from(dataset: data.Dataset) -> str:
    """`` (read from FOLDER)``: which folder the data set's files came from, if any."""
    folders = ", ".join(map(str, dataset.folders))
    return f" (read from {folders})" if folders else ""


def _check_out(path: str) -> None:
    """Refuse a model path that would fail only after training."""
    if not path.endswith(".npz"):
        raise ValueError(f"--out must name a .npz file, got {path!r}")
    try:
        check_writable(path)
    except OSError as exc:
        raise ValueError(f"--out {path}: {os.fspath(exc.filename)}: {exc.strerror}") from None


def _check_data_dir(path: str | None) -> None:
    if path is not None and not os.path.isdir(path):
        what = "not a folder" if os.path.exists(path) else "no such folder"
        raise ValueError(f"--data-dir {path}: {what}")


def _progress(args: argparse.Namespace) -> bool:
    """Whether to draw progress bars: as asked, else on a terminal only (and not ``--quiet``)."""
    tqdm = importlib.util.find_spec("tqdm") is not None
    if args.progress and not tqdm:
        raise _UsageError(
            '--progress needs tqdm: pip install "nnscratch[full]", or leave out --progress'
        )
    if args.progress is None:
        return tqdm and not args.quiet and sys.stderr.isatty()
    return bool(args.progress)


class _EpochLines:
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


def _train_report(
    path: str,
    dataset: data.Dataset,
    run: _Run,
    history: History,
    seconds: float,
    scores: dict[str, Any],
) -> dict[str, Any]:
    return {
        "model": path,
        "dataset": dataset.name,
        "data_folders": list(map(str, dataset.folders)),
        "seed": run.seed,
        "recipe": run.recipe.settings(),
        "training_images": len(dataset.x_train) - run.recipe.validation_size,
        "validation_images": run.recipe.validation_size,
        "training_seconds": seconds,
        "history": history.summary(),
        "test": scores,
    }


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
    if model.sizes[0] != recipes.IMAGE_FEATURES or model.sizes[-1] != classes:
        raise ValueError(
            f"the model maps {model.sizes[0]} inputs to {model.sizes[-1]} classes, but "
            f"{dataset.name} has {recipes.IMAGE_FEATURES} pixels per image and {classes} classes"
        )
    return prepare.preprocess(dataset.x_test, dtype=model.dtype)


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
    _add_data_options(sub, "the test set (default: the one the model was trained on)")
    sub.add_argument("--json", action="store_true", help="print one JSON object instead")
    sub.set_defaults(run=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    _check_data_dir(args.data_dir)
    model = MLP.load(args.model)
    dataset = data.load(args.dataset or _trained_on(model, args.model) or "mnist", args.data_dir)
    x, y = _test_inputs(model, dataset), dataset.y_test
    proba = model.predict_proba(x)
    scores = _test_scores(model, x, y, proba)
    y_pred = proba.argmax(axis=1)
    k = len(dataset.classes)
    cm = metrics.confusion_matrix(y, y_pred, num_classes=k)
    if args.json:
        _print_json(_evaluation_report(args.model, dataset, y, y_pred, cm, scores))
        return 0
    print(f"model: {args.model} ({'-'.join(map(str, model.sizes))}, {model.dtype.name})")
    print(f"data: the {dataset.name} test set{_read_from(dataset)}, {len(y)} images\n")
    report = metrics.classification_report(
        y, y_pred, target_names=dataset.classes, num_classes=k, counts=True
    )
    print(report)
    print("confusion matrix (rows: true class, columns: predicted class):")
    print(metrics.format_confusion_matrix(cm, dataset.classes))
    print(f"\ntest loss (cross-entropy): {scores['loss']:.4f}")
    print(
        f"expected calibration error ({CALIBRATION_BINS} bins): "
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


def _evaluation_report(
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
