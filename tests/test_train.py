"""Tests for nnscratch.train: the training loop and its history."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import nnscratch as ns
from nnscratch.optim import SGD, Adam
from nnscratch.schedules import CosineSchedule, StepSchedule
from nnscratch.train import DIVERGENCE_FACTOR, DIVERGENCE_STEPS, DivergenceError, History, fit


def blobs(n: int, *, seed: int, dtype=np.float64, noise: float = 1.0):
    """Three Gaussian blobs in 8 dimensions: easy to learn, quick to fit."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(123).standard_normal((3, 8)) * 2
    y = rng.integers(0, 3, n)
    x = centres[y] + noise * rng.standard_normal((n, 8))
    return x.astype(dtype), y


def bars(n: int = 240, *, seed: int = 0):
    """Ten classes of 28 x 28 pictures, each a bright bar at its own height on faint noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, n)
    x = rng.uniform(0, 0.25, (n, 28, 28))
    for i, label in enumerate(y):
        x[i, 4 + 2 * label : 6 + 2 * label, 6:22] = 1.0
    return x.reshape(n, 784), y


def small_model(dtype=np.float64, dropout=0.0, seed=0) -> ns.MLP:
    return ns.MLP([8, 16, 3], seed=seed, dtype=dtype, dropout=dropout)


def test_fit_learns_and_fills_the_history():
    x, y = blobs(300, seed=0)
    xv, yv = blobs(100, seed=1)
    model = small_model()
    schedule = StepSchedule(0.1, step_size=5, gamma=0.5)
    history = fit(
        model,
        x,
        y,
        epochs=4,
        batch_size=32,
        optimizer=SGD(0.1, momentum=0.9),
        validation=(xv, yv),
        seed=0,
        schedule=schedule,
        progress=False,
    )
    assert isinstance(history, History)
    assert history.epochs == 4 and not history.stopped_early
    for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"):
        assert len(getattr(history, name)) == 4, name
    # 10 steps per epoch (300 / 32, rounded up); lr is that of each epoch's last step.
    assert history.lr == pytest.approx([schedule(10 * e + 9, 40) for e in range(4)])
    assert all(s > 0 for s in history.seconds)
    assert all(0 <= a <= 1 for a in history.train_accuracy + history.val_accuracy)
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.val_accuracy[-1] > 0.9
    assert history.best_epoch == int(np.argmin(history.val_loss))
    assert history.val_loss[-1] == pytest.approx(model.loss(xv, yv))
    assert np.mean(model.predict(xv) == yv) == pytest.approx(history.val_accuracy[-1])
    summary = history.summary()
    assert summary["epochs"] == 4 and summary["val_accuracy"] == history.val_accuracy[-1]
    assert summary["seconds"] == pytest.approx(sum(history.seconds))


def test_train_loss_and_accuracy_are_running_means_over_the_batches():
    """Without dropout and with a tiny learning rate, the running means match a full pass."""
    x, y = blobs(64, seed=0)
    model = small_model()
    loss, correct = model.loss(x, y), np.mean(model.predict(x) == y)
    history = fit(model, x, y, epochs=1, batch_size=16, optimizer=SGD(1e-12), progress=False)
    assert history.train_loss[0] == pytest.approx(loss, rel=1e-9)
    assert history.train_accuracy[0] == pytest.approx(correct)


def test_without_validation_the_validation_lists_stay_empty():
    x, y = blobs(50, seed=0)
    history = fit(small_model(), x, y, epochs=2, batch_size=64, optimizer=Adam(), progress=False)
    assert history.val_loss == [] and history.val_accuracy == []
    assert history.best_epoch is None
    assert history.summary()["val_loss"] is None


def train_twice(dtype, seed_a, seed_b):
    x, y = blobs(200, seed=0, dtype=dtype)
    runs = []
    for seed in (seed_a, seed_b):
        model = small_model(dtype=dtype, dropout=0.3)
        history = fit(
            model,
            x,
            y,
            epochs=3,
            batch_size=16,
            optimizer=Adam(1e-2, weight_decay=1e-3),
            seed=seed,
            schedule=CosineSchedule(1e-2, warmup_steps=5),
            label_smoothing=0.1,
            progress=False,
        )
        runs.append((model.params, history))
    return runs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_seed_same_bits(dtype):
    (params_a, history_a), (params_b, history_b) = train_twice(dtype, 7, 7)
    for name in params_a:
        assert params_a[name].dtype == dtype
        assert np.array_equal(params_a[name], params_b[name]), name
    assert history_a.train_loss == history_b.train_loss


def test_another_seed_other_weights():
    (params_a, _), (params_b, _) = train_twice(np.float64, 7, 8)
    assert not np.array_equal(params_a["W1"], params_b["W1"])


def test_float32_stays_float32_through_fit():
    x, y = blobs(100, seed=0)  # float64 data: converted once to the model's dtype
    model = small_model(dtype=np.float32, dropout=0.2)
    optimizer = Adam(weight_decay=1e-4)
    fit(
        model,
        x,
        y,
        epochs=2,
        batch_size=32,
        optimizer=optimizer,
        validation=(x, y),
        seed=0,
        progress=False,
    )
    assert all(p.dtype == np.float32 for p in model.params.values())
    assert optimizer.state
    for state in optimizer.state.values():
        assert all(a.dtype == np.float32 for a in state.values())


def test_fit_updates_the_models_own_arrays():
    x, y = blobs(40, seed=0)
    model = small_model()
    arrays = dict(model.params)
    start = model.copy_params()
    fit(model, x, y, epochs=1, batch_size=8, optimizer=SGD(0.1), progress=False)
    assert all(model.params[k] is arrays[k] for k in arrays)
    assert not np.array_equal(model.params["W1"], start["W1"])


def test_early_stopping_restores_the_best_epoch():
    # Few noisy samples with random labels: a big step size memorises them, so the validation
    # loss falls briefly (if at all) and then rises.
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((30, 8)), rng.integers(0, 3, 30)
    xv, yv = rng.standard_normal((30, 8)), rng.integers(0, 3, 30)
    model = ns.MLP([8, 64, 3], seed=0)
    snapshots = []
    history = fit(
        model,
        x,
        y,
        epochs=50,
        batch_size=10,
        optimizer=Adam(0.05),
        validation=(xv, yv),
        seed=0,
        early_stopping=3,
        progress=False,
        callbacks=[lambda epoch, history: snapshots.append(model.copy_params())],
    )
    best = history.best_epoch
    assert best == int(np.argmin(history.val_loss))
    assert history.stopped_early and history.epochs == best + 4 < 50
    assert history.val_loss[best + 1] > history.val_loss[best]
    for name, value in model.params.items():
        assert np.array_equal(value, snapshots[best][name]), name
    assert not np.array_equal(model.params["W1"], snapshots[-1]["W1"])
    assert model.loss(xv, yv) == pytest.approx(history.val_loss[best])


def test_early_stopping_needs_validation():
    x, y = blobs(20, seed=0)
    with pytest.raises(ValueError, match="validation"):
        fit(small_model(), x, y, epochs=1, batch_size=4, optimizer=SGD(0.1), early_stopping=2)


def test_a_callback_returning_true_stops_training():
    x, y = blobs(40, seed=0)
    calls = []

    def stop_after_two(epoch: int, history: History) -> bool:
        calls.append((epoch, history.epochs))
        return epoch == 1

    history = fit(
        small_model(),
        x,
        y,
        epochs=10,
        batch_size=8,
        optimizer=SGD(0.1),
        progress=False,
        callbacks=[stop_after_two],
    )
    assert calls == [(0, 1), (1, 2)]
    assert history.epochs == 2 and history.stopped_early


class Recording(SGD):
    """SGD that keeps a copy of the parameters after every step."""

    def __init__(self, lr: float) -> None:
        super().__init__(lr)
        self.after: list[dict[str, np.ndarray]] = []

    def step(self, params, grads) -> None:
        super().step(params, grads)
        self.after.append({k: v.copy() for k, v in params.items()})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_divergence_stops_with_the_epoch_and_step(dtype):
    x, y = blobs(64, seed=0, dtype=dtype)
    x *= 1e3
    model = small_model(dtype=dtype)
    optimizer = Recording(1e12)
    with pytest.raises(DivergenceError, match=r"epoch \d+, step \d+") as caught:
        fit(model, x, y, epochs=5, batch_size=16, optimizer=optimizer, progress=False)
    error = caught.value
    assert isinstance(error, FloatingPointError)
    assert not np.isfinite(error.loss)
    assert f"epoch {error.epoch}, step {error.step}" in str(error)
    assert len(optimizer.after) == 4 * error.epoch + error.step  # the bad step was not taken
    for name, value in model.params.items():
        assert np.array_equal(value, optimizer.after[-1][name], equal_nan=True), name


class LossRecorder:
    """A step hook that records every batch's loss."""

    def __init__(self, model: ns.MLP) -> None:
        self.model, self.losses = model, []

    def __call__(self, x, y, **kwargs):
        loss, grads, logits = self.model.train_step(x, y, **kwargs)
        self.losses.append(loss)
        return loss, grads, logits


def test_a_loss_that_stays_far_above_its_start_is_divergence():
    """Issue 11: SGD at a rate of 1000 in float64 kept a finite loss hundreds of times above its
    start for the whole run, and fit returned the ruined model without complaint."""
    x, y = bars()
    model = ns.MLP([784, 16, 10], seed=0)
    recorder, optimizer = LossRecorder(model), Recording(1000.0)
    with pytest.raises(
        DivergenceError, match=r"in a row above .* at epoch \d+, step \d+"
    ) as caught:
        fit(
            model,
            x,
            y,
            epochs=20,
            batch_size=32,
            optimizer=optimizer,
            seed=0,
            step=recorder,
            progress=False,
        )
    error, losses = caught.value, recorder.losses
    bound = DIVERGENCE_FACTOR * max(losses[0], np.log(10))
    assert np.isfinite(error.loss) and error.loss > bound
    assert all(loss > bound for loss in losses[-DIVERGENCE_STEPS:])
    assert len(losses) == 8 * error.epoch + error.step + 1  # 8 steps per epoch
    assert len(optimizer.after) == len(losses) - 1  # the last step was not taken
    for name, value in model.params.items():
        assert np.array_equal(value, optimizer.after[-1][name]), name


def test_a_run_that_ends_far_above_its_start_is_divergence():
    """Too short to stay above the bound for DIVERGENCE_STEPS steps, it ends there: refused."""
    x, y = bars()
    model = ns.MLP([784, 16, 10], seed=0)
    with pytest.raises(DivergenceError, match=r"at epoch 1, step 7 ") as caught:
        fit(model, x, y, epochs=2, batch_size=32, optimizer=SGD(1000.0), seed=0, progress=False)
    assert np.isfinite(caught.value.loss)


def test_a_rate_of_1e30_is_divergence():
    """Issue 11: ``fit`` with ``SGD(lr=1e30)`` in float64 recorded losses of 1e117 (here 1e29
    after a first epoch of 1e172) without complaint: finite, and far above any start."""
    x, y = bars()
    model = ns.MLP([784, 16, 10], seed=0, dtype=np.float64)
    with pytest.raises(DivergenceError, match=r"with learning rate 1e\+30") as caught:
        fit(model, x, y, epochs=20, batch_size=32, optimizer=SGD(1e30), seed=0, progress=False)
    assert np.isfinite(caught.value.loss) and caught.value.loss > 1e20


def test_a_spike_that_comes_back_is_not_divergence():
    """Plain SGD at a rate of 3 spikes to 1e15 times its first loss on these blobs, then fits
    them perfectly: no bound on the loss alone can tell this run from a diverging one."""
    x, y = blobs(300, seed=0)
    model = small_model()
    recorder = LossRecorder(model)
    fit(
        model,
        x,
        y,
        epochs=20,
        batch_size=32,
        optimizer=SGD(3.0),
        seed=4,
        step=recorder,
        progress=False,
    )
    assert max(recorder.losses) > 1e12 * recorder.losses[0]
    assert np.mean(model.predict(x) == y) > 0.99


def test_badly_scaled_inputs_start_high_and_are_not_divergence():
    """Inputs a thousand times too large start at a loss of thousands (a fixed bound such as
    100 log K would stop this run at once); measured from its start, it is learning."""
    x, y = blobs(300, seed=0)
    model = small_model()
    recorder = LossRecorder(model)
    fit(
        model,
        1000 * x,
        y,
        epochs=20,
        batch_size=32,
        optimizer=Adam(1e-3),
        seed=0,
        step=recorder,
        progress=False,
    )
    assert recorder.losses[0] > 1000 and recorder.losses[-1] < 0.01 * recorder.losses[0]
    assert np.mean(model.predict(1000 * x) == y) > 0.9


def test_progress_false_prints_nothing(capsys):
    x, y = blobs(40, seed=0)
    fit(
        small_model(),
        x,
        y,
        epochs=2,
        batch_size=8,
        optimizer=SGD(0.1),
        validation=(x, y),
        progress=False,
    )
    assert capsys.readouterr() == ("", "")


def test_progress_shows_loss_and_accuracy(capsys):
    pytest.importorskip("tqdm")
    x, y = blobs(40, seed=0)
    fit(small_model(), x, y, epochs=2, batch_size=8, optimizer=SGD(0.1), progress=True)
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "loss=" in err and "acc=" in err


def test_progress_without_tqdm_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # makes `import tqdm` fail
    x, y = blobs(10, seed=0)
    with pytest.raises(ImportError, match=r"nnscratch\[full\]"):
        fit(small_model(), x, y, epochs=1, batch_size=4, optimizer=SGD(0.1), progress=True)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"early_stopping": 0, "validation": "ok"}, "early_stopping"),
        ({"x": "nan"}, "finite"),
        ({"x": "wide"}, "columns"),
        ({"x": "int"}, "floating"),
        ({"y": "short"}, "labels"),
        ({"y": "out of range"}, "label 3"),
        ({"validation": "bad shape"}, "validation x"),
        ({"validation": "single"}, "pair"),
    ],
)
def test_fit_checks_its_arguments(change, match):
    x, y = blobs(20, seed=0)
    kwargs = {"epochs": 1, "batch_size": 4, "optimizer": SGD(0.1), "progress": False}
    examples = {
        "x": {
            "nan": np.where(np.arange(8) == 3, np.nan, x),
            "wide": np.ones((20, 9)),
            "int": np.ones((20, 8), dtype=int),
        },
        "y": {"short": y[:-1], "out of range": np.full(20, 3)},
        "validation": {"ok": (x, y), "bad shape": (np.ones((5, 7)), y[:5]), "single": (x,)},
    }
    for key, value in change.items():
        kwargs[key] = examples[key][value] if key in examples else value
    x_arg, y_arg = kwargs.pop("x", x), kwargs.pop("y", y)
    with pytest.raises(ValueError, match=match):
        fit(small_model(), x_arg, y_arg, **kwargs)


def test_fit_refuses_a_non_optimizer():
    x, y = blobs(10, seed=0)
    with pytest.raises(TypeError, match="Optimizer"):
        fit(small_model(), x, y, epochs=1, batch_size=4, optimizer="adam", progress=False)


def test_fit_takes_each_step_through_its_step_hook():
    x, y = blobs(50, seed=0)
    model, calls = small_model(dropout=0.2), []

    def step(xb, yb, *, rng, label_smoothing):
        calls.append((xb.dtype, xb.shape, yb.dtype, label_smoothing, rng))
        return model.train_step(xb, yb, rng=rng, label_smoothing=label_smoothing)

    plain = small_model(dropout=0.2)
    kwargs = {"epochs": 2, "batch_size": 16, "seed": 3, "label_smoothing": 0.1, "progress": False}
    history = fit(model, x, y, optimizer=SGD(0.1), step=step, **kwargs)
    expected = fit(plain, x, y, optimizer=SGD(0.1), **kwargs)
    assert len(calls) == 2 * 4  # 50 / 16 rounded up, per epoch
    assert [shape for _, shape, *_ in calls[:4]] == [(16, 8)] * 3 + [(2, 8)]
    assert {(c[0], c[2], c[3]) for c in calls} == {(np.dtype(np.float64), np.dtype(np.int64), 0.1)}
    assert calls[0][4] is calls[-1][4]  # one generator draws every dropout mask
    assert history.train_loss == expected.train_loss  # the same steps as model.train_step
    assert history.train_accuracy == expected.train_accuracy
    for name, value in model.params.items():
        np.testing.assert_array_equal(value, plain.params[name])


def test_the_accuracy_is_counted_from_the_logits_the_step_returns():
    x, y = blobs(40, seed=0)
    model = small_model()

    def always_class_zero(xb, yb, *, rng, label_smoothing):
        loss, grads, logits = model.train_step(xb, yb, rng=rng, label_smoothing=label_smoothing)
        logits = np.zeros_like(logits)
        logits[:, 0] = 1
        return loss, grads, logits

    history = fit(
        model,
        x,
        y,
        epochs=1,
        batch_size=8,
        optimizer=SGD(0.1),
        progress=False,
        step=always_class_zero,
    )
    assert history.train_accuracy == [np.mean(y == 0)]


def test_fit_refuses_a_step_that_is_not_callable():
    x, y = blobs(10, seed=0)
    with pytest.raises(TypeError, match="step must be callable"):
        fit(small_model(), x, y, epochs=1, batch_size=4, optimizer=SGD(0.1), step=3)
