"""Learning-rate schedules: the learning rate of each step of a training run.

A schedule is any callable ``schedule(step, total_steps) -> lr`` giving the learning rate of
step ``step`` (counted from 0) out of ``total_steps``; the training loop,
:func:`nnscratch.train.fit`, sets ``optimizer.lr`` from it before every step (the optimisers
are in :mod:`nnscratch.optim`). Three are here: a constant rate, a rate divided at fixed steps
(:class:`StepSchedule`) and a cosine decay (:class:`CosineSchedule`), the last two after an
optional linear warm-up.
"""

from __future__ import annotations

import math

from ._checks import check_int, check_positive


class ConstantSchedule:
    """The same learning rate ``lr`` at every step."""

    def __init__(self, lr: float) -> None:
        self.lr = check_positive(lr, "the learning rate lr")

    def __call__(self, step: int, total_steps: int) -> float:
        """Return ``lr`` for step ``step`` (from 0) of ``total_steps``."""
        _check_step(step, total_steps)
        return self.lr

    def __repr__(self) -> str:
        return f"ConstantSchedule(lr={self.lr!r})"


class StepSchedule:
    """Multiply the learning rate by ``gamma`` every ``step_size`` steps, after a linear warm-up.

    ``lr * gamma ** (step // step_size)``, except during the first ``warmup_steps`` steps, where
    the rate rises linearly, ``lr * (step + 1) / warmup_steps``. The decay counts steps from 0,
    warm-up included.

    Parameters
    ----------
    lr : float
        The initial learning rate, finite and > 0.
    step_size : int
        The number of steps between two decays, >= 1.
    gamma : float in (0, 1]
        The factor applied at each decay.
    warmup_steps : int
        The length of the linear warm-up, >= 0.
    """

    def __init__(
        self, lr: float, step_size: int, gamma: float = 0.1, warmup_steps: int = 0
    ) -> None:
        self.lr = check_positive(lr, "the learning rate lr")
        self.step_size = check_int(step_size, "step_size", minimum=1)
        gamma = float(gamma)
        if not 0 < gamma <= 1:
            raise ValueError(f"gamma must lie in (0, 1], got {gamma}")
        self.gamma = gamma
        self.warmup_steps = check_int(warmup_steps, "warmup_steps", minimum=0)

    def __call__(self, step: int, total_steps: int) -> float:
        """Return the learning rate of step ``step`` (from 0) of ``total_steps``."""
        _check_step(step, total_steps)
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        return self.lr * self.gamma ** (step // self.step_size)

    def __repr__(self) -> str:
        return (
            f"StepSchedule(lr={self.lr!r}, step_size={self.step_size!r}, "
            f"gamma={self.gamma!r}, warmup_steps={self.warmup_steps!r})"
        )


class CosineSchedule:
    """A linear warm-up to ``lr``, then a half cosine down to ``final_lr`` at ``total_steps``.

    For ``step < warmup_steps`` the rate is ``lr * (step + 1) / warmup_steps``; after it, with
    ``progress = (step - warmup_steps) / (total_steps - warmup_steps)`` going from 0 to 1, it is
    ``final_lr + (lr - final_lr) * (1 + cos(pi * progress)) / 2``: ``lr`` at the end of the
    warm-up, ``final_lr`` at ``step == total_steps`` (one past the last step, so every step
    that is taken has a positive rate).

    Parameters
    ----------
    lr : float
        The peak learning rate, finite and > 0.
    warmup_steps : int
        The length of the linear warm-up, >= 0 and smaller than the ``total_steps`` it is
        called with.
    final_lr : float
        The rate reached at the end, in [0, lr].
    """

    def __init__(self, lr: float, warmup_steps: int = 0, final_lr: float = 0.0) -> None:
        self.lr = check_positive(lr, "the learning rate lr")
        self.warmup_steps = check_int(warmup_steps, "warmup_steps", minimum=0)
        final_lr = float(final_lr)
        if not 0 <= final_lr <= self.lr:
            raise ValueError(f"final_lr must lie in [0, lr] = [0, {self.lr}], got {final_lr}")
        self.final_lr = final_lr

    def __call__(self, step: int, total_steps: int) -> float:
        """Return the learning rate of step ``step`` (from 0) of ``total_steps``."""
        _check_step(step, total_steps)
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if total_steps <= self.warmup_steps:
            raise ValueError(
                f"a cosine schedule with warmup_steps={self.warmup_steps} needs more "
                f"total steps than that, got total_steps={total_steps}"
            )
        progress = (step - self.warmup_steps) / (total_steps - self.warmup_steps)
        return self.final_lr + (self.lr - self.final_lr) * (1 + math.cos(math.pi * progress)) / 2

    def __repr__(self) -> str:
        return (
            f"CosineSchedule(lr={self.lr!r}, warmup_steps={self.warmup_steps!r}, "
            f"final_lr={self.final_lr!r})"
        )


def _check_step(step: int, total_steps: int) -> None:
    """Raise ``ValueError`` unless ``0 <= step <= total_steps`` and ``total_steps >= 1``."""
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if not 0 <= step <= total_steps:
        raise ValueError(f"step must lie in [0, total_steps] = [0, {total_steps}], got {step}")
