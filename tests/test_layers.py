"""Tests of nnscratch.layers: each forward against its formula, each backward against finite
differences, the in-place conventions, dropout's randomness and the dtypes."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from nnscratch.functional import (
    cross_entropy,
    cross_entropy_grad_logits,
    one_hot,
)
from nnscratch.gradcheck import numerical_gradient, relative_error
from nnscratch.layers import Dropout, LeakyReLU, Linear, ReLU, SoftmaxCrossEntropy


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_linear_forward_and_backward(rng):
    W, b, x = rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=(5, 4))
    dz = rng.normal(size=(5, 3))  # the gradient of the loss sum(z * dz) with respect to z
    layer = Linear(W, b)
    assert_allclose(layer.forward(x), x @ W + b, rtol=1e-15)
    dx = layer.backward(dz)

    def loss(_):
        return float((Linear(W, b).forward(x) * dz).sum())

    assert relative_error(layer.dW, numerical_gradient(loss, W)) < 1e-9
    assert relative_error(layer.db, numerical_gradient(loss, b)) < 1e-9
    assert relative_error(dx, numerical_gradient(loss, x)) < 1e-9
    assert layer.backward(dz, need_input_grad=False) is None


def test_linear_writes_into_given_buffers_and_its_own_gradients(rng):
    W, b, x = rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=(5, 4))
    dz, z, dx = rng.normal(size=(5, 3)), np.empty((5, 3)), np.empty((5, 4))
    layer = Linear(W, b)
    dW, db = layer.dW, layer.db
    assert layer.forward(x, out=z) is z
    assert_allclose(z, x @ W + b, rtol=1e-15)
    assert layer.backward(dz, out=dx) is dx
    assert_allclose(dx, dz @ W.T, rtol=1e-15)
    assert layer.dW is dW and layer.db is db  # overwritten, not replaced
    assert_allclose(dW, x.T @ dz, rtol=1e-15)
    assert_allclose(db, dz.sum(axis=0), rtol=1e-15)


def test_linear_holds_references_so_in_place_updates_are_seen(rng):
    W, b, x = rng.normal(size=(2, 2)), np.zeros(2), rng.normal(size=(3, 2))
    layer = Linear(W, b)
    assert layer.W is W and layer.b is b
    b += 1.0
    assert_allclose(layer.forward(x), x @ W + 1.0)


def test_linear_refuses_mismatched_bias():
    with pytest.raises(ValueError, match=r"b must have shape \(3,\)"):
        Linear(np.zeros((2, 3)), np.zeros(2))


def test_relu_forward_and_backward_in_place():
    z = np.array([[-1.0, 2.0], [0.0, 3.0]])
    relu = ReLU()
    a = relu.forward(z)
    assert a is z  # overwritten: backward needs only the sign of a
    assert_array_equal(a, [[0, 2], [0, 3]])
    da = np.ones((2, 2))
    assert_array_equal(relu.backward(da), [[0, 1], [0, 1]])


def test_leaky_relu_forward_and_backward_in_place():
    z = np.array([[-1.0, 2.0], [0.0, -3.0]], dtype=np.float32)
    leaky = LeakyReLU(0.1)
    a = leaky.forward(z)
    assert a is z and a.dtype == np.float32
    assert_allclose(a, [[-0.1, 2], [0, -0.3]], rtol=1e-7)
    da = np.ones((2, 2), dtype=np.float32)
    grad = leaky.backward(da)
    assert grad is da
    assert_allclose(grad, [[0.1, 1], [0.1, 0.1]], rtol=1e-7)


def test_leaky_relu_backward_matches_finite_differences(rng):
    z, da = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    leaky = LeakyReLU(0.01)
    leaky.forward(z.copy())
    dz = leaky.backward(da.copy())

    def loss(v):
        return float((LeakyReLU(0.01).forward(v.copy()) * da).sum())

    assert relative_error(dz, numerical_gradient(loss, z)) < 1e-9


def test_leaky_relu_refuses_a_bad_slope_and_a_backward_first():
    with pytest.raises(ValueError, match="slope"):
        LeakyReLU(1.0)
    with pytest.raises(RuntimeError, match="forward first"):
        LeakyReLU(0.01).backward(np.ones(2))


def test_dropout_is_the_identity_without_rng():
    a = np.ones((3, 4))
    assert Dropout(0.5).forward(a) is a
    assert Dropout(0.0).forward(a, np.random.default_rng(0)) is a


def test_dropout_zero_draws_nothing():
    rng = np.random.default_rng(0)
    Dropout(0.0).forward(np.ones(3), rng)
    assert rng.random() == np.random.default_rng(0).random()


def test_dropout_scales_kept_entries_and_backward_uses_the_same_mask():
    a = np.ones((200, 500))
    layer = Dropout(0.25)
    out = layer.forward(a, np.random.default_rng(1))
    assert set(np.unique(out)) == {0.0, 1 / 0.75}
    assert abs((out == 0).mean() - 0.25) < 0.01  # 100,000 draws: the rate is within 1%
    assert_array_equal(layer.backward(np.ones_like(a)), out)


def test_dropout_same_seed_same_mask():
    a = np.random.default_rng(2).random((10, 10))
    first = Dropout(0.5).forward(a.copy(), np.random.default_rng(3))
    assert_array_equal(Dropout(0.5).forward(a.copy(), np.random.default_rng(3)), first)
    assert not np.array_equal(Dropout(0.5).forward(a.copy(), np.random.default_rng(4)), first)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_works_in_place_with_the_mask_of_its_dtype(dtype):
    a = np.random.default_rng(2).random((10, 10)).astype(dtype)
    bits = np.random.default_rng(3).bit_generator.random_raw(50).view(np.uint32)  # 100 draws
    keep = bits.reshape(a.shape) >= round(0.3 * 2**32)
    expected = a * (keep.astype(dtype) / dtype(0.7))  # the mask first, then the product
    layer = Dropout(0.3)
    out = layer.forward(a, np.random.default_rng(3))
    assert out is a and out.dtype == dtype and layer.mask.dtype == dtype
    assert_array_equal(out, expected)


@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.MT19937, np.random.Philox])
def test_dropout_drops_at_the_rate_p_with_any_bit_generator(bit_generator):
    rng = np.random.Generator(bit_generator(5))
    out = Dropout(0.5).forward(np.ones((300, 333)), rng)  # 99,900 draws, an odd number
    assert abs((out == 0).mean() - 0.5) < 0.01  # MT19937 read as 64-bit halves: 0.75


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, np.nan])
def test_dropout_refuses_bad_probability(p):
    with pytest.raises(ValueError, match=r"dropout probability must lie in \[0, 1\)"):
        Dropout(p)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_softmax_cross_entropy_matches_functional(rng, label_smoothing):
    logits, labels = rng.normal(size=(6, 4)), rng.integers(0, 4, 6)
    for y in (labels, one_hot(labels, 4)):
        layer = SoftmaxCrossEntropy(label_smoothing)
        loss = layer.forward(logits, y)
        expected = cross_entropy(logits, y, label_smoothing=label_smoothing)
        assert loss == pytest.approx(expected, rel=1e-14)
        grad = cross_entropy_grad_logits(logits, y, label_smoothing=label_smoothing)
        assert_allclose(layer.backward(), grad, atol=1e-16)


def test_softmax_cross_entropy_allows_one_backward_per_forward():
    layer = SoftmaxCrossEntropy()
    layer.forward(np.zeros((1, 2)), np.array([0]))
    layer.backward()
    with pytest.raises(RuntimeError, match="needs a forward first"):
        layer.backward()


def test_softmax_cross_entropy_refuses_bad_label_smoothing():
    with pytest.raises(ValueError, match="label_smoothing"):
        SoftmaxCrossEntropy(1.0)


def test_float32_stays_float32_in_every_output_and_cache(rng):
    f32 = np.float32
    x = rng.random((5, 4), dtype=f32)
    linear = Linear(rng.random((4, 3), dtype=f32), np.zeros(3, f32))
    relu, dropout, loss = ReLU(), Dropout(0.5), SoftmaxCrossEntropy(0.1)
    a = dropout.forward(relu.forward(linear.forward(x)), rng)
    loss.forward(a, rng.integers(0, 3, 5))
    arrays = {"a": a, "mask": dropout.mask, "relu.a": relu.a, "p": loss.p}
    delta = loss.backward()
    arrays |= {"delta": delta, "dx": linear.backward(relu.backward(dropout.backward(delta)))}
    arrays |= {"dW": linear.dW, "db": linear.db}
    assert {name: value.dtype for name, value in arrays.items()} == dict.fromkeys(arrays, f32)


def test_dropout_reuses_its_mask_array_and_draws_afresh(rng):
    layer = Dropout(0.5)
    first = layer.forward(np.ones((40, 30)), rng).copy()
    mask = layer.mask
    second = layer.forward(np.ones((40, 30)), rng)
    assert layer.mask is mask  # the same array, overwritten
    assert not np.array_equal(first, second)
    layer.forward(np.ones((10, 30), np.float32), rng)
    assert layer.mask.shape == (10, 30) and layer.mask.dtype == np.float32
