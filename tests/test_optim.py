"""Tests for nnscratch.optim: optimisers and weight decay."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nnscratch as ns
from nnscratch.gradcheck import numerical_gradient, relative_error
from nnscratch.optim import (
    SGD,
    Adam,
    AdamW,
    Optimizer,
    l2_penalty,
)
from nnscratch.schedules import CosineSchedule

# A separable quadratic: loss = sum(A * (W - W_star)**2) / 2 + sum((b - b_star)**2) / 2.
# With weight decay wd on W (not on b) its minimum is W = A W_star / (A + wd), b = b_star.
RNG = np.random.default_rng(42)
A = RNG.uniform(0.5, 2.0, size=(3, 4))
W_STAR = RNG.standard_normal((3, 4))
B_STAR = RNG.standard_normal(4)


def quadratic_grads(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"W": A * (params["W"] - W_STAR), "b": params["b"] - B_STAR}


def minimise(optimizer: Optimizer, steps: int, schedule=None) -> dict[str, np.ndarray]:
    params = {"W": np.zeros((3, 4)), "b": np.zeros(4)}
    for step in range(steps):
        if schedule is not None:
            optimizer.lr = schedule(step, steps)
        optimizer.step(params, quadratic_grads(params))
    return params


OPTIMISERS = {
    "sgd": lambda wd: SGD(0.2, weight_decay=wd),
    "momentum": lambda wd: SGD(0.05, momentum=0.9, weight_decay=wd),
    "nesterov": lambda wd: SGD(0.05, momentum=0.9, nesterov=True, weight_decay=wd),
    "adam": lambda wd: Adam(0.05, weight_decay=wd),
}


@pytest.mark.parametrize("name", OPTIMISERS)
@pytest.mark.parametrize("weight_decay", [0.0, 0.5])
def test_optimisers_reach_the_known_minimum_of_a_quadratic(name, weight_decay):
    optimizer = OPTIMISERS[name](weight_decay)
    # Adam's steps have size ~lr whatever the gradient: a decaying rate lets it settle.
    schedule = CosineSchedule(optimizer.lr) if name == "adam" else None
    params = minimise(optimizer, 1000, schedule)
    np.testing.assert_allclose(params["W"], A * W_STAR / (A + weight_decay), atol=1e-4)
    np.testing.assert_allclose(params["b"], B_STAR, atol=1e-4)


def test_adamw_steps_by_hand():
    """Three steps of decoupled decay, then Adam's step on the loss gradient alone."""
    rng = np.random.default_rng(3)
    W, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    gradients = [(rng.standard_normal((3, 4)), rng.standard_normal(4)) for _ in range(3)]
    lr, wd, (beta1, beta2), eps = 1e-2, 0.3, (0.9, 0.999), 1e-8
    expected = {"W": W.copy(), "b": b.copy()}
    moments = {
        name: [np.zeros_like(value), np.zeros_like(value)] for name, value in expected.items()
    }
    for t, (gW, gb) in enumerate(gradients, start=1):
        for name, g in (("W", gW), ("b", gb)):
            m, v = moments[name]
            m[...] = beta1 * m + (1 - beta1) * g
            v[...] = beta2 * v + (1 - beta2) * g**2
            if name == "W":  # biases are not decayed
                expected[name] *= 1 - lr * wd
            step = (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
            expected[name] -= lr * step
    params, optimizer = {"W": W.copy(), "b": b.copy()}, AdamW(lr, weight_decay=wd)
    for gW, gb in gradients:
        optimizer.step(params, {"W": gW, "b": gb})
    for name, value in expected.items():
        np.testing.assert_allclose(params[name], value, rtol=1e-12, atol=1e-15)
    assert "decayed" not in optimizer.state["W"]  # no decayed gradient to keep
    assert repr(optimizer) == ("AdamW(lr=0.01, weight_decay=0.3, betas=(0.9, 0.999), eps=1e-08)")


def test_adamw_decay_is_the_same_shrinkage_for_every_weight_unlike_adams_l2():
    """With no loss gradient, AdamW shrinks every weight by the factor 1 - lr * wd per step;
    Adam's coupled L2 divides the decay by its own size and moves every weight by about lr."""
    W = np.array([[1e-3, 1.0, 100.0]])
    decoupled, coupled = {"W": W.copy()}, {"W": W.copy()}
    adamw, adam = AdamW(1e-2, weight_decay=0.5), Adam(1e-2, weight_decay=0.5)
    for _ in range(10):
        adamw.step(decoupled, {"W": np.zeros_like(W)})
        adam.step(coupled, {"W": np.zeros_like(W)})
    np.testing.assert_allclose(decoupled["W"], W * (1 - 1e-2 * 0.5) ** 10, rtol=1e-12)
    moved = W - coupled["W"]
    np.testing.assert_allclose(moved[0, 1:], 10 * 1e-2, rtol=1e-2)  # sign steps of size lr
    assert coupled["W"][0, 0] < 0  # the smallest weight overshoots zero


def test_adamw_without_decay_is_adam():
    rng = np.random.default_rng(4)
    gradients = [rng.standard_normal((2, 3)) for _ in range(4)]
    first, second = {"W": np.ones((2, 3))}, {"W": np.ones((2, 3))}
    adamw, adam = AdamW(1e-2), Adam(1e-2)
    for g in gradients:
        adamw.step(first, {"W": g})
        adam.step(second, {"W": g})
    np.testing.assert_array_equal(first["W"], second["W"])


def test_one_adam_step_by_hand():
    # After one step m_hat = g and v_hat = g**2, so the step is lr * g / (|g| + eps).
    W = np.array([[1.0, -2.0], [0.5, 3.0]])
    g = np.array([[0.1, -4.0], [0.0, 2e-3]])
    lr, eps = 0.01, 1e-3
    Adam(lr, eps=eps).step({"W": W}, {"W": g})
    expected = np.array([[1.0, -2.0], [0.5, 3.0]]) - lr * g / (np.abs(g) + eps)
    np.testing.assert_allclose(W, expected, rtol=1e-12, atol=1e-15)
    # With weight decay the gradient is g + wd * W: here a hand-made pair.
    W = np.array([[2.0]])
    Adam(0.1, weight_decay=0.5, eps=1e-8).step({"W": W}, {"W": np.array([[1.0]])})
    np.testing.assert_allclose(W, [[2.0 - 0.1 * 2.0 / (2.0 + 1e-8)]], rtol=1e-14)


def textbook_adam(params, grads_per_step, lrs, betas, eps, weight_decay):
    """Algorithm 1 of Kingma and Ba, line by line, in float64."""
    beta1, beta2 = betas
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    for t, (grads, lr) in enumerate(zip(grads_per_step, lrs, strict=True), start=1):
        for k, p in params.items():
            g = grads[k] + (weight_decay * p if p.ndim >= 2 else 0)
            m[k] = beta1 * m[k] + (1 - beta1) * g
            v[k] = beta2 * v[k] + (1 - beta2) * g**2
            m_hat, v_hat = m[k] / (1 - beta1**t), v[k] / (1 - beta2**t)
            params[k] = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return params


def test_adam_matches_the_textbook_algorithm_over_several_steps():
    rng = np.random.default_rng(0)
    start = {"W": rng.standard_normal((5, 3)), "b": rng.standard_normal(3)}
    grads = [{k: rng.standard_normal(p.shape) for k, p in start.items()} for _ in range(6)]
    lrs = [0.1, 0.05, 0.2, 0.01, 0.3, 0.1]
    expected = textbook_adam(dict(start), grads, lrs, (0.8, 0.99), 1e-6, 0.1)
    params = {k: p.copy() for k, p in start.items()}
    adam = Adam(lrs[0], betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)
    for g, lr in zip(grads, lrs, strict=True):
        adam.lr = lr
        adam.step(params, g)
    for k in params:
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("block", [1, 4, 7, 1000])
@pytest.mark.parametrize(
    "make",
    [
        lambda: Adam(0.1, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
        lambda: SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
        lambda: SGD(0.1),
    ],
)
def test_updates_block_by_block_equal_the_whole_update(monkeypatch, make, block):
    """Blocks that divide the arrays or not, smaller or larger than them; a strided parameter."""
    rng = np.random.default_rng(1)
    start = {"W": rng.standard_normal((5, 3)), "b": rng.standard_normal(3)}
    grads = [{k: rng.standard_normal(p.shape) for k, p in start.items()} for _ in range(3)]
    strided = {"W": np.zeros((5, 6))[:, ::2], "b": np.zeros(3)}  # not C-contiguous: one block
    results = []
    for size, params in [(10**9, {}), (block, {}), (block, strided)]:
        monkeypatch.setattr(ns.optim, "BLOCK", size)
        for k, p in start.items():
            params[k] = params.get(k, np.empty_like(p))
            params[k][...] = p
        optimizer = make()
        for g in grads:
            optimizer.step(params, g)
        results.append(params)
    for params in results[1:]:
        for k in start:
            np.testing.assert_array_equal(params[k], results[0][k])


def test_sgd_momentum_and_nesterov_by_hand():
    g1, g2 = np.array([1.0]), np.array([3.0])
    lr, mu = 0.1, 0.5
    for nesterov, expected in [(False, 1 - 0.1 - 0.1 * 3.5), (True, 1 - 0.15 - 0.1 * (3 + 1.75))]:
        p = {"b": np.array([1.0])}
        optimizer = SGD(lr, momentum=mu, nesterov=nesterov)
        optimizer.step(p, {"b": g1})  # v = 1
        optimizer.step(p, {"b": g2})  # v = 0.5 * 1 + 3 = 3.5
        np.testing.assert_allclose(p["b"], [expected], rtol=1e-14)


def test_weight_decay_is_the_gradient_of_the_l2_penalty():
    """One SGD step with weight decay = a step on the finite-difference gradient of loss+penalty."""
    model = ns.MLP([5, 4, 3], seed=1)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((6, 5)), rng.integers(0, 3, 6)
    wd, lr = 0.3, 0.5
    loss, grads = model.loss_and_grads(x, y)
    start = model.copy_params()

    def total_loss(_: np.ndarray) -> float:
        return model.loss(x, y) + l2_penalty(model.params, wd)

    numerical = {k: numerical_gradient(total_loss, p) for k, p in model.params.items()}
    SGD(lr, weight_decay=wd).step(model.params, grads)
    for k, p in model.params.items():
        assert relative_error((start[k] - p) / lr, numerical[k]) < 1e-7, k
    # The biases are not decayed; the weights are.
    assert relative_error(numerical["b1"], grads["b1"]) < 1e-7
    assert relative_error(numerical["W1"], grads["W1"] + wd * start["W1"]) < 1e-7


def test_l2_penalty_by_hand():
    params = {"W": np.array([[1.0, 2.0]]), "b": np.array([10.0])}
    assert l2_penalty(params, 0.5) == pytest.approx(0.25 * 5.0)
    assert l2_penalty(params, 0.0) == 0.0
    with pytest.raises(ValueError, match="weight_decay"):
        l2_penalty(params, -1.0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: SGD(0.1),
        lambda: SGD(0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
        lambda: Adam(1e-3, weight_decay=1e-2),
        lambda: AdamW(1e-3, weight_decay=1e-2),
    ],
)
def test_float32_stays_float32(make):
    rng = np.random.default_rng(0)
    params = {"W": rng.standard_normal((4, 3)).astype(np.float32), "b": np.zeros(3, np.float32)}
    grads = {k: rng.standard_normal(p.shape).astype(np.float32) for k, p in params.items()}
    buffers = {k: p for k, p in params.items()}
    optimizer = make()
    for _ in range(3):
        optimizer.step(params, grads)
    for k, p in params.items():
        assert p.dtype == np.float32 and p is buffers[k]  # updated in place
        assert all(a.dtype == np.float32 for a in optimizer.state[k].values())


def test_step_refuses_mismatched_gradients():
    params = {"W": np.zeros((2, 2)), "b": np.zeros(2)}
    with pytest.raises(ValueError, match="keys"):
        SGD(0.1).step(params, {"W": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="shape"):
        SGD(0.1).step(params, {"W": np.zeros((2, 3)), "b": np.zeros(2)})
    with pytest.raises(ValueError, match="dtype"):
        SGD(0.1).step(params, {"W": np.zeros((2, 2), np.float32), "b": np.zeros(2)})


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: SGD(0.0), "lr"),
        (lambda: SGD(-0.1), "lr"),
        (lambda: SGD(math.nan), "lr"),
        (lambda: SGD(math.inf), "lr"),
        (lambda: SGD("0.1"), "lr"),
        (lambda: SGD(0.1, momentum=1.0), "momentum"),
        (lambda: SGD(0.1, momentum=-0.1), "momentum"),
        (lambda: SGD(0.1, nesterov=True), "nesterov"),
        (lambda: SGD(0.1, weight_decay=-1e-4), "weight_decay"),
        (lambda: SGD(0.1, weight_decay=math.nan), "weight_decay"),
        (lambda: Adam(betas=(1.0, 0.999)), "beta1"),
        (lambda: Adam(betas=(0.9, -0.1)), "beta2"),
        (lambda: Adam(betas=(0.9,)), "betas"),
        (lambda: Adam(eps=0.0), "eps"),
        (lambda: Adam(lr=-1.0), "lr"),
        (lambda: Adam(weight_decay=-1.0), "weight_decay"),
        (lambda: AdamW(weight_decay=-1.0), "weight_decay"),
        (lambda: AdamW(eps=-1.0), "eps"),
    ],
)
def test_invalid_hyper_parameters_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_setting_an_invalid_learning_rate_raises():
    optimizer = Adam()
    optimizer.lr = 0.5
    assert optimizer.lr == 0.5
    with pytest.raises(ValueError, match="lr"):
        optimizer.lr = 0.0


@pytest.mark.parametrize(
    "make", [lambda: SGD(1.0, momentum=0.9), lambda: Adam(1.0, betas=(0.9, 0.9))]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_state_that_decays_never_turns_subnormal(make, dtype):
    """One gradient, then zeros: unflushed, 0.9**k falls below float32's tiny at k = 835 and
    the small entry (1e-30, or 1e-300 in float64) turns subnormal after about 175 steps."""
    params = {"w": np.zeros(2, dtype)}
    optimizer, tiny = make(), np.finfo(dtype).tiny
    small = 1e-30 if dtype == np.float32 else 1e-300
    optimizer.step(params, {"w": np.array([1.0, small], dtype)})
    for _ in range(1000):
        optimizer.step(params, {"w": np.zeros(2, dtype)})
        for name in optimizer.state_names():
            values = np.abs(optimizer.state["w"][name])
            assert not np.any((values > 0) & (values < tiny))


def test_flushing_zeroes_only_values_below_the_square_root_of_tiny():
    optimizer = SGD(1.0, momentum=0.5)
    params = {"w": np.zeros(3, np.float32)}
    optimizer.step(params, {"w": np.array([1e-19, 1e-20, 1.0], np.float32)})
    for _ in range(ns.optim.FLUSH_EVERY - 1):  # the last of these steps flushes
        optimizer.step(params, {"w": np.zeros(3, np.float32)})
    velocity = optimizer.state["w"]["velocity"]
    decay = np.float32(0.5) ** (ns.optim.FLUSH_EVERY - 1)
    assert velocity[0] == velocity[1] == 0  # 1e-19 * 0.5**63 is already below sqrt(tiny)
    assert velocity[2] == pytest.approx(decay, rel=1e-5)  # the normal value is untouched


@pytest.mark.parametrize("make", [lambda: SGD(0.1, momentum=0.9), lambda: Adam(0.01)])
def test_steps_follow_the_arrays_they_are_given(make):
    """Blocks are cut once per set of arrays: new gradient arrays or a new state are seen."""
    rng = np.random.default_rng(0)
    gradients = [rng.normal(size=(300, 300)) for _ in range(3)]
    same, fresh = {"W": np.ones((300, 300))}, {"W": np.ones((300, 300))}
    reused, optimizer, reference = np.empty((300, 300)), make(), make()
    for g in gradients:  # the same gradient array, overwritten, against a new one each step
        reused[...] = g
        optimizer.step(same, {"W": reused})
        reference.step(fresh, {"W": g.copy()})
    np.testing.assert_array_equal(same["W"], fresh["W"])
    optimizer.state = {}  # a reset state is the state of a new optimizer
    optimizer.steps = 0
    again = make()
    start = same["W"].copy()
    optimizer.step(same, {"W": gradients[0]})
    again.step(restart := {"W": start}, {"W": gradients[0]})
    np.testing.assert_array_equal(same["W"], restart["W"])
