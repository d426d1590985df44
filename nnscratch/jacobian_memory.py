"""The memory the explicit Jacobians need, known from the layer sizes before anything is built.

:func:`nnscratch.jacobian.loss_and_grads` builds, for every sample, the dense Jacobian of each
step of the chain rule (listed by :func:`jacobian_shapes`) and multiplies them in one of two
:data:`ORDERS`. The weight Jacobian ``dz/dW`` alone has ``fan_out * fan_in * fan_out``
entries: 1.6 GB in float64 for the first layer of a 784-512-10 network, for one image.
:func:`estimate_bytes` counts every array alive at the worst moment of a sample, from the
sizes alone, and :func:`check_fits` raises :class:`JacobianTooLargeError` when that is more
than a budget (by default half the memory available, :func:`default_max_bytes`), which
``loss_and_grads`` does before it allocates anything.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike

from ._checks import check_choice, check_layer_sizes, check_positive
from .model import MLP

ORDERS = ("reverse", "forward")
"""The two orders of the chain-rule product, left to right and right to left."""

_FALLBACK_MEMORY = 2 * 1024**3  # assumed available when the machine cannot tell us


class JacobianTooLargeError(MemoryError):
    """The explicit Jacobians of a request would not fit in the memory allowed."""


def jacobian_shapes(model: MLP | Sequence[int]) -> list[tuple[str, tuple[int, int]]]:
    """The name and shape of every Jacobian in one sample's chain, from the loss backwards.

    Parameters
    ----------
    model : MLP or sequence of int
        A model, or just its layer sizes, e.g. ``[784, 512, 10]``.

    Returns
    -------
    list of (str, (int, int))
        E.g. ``("dz1/dW1", (512, 401408))`` for the first weights of a 784-512-10 network.
    """
    sizes = _layer_sizes(model)
    num_layers = len(sizes) - 1
    shapes = [("dL/dp", (1, sizes[-1])), (f"dp/dz{num_layers}", (sizes[-1], sizes[-1]))]
    for layer in range(num_layers, 0, -1):
        fan_in, fan_out = sizes[layer - 1], sizes[layer]
        shapes.append((f"dz{layer}/dW{layer}", (fan_out, fan_in * fan_out)))
        shapes.append((f"dz{layer}/db{layer}", (fan_out, fan_out)))
        if layer > 1:
            shapes.append((f"dz{layer}/da{layer - 1}", (fan_out, fan_in)))
            shapes.append((f"da{layer - 1}/dz{layer - 1}", (fan_in, fan_in)))
    return shapes


def estimate_bytes(
    model: MLP | Sequence[int], *, order: str = "reverse", dtype: DTypeLike | None = None
) -> int:
    """The peak memory, in bytes, that :func:`nnscratch.jacobian.loss_and_grads` needs, from
    the sizes alone.

    Counts what is alive at the worst moment of one sample: the gradient sums and the sample's
    gradients (two copies of the parameters), the forward pass's intermediates, and the matrices
    of the largest step. In reverse order that step is ``delta @ dz/dW``; in forward order it is
    ``da/dz @ dz/dW``, two matrices of the weight Jacobian's size. The count is per sample: a
    batch adds only its inputs and its one-hot targets.

    Parameters
    ----------
    model : MLP or sequence of int
        A model, or its layer sizes.
    order : {"reverse", "forward"}
    dtype : dtype, optional
        Default: the model's dtype, or float64 for bare sizes.

    Returns
    -------
    int
    """
    sizes = _layer_sizes(model)
    itemsize = np.dtype(_default_dtype(model) if dtype is None else dtype).itemsize
    num_params = sum(fan_in * fan_out + fan_out for fan_in, fan_out in itertools.pairwise(sizes))
    intermediates = sizes[0] + 2 * sum(sizes[1:]) + 2 * sizes[-1]  # a0, z and a, p and log p
    step = _largest_step(sizes, check_choice(order, "order", ORDERS))
    return itemsize * (2 * num_params + intermediates + step)


def _largest_step(sizes: Sequence[int], order: str) -> int:
    """The entries alive during the largest matrix product of one sample's chain."""
    num_classes = sizes[-1]
    largest = num_classes**2 + 2 * num_classes  # dL/dp @ dp/dz
    for layer in range(1, len(sizes)):
        fan_in, fan_out = sizes[layer - 1], sizes[layer]
        if order == "reverse":
            weights = fan_out * fan_in * fan_out + fan_in * fan_out  # dz/dW and delta @ dz/dW
            back = fan_in**2 + 2 * fan_in if layer > 1 else 0  # da/dz and delta times it
            largest = max(largest, weights, fan_out**2 + fan_out, back)
        else:
            for size in (fan_in * fan_out, fan_out):  # W, then b
                largest = max(largest, _largest_right_to_left(sizes, layer, size))
    return largest


def _largest_right_to_left(sizes: Sequence[int], layer: int, size: int) -> int:
    """Entries alive at the worst product of one parameter's chain, multiplied right to left."""
    rows = sizes[layer]  # dz(l)/dtheta is (rows, size)
    largest = rows * size
    factors = []
    for m in range(layer, len(sizes) - 1):  # da(m)/dz(m), dz(m+1)/da(m)
        factors += [(sizes[m], sizes[m]), (sizes[m + 1], sizes[m])]
    factors += [(sizes[-1], sizes[-1]), (1, sizes[-1])]  # dp/dz, dL/dp
    for out_rows, in_rows in factors:  # M (in_rows, size) -> J @ M (out_rows, size)
        largest = max(largest, (in_rows + out_rows) * size + out_rows * in_rows)
    return largest


def default_max_bytes() -> int:
    """Half the memory available right now (``MemAvailable`` in /proc/meminfo, else sysconf).

    Falls back to 2 GiB when the machine cannot tell.
    """
    return _available_memory() // 2


def check_fits(model: MLP | Sequence[int], *, order: str, max_bytes: float | None = None) -> int:
    """Return :func:`estimate_bytes`, or raise :class:`JacobianTooLargeError` if over the limit.

    Parameters
    ----------
    model : MLP or sequence of int
    order : {"reverse", "forward"}
    max_bytes : float, optional
        Default: :func:`default_max_bytes`.

    Raises
    ------
    JacobianTooLargeError
        Naming the estimate, the limit, and the largest Jacobian with its size.
    ValueError
        For an unknown ``order`` or a ``max_bytes`` that is not a positive number.
    """
    limit = default_max_bytes() if max_bytes is None else check_positive(max_bytes, "max_bytes")
    needed = estimate_bytes(model, order=order)
    if needed > limit:
        dtype = _default_dtype(model)
        name, (rows, cols) = max(jacobian_shapes(model), key=lambda item: item[1][0] * item[1][1])
        network = "-".join(str(size) for size in _layer_sizes(model))
        raise JacobianTooLargeError(
            f"the explicit Jacobians of a {network} network need about {needed / 1e9:.2f} GB "
            f"per sample (order={order!r}), more than the limit of {limit / 1e9:.2f} GB; the "
            f"largest is {name}, {rows:,} x {cols:,} = {rows * cols * dtype.itemsize / 1e9:.2f} "
            f"GB in {dtype.name}. Use a smaller network, or the shortcut model.loss_and_grads."
        )
    return needed


def _available_memory() -> int:
    """Bytes of memory available to a new allocation, as well as the machine can tell."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return _FALLBACK_MEMORY


def _layer_sizes(model: MLP | Sequence[int]) -> tuple[int, ...]:
    return model.sizes if isinstance(model, MLP) else check_layer_sizes(model)


def _default_dtype(model: MLP | Sequence[int]) -> np.dtype:
    return model.dtype if isinstance(model, MLP) else np.dtype(np.float64)
