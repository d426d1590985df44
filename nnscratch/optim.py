"""Optimisers: gradients turned into a change of the parameters.

An optimizer turns gradients into a change of the parameters. All of them share one interface:
``optimizer.step(params, grads)`` updates the arrays of ``params`` in place, given ``grads``
keyed and shaped the same way, and ``optimizer.lr`` is the learning rate of the next step, which
a schedule may change between steps. The state an optimizer keeps (momentum, moment estimates) is
allocated on the first step, per parameter name, with the parameter's dtype: a float32 model
stays float32, and every update runs in place, without temporary arrays.

That state decays geometrically wherever the gradient is zero (a pixel that is blank in every
image of a batch, a unit that never fires), and a float that keeps shrinking ends up
*subnormal*, below ``np.finfo(dtype).tiny``, where x86 processors compute about a hundred
times slower than with normal numbers. NumPy cannot switch on the processor's flush-to-zero
mode, so every :data:`FLUSH_EVERY` steps the optimizer sets the kept values smaller than
``sqrt(tiny)`` (1e-19 in float32) to zero, long before they could turn subnormal. They are far
too small to matter: the change of a weight they would cause is below ``lr * 1e-11``.

Weight decay acts on every weight matrix (any parameter with two or more dimensions; biases
are not decayed), in one of two ways. :class:`SGD` and :class:`Adam` use the classic "coupled"
form: the L2 penalty ``(weight_decay / 2) * ||W||^2`` is added to the loss, so its gradient
``weight_decay * W`` is added to the loss gradient before the update (for Adam this is L2
regularisation, whose pull Adam rescales like any gradient). :func:`l2_penalty` computes the
penalty itself, so that ``loss + l2_penalty(params, weight_decay)`` can be checked against
finite differences. :class:`AdamW` uses the "decoupled" form of Loshchilov and Hutter: every
step shrinks each weight matrix by the factor ``1 - lr * weight_decay``, apart from Adam's step
on the loss gradient, which never sees the decay.

The learning-rate schedules that set ``optimizer.lr`` between steps are in
:mod:`nnscratch.schedules`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping

import numpy as np
from numpy.typing import NDArray

from ._checks import check_fraction, check_non_negative, check_positive

Floats = NDArray[np.floating]


def is_decayed(param: Floats) -> bool:
    """Whether weight decay applies to ``param``: weight matrices (ndim >= 2) yes, biases no."""
    return param.ndim >= 2


def l2_penalty(params: Mapping[str, Floats], weight_decay: float) -> float:
    """The L2 penalty ``(weight_decay / 2) * sum ||W||^2`` over the weight matrices of ``params``.

    Its gradient with respect to each weight matrix ``W`` is ``weight_decay * W`` (and zero for
    the biases), which is what the optimisers add to the loss gradient.

    Parameters
    ----------
    params : mapping of str to ndarray
        The model's parameters; only those with ``ndim >= 2`` are penalised.
    weight_decay : float
        The coefficient, >= 0.
    """
    weight_decay = check_non_negative(weight_decay, "weight_decay")
    total = sum(float(np.vdot(p, p)) for p in params.values() if is_decayed(p))
    return 0.5 * weight_decay * total


class Optimizer:
    """The interface of every optimizer: a learning rate ``lr`` and an in-place ``step``.

    A subclass fills in its rule, :meth:`update`, and names the arrays it keeps between steps,
    :meth:`state_names`; :meth:`step` does the rest (checks, state, weight decay, blocks).
    A subclass that sets :attr:`decoupled_weight_decay` shrinks the weights instead of adding
    the decay to the gradient.

    Parameters
    ----------
    lr : float
        The learning rate, finite and > 0. A schedule may set ``optimizer.lr`` between steps.
    weight_decay : float
        The L2 coefficient, >= 0, applied to the weight matrices only (see the module notes).

    Attributes
    ----------
    state : dict of str to dict of str to ndarray
        Per parameter name, the arrays the optimizer keeps between steps (empty until the first
        step; nothing for plain SGD without weight decay except a scratch buffer).
    steps : int
        The number of steps taken.
    """

    decoupled_weight_decay = False
    """Whether weight decay shrinks the weights directly (AdamW) rather than adding
    ``weight_decay * W`` to the gradient."""

    def __init__(self, lr: float, *, weight_decay: float = 0.0) -> None:
        self.lr = lr
        self.weight_decay = check_non_negative(weight_decay, "weight_decay")
        self.state: dict[str, dict[str, Floats]] = {}
        self.steps = 0
        self._blocks: dict[str, tuple[tuple[Floats, ...], list[tuple[Floats, ...]]]] = {}

    @property
    def lr(self) -> float:
        """The learning rate of the next step (finite, > 0)."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = check_positive(value, "the learning rate lr")

    def step(self, params: Mapping[str, Floats], grads: Mapping[str, Floats]) -> None:
        """Update every array of ``params`` in place from the gradient of the same name.

        Parameters
        ----------
        params : mapping of str to ndarray
            The parameters, e.g. ``model.params``; each array is modified in place.
        grads : mapping of str to ndarray
            The gradients of the loss, same keys, shapes and dtypes as ``params``. They are
            only read, never modified.
        """
        if params.keys() != grads.keys():
            raise ValueError(
                f"grads must have the keys of params {sorted(params)}, got {sorted(grads)}"
            )
        self.steps += 1
        for name, param in params.items():
            grad = grads[name]
            if grad.shape != param.shape or grad.dtype != param.dtype:
                raise ValueError(
                    f"the gradient of {name!r} must have shape {param.shape} and dtype "
                    f"{param.dtype} like the parameter, got {grad.shape} and {grad.dtype}"
                )
            state = self._state(name, param)
            if self.decoupled_weight_decay and self.weight_decay > 0 and is_decayed(param):
                param *= 1 - self.lr * self.weight_decay
            for block in self._blocks_of(name, param, self._decayed(param, grad, state), state):
                self.update(*block)
        if self.steps % FLUSH_EVERY == 0:
            self.flush_tiny_state()

    def update(self, param: Floats, grad: Floats, scratch: Floats, *state: Floats) -> None:
        """The optimizer's rule, which a subclass fills in: update ``param`` in place given its
        (weight-decayed) gradient, a scratch buffer and the arrays named by
        :meth:`state_names`, in that order (all of one shape).

        :meth:`Optimizer.step` calls it once per block of every parameter, with views of the
        blocks.
        """
        raise NotImplementedError

    def state_names(self) -> tuple[str, ...]:
        """The names of the arrays this optimizer keeps per parameter between steps (a subclass
        with state fills this in)."""
        return ()

    def _state(self, name: str, param: Floats) -> dict[str, Floats]:
        """The state of parameter ``name``, allocated as zeros like ``param`` on first use.

        Besides the arrays of :meth:`state_names` it holds the buffers ``"scratch"``, for
        intermediate results, and, for a weight matrix under weight decay, ``"decayed"``, for
        the decayed gradient (their content is not kept between steps).
        """
        state = self.state.get(name)
        if state is None:
            names = ["scratch", *self.state_names()]
            coupled = self.weight_decay > 0 and not self.decoupled_weight_decay
            if coupled and is_decayed(param):
                names.append("decayed")
            state = self.state[name] = {key: np.zeros_like(param) for key in names}
        elif state["scratch"].shape != param.shape or state["scratch"].dtype != param.dtype:
            raise ValueError(
                f"parameter {name!r} changed from shape {state['scratch'].shape} and dtype "
                f"{state['scratch'].dtype} to {param.shape} and {param.dtype} between steps"
            )
        return state

    def _blocks_of(
        self, name: str, param: Floats, grad: Floats, state: dict[str, Floats]
    ) -> list[tuple[Floats, ...]]:
        """The blocks :meth:`update` is called with: views of ``param``, ``grad``, the scratch
        buffer and the kept state, cut once and kept for as long as the same arrays come (a
        model passes the same gradient arrays at every step; a view keeps its array alive, so
        a new array is never mistaken for one seen before)."""
        arrays = (param, grad, *(state[key] for key in ("scratch", *self.state_names())))
        cached = self._blocks.get(name)
        if cached is None or any(a is not b for a, b in zip(cached[0], arrays, strict=True)):
            cached = self._blocks[name] = (arrays, list(_blocks(*arrays)))
        return cached[1]

    def flush_tiny_state(self) -> None:
        """Set the kept state values smaller than ``sqrt(tiny)`` to zero (see the module notes)."""
        for state in self.state.values():
            scratch = state["scratch"]
            for key in self.state_names():
                values = state[key]
                values *= np.abs(values, out=scratch) >= math.sqrt(np.finfo(values.dtype).tiny)

    def _decayed(self, param: Floats, grad: Floats, state: dict[str, Floats]) -> Floats:
        """``grad + weight_decay * param`` in ``state["decayed"]`` if it exists, else ``grad``."""
        decayed = state.get("decayed")
        if decayed is None:
            return grad
        np.multiply(param, self.weight_decay, out=decayed)
        decayed += grad
        return decayed

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()})"

    def _describe(self) -> str:
        return f"lr={self.lr!r}, weight_decay={self.weight_decay!r}"


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum and weight decay.

    With gradient ``g`` (plus ``weight_decay * W`` for weight matrices), momentum ``mu`` and
    velocity ``v`` (starting at 0), one step is::

        v = mu * v + g
        W = W - lr * v                  # classical momentum
        W = W - lr * (g + mu * v)       # Nesterov momentum

    and simply ``W = W - lr * g`` when ``momentum == 0`` (the convention of PyTorch).

    Parameters
    ----------
    lr : float
        The learning rate, finite and > 0.
    momentum : float in [0, 1)
        The velocity's decay; 0 means plain gradient descent.
    nesterov : bool
        Use Nesterov's look-ahead form (needs ``momentum > 0``).
    weight_decay : float
        The L2 coefficient, >= 0, for the weight matrices.
    """

    def __init__(
        self, lr: float, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0
    ) -> None:
        super().__init__(lr, weight_decay=weight_decay)
        self.momentum = check_fraction(momentum, "momentum")
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs a momentum in (0, 1), got momentum=0")
        self.nesterov = bool(nesterov)

    def state_names(self) -> tuple[str, ...]:
        return ("velocity",) if self.momentum > 0 else ()

    def update(self, param: Floats, grad: Floats, scratch: Floats, *state: Floats) -> None:
        if self.momentum == 0:
            param -= np.multiply(grad, self.lr, out=scratch)
            return
        velocity = state[0]
        velocity *= self.momentum
        velocity += grad
        if self.nesterov:
            param -= np.multiply(grad, self.lr, out=scratch)
            param -= np.multiply(velocity, self.lr * self.momentum, out=scratch)
        else:
            param -= np.multiply(velocity, self.lr, out=scratch)

    def _describe(self) -> str:
        return f"{super()._describe()}, momentum={self.momentum!r}, nesterov={self.nesterov!r}"


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015): steps scaled by running estimates of the gradient's moments.

    With gradient ``g`` (plus ``weight_decay * W`` for weight matrices), after ``t`` steps::

        m = beta1 * m + (1 - beta1) * g          # first moment (mean)
        v = beta2 * v + (1 - beta2) * g**2       # second moment (uncentred variance)
        m_hat = m / (1 - beta1**t)               # bias corrections: m and v start at 0
        v_hat = v / (1 - beta2**t)
        W = W - lr * m_hat / (sqrt(v_hat) + eps)

    To save passes over the arrays, the state holds ``m / (1 - beta1)`` and ``v / (1 - beta2)``
    (updated as ``m = beta1 * m + g`` and ``v = beta2 * v + g**2``), and the constant factors
    and the bias corrections are folded into two scalars, the step size and the epsilon, as in
    section 2 of the paper. The result is the update above, with ``eps`` added to
    ``sqrt(v_hat)`` as in PyTorch.

    Parameters
    ----------
    lr : float
        The learning rate, finite and > 0.
    betas : (float, float), each in [0, 1)
        The decay rates of the first and second moment estimates.
    eps : float
        Added to ``sqrt(v_hat)``, > 0.
    weight_decay : float
        The L2 coefficient, >= 0, for the weight matrices (coupled L2, not AdamW).
    """

    def __init__(
        self,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(lr, weight_decay=weight_decay)
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (
            check_fraction(betas[0], "beta1 (betas[0])"),
            check_fraction(betas[1], "beta2 (betas[1])"),
        )
        self.eps = check_positive(eps, "eps")

    def state_names(self) -> tuple[str, ...]:
        return ("m", "v")

    def update(self, param: Floats, grad: Floats, scratch: Floats, *state: Floats) -> None:
        beta1, beta2 = self.betas
        m, v = state[:2]
        m *= beta1
        m += grad
        v *= beta2
        v += np.square(grad, out=scratch)
        # m_hat = m * c1 and sqrt(v_hat) = sqrt(v) * c2 with the stored (rescaled) m and v.
        c1 = (1 - beta1) / (1 - beta1**self.steps)
        c2 = math.sqrt((1 - beta2) / (1 - beta2**self.steps))
        denominator = np.sqrt(v, out=scratch)
        denominator += self.eps / c2
        update = np.divide(m, denominator, out=scratch)
        update *= self.lr * c1 / c2
        param -= update

    def _describe(self) -> str:
        return f"{super()._describe()}, betas={self.betas!r}, eps={self.eps!r}"


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter, 2019).

    Each step first shrinks every weight matrix ``W`` (not the biases), then takes Adam's step
    on the loss gradient alone::

        W = W * (1 - lr * weight_decay)
        W = W - lr * m_hat / (sqrt(v_hat) + eps)     # m, v from the loss gradient only

    so the decay is the same relative shrinkage for every weight, whatever the size of its
    gradient, where Adam's coupled L2 (:class:`Adam` with ``weight_decay``) is divided by
    ``sqrt(v_hat)`` like the rest of the gradient. The decay is scaled by the learning rate
    of the step, which a schedule sets, as in PyTorch's ``AdamW``.

    Parameters
    ----------
    lr : float
        The learning rate, finite and > 0.
    betas : (float, float), each in [0, 1)
    eps : float
        Added to ``sqrt(v_hat)``, > 0.
    weight_decay : float
        The decay rate, >= 0: the weights shrink by ``lr * weight_decay`` of themselves per
        step.
    """

    decoupled_weight_decay = True


FLUSH_EVERY = 64
"""Steps between two flushes of the tiny state values to zero: at the decay rate 0.9 (momentum,
Adam's first moment) a value needs over 400 steps to fall from ``sqrt(tiny)`` to ``tiny``."""

BLOCK = 1 << 16
"""Elements per block of an update: a block of each array it touches stays in the cache."""


def _blocks(*arrays: Floats) -> Iterator[tuple[Floats, ...]]:
    """The same consecutive blocks of :data:`BLOCK` elements of ``arrays``, as views.

    An update makes several passes over its arrays; done block by block, every pass after the
    first finds its block in the core's cache instead of main memory. Arrays of one shape that
    are not all C-contiguous cannot be cut into flat views: they come whole, as one block.
    """
    if not all(a.flags.c_contiguous for a in arrays):
        yield arrays
        return
    flat = [a.reshape(-1) for a in arrays]
    for start in range(0, flat[0].size, BLOCK):
        yield tuple(a[start : start + BLOCK] for a in flat)
