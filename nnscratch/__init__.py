"""nnscratch: a handwritten-digit classifier built from NumPy alone, and the book that derives it.

The submodules are imported on first use, so ``import nnscratch as ns`` is quick and
``ns.data``, ``ns.functional``, ... and ``ns.MLP`` work without further imports.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import (
        architecture,
        archive,
        augment,
        bench,
        data,
        diagrams,
        downloads,
        export,
        functional,
        gradcheck,
        idx,
        images,
        jacobian,
        jacobian_memory,
        kernels,
        layers,
        metrics,
        mlpfile,
        modelfile,
        optim,
        options,
        overflow,
        prepare,
        recipes,
        reports,
        resampling,
        runs,
        schedules,
        train,
    )
    from .model import MLP

try:
    __version__ = version("nnscratch")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "MLP",
    "__version__",
    "architecture",
    "archive",
    "augment",
    "bench",
    "data",
    "diagrams",
    "downloads",
    "export",
    "functional",
    "gradcheck",
    "idx",
    "images",
    "jacobian",
    "jacobian_memory",
    "kernels",
    "layers",
    "metrics",
    "mlpfile",
    "modelfile",
    "optim",
    "options",
    "overflow",
    "prepare",
    "recipes",
    "reports",
    "resampling",
    "runs",
    "schedules",
    "train",
]
_SUBMODULES = frozenset(__all__) - {"MLP", "__version__"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name == "MLP":
        return importlib.import_module(".model", __name__).MLP
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
