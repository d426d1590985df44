"""Tests of nnscratch.kernels: the unchecked arithmetic agrees with the checked functions and
with its formulas, keeps its input's dtype, and draws dropout masks reproducibly."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from nnscratch import functional, kernels


@pytest.fixture
def logits() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(6, 4)) * 3


def test_softmax_and_log_softmax_are_the_checked_functions(logits):
    assert_array_equal(kernels.softmax(logits), functional.softmax(logits))
    assert_array_equal(kernels.log_softmax(logits), functional.log_softmax(logits))
    assert_allclose(np.exp(kernels.log_softmax(logits)), kernels.softmax(logits), rtol=1e-14)
    before = logits.copy()
    kernels.softmax(logits)
    kernels.log_softmax(logits)
    assert_array_equal(logits, before)  # new arrays: the input is left alone


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_mean_nll_and_subtract_target_take_labels_or_rows(logits, smoothing):
    labels = np.array([0, 3, 1, 1, 2, 0])
    rows = functional.one_hot(labels, 4)
    smoothed = (1 - smoothing) * rows + smoothing / 4
    log_p = kernels.log_softmax(logits)
    by_formula = float(-(smoothed * log_p).sum(axis=1).mean())
    assert kernels.mean_nll(log_p, labels, smoothing) == pytest.approx(by_formula, rel=1e-14)
    assert kernels.mean_nll(log_p, rows, smoothing) == pytest.approx(by_formula, rel=1e-14)
    for target in (labels, rows):
        p = kernels.softmax(logits)
        kernels.subtract_target(p, target, smoothing)  # in place
        assert_allclose(p, kernels.softmax(logits) - smoothed, atol=1e-15)


def test_kernels_keep_float32(logits):
    z = logits.astype(np.float32)
    labels = np.array([0, 3, 1, 1, 2, 0])
    assert kernels.softmax(z).dtype == kernels.log_softmax(z).dtype == np.float32
    p = kernels.softmax(z)
    kernels.subtract_target(p, labels, 0.1)
    assert p.dtype == np.float32


@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.MT19937])
def test_random_bits_are_reproducible_32_bit_draws(bit_generator):
    bits = kernels.random_bits(np.random.Generator(bit_generator(1)), 10_001)  # an odd count
    again = kernels.random_bits(np.random.Generator(bit_generator(1)), 10_001)
    assert bits.dtype == np.uint32 and bits.shape == (10_001,)
    assert_array_equal(bits, again)
    assert abs(bits.mean() / 2**32 - 0.5) < 0.01  # uniform over the 32 bits
    assert bits.max() > 2**31  # the high bits are drawn too


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scaled_keep_mask(dtype):
    mask = kernels.scaled_keep_mask((200, 300), 0.25, np.random.default_rng(0), np.dtype(dtype))
    assert mask.shape == (200, 300) and mask.dtype == dtype
    assert set(np.unique(mask)) == {0, dtype(1 / 0.75)}
    assert abs((mask == 0).mean() - 0.25) < 0.01
    assert_array_equal(
        mask, kernels.scaled_keep_mask((200, 300), 0.25, np.random.default_rng(0), dtype)
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scaled_keep_mask_into_out_is_the_same_mask(dtype):
    out = np.full((50, 70), 7, dtype)
    mask = kernels.scaled_keep_mask(
        (50, 70), 0.3, np.random.default_rng(2), np.dtype(dtype), out=out
    )
    assert mask is out
    fresh = kernels.scaled_keep_mask((50, 70), 0.3, np.random.default_rng(2), np.dtype(dtype))
    assert_array_equal(out, fresh)
    assert_array_equal(fresh, np.divide(out > 0, 1 - 0.3, dtype=dtype))
