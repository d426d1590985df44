"""Tests of nnscratch.model.MLP: initialisation, the shortcut gradients against finite
differences, the training step, dropout, dtypes, parameter handling, input checking, and
saving and loading (what the file must hold is tested with nnscratch.mlpfile, the scaled
path for huge inputs with nnscratch.overflow)."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from model_files import make_model
from numpy.testing import assert_allclose, assert_array_equal

import nnscratch as ns
from nnscratch import layers
from nnscratch.gradcheck import check_model, numerical_gradient, relative_error
from nnscratch.model import MLP

SHAPES = [[4, 3], [5, 7, 3], [6, 8, 5, 4]]


def batch(sizes, n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, sizes[0])), rng.integers(0, sizes[-1], n)


@pytest.fixture(scope="module")
def gradient_errors():
    """Collects every relative gradient error measured here and prints the worst."""
    errors = []
    yield errors
    print(f"\nworst relative gradient error in test_model.py: {max(errors):.2e}")


def test_shapes_and_he_initialisation():
    model = MLP([2000, 300, 10], seed=0)
    assert model.sizes == (2000, 300, 10) and model.dtype == np.float64
    assert list(model.params) == ["W1", "b1", "W2", "b2"]
    assert model.params["W1"].shape == (2000, 300) and model.params["b2"].shape == (10,)
    assert abs(model.params["W1"].std() / np.sqrt(2 / 2000) - 1) < 0.01
    assert abs(model.params["W1"].mean()) < 1e-3
    assert not model.params["b1"].any() and model.metadata == {}
    assert repr(model) == "MLP([2000, 300, 10], dtype=float64, dropout=0.0)"


def test_he_initialisation_for_leaky_relu_and_the_uniform_one():
    leaky = MLP([2000, 300, 10], seed=0, activation="leaky_relu")
    relu = MLP([2000, 300, 10], seed=0)
    for name in ("W1", "W2"):  # the same draws, with He's gain 2 / (1 + 0.01**2) for leaky ReLU
        assert_allclose(leaky.params[name], relu.params[name] / np.sqrt(1.0001), rtol=1e-14)
    uniform = MLP([2000, 300, 10], seed=0, init="uniform", dtype=np.float32)
    W = uniform.params["W1"]
    assert W.dtype == np.float32 and W.min() >= -1 and W.max() < 1
    assert abs(W.var() - 1 / 3) < 0.01 and not uniform.params["b2"].any()
    assert (
        repr(leaky) == "MLP([2000, 300, 10], dtype=float64, dropout=0.0, activation='leaky_relu')"
    )


def test_same_seed_same_params_in_either_dtype():
    first, second = MLP([5, 7, 3], seed=4), MLP([5, 7, 3], seed=4)
    single = MLP([5, 7, 3], seed=4, dtype=np.float32)
    for name, value in first.params.items():
        assert_array_equal(second.params[name], value)
        assert single.params[name].dtype == np.float32
        assert_array_equal(single.params[name], value.astype(np.float32))
    assert not np.array_equal(MLP([5, 7, 3], seed=5).params["W1"], first.params["W1"])


def test_params_are_the_arrays_the_layers_use():
    model = MLP([3, 2], seed=0)
    x, _ = batch([3, 2])
    model.params["b1"] += 1.0  # what an optimizer does
    assert_allclose(model.logits(x), x @ model.params["W1"] + 1.0)


@pytest.mark.parametrize("sizes", SHAPES)
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_shortcut_matches_finite_differences(sizes, label_smoothing, gradient_errors):
    model = MLP(sizes, seed=1)
    x, y = batch(sizes)
    errors = check_model(model, x, y, label_smoothing=label_smoothing)
    assert set(errors) == set(model.params)
    gradient_errors.extend(errors.values())
    assert max(errors.values()) <= 1e-7, errors


@pytest.mark.parametrize("sizes", SHAPES)
def test_leaky_relu_shortcut_matches_finite_differences(sizes, gradient_errors):
    model = MLP(sizes, seed=1, activation="leaky_relu")
    x, y = batch(sizes)
    errors = check_model(model, x, y, label_smoothing=0.05)
    gradient_errors.extend(errors.values())
    assert max(errors.values()) <= 1e-7, errors


def test_leaky_relu_changes_the_function_and_its_gradients():
    relu = MLP([5, 7, 3], seed=3)
    leaky = MLP.from_params(relu.params, activation="leaky_relu")
    x, y = batch([5, 7, 3], n=20)
    negative = x @ relu.params["W1"] < 0  # units where the two activations differ
    assert negative.any()
    expected = np.where(negative, 0.01, 1) * (x @ relu.params["W1"]) @ relu.params["W2"]
    assert_allclose(leaky.logits(x), expected, rtol=1e-12)
    assert not np.allclose(leaky.loss_and_grads(x, y)[1]["W1"], relu.loss_and_grads(x, y)[1]["W1"])


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_dropout_path_matches_finite_differences_with_the_mask_fixed(
    label_smoothing, gradient_errors
):
    model = MLP([6, 8, 5, 4], seed=2, dropout=0.4)
    x, y = batch(model.sizes)
    # Zero biases would put z exactly on the ReLU's kink for a sample whose hidden units are all
    # dropped (z = b = 0), where the finite difference sees half the slope: move them off it.
    for name in ("b1", "b2", "b3"):
        model.params[name][...] = np.random.default_rng(3).normal(
            scale=0.1, size=model.params[name].shape
        )

    def loss(_):  # the same seed for every evaluation: the same masks
        rng = np.random.default_rng(7)
        return model.loss_and_grads(x, y, rng=rng, label_smoothing=label_smoothing)[0]

    _, grads = model.loss_and_grads(
        x, y, rng=np.random.default_rng(7), label_smoothing=label_smoothing
    )
    for name, param in model.params.items():
        error = relative_error(grads[name], numerical_gradient(loss, param))
        gradient_errors.append(error)
        assert error <= 1e-7, name


def test_dropout_training_is_reproducible_and_random():
    model = MLP([6, 8, 5, 4], seed=0, dropout=0.5)
    x, y = batch(model.sizes)
    loss, grads = model.loss_and_grads(x, y, rng=np.random.default_rng(3))
    again, grads_again = model.loss_and_grads(x, y, rng=np.random.default_rng(3))
    assert loss == again
    for name in grads:
        assert_array_equal(grads[name], grads_again[name])
    assert model.loss_and_grads(x, y, rng=np.random.default_rng(4))[0] != loss


def test_predict_never_drops():
    model = MLP([6, 8, 5, 4], seed=0, dropout=0.5)
    plain = MLP.from_params(model.params)
    x, y = batch(model.sizes)
    assert_array_equal(model.logits(x), plain.logits(x))
    assert_array_equal(model.predict_proba(x), plain.predict_proba(x))
    assert_array_equal(model.predict(x), plain.predict(x))
    assert model.loss(x, y) == plain.loss(x, y)
    assert model.loss_and_grads(x, y)[0] == plain.loss(x, y)  # no rng: evaluation mode


def test_predictions():
    model = MLP([5, 7, 3], seed=0)
    x, y = batch(model.sizes, n=20)
    proba = model.predict_proba(x)
    assert proba.shape == (20, 3)
    assert_allclose(proba.sum(axis=1), 1, rtol=1e-15)
    prediction = model.predict(x)
    assert prediction.dtype == np.int64
    assert_array_equal(prediction, proba.argmax(axis=1))
    assert model.loss(x, y) == pytest.approx(-np.log(proba[np.arange(20), y]).mean(), rel=1e-14)
    assert model.loss(x, y) == pytest.approx(model.loss_and_grads(x, y)[0], rel=1e-15)
    assert model.predict(x[:0]).shape == (0,)


def test_train_step_is_the_checked_step_and_returns_the_logits():
    model = MLP([5, 7, 3], seed=0, dropout=0.2)
    x, y = batch(model.sizes)
    loss, grads = model.loss_and_grads(x, y, rng=np.random.default_rng(1), label_smoothing=0.1)
    step_loss, step_grads, logits = model.train_step(
        x, y, rng=np.random.default_rng(1), label_smoothing=0.1
    )
    assert step_loss == loss
    for name in grads:
        assert_array_equal(step_grads[name], grads[name])
    assert logits.shape == (len(x), 3)
    # The logits are those of the training forward pass: with dropout, not the evaluation ones.
    assert not np.allclose(logits, model.logits(x))
    plain = MLP([5, 7, 3], seed=0)
    assert_array_equal(plain.train_step(x, y)[2], plain.logits(x))


def test_loss_and_grads_returns_gradients_the_next_step_leaves_alone():
    model = MLP([5, 7, 3], seed=0)
    x, y = batch(model.sizes)
    _, first = model.loss_and_grads(x, y)
    kept = {name: grad.copy() for name, grad in first.items()}
    model.loss_and_grads(x[::-1] * 2, y)
    for name, grad in first.items():
        assert_array_equal(grad, kept[name])


def test_train_steps_on_one_batch_size_reuse_their_arrays():
    model = MLP([5, 7, 3], seed=0)
    x, y = batch(model.sizes)
    _, grads, logits = model.train_step(x, y)
    logits_kept = logits.copy()
    _, again, logits_again = model.train_step(x, y)
    assert logits_again is logits and all(again[name] is grads[name] for name in grads)
    assert_array_equal(logits_again, logits_kept)  # the same step: the same values
    _, _, small = model.train_step(x[:3], y[:3])
    assert small.shape == (3, 3)
    assert_array_equal(model.train_step(x, y)[2], logits_kept)


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.zeros((2, 5), np.float32), np.zeros(2, np.int64), r"x as float64 of shape \(n, 5\)"),
        (np.zeros((2, 4)), np.zeros(2, np.int64), r"found float64 of shape \(2, 4\)"),
        ([[0.0] * 5] * 2, np.zeros(2, np.int64), "found <class 'list'>"),
        (np.zeros((2, 5)), np.zeros(2, np.int32), "y as int64 labels of shape"),
        (np.zeros((2, 5)), np.zeros(3, np.int64), r"shape \(2,\), found int64 of shape \(3,\)"),
        (np.zeros((0, 5)), np.zeros(0, np.int64), "at least one sample"),
    ],
)
def test_train_step_checks_types_and_shapes(x, y, message):
    with pytest.raises(ValueError, match=message):
        MLP([5, 7, 3], seed=0).train_step(x, y)


def test_float32_model_has_no_float64_intermediate(monkeypatch):
    """Record the dtype of every layer's output and cached array along the training step."""
    seen = []

    def record(method):
        def wrapper(self, *args, **kwargs):
            out = method(self, *args, **kwargs)
            arrays = [out, *vars(self).values()]
            seen.extend(
                a.dtype for a in arrays if isinstance(a, np.ndarray) and a.dtype.kind == "f"
            )
            return out

        return wrapper

    for layer in (layers.Linear, layers.ReLU, layers.Dropout, layers.SoftmaxCrossEntropy):
        monkeypatch.setattr(layer, "forward", record(layer.forward))
        monkeypatch.setattr(layer, "backward", record(layer.backward))
    model = MLP([6, 8, 5, 4], seed=0, dtype=np.float32, dropout=0.3)
    x, y = batch(model.sizes)
    loss, grads = model.loss_and_grads(x, y, rng=np.random.default_rng(0), label_smoothing=0.1)
    assert len(seen) > 30 and set(seen) == {np.dtype(np.float32)}
    assert isinstance(loss, float)
    assert {g.dtype for g in grads.values()} == {np.dtype(np.float32)}
    assert model.predict_proba(x).dtype == np.float32 and model.logits(x).dtype == np.float32


def test_from_params_copies_and_checks():
    model = MLP([5, 7, 3], seed=0, dtype=np.float32)
    clone = MLP.from_params(model.params, dropout=0.1)
    assert clone.sizes == (5, 7, 3) and clone.dtype == np.float32 and clone.dropout == 0.1
    assert clone.params["W1"] is not model.params["W1"]
    x, _ = batch(model.sizes)
    assert_array_equal(clone.logits(x), model.logits(x))


def good_params():
    return MLP([4, 3, 2], seed=0).copy_params()


def changed(**changes):
    params = good_params() | changes
    return {name: value for name, value in params.items() if value is not None}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "must be named W1, b1"),
        (changed(b2=None), "must be named W1, b1"),
        (changed(W3=np.zeros((2, 2))), "must be named W1, b1"),
        (changed(W2=np.zeros((4, 2))), r"W2 must have 3 rows"),
        (changed(b1=np.zeros(4)), r"b1 must have shape \(3,\)"),
        (changed(W1=np.zeros(3)), "W1 must have 2 dimension"),
        (changed(b2=np.zeros(2, np.float32)), "every parameter must have dtype float64"),
        (changed(W1=np.zeros((4, 3), int)), "W1 must be a real floating-point array"),
        ({name: v.astype(np.float16) for name, v in good_params().items()}, "float32 or float64"),
        (changed(b1=np.array([0.0, np.nan, 0.0])), "b1 must be finite"),
    ],
)
def test_from_params_refuses_bad_params(params, message):
    with pytest.raises(ValueError, match=message):
        MLP.from_params(params)


def test_copy_and_set_params():
    model = MLP([4, 3, 2], seed=0)
    arrays = dict(model.params)
    best = model.copy_params()
    model.params["W1"] += 1.0
    assert not np.array_equal(best["W1"], model.params["W1"])
    model.set_params(best)
    for name, value in model.params.items():
        assert value is arrays[name]  # copied into the same arrays: optimizers keep theirs
        assert_array_equal(value, best[name])


def test_set_params_checks_everything_before_copying_anything():
    model = MLP([4, 3, 2], seed=0)
    before = model.copy_params()
    bad = MLP([4, 3, 2], seed=1).copy_params() | {"b2": np.zeros(3)}
    with pytest.raises(ValueError, match=r"b2 must have shape \(2,\)"):
        model.set_params(bad)
    with pytest.raises(ValueError, match="params must be named"):
        model.set_params({"W1": before["W1"]})
    for name, value in model.params.items():
        assert_array_equal(value, before[name])


@pytest.mark.parametrize(
    ("dtype", "activation"),
    [(np.float32, "relu"), (np.float64, "relu"), (np.float64, "leaky_relu")],
)
def test_save_and_load_predict_bit_for_bit(tmp_path, dtype, activation):
    model = make_model(dtype, activation=activation)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = MLP.load(path)
    x = np.random.default_rng(1).normal(size=(20, 12)).astype(dtype)
    assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    assert loaded.sizes == model.sizes and loaded.dtype == model.dtype
    assert loaded.dropout == model.dropout and loaded.activation == activation
    for name, value in model.params.items():
        assert_array_equal(loaded.params[name], value)
        assert loaded.params[name].dtype == dtype and loaded.params[name].flags.writeable
    assert loaded.metadata == {
        "recipe": {"hidden": [7, 5], "lr": 1e-3},
        "metrics": {"accuracy": 0.75, "confusion": [[1, 0], [0, 1]]},
        "preprocessing": {"scale": 1 / 255, "shape": [12]},
    }


def test_load_is_what_the_command_line_and_the_book_use(tmp_path):
    path = tmp_path / "m.npz"
    ns.MLP([5, 10], seed=0).save(path)
    assert ns.MLP.load(path).sizes == (5, 10)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sizes": [784]}, "at least an input and an output"),
        ({"sizes": []}, "at least an input and an output"),
        ({"sizes": [784, 0, 10]}, "positive integers"),
        ({"sizes": [784, -5]}, "positive integers"),
        ({"sizes": [784, 2.5]}, "positive integers"),
        ({"sizes": [4, True]}, "positive integers"),
        ({"sizes": [4, 2], "dtype": np.int64}, "float32 or float64"),
        ({"sizes": [4, 2], "dtype": np.float16}, "float32 or float64"),
        ({"sizes": [4, 2], "dropout": 1.0}, "dropout probability"),
        ({"sizes": [4, 2], "dropout": -0.5}, "dropout probability"),
        ({"sizes": [4, 2], "activation": "tanh"}, "activation must be one of"),
        ({"sizes": [4, 2], "init": "glorot"}, "init must be one of 'he', 'uniform'"),
    ],
)
def test_constructor_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLP(**kwargs)


MODEL = MLP([3, 4, 2], seed=0)
X = np.zeros((2, 3))
Y = np.array([0, 1])

INVALID_CALLS = [
    (lambda: MODEL.predict(np.zeros(3)), "x must have 2 dimension"),
    (
        lambda: MODEL.predict(np.zeros((2, 4))),
        r"x must have 3 columns \(features\), got shape \(2, 4\)",
    ),
    (
        lambda: MODEL.predict(np.zeros((2, 3), int)),
        "x must be a real floating-point array, got dtype int64",
    ),
    (lambda: MODEL.predict(np.zeros((2, 3), bool)), "got dtype bool"),
    (lambda: MODEL.predict_proba(np.zeros((2, 3), complex)), "got dtype complex128"),
    (
        lambda: MODEL.logits(np.array([[0.0, np.nan, 0.0]])),
        r"x must be finite, found nan at index \(0, 1\)",
    ),
    (lambda: MODEL.predict(np.array([[0.0, 0.0, -np.inf]])), "x must be finite, found -inf"),
    (lambda: MODEL.loss_and_grads(X, [0, 2]), r"label 2, outside the range \[0, 2\)"),
    (lambda: MODEL.loss_and_grads(X, [0]), "must hold 2 labels"),
    (lambda: MODEL.loss_and_grads(X, [0.5, 1.0]), "non-integral"),
    (lambda: MODEL.loss_and_grads(X, [[0, 1]]), "1-D array of class labels"),
    (lambda: MODEL.loss_and_grads(X[:0], []), "at least one sample"),
    (lambda: MODEL.loss_and_grads(X, Y, label_smoothing=1.0), "label_smoothing"),
    (lambda: MODEL.loss(X, [0, 5]), "outside the range"),
    (lambda: MODEL.loss(X, Y, label_smoothing=-1), "label_smoothing"),
]


@pytest.mark.parametrize(("call", "message"), INVALID_CALLS)
def test_invalid_inputs_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_rng_must_be_a_generator():
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        MODEL.loss_and_grads(X, Y, rng=0)


def test_inputs_are_converted_to_the_model_dtype():
    model = MLP([3, 2], seed=0, dtype=np.float32)
    assert model.logits([[1.0, 2.0, 3.0]]).dtype == np.float32
    assert model.loss_and_grads(np.ones((1, 3)), [1])[1]["W1"].dtype == np.float32


# --------------------------------------------------------------------------- inputs at the edges


def test_values_beyond_the_models_dtype_are_refused_clearly():
    model = MLP([3, 2], seed=0, dtype=np.float32)
    x = np.array([[0.5, 1e308, 0.0]])
    for call in (model.predict, model.predict_proba, model.logits):
        with pytest.raises(
            ValueError, match=r"x holds 1e\+308 at index \(0, 1\), beyond the range"
        ):
            call(x)


def test_logits_that_overflow_are_refused_not_returned():
    model = MLP.from_params(
        {"W1": np.ones((3, 4)), "b1": np.zeros(4), "W2": np.ones((4, 2)), "b2": np.zeros(2)}
    )
    with pytest.raises(ValueError, match="the scores overflow float64 for 1 row.* row 1"):
        model.logits(np.array([[0.5, 0.2, 0.1], [1e308, -1e308, 1e308]]))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_terminating_signal_during_save_leaves_nothing(tmp_path, signum):
    """Issue 11: SIGTERM during ``save()`` left a 16 MB hidden temporary file."""
    script = """
        import sys, time
        import numpy as np
        import nnscratch as ns

        def slow_savez(file, **arrays):  # writes a part, then takes its time
            file.write(b"x" * 1_000_000)
            file.flush()
            print("writing", flush=True)
            time.sleep(60)

        np.savez = slow_savez
        ns.MLP([784, 512, 10], seed=0).save(sys.argv[1])
    """
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), str(tmp_path / "model.npz")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line == "writing\n", line + process.communicate(timeout=60)[1]
    assert len(os.listdir(tmp_path)) == 1  # the temporary file
    process.send_signal(signum)
    process.communicate(timeout=60)
    assert process.returncode == -signum
    assert os.listdir(tmp_path) == []
