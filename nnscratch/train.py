"""The training loop and its record.

:func:`fit` runs mini-batch training: each epoch shuffles the training set with its own
generator, gathers the shuffled copy once, and walks through it in contiguous batches. Per step it
sets the learning rate from the schedule, computes the loss, the gradients and the logits
(:meth:`nnscratch.model.MLP.train_step`, the shortcut), stops if the loss is not finite or has
stayed far above where it started (:data:`DIVERGENCE_FACTOR`, :data:`DIVERGENCE_STEPS`), counts
the batch's correct predictions from the logits, and lets the optimizer update the parameters in
place. The per-epoch figures land in a :class:`History`. The book's recipe, which calls
:func:`fit`, is in :mod:`nnscratch.recipes`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import as_batch, as_labels, check_count, check_fraction
from ._optional import import_optional
from .functional import cross_entropy
from .model import MLP
from .optim import Optimizer

Floats = NDArray[np.floating]
Schedule = Callable[[int, int], float]
Callback = Callable[[int, "History"], Any]


class Step(Protocol):
    """What :func:`fit` calls once per batch: the signature of ``MLP.train_step``."""

    def __call__(
        self,
        x: Floats,
        y: NDArray[np.int64],
        *,
        rng: np.random.Generator | None = ...,
        label_smoothing: float = ...,
    ) -> tuple[float, dict[str, Floats], Floats]: ...


POSTFIX_EVERY = 20  # steps between two updates of the progress bar's loss and accuracy


DIVERGENCE_FACTOR = 10.0
"""How far above its start the loss may stay before :func:`fit` calls the run diverged.

The bound is ``DIVERGENCE_FACTOR * max(first batch's loss, log K)`` for ``K`` classes: ``log K``
is the cross-entropy of a uniform guess, about where a freshly initialised network starts, and
the first loss stands in for it when badly scaled inputs start the network higher.
"""
DIVERGENCE_STEPS = 100
"""For how many consecutive steps the loss may stay above that bound (see :func:`fit`).

A learning network's loss falls from its start, but it may spike far above it and still come
back: plain SGD at a learning rate of 3 on well separated blobs (as in the tests) spikes to
1e15 times its first loss, or stays ten times above it for 27 steps in a row, and still ends
at 99% to 100% accuracy. A run that stays above the bound for a hundred steps, almost four
times longer, has not come back in any run we tried, while SGD at a rate of 1000 stays there
for good (ending at a loss of 8,782 and 10% accuracy on MNIST, a guess). A hundred steps are
half an epoch of the book's recipe. A run that ends above the bound is refused too: its
model is worse than the one it started from.
"""


class DivergenceError(FloatingPointError):
    """The training loss became NaN or infinite, or stayed far above where it started.

    See :data:`DIVERGENCE_FACTOR` and :data:`DIVERGENCE_STEPS` for the bound.

    Attributes
    ----------
    epoch, step : int
        Where it happened, both counted from 0 (``step`` within the epoch).
    loss : float
        The offending loss.
    """

    def __init__(self, message: str, *, epoch: int, step: int, loss: float) -> None:
        super().__init__(message)
        self.epoch, self.step, self.loss = epoch, step, loss


@dataclass
class History:
    """What :func:`fit` measured, one entry per epoch (epochs counted from 0).

    Attributes
    ----------
    train_loss, train_accuracy : list of float
        Running means over the epoch's batches, in training mode (dropout on, the weights
        changing as the epoch goes), with the loss including label smoothing: cheap, no extra
        pass over the data.
    val_loss, val_accuracy : list of float
        On the validation set after the epoch, in evaluation mode, the loss with the same
        label smoothing as the training loss; empty without a validation set.
    lr : list of float
        The learning rate of the epoch's last step.
    seconds : list of float
        Wall-clock time of the epoch, validation included.
    best_epoch : int or None
        The epoch of the lowest validation loss (None without a validation set).
    stopped_early : bool
        Whether early stopping or a callback ended training before the last epoch.
    """

    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        """The number of epochs run."""
        return len(self.train_loss)

    def summary(self) -> dict[str, Any]:
        """The final figures as a JSON-able dict, which
        :func:`nnscratch.runs.train_recipe` stores in the model."""
        last = {
            name: getattr(self, name)[-1] if getattr(self, name) else None
            for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy")
        }
        return {
            "epochs": self.epochs,
            **last,
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "seconds": sum(self.seconds),
        }


def fit(
    model: MLP,
    x: ArrayLike,
    y: ArrayLike,
    *,
    epochs: int,
    batch_size: int,
    optimizer: Optimizer,
    validation: tuple[ArrayLike, ArrayLike] | None = None,
    seed: int | None = None,
    schedule: Schedule | None = None,
    label_smoothing: float = 0.0,
    early_stopping: int | None = None,
    progress: bool = True,
    callbacks: Iterable[Callback] | None = None,
    step: Step | None = None,
) -> History:
    """Train ``model`` in place by mini-batch gradient descent and return the :class:`History`.

    Parameters
    ----------
    model : MLP
        Trained in place; ``x`` is converted to its dtype once, up front.
    x : array_like, shape (n, sizes[0])
        Real floating point, finite.
    y : array_like, shape (n,)
        Integer class labels.
    epochs : int
        The number of passes over the data, >= 1.
    batch_size : int
        Samples per step, >= 1; the last batch of an epoch may be smaller.
    optimizer : Optimizer
        Updates ``model.params`` in place.
    validation : (x_val, y_val), optional
        Evaluated after every epoch, in evaluation mode.
    seed : int, optional
        Seeds the shuffling and the dropout masks: the same seed and data give bit-identical
        weights. None draws fresh entropy.
    schedule : callable, optional
        ``schedule(step, total_steps) -> lr``, called before every step (``step`` counted from
        0 over the whole run); None keeps ``optimizer.lr``.
    label_smoothing : float in [0, 1)
    early_stopping : int, optional
        Patience: stop after this many epochs without a lower validation loss, and in any case
        end with the weights of the best epoch (needs ``validation``).
    progress : bool
        Show a progress bar per epoch (tqdm) with the running loss and accuracy.
    callbacks : iterable of callables, optional
        ``callback(epoch, history)`` after each epoch; a true return value stops training.
    step : callable, optional
        ``step(x, y, rng=rng, label_smoothing=e) -> (loss, grads, logits)``, called once per
        batch of checked data; default ``model.train_step``. A wrapper around it can time or
        record the steps (``nnscratch.bench.epoch_cost`` times them so).

    Returns
    -------
    History

    Raises
    ------
    DivergenceError
        As soon as a batch's training loss is NaN or infinite, or when it has stayed above
        :data:`DIVERGENCE_FACTOR` times the larger of the first batch's loss and ``log K``
        for :data:`DIVERGENCE_STEPS` steps in a row or up to the run's last step, naming the
        epoch and the step; the parameters are left as they were before that step.
    """
    epochs = check_count(epochs, "epochs")
    batch_size = check_count(batch_size, "batch_size")
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be an nnscratch.optim.Optimizer, got {type(optimizer)}")
    if schedule is not None and not callable(schedule):
        raise TypeError(f"schedule must be callable(step, total_steps) -> lr, got {schedule!r}")
    if step is not None and not callable(step):
        raise TypeError(f"step must be callable like model.train_step, got {step!r}")
    x, y = _check_data(model, x, y, "x", "y")
    if validation is not None:
        validation = _check_data(model, *_check_pair(validation), "validation x", "validation y")
    label_smoothing = check_fraction(label_smoothing, "label_smoothing")
    if early_stopping is not None:
        early_stopping = check_count(early_stopping, "early_stopping (the patience)")
        if validation is None:
            raise ValueError("early_stopping monitors the validation loss: pass validation=")
    callbacks = _check_callbacks(callbacks)
    progress_bar = _progress_bar_factory() if progress else None

    shuffle_rng, dropout_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)
    )
    steps_per_epoch = math.ceil(len(x) / batch_size)
    loop = _Loop(
        model,
        step or model.train_step,
        optimizer,
        schedule,
        batch_size,
        label_smoothing,
        dropout_rng,
        steps_per_epoch,
        total_steps=epochs * steps_per_epoch,
    )
    history = History()
    best_params = None
    x_epoch, y_epoch = np.empty_like(x), np.empty_like(y)
    for epoch in range(epochs):
        start = time.perf_counter()
        order = shuffle_rng.permutation(len(x))
        # mode="clip" (a permutation is always in range) writes straight into the buffer;
        # the default mode="raise" would gather into a temporary first.
        np.take(x, order, axis=0, out=x_epoch, mode="clip")
        np.take(y, order, out=y_epoch, mode="clip")
        context = (
            nullcontext() if progress_bar is None else progress_bar(epoch, epochs, steps_per_epoch)
        )
        with context as bar:  # None without progress; a tqdm bar closes even on an error
            loss, accuracy = loop.run_epoch(epoch, x_epoch, y_epoch, bar)
            _record(history, loss, accuracy, optimizer.lr)
            if validation is not None:
                _record_validation(history, model, *validation, label_smoothing)
                if history.best_epoch == epoch and early_stopping is not None:
                    best_params = model.copy_params()
            history.seconds.append(time.perf_counter() - start)
            if bar is not None:
                bar.set_postfix(_postfix(history), refresh=False)
        stop = [bool(callback(epoch, history)) for callback in callbacks]
        if any(stop) or _patience_exhausted(history, early_stopping):
            history.stopped_early = epoch < epochs - 1
            break
    if best_params is not None and history.best_epoch != history.epochs - 1:
        model.set_params(best_params)
    return history


@dataclass
class _Loop:
    """The inner loop of :func:`fit`: what stays fixed over the epochs, and one epoch's steps."""

    model: MLP
    step: Step
    optimizer: Optimizer
    schedule: Schedule | None
    batch_size: int
    label_smoothing: float
    rng: np.random.Generator  # draws the dropout masks
    steps_per_epoch: int
    total_steps: int
    loss_bound: float | None = None  # set from the first batch's loss (see DIVERGENCE_FACTOR)
    steps_above: int = 0  # consecutive steps with the loss above loss_bound

    def run_epoch(
        self, epoch: int, x: Floats, y: NDArray[np.int64], bar: Any
    ) -> tuple[float, float]:
        """Take one step per batch of the shuffled ``(x, y)``; return the running loss and accuracy.

        Floating-point warnings are silenced inside: a loss that overflows, turns NaN or stays
        above :attr:`loss_bound` raises :class:`DivergenceError` instead.
        """
        params, optimizer = self.model.params, self.optimizer
        loss_sum, correct = 0.0, 0
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for batch, begin in enumerate(range(0, len(x), self.batch_size)):
                xb, yb = x[begin : begin + self.batch_size], y[begin : begin + self.batch_size]
                if self.schedule is not None:
                    step = epoch * self.steps_per_epoch + batch
                    optimizer.lr = self.schedule(step, self.total_steps)
                loss, grads, logits = self.step(
                    xb, yb, rng=self.rng, label_smoothing=self.label_smoothing
                )
                if self._diverged(loss, epoch * self.steps_per_epoch + batch):
                    raise self._divergence(loss, epoch, batch)
                correct += int(np.count_nonzero(np.argmax(logits, axis=1) == yb))
                optimizer.step(params, grads)
                loss_sum += loss * len(yb)
                if bar is not None:
                    bar.update()
                    if batch % POSTFIX_EVERY == 0:
                        seen = begin + len(yb)
                        bar.set_postfix(
                            {"loss": loss_sum / seen, "acc": correct / seen}, refresh=False
                        )
        return loss_sum / len(x), correct / len(x)

    def _diverged(self, loss: float, step: int) -> bool:
        """Whether ``loss``, that of ``step`` (counted over the run), ends the run."""
        if not math.isfinite(loss):
            return True
        if self.loss_bound is None:
            chance = math.log(self.model.sizes[-1])  # the loss of a uniform guess
            self.loss_bound = DIVERGENCE_FACTOR * max(loss, chance)
        self.steps_above = self.steps_above + 1 if loss > self.loss_bound else 0
        last = step == self.total_steps - 1
        return self.steps_above >= DIVERGENCE_STEPS or (last and self.steps_above > 0)

    def _divergence(self, loss: float, epoch: int, step: int) -> DivergenceError:
        model, lr = self.model, self.optimizer.lr
        finite = all(np.isfinite(value).all() for value in model.params.values())
        state = "finite" if finite else "already NaN or infinite in places"
        if math.isfinite(loss):
            why = (
                f"{loss:.4g} after {self.steps_above} step(s) in a row above {self.loss_bound:.4g} "
                f"({DIVERGENCE_FACTOR:g} times the larger of the first batch's loss and "
                f"log {model.sizes[-1]}, a uniform guess's)"
            )
        else:
            why = str(loss)
        return DivergenceError(
            f"training diverged: the loss is {why} at epoch {epoch}, step {step} (both counted "
            f"from 0) with learning rate {lr:g}. The parameters are left as they were before "
            f"that step (they are {state}); try a smaller learning rate.",
            epoch=epoch,
            step=step,
            loss=loss,
        )


def _record(history: History, loss: float, accuracy: float, lr: float) -> None:
    history.train_loss.append(loss)
    history.train_accuracy.append(accuracy)
    history.lr.append(lr)


def _record_validation(
    history: History, model: MLP, x: Floats, y: NDArray[np.int64], label_smoothing: float
) -> None:
    """Evaluate on ``(x, y)`` in evaluation mode; append to ``history``; update ``best_epoch``."""
    logits = model.logits(x)
    loss = cross_entropy(logits, y, label_smoothing=label_smoothing)
    history.val_loss.append(loss)
    history.val_accuracy.append(float(np.mean(np.argmax(logits, axis=1) == y)))
    if history.best_epoch is None or loss < history.val_loss[history.best_epoch]:
        history.best_epoch = len(history.val_loss) - 1


def _patience_exhausted(history: History, patience: int | None) -> bool:
    """Whether ``patience`` epochs have passed since the best validation loss."""
    best = history.best_epoch
    return patience is not None and best is not None and history.epochs - 1 - best >= patience


def _postfix(history: History) -> dict[str, float]:
    postfix = {"loss": history.train_loss[-1], "acc": history.train_accuracy[-1]}
    if history.val_loss:
        postfix |= {"val_loss": history.val_loss[-1], "val_acc": history.val_accuracy[-1]}
    return postfix


def _progress_bar_factory() -> Callable[[int, int, int], Any]:
    """A function making one tqdm bar per epoch; ImportError if tqdm is missing."""
    tqdm = import_optional(
        "tqdm", package="tqdm", needed_for="progress bars", otherwise="or pass progress=False"
    ).tqdm

    def make(epoch: int, epochs: int, steps_per_epoch: int) -> Any:
        return tqdm(
            total=steps_per_epoch, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", leave=True
        )

    return make


def _check_data(
    model: MLP, x: ArrayLike, y: ArrayLike, x_name: str, y_name: str
) -> tuple[Floats, NDArray[np.int64]]:
    """``x`` as finite floats of the model's dtype and width, ``y`` as labels, both checked."""
    x = as_batch(x, features=model.sizes[0], dtype=model.dtype, name=x_name)
    return x, as_labels(y, num_classes=model.sizes[-1], n=len(x), name=y_name)


def _check_pair(validation: Any) -> tuple[ArrayLike, ArrayLike]:
    if not isinstance(validation, tuple | list) or len(validation) != 2:
        raise ValueError(f"validation must be a pair (x_val, y_val), got {type(validation)}")
    return validation[0], validation[1]


def _check_callbacks(callbacks: Iterable[Callback] | None) -> list[Callback]:
    callbacks = [] if callbacks is None else list(callbacks)
    for callback in callbacks:
        if not callable(callback):
            raise TypeError(f"every callback must be callable(epoch, history), got {callback!r}")
    return callbacks
