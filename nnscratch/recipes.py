"""The book's recipe: the choices that train the classifier well, and training by them.

:class:`Recipe` holds the choices that reach 98.5% test accuracy on MNIST with one hidden layer
of 512 units in about half a minute on two cores, and :func:`train_recipe` trains a fresh model
by them with :func:`nnscratch.train.fit`; the command line and the book both train so.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import (
    as_float_array,
    as_labels,
    check_choice,
    check_count,
    check_fraction,
    check_int,
    check_non_negative,
)
from .augment import Distortions
from .data import preprocess, train_validation_split
from .model import DTYPE_NAMES, MLP
from .optim import SGD, Adam, ConstantSchedule, CosineSchedule, Optimizer, StepSchedule
from .train import Callback, Floats, History, Schedule, Step, fit

OPTIMIZERS = ("adam", "sgd")
"""The optimizers a recipe can name: Adam, or SGD with momentum."""
SCHEDULES = ("cosine", "step", "constant")
"""The learning-rate schedules a recipe can name."""
NUM_CLASSES = 10  # MNIST and Fashion-MNIST alike


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
    optimizer : one of :data:`OPTIMIZERS`, "adam" or "sgd"
        SGD uses ``momentum``; both use ``weight_decay`` (L2 on the weight matrices).
    lr : float
        The peak learning rate.
    momentum : float
        SGD only.
    weight_decay : float
    dropout : float
        On every hidden layer's output, in training only.
    label_smoothing : float
    schedule : one of :data:`SCHEDULES`, "cosine", "step" or "constant"
        Cosine decays to 0 at the end of training; step divides the rate by 10 after each
        third of the epochs; both start with ``warmup_epochs`` of linear warm-up.
    warmup_epochs : float
    validation_size : int
        Training images held out (seeded) to validate on after every epoch; 0 for none.
    dtype : "float32" or "float64"
    augment : Distortions or None
        Distort every training batch afresh, at random, before its step (the images must
        be square); None trains on the images as they are. See :data:`AUGMENTED`.
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
    augment: Distortions | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(self.hidden))
        for width in self.hidden:
            check_count(width, "every hidden width")
        check_count(self.epochs, "epochs")
        check_count(self.batch_size, "batch_size")
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        check_choice(self.schedule, "schedule", SCHEDULES)
        check_choice(self.dtype, "dtype", DTYPE_NAMES)
        if check_non_negative(self.warmup_epochs, "warmup_epochs") >= self.epochs:
            raise ValueError(
                f"warmup_epochs must lie in [0, epochs) = [0, {self.epochs}), "
                f"got {self.warmup_epochs}"
            )
        check_int(self.validation_size, "validation_size", minimum=0)
        self.build_optimizer()  # checks lr, momentum and weight_decay
        check_fraction(self.label_smoothing, "label_smoothing")
        check_fraction(self.dropout, "dropout")
        if self.augment is not None and not isinstance(self.augment, Distortions):
            raise TypeError(
                f"augment must be None or an nnscratch.augment.Distortions, got {self.augment!r}"
            )

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


AUGMENTED = Recipe(
    epochs=20,
    lr=5e-3,
    dropout=0.0,
    augment=Distortions(rotate=10, scale=0.1, shear=10, translate=1, elastic=(16, 4)),
)
"""The augmented recipe: the default one on randomly distorted batches, chosen on validation.

Every batch is rotated by up to 10 degrees, scaled by up to 10%, sheared by up to 10
degrees, moved by up to a pixel and bent by an elastic field (alpha 16, sigma 4 pixels), with
a peak rate of 5e-3 and no dropout. Chosen by the accuracy on the 5,000 held-out validation
images, mean of seeds 0 and 1 (40 epochs unless said): these distortions 99.24% at a rate of
3e-3, 99.27% at 5e-3; affine alone 99.18%, elastic alone (alpha 34, sigma 4) 98.95%;
dropout 0.1 99.24%, label smoothing 0.1 99.18% (differences below about 0.13 points, the
standard error on 5,000 images, are noise). 20 epochs gave 99.12% against 99.27% for 40, in
half the time: the book's build trains this recipe for three seeds, so it takes 20.
"""


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
    :func:`~nnscratch.train.fit` with ``seed``, and records in ``model.metadata`` the recipe,
    the preprocessing, a summary of the history and the seed.

    Parameters
    ----------
    images : array_like
        uint8 images of shape (n, 28, 28) (preprocessed here: scaled into [0, 1]), or floats
        of shape (n, 784) already preprocessed.
    labels : array_like, shape (n,)
        Integer class labels in [0, 10).
    recipe : Recipe
    seed : int
        Seeds the split, the initial weights, the shuffling, dropout and the distortions.
    progress : bool
        Show progress bars.
    callbacks : iterable of callables, optional
        Passed on to :func:`~nnscratch.train.fit`.

    Returns
    -------
    model : MLP
    history : History
    """
    x = _prepared(images, recipe.dtype)
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
        step=None
        if recipe.augment is None
        else distorting_step(model, recipe.augment, _image_shape(x.shape[1]), seed=seed),
    )
    model.metadata.update(
        recipe=asdict(recipe) | {"hidden": list(recipe.hidden)},
        preprocessing={"scale": 1 / 255, "shape": [x.shape[1]]},
        history=history.summary(),
        seed=seed,
    )
    return model, history


def distorting_step(
    model: MLP, distortions: Distortions, shape: tuple[int, int], *, seed: int | None = None
) -> Step:
    """A step for :func:`~nnscratch.train.fit`: ``model.train_step`` on distorted batches.

    Each batch (n, height * width) is distorted afresh by ``distortions`` as n images of
    ``shape``, into a buffer kept from batch to batch, and the model steps on that copy; the
    batch itself is left as it is.

    Parameters
    ----------
    model : MLP
    distortions : Distortions
    shape : (height, width)
        The shape of one image.
    seed : int, optional
        Seeds the distortions' generator, independent of the shuffling and dropout generators
        that ``fit`` derives from the same seed.

    Returns
    -------
    callable
        ``step(x, y, rng=rng, label_smoothing=e) -> (loss, grads, logits)``.
    """
    distortion_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[2])
    buffer = np.empty(0, model.dtype)

    def step(
        x: Floats,
        y: NDArray[np.int64],
        *,
        rng: np.random.Generator | None = None,
        label_smoothing: float = 0.0,
    ) -> tuple[float, dict[str, Floats], Floats]:
        nonlocal buffer
        if buffer.size < x.size:
            buffer = np.empty(x.size, x.dtype)
        distorted = buffer[: x.size].reshape(len(x), *shape)
        distortions(x.reshape(len(x), *shape), distortion_rng, out=distorted)
        return model.train_step(
            distorted.reshape(x.shape), y, rng=rng, label_smoothing=label_smoothing
        )

    return step


def _image_shape(features: int) -> tuple[int, int]:
    """The square image of ``features`` pixels, which augmentation needs."""
    side = math.isqrt(features)
    if side * side != features:
        raise ValueError(
            f"augment distorts square images, but the images have {features} features "
            "(not a square number)"
        )
    return side, side


def _prepared(images: ArrayLike, dtype: str) -> Floats:
    """uint8 images -> ``preprocess``; floats of shape (n, features) -> that dtype."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return preprocess(images, dtype=np.dtype(dtype))
    return as_float_array(images, ndim=2, name="images").astype(dtype, copy=False)
