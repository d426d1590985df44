"""The optional dependencies: imported where they are needed, with a message saying how to
install them when they are missing (they come with the ``full`` extra)."""

from __future__ import annotations

import importlib
from types import ModuleType


def import_optional(
    module: str, *, package: str, needed_for: str, otherwise: str = ""
) -> ModuleType:
    """Import ``module``, or raise ``ImportError`` naming the package to install.

    Parameters
    ----------
    module : str
        The module to import, e.g. ``"PIL"`` (then import its submodules as usual).
    package : str
        The distribution that provides it, e.g. ``"Pillow"``.
    needed_for : str
        What needs it, e.g. ``"reading image files"``.
    otherwise : str
        A way to do without it, added to the message (e.g. ``"or pass progress=False"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        alternative = f", {otherwise}" if otherwise else ""
        raise ImportError(
            f'{needed_for} needs {package}: pip install "nnscratch[full]"{alternative}'
        ) from error
