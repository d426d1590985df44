"""Training runs: a fresh model trained by a recipe, on distorted batches if it says so.

:func:`train_recipe` holds out the recipe's validation images, builds the network, its
optimizer and schedule as the :class:`~nnscratch.recipes.Recipe` names them, trains it with
:func:`nnscratch.train.fit` and records the recipe in the model; :func:`distorting_step` is
the step it hands ``fit`` when the recipe distorts the training images.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._checks import as_float_array, as_labels, check_int
from .augment import Distortions
from .model import MLP
from .prepare import preprocess, train_validation_split
from .recipes import NUM_CLASSES, Recipe
from .train import Callback, Floats, History, Step, fit

__all__ = ["distorting_step", "train_recipe"]


def train_recipe(
    images: ArrayLike,
    labels: ArrayLike,
    recipe: Recipe = Recipe(),  # noqa: B008 (frozen, so a shared default is safe)
    *,
    seed: int = 0,
    progress: bool = True,
    callbacks: Iterable[Callback] | None = None,
    split_seed: int | None = None,
) -> tuple[MLP, History]:
    """Train a fresh model on ``(images, labels)`` following ``recipe``.

    Holds out ``recipe.validation_size`` images (a split seeded by ``split_seed``), builds
    ``MLP([784, *recipe.hidden, 10], seed=seed, ...)``, its optimizer and schedule, calls
    :func:`~nnscratch.train.fit` with ``seed``, and records in ``model.metadata`` the recipe,
    the preprocessing, a summary of the history and the seeds.

    Parameters
    ----------
    images : array_like
        uint8 images of shape (n, 28, 28) (preprocessed here: scaled into [0, 1]), or floats
        of shape (n, 784) already preprocessed.
    labels : array_like, shape (n,)
        Integer class labels in [0, 10).
    recipe : Recipe
    seed : int
        Seeds the initial weights, the shuffling, dropout and the distortions, and the split
        unless ``split_seed`` is given.
    progress : bool
        Show progress bars.
    callbacks : iterable of callables, optional
        Passed on to :func:`~nnscratch.train.fit`.
    split_seed : int, optional
        Seeds the split into training and validation images; default ``seed``. Runs that
        compare recipes or seeds on the same validation images share one.

    Returns
    -------
    model : MLP
    history : History
    """
    x = _prepared(images, recipe.dtype)
    y = as_labels(labels, num_classes=NUM_CLASSES, n=len(x), name="labels")
    split_seed = seed if split_seed is None else check_int(split_seed, "split_seed", minimum=0)
    validation = None
    if recipe.validation_size > 0:
        x, y, x_val, y_val = train_validation_split(
            x, y, validation_size=recipe.validation_size, seed=split_seed
        )
        validation = (x_val, y_val)
    model = MLP(
        [x.shape[1], *recipe.hidden, NUM_CLASSES],
        seed=seed,
        dtype=recipe.dtype,
        dropout=recipe.dropout,
        activation=recipe.activation,
        init=recipe.init,
    )
    step = None
    if recipe.distortions is not None:
        shape = _image_shape(x.shape[1])
        step = distorting_step(model, recipe.distortions, shape, seed=seed)
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
        step=step,
    )
    model.metadata.update(
        recipe=recipe.settings(),
        preprocessing={"scale": 1 / 255, "shape": [x.shape[1]]},
        history=history.summary(),
        seed=seed,
        split_seed=split_seed,
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
