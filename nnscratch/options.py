"""The command line's options: made from the recipe's fields, layered, and checked first.

``nnscratch train`` has one option per field of :class:`~nnscratch.recipes.Recipe`, made from
the field's type and metadata (:func:`add_recipe_options`). A :class:`Run` takes its settings
in layers (the ``--augment`` recipe, then a ``--config`` TOML file, then the options given),
checks each under the name the user gave it, and refuses, before any data is loaded, what the
data set or the machine cannot hold; :func:`check_out`, :func:`check_data_dir` and
:func:`progress_bars` check the other options up front. What argparse or a check refuses as a
usage error is a :class:`UsageError`, which the command line reports with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tomllib
import typing
from collections.abc import Callable
from dataclasses import fields
from typing import Any, NoReturn, TypeVar

from . import data, recipes
from ._checks import check_choice, check_int
from ._files import check_writable

__all__ = [
    "METAVARS",
    "PARSERS",
    "RUN_SETTINGS",
    "TRAINING_IMAGES",
    "Parser",
    "Run",
    "UsageError",
    "add_data_options",
    "add_recipe_options",
    "check_data_dir",
    "check_out",
    "flag",
    "progress_bars",
]


class UsageError(Exception):
    """A command line argparse refused, or an option value the checks refused."""


class Parser(argparse.ArgumentParser):
    """An argument parser that raises instead of printing the usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


Number = TypeVar("Number", int, float)


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
"""The argparse ``type`` of an option, by the type of its setting."""
METAVARS: dict[type, str] = {int: "N", float: "X"}
"""The placeholder of an option's value in ``--help``, by the type of its setting."""


def flag(name: str) -> str:
    """The option of the recipe field (or run setting) ``name``: ``--warmup-epochs``."""
    return "--" + name.replace("_", "-")


TRAINING_IMAGES = {"mnist": 60_000, "fashion-mnist": 60_000}
"""The training images of each data set: the pinned digests of their files fix these counts."""
RUN_SETTINGS = ("dataset", "seed")
"""Settings of a run besides the recipe's, in a ``--config`` file and in ``nnscratch recipe``."""


def add_recipe_options(sub: argparse.ArgumentParser, recipe: type[recipes.Recipe]) -> None:
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
        sub.add_argument(flag(spec.name), **options)


def add_data_options(sub: argparse.ArgumentParser, dataset_help: str) -> None:
    """``--dataset`` (its help ``dataset_help``) and ``--data-dir``, for the commands that load
    a data set."""
    sub.add_argument("--dataset", choices=tuple(data.CLASSES), help=dataset_help)
    sub.add_argument(
        "--data-dir",
        metavar="DIR",
        help="folder holding the data set's four IDX files, or its parent holding a folder "
        "named after the data set, such as mnist/ (otherwise $NNSCRATCH_DATA_DIR, taken "
        "the same way, then the cache, downloading what is missing)",
    )


class Run:
    """The settings of one training run, each with the name the user gave it, all checked.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed arguments of ``nnscratch train``: ``augment``, ``config``, the run's
        settings (:data:`RUN_SETTINGS`) and one per field of the recipe, None if not given.

    Attributes
    ----------
    seed : int
    dataset : str
        A key of :data:`nnscratch.data.CLASSES`.
    recipe : Recipe
        The default recipe, changed by ``--augment``, then the config file, then the options.
    names : dict of str to str
        How the user named each setting given: ``--lr``, ``run.toml: lr``, ``--augment's lr``.

    Raises
    ------
    UsageError
        For a config file that cannot be read, or a setting its check refuses.
    """

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
                self.names[name] = flag(name)
        try:
            self.seed = check_int(settings.pop("seed", 0), self.name("seed"), minimum=0)
            dataset = settings.pop("dataset", "mnist")
            self.dataset = check_choice(dataset, self.name("dataset"), tuple(data.CLASSES))
            self.recipe = recipes.Recipe.from_settings(settings, name=self.name)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    def name(self, setting: str) -> str:
        """How the user named ``setting``: an option, or a key of the config file."""
        return self.names.get(setting, flag(setting))

    def check_fits(self) -> None:
        """Refuse, before the data loads, what the data set or the machine cannot hold."""
        n_train = TRAINING_IMAGES[self.dataset]
        if self.recipe.validation_size >= n_train:
            raise UsageError(
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
        raise UsageError(f"--config {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"--config {path}: not a valid TOML file: {exc}") from None


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


def check_out(path: str) -> None:
    """Refuse a model path that would fail only after training."""
    if not path.endswith(".npz"):
        raise ValueError(f"--out must name a .npz file, got {path!r}")
    try:
        check_writable(path)
    except OSError as exc:
        raise ValueError(f"--out {path}: {os.fspath(exc.filename)}: {exc.strerror}") from None


def check_data_dir(path: str | None) -> None:
    """Refuse a ``--data-dir`` that is not a folder (None, not given, is fine)."""
    if path is not None and not os.path.isdir(path):
        what = "not a folder" if os.path.exists(path) else "no such folder"
        raise ValueError(f"--data-dir {path}: {what}")


def progress_bars(args: argparse.Namespace) -> bool:
    """Whether to draw progress bars: as asked, else on a terminal only (and not ``--quiet``)."""
    tqdm = importlib.util.find_spec("tqdm") is not None
    if args.progress and not tqdm:
        raise UsageError(
            '--progress needs tqdm: pip install "nnscratch[full]", or leave out --progress'
        )
    if args.progress is None:
        return tqdm and not args.quiet and sys.stderr.isatty()
    return bool(args.progress)
