"""Backpropagation the long way: explicit Jacobian matrices multiplied by the chain rule.

For one sample ``x`` (a row of ``fan_in`` numbers) an MLP with ``L`` layers computes::

    z1 = x W1 + b1,  a1 = relu(z1),  ...,  zL = a(L-1) WL + bL,  p = softmax(zL),
    loss = -sum_k y_k log p_k

(with leaky ReLU in place of relu for a model built with ``activation="leaky_relu"``)

and the chain rule writes the derivative of the loss with respect to any parameter as a product
of Jacobian matrices, one per step, read from the loss backwards. For the weights of layer 1 in a
network with one hidden layer::

    dL/dW1 = dL/dp  dp/dz2  dz2/da1  da1/dz1  dz1/dW1
             (1,K)  (K,K)   (K,h)    (h,h)    (h, fan_in*h)

The functions below build each of those matrices explicitly and densely (even where they are
diagonal, or mostly zeros), and :func:`loss_and_grads` multiplies them, sample by sample, in
either order:

``order="reverse"``
    left to right: start from the row vector ``dL/dp`` and multiply vector by matrix. Each
    product is again a row vector, shared by every parameter further down the chain.
``order="forward"``
    right to left: start from the parameter's Jacobian and multiply matrix by matrix towards the
    loss, once per parameter.

Both give what the shortcut, ``MLP.loss_and_grads``, gives (to rounding); both are far slower
and hungrier, because the weight Jacobian ``dz/dW`` has ``fan_out * fan_in * fan_out`` entries.
Before anything is allocated, :func:`loss_and_grads` asks :mod:`nnscratch.jacobian_memory`
how much memory the call needs, and refuses one that would not fit
(:func:`nnscratch.bench.measure_cost` measures time and memory against the shortcut).

Flattening convention: a weight matrix ``W`` of shape ``(fan_in, fan_out)`` is flattened row by
row (NumPy's default), so entry ``W[i, k]`` sits at position ``i * fan_out + k``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, DTypeLike, NDArray

from . import functional
from ._checks import as_batch, as_float_array, as_labels, check_fraction
from .architecture import LEAKY_RELU_SLOPE
from .jacobian_memory import check_fits
from .model import MLP

Floats = NDArray[np.floating]

# --- The Jacobian of every step, for one sample -------------------------------------------------


def cross_entropy_jacobian(p: ArrayLike, y: ArrayLike) -> Floats:
    """The Jacobian of ``loss = -sum_k y_k log p_k`` with respect to the probabilities.

    ``dL/dp_k = -y_k / p_k``: a row vector, since the loss is a single number.

    Parameters
    ----------
    p : array_like, shape (K,)
        The probabilities of one sample.
    y : array_like, shape (K,)
        Its target distribution (one-hot, or label-smoothed).

    Returns
    -------
    ndarray, shape (1, K)
        0 where ``y_k`` is 0.

    Raises
    ------
    ValueError
        If the shapes differ, or if ``p_k <= 0`` where ``y_k > 0`` (``-log p`` has no derivative
        there).
    """
    p = as_float_array(p, ndim=1, name="p")
    y = as_float_array(y, ndim=1, name="y")
    if y.shape != p.shape:
        raise ValueError(f"y must have the shape of p, {p.shape}, got {y.shape}")
    target = y > 0
    if (p[target] <= 0).any():
        raise ValueError("dL/dp = -y/p is undefined where p <= 0 for a class with y > 0")
    jacobian = np.zeros((1, len(p)), dtype=p.dtype)
    np.divide(-y, p, out=jacobian[0], where=target)
    return jacobian


def softmax_jacobian(p: ArrayLike) -> Floats:
    """The Jacobian of ``p = softmax(z)`` with respect to the logits ``z``.

    ``dp_i/dz_j = p_i (delta_ij - p_j)``, that is ``diag(p) - p p^T``.

    Parameters
    ----------
    p : array_like, shape (K,)
        The softmax of one sample's logits.

    Returns
    -------
    ndarray, shape (K, K)
        Symmetric, each row summing to zero.
    """
    return functional.softmax_jacobian(as_float_array(p, ndim=1, name="p"))


def linear_input_jacobian(W: ArrayLike) -> Floats:
    """The Jacobian of ``z = x W + b`` with respect to the input ``x``.

    ``dz_k/dx_i = W[i, k]``, that is ``W^T``.

    Parameters
    ----------
    W : array_like, shape (fan_in, fan_out)

    Returns
    -------
    ndarray, shape (fan_out, fan_in)
    """
    return as_float_array(W, ndim=2, name="W").T


def linear_weight_jacobian(x: ArrayLike, fan_out: int) -> Floats:
    """The Jacobian of ``z = x W + b`` with respect to the flattened weights ``W``.

    ``dz_j/dW[i, k] = x_i delta_jk``: column ``i * fan_out + k`` holds ``x_i`` in row ``k``
    and zeros elsewhere. As a whole it is the Kronecker product ``kron(x, I_fan_out)`` of the
    input row with the identity, built here as the dense matrix it is.

    Parameters
    ----------
    x : array_like, shape (fan_in,)
        The layer's input for one sample.
    fan_out : int
        The layer's width.

    Returns
    -------
    ndarray, shape (fan_out, fan_in * fan_out)
        Only ``fan_in * fan_out`` of its entries are not zero, one in ``fan_out``.
    """
    x = as_float_array(x, ndim=1, name="x")
    jacobian = np.zeros((fan_out, len(x) * fan_out), dtype=x.dtype)
    by_input = jacobian.reshape(fan_out, len(x), fan_out)  # a view: [j, i, k] -> [j, i*fan_out+k]
    k = np.arange(fan_out)
    by_input[k, :, k] = x  # the entries with j == k
    return jacobian


def linear_bias_jacobian(fan_out: int, dtype: DTypeLike = np.float64) -> Floats:
    """The Jacobian of ``z = x W + b`` with respect to the bias ``b``.

    ``dz_j/db_k = delta_jk``: the identity.

    Returns
    -------
    ndarray, shape (fan_out, fan_out)
    """
    return np.eye(fan_out, dtype=dtype)


def relu_jacobian(z: ArrayLike) -> Floats:
    """The Jacobian of ``a = relu(z)`` with respect to ``z``, as a dense matrix.

    ``da_i/dz_j = delta_ij [z_j > 0]``: diagonal, with relu's derivative (1 or 0) on it.

    Parameters
    ----------
    z : array_like, shape (m,)

    Returns
    -------
    ndarray, shape (m, m)
    """
    return np.diag(functional.relu_grad(as_float_array(z, ndim=1, name="z")))


def leaky_relu_jacobian(z: ArrayLike, slope: float = LEAKY_RELU_SLOPE) -> Floats:
    """The Jacobian of ``a = leaky_relu(z, slope)`` with respect to ``z``, as a dense matrix.

    ``da_i/dz_j = delta_ij`` where ``z_j > 0``, ``slope * delta_ij`` elsewhere: diagonal, like
    :func:`relu_jacobian`, with ``slope`` where ReLU has 0.

    Parameters
    ----------
    z : array_like, shape (m,)
    slope : float in [0, 1)

    Returns
    -------
    ndarray, shape (m, m)
    """
    return np.diag(functional.leaky_relu_grad(as_float_array(z, ndim=1, name="z"), slope))


def _activation(activation: str) -> tuple[Callable[[Floats], Floats], Callable[[Floats], Floats]]:
    """The activation function and its Jacobian for a model's ``activation``."""
    if activation == "leaky_relu":
        return functional.leaky_relu, leaky_relu_jacobian
    return functional.relu, relu_jacobian


# --- The chain rule, sample by sample -----------------------------------------------------------


def loss_and_grads(
    model: MLP,
    x: ArrayLike,
    y: ArrayLike,
    *,
    order: str = "reverse",
    max_bytes: float | None = None,
    label_smoothing: float = 0.0,
) -> tuple[float, dict[str, Floats]]:
    """The mean cross-entropy and its gradients, by explicit Jacobians and the chain rule.

    Equal (to rounding) to ``model.loss_and_grads(x, y, label_smoothing=...)`` in evaluation
    mode (no dropout).

    Parameters
    ----------
    model : MLP
    x : array_like, shape (n, sizes[0])
    y : array_like, shape (n,)
        Integer class labels.
    order : {"reverse", "forward"}, one of :data:`~nnscratch.jacobian_memory.ORDERS`
        Multiply each sample's chain left to right (vector times matrix) or right to left
        (matrix times matrix, once per parameter).
    max_bytes : float, optional
        Refuse a request whose :func:`~nnscratch.jacobian_memory.estimate_bytes` exceeds
        this. Default: :func:`~nnscratch.jacobian_memory.default_max_bytes`, half the memory
        available.
    label_smoothing : float in [0, 1)

    Returns
    -------
    loss : float
    grads : dict of str to ndarray
        Keyed and shaped like ``model.params``, in the model's dtype.

    Raises
    ------
    nnscratch.jacobian_memory.JacobianTooLargeError
        Before allocating anything, if the Jacobians would not fit in ``max_bytes``.
    ValueError
        For an unknown ``order``, or inputs the model would refuse; also where a target class's
        probability underflows to 0, since ``dL/dp = -y/p`` is then undefined (the shortcut,
        which never forms ``dL/dp``, is not troubled).
    """
    check_fits(model, order=order, max_bytes=max_bytes)
    smoothing = check_fraction(label_smoothing, "label_smoothing")
    x = as_batch(x, features=model.sizes[0], dtype=model.dtype)
    labels = as_labels(y, num_classes=model.sizes[-1], n=len(x))
    targets = (1 - smoothing) * functional.one_hot(labels, model.sizes[-1], dtype=model.dtype)
    targets += smoothing / model.sizes[-1]
    grads_of_sample = _grads_reverse if order == "reverse" else _grads_forward
    activation, activation_jacobian = _activation(model.activation)
    total_loss = 0.0
    grads: dict[str, Floats] = {name: np.zeros_like(value) for name, value in model.params.items()}
    for x_row, target in zip(x, targets, strict=True):
        cache = _forward(model.params, x_row, activation)
        total_loss -= float(target @ cache["log_p"])
        chain = grads_of_sample(model.params, cache, target, activation_jacobian)
        for name, grad in chain.items():
            grads[name] += grad.reshape(grads[name].shape)  # (1, fan_in*fan_out) -> W's shape
    for grad in grads.values():
        grad /= len(x)
    return total_loss / len(x), grads


def _forward(
    params: dict[str, Floats], x: Floats, activation: Callable[[Floats], Floats]
) -> dict[str, Floats]:
    """One sample's forward pass, keeping every intermediate under its name in the math."""
    num_layers = len(params) // 2
    cache = {"a0": x}
    a = x
    for layer in range(1, num_layers + 1):
        z = a @ params[f"W{layer}"] + params[f"b{layer}"]
        cache[f"z{layer}"] = z
        if layer < num_layers:
            a = cache[f"a{layer}"] = activation(z)
    cache["p"] = functional.softmax(z)
    cache["log_p"] = functional.log_softmax(z)
    return cache


def _grads_reverse(
    params: dict[str, Floats],
    cache: dict[str, Floats],
    y: Floats,
    activation_jacobian: Callable[[Floats], Floats],
) -> dict[str, Floats]:
    """Left to right: a row vector ``delta = dL/dz`` times one Jacobian after another."""
    num_layers = len(params) // 2
    p = cache["p"]
    delta = cross_entropy_jacobian(p, y) @ softmax_jacobian(p)  # dL/dzL, (1, K)
    grads: dict[str, Floats] = {}
    for layer in range(num_layers, 0, -1):
        W = params[f"W{layer}"]
        fan_out = W.shape[1]
        grads[f"W{layer}"] = delta @ linear_weight_jacobian(cache[f"a{layer - 1}"], fan_out)
        grads[f"b{layer}"] = delta @ linear_bias_jacobian(fan_out, W.dtype)
        if layer > 1:  # dL/dz(l-1) = dL/dz(l) dz(l)/da(l-1) da(l-1)/dz(l-1)
            delta = delta @ linear_input_jacobian(W) @ activation_jacobian(cache[f"z{layer - 1}"])
    return grads


def _grads_forward(
    params: dict[str, Floats],
    cache: dict[str, Floats],
    y: Floats,
    activation_jacobian: Callable[[Floats], Floats],
) -> dict[str, Floats]:
    """Right to left: for each parameter, its Jacobian times one Jacobian after another."""
    num_layers = len(params) // 2
    grads = {}
    for layer in range(1, num_layers + 1):
        for kind in ("W", "b"):
            grads[f"{kind}{layer}"] = _chain_right_to_left(
                params, cache, y, activation_jacobian, layer, kind
            )
    return grads


def _chain_right_to_left(
    params: dict[str, Floats],
    cache: dict[str, Floats],
    y: Floats,
    activation_jacobian: Callable[[Floats], Floats],
    layer: int,
    kind: str,
) -> Floats:
    """``dL/dtheta`` for ``theta`` = W or b of ``layer``: matrix times matrix, towards the loss."""
    num_layers = len(params) // 2
    W = params[f"W{layer}"]
    if kind == "W":
        M = linear_weight_jacobian(cache[f"a{layer - 1}"], W.shape[1])  # dz(l)/dW(l)
    else:
        M = linear_bias_jacobian(W.shape[1], W.dtype)  # dz(l)/db(l)
    for m in range(layer, num_layers):  # through the hidden layers above
        M = activation_jacobian(cache[f"z{m}"]) @ M  # da(m)/dtheta
        M = linear_input_jacobian(params[f"W{m + 1}"]) @ M  # dz(m+1)/dtheta
    p = cache["p"]
    M = softmax_jacobian(p) @ M  # dp/dtheta, (K, size of theta)
    return cross_entropy_jacobian(p, y) @ M  # dL/dtheta, (1, size of theta)
