"""The training loop, its record, and the book's default recipe.

:func:`fit` runs mini-batch training: each epoch shuffles the training set with its own
generator, gathers the shuffled copy once, and walks through it in contiguous batches. Per step it
sets the learning rate from the schedule, computes the loss and the gradients (the shortcut),
stops if the loss is not finite, and lets the optimizer update the parameters in place. The
per-epoch figures land in a :class:`History`.

:class:`Recipe` and :func:`train_recipe` hold the choices that reach 98.5% test accuracy on MNIST
with one hidden layer of 512 units in about half a minute on two cores; the command line and the
book both train with them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import as_float_array, as_labels, check_finite
from .functional import _check_label_smoothing, cross_entropy
from .model import MLP
from .optim import SGD, Adam, ConstantSchedule, CosineSchedule, Optimizer, StepSchedule

Floats = NDArray[np.floating]
Schedule = Callable[[int, int], float]
Callback = Callable[[int, "History"], Any]

NUM_CLASSES = 10  # MNIST and Fashion-MNIST alike
POSTFIX_EVERY = 20  # steps between two updates of the progress bar's loss and accuracy


class DivergenceError(FloatingPointError):
    """The training loss became NaN or infinite.

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
        """The final figures as a JSON-able dict (what :func:`train_recipe` stores in a model)."""
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

    Returns
    -------
    History

    Raises
    ------
    DivergenceError
        As soon as a training loss is NaN or infinite, naming the epoch and the step; the
        parameters are left as they were before that step.
    """
    epochs = _check_count(epochs, "epochs")
    batch_size = _check_count(batch_size, "batch_size")
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be an nnscratch.optim.Optimizer, got {type(optimizer)}")
    if schedule is not None and not callable(schedule):
        raise TypeError(f"schedule must be callable(step, total_steps) -> lr, got {schedule!r}")
    x, y = _check_data(model, x, y, "x", "y")
    if validation is not None:
        validation = _check_data(model, *_check_pair(validation), "validation x", "validation y")
    label_smoothing = _check_label_smoothing(label_smoothing)
    if early_stopping is not None:
        early_stopping = _check_count(early_stopping, "early_stopping (the patience)")
        if validation is None:
            raise ValueError("early_stopping monitors the validation loss: pass validation=")
    callbacks = _check_callbacks(callbacks)
    progress_bar = _progress_bar_factory() if progress else None

    shuffle_rng, dropout_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)
    )
    loop = _Loop(model, optimizer, schedule, batch_size, label_smoothing, dropout_rng, epochs, x)
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
        context = nullcontext() if progress_bar is None else progress_bar(epoch, epochs, loop.steps)
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


class _Loop:
    """The inner loop of :func:`fit`: what stays fixed over the epochs, and one epoch's steps."""

    def __init__(
        self,
        model: MLP,
        optimizer: Optimizer,
        schedule: Schedule | None,
        batch_size: int,
        label_smoothing: float,
        dropout_rng: np.random.Generator,
        epochs: int,
        x: Floats,
    ) -> None:
        self.model, self.optimizer, self.schedule = model, optimizer, schedule
        self.batch_size, self.label_smoothing, self.rng = batch_size, label_smoothing, dropout_rng
        self.steps = math.ceil(len(x) / batch_size)
        self.total_steps = epochs * self.steps

    def run_epoch(
        self, epoch: int, x: Floats, y: NDArray[np.int64], bar: Any
    ) -> tuple[float, float]:
        """Take one step per batch of the shuffled ``(x, y)``; return the running loss and accuracy.

        Floating-point warnings are silenced inside: a loss that overflows or turns NaN raises
        :class:`DivergenceError` instead.
        """
        model, params, optimizer = self.model, self.model.params, self.optimizer
        loss_sum, correct = 0.0, 0
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for step, begin in enumerate(range(0, len(x), self.batch_size)):
                xb, yb = x[begin : begin + self.batch_size], y[begin : begin + self.batch_size]
                if self.schedule is not None:
                    optimizer.lr = self.schedule(epoch * self.steps + step, self.total_steps)
                loss, grads = model._loss_and_grads(xb, yb, self.rng, self.label_smoothing)
                if not math.isfinite(loss):
                    raise _divergence(model, loss, epoch, step, optimizer.lr)
                correct += _count_correct(model, yb)
                optimizer.step(params, grads)
                loss_sum += loss * len(yb)
                if bar is not None:
                    bar.update()
                    if step % POSTFIX_EVERY == 0:
                        seen = begin + len(yb)
                        bar.set_postfix(
                            {"loss": loss_sum / seen, "acc": correct / seen}, refresh=False
                        )
        return loss_sum / len(x), correct / len(x)


def _count_correct(model: MLP, y: NDArray[np.int64]) -> int:
    """How many rows of the batch just passed through the model it classified right.

    The model keeps the logits of its last training forward pass (after dropout, before the
    update), so nothing is recomputed.
    """
    return int(np.count_nonzero(np.argmax(model._last_logits, axis=1) == y))


def _divergence(model: MLP, loss: float, epoch: int, step: int, lr: float) -> DivergenceError:
    finite = all(np.isfinite(value).all() for value in model.params.values())
    state = "finite" if finite else "already NaN or infinite in places"
    return DivergenceError(
        f"training diverged: the loss is {loss} at epoch {epoch}, step {step} (both counted from "
        f"0) with learning rate {lr:g}. The parameters are left as they were before that step "
        f"(they are {state}); try a smaller learning rate.",
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
    return patience is not None and history.epochs - 1 - history.best_epoch >= patience


def _postfix(history: History) -> dict[str, float]:
    postfix = {"loss": history.train_loss[-1], "acc": history.train_accuracy[-1]}
    if history.val_loss:
        postfix |= {"val_loss": history.val_loss[-1], "val_acc": history.val_accuracy[-1]}
    return postfix


def _progress_bar_factory() -> Callable[[int, int, int], Any]:
    """A function making one tqdm bar per epoch; ImportError if tqdm is missing."""
    try:
        from tqdm import tqdm
    except ImportError as error:
        raise ImportError(
            'progress bars need tqdm: pip install "nnscratch[full]", or pass progress=False'
        ) from error

    def make(epoch: int, epochs: int, steps: int) -> Any:
        return tqdm(total=steps, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", leave=True)

    return make


def _check_data(
    model: MLP, x: ArrayLike, y: ArrayLike, x_name: str, y_name: str
) -> tuple[Floats, NDArray[np.int64]]:
    """``x`` as finite floats of the model's dtype and width, ``y`` as labels, both checked."""
    x = as_float_array(x, ndim=2, name=x_name)
    if x.shape[1] != model.sizes[0]:
        raise ValueError(
            f"{x_name} must have {model.sizes[0]} columns (the model's input width), "
            f"got shape {x.shape}"
        )
    if len(x) == 0:
        raise ValueError(f"{x_name} must hold at least one sample, got shape {x.shape}")
    x = x.astype(model.dtype, copy=False)
    check_finite(x, name=x_name)
    return x, as_labels(y, num_classes=model.sizes[-1], n=len(x), name=y_name)


def _check_pair(validation: Any) -> tuple[ArrayLike, ArrayLike]:
    if not isinstance(validation, tuple | list) or len(validation) != 2:
        raise ValueError(f"validation must be a pair (x_val, y_val), got {type(validation)}")
    return validation[0], validation[1]


def _check_count(value: int, name: str) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` unless it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _check_callbacks(callbacks: Iterable[Callback] | None) -> list[Callback]:
    callbacks = [] if callbacks is None else list(callbacks)
    for callback in callbacks:
        if not callable(callback):
            raise TypeError(f"every callback must be callable(epoch, history), got {callback!r}")
    return callbacks


def _check_choice(value: str, name: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


@dataclass(frozen=True)
class Recipe:
    """How :func:`train_recipe` trains; the defaults are the book's best recipe.

    They reach at least 98.5% test accuracy on MNIST with one hidden layer of 512 units
    (784-512-10) in about half a minute of training on two cores: float32, batches of 256,
    15 epochs of Adam at a peak rate of 3e-3 with a cosine schedule after one epoch of linear
    warm-up, dropout 0.2 on the hidden layer, and label smoothing 0.05. (With seeds 0, 1 and 2
    they gave 98.61%, 98.63% and 98.68% in 25 to 29 seconds.)

    Attributes
    ----------
    hidden : tuple of int
        The hidden layers' widths.
    epochs, batch_size : int
    optimizer : "adam" or "sgd"
        SGD uses ``momentum``; both use ``weight_decay`` (L2 on the weight matrices).
    lr : float
        The peak learning rate.
    momentum : float
        SGD only.
    weight_decay : float
    dropout : float
        On every hidden layer's output, in training only.
    label_smoothing : float
    schedule : "cosine", "step" or "constant"
        Cosine decays to 0 at the end of training; step divides the rate by 10 after each
        third of the epochs; both start with ``warmup_epochs`` of linear warm-up.
    warmup_epochs : float
    validation_size : int
        Training images held out (seeded) to validate on after every epoch; 0 for none.
    dtype : "float32" or "float64"
    """

    hidden: tuple[int, ...] = (512,)
    epochs: int = 15
    batch_size: int = 256
    optimizer: str = "adam"
    lr: float = 3e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    dropout: float = 0.2
    label_smoothing: float = 0.05
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    validation_size: int = 5000
    dtype: str = "float32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(self.hidden))
        for width in self.hidden:
            _check_count(width, "every hidden width")
        _check_count(self.epochs, "epochs")
        _check_count(self.batch_size, "batch_size")
        _check_choice(self.optimizer, "optimizer", ("adam", "sgd"))
        _check_choice(self.schedule, "schedule", ("cosine", "step", "constant"))
        _check_choice(self.dtype, "dtype", ("float32", "float64"))
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(
                f"warmup_epochs must lie in [0, epochs) = [0, {self.epochs}), "
                f"got {self.warmup_epochs}"
            )
        size = self.validation_size
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 0:
            raise ValueError(f"validation_size must be an integer >= 0, got {size!r}")
        self.build_optimizer()  # checks lr, momentum and weight_decay
        _check_label_smoothing(self.label_smoothing)
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")

    def build_optimizer(self) -> Optimizer:
        """The optimizer this recipe names, with its hyper-parameters."""
        if self.optimizer == "adam":
            return Adam(self.lr, weight_decay=self.weight_decay)
        return SGD(self.lr, momentum=self.momentum, weight_decay=self.weight_decay)

    def build_schedule(self, steps_per_epoch: int) -> Schedule:
        """The schedule this recipe names, for epochs of ``steps_per_epoch`` steps."""
        warmup = round(self.warmup_epochs * steps_per_epoch)
        if self.schedule == "cosine":
            return CosineSchedule(self.lr, warmup_steps=warmup)
        if self.schedule == "step":
            step_size = max(1, self.epochs // 3) * steps_per_epoch
            return StepSchedule(self.lr, step_size=step_size, warmup_steps=warmup)
        return ConstantSchedule(self.lr)


def train_recipe(
    images: ArrayLike,
    labels: ArrayLike,
    recipe: Recipe = Recipe(),  # noqa: B008 (frozen, so a shared default is safe)
    *,
    seed: int = 0,
    progress: bool = True,
    callbacks: Iterable[Callback] | None = None,
) -> tuple[MLP, History]:
    """Train a fresh model on ``(images, labels)`` following ``recipe``.

    Holds out ``recipe.validation_size`` images (a split seeded by ``seed``), builds
    ``MLP([784, *recipe.hidden, 10], seed=seed, ...)``, its optimizer and schedule, calls
    :func:`fit` with ``seed``, and records in ``model.metadata`` the recipe, the preprocessing,
    a summary of the history and the seed.

    Parameters
    ----------
    images : array_like
        uint8 images of shape (n, 28, 28) (preprocessed here: scaled into [0, 1]), or floats
        of shape (n, 784) already preprocessed.
    labels : array_like, shape (n,)
        Integer class labels in [0, 10).
    recipe : Recipe
    seed : int
        Seeds the split, the initial weights, the shuffling and dropout.
    progress : bool
        Show progress bars.
    callbacks : iterable of callables, optional
        Passed on to :func:`fit`.

    Returns
    -------
    model : MLP
    history : History
    """
    from .data import preprocess, train_validation_split  # data imports optional extras lazily

    x = _prepared(images, recipe.dtype, preprocess)
    y = as_labels(labels, num_classes=NUM_CLASSES, n=len(x), name="labels")
    validation = None
    if recipe.validation_size > 0:
        x, y, x_val, y_val = train_validation_split(
            x, y, validation_size=recipe.validation_size, seed=seed
        )
        validation = (x_val, y_val)
    model = MLP(
        [x.shape[1], *recipe.hidden, NUM_CLASSES],
        seed=seed,
        dtype=recipe.dtype,
        dropout=recipe.dropout,
    )
    history = fit(
        model,
        x,
        y,
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        optimizer=recipe.build_optimizer(),
        validation=validation,
        seed=seed,
        schedule=recipe.build_schedule(math.ceil(len(x) / recipe.batch_size)),
        label_smoothing=recipe.label_smoothing,
        progress=progress,
        callbacks=callbacks,
    )
    model.metadata.update(
        recipe=asdict(recipe) | {"hidden": list(recipe.hidden)},
        preprocessing={"scale": 1 / 255, "shape": [x.shape[1]]},
        history=history.summary(),
        seed=seed,
    )
    return model, history


def _prepared(images: ArrayLike, dtype: str, preprocess: Callable[..., Floats]) -> Floats:
    """uint8 images -> ``preprocess``; floats of shape (n, features) -> that dtype."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return preprocess(images, dtype=np.dtype(dtype))
    return as_float_array(images, ndim=2, name="images").astype(dtype, copy=False)
