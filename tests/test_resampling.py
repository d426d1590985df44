"""The inner loop of augmentation (nnscratch.resampling): chunks, threads, reused work arrays.

What the results are is tested in test_augment (against SciPy and exact cases); here, that
the way they are computed does not change them.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from nnscratch import augment, resampling

SHAPE = (28, 28)


def batch(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.random((n, *SHAPE), dtype=np.float32)
    affine = augment.random_affine(n, rng, rotate=15, scale=0.1, shear=10, translate=2)
    return images, affine


def warped(images, affine, seed: int = 1, elastic=(16.0, 4.0)) -> np.ndarray:
    factors = augment.elastic_factors(*elastic, *SHAPE)
    out = np.empty_like(images)
    return resampling.warp_batch(images, affine, factors, np.random.default_rng(seed), out)


@pytest.mark.parametrize("n", [0, 1, 82, 83, 84, 256, 1000])
def test_chunk_lengths_cover_the_batch_in_nearly_equal_chunks(n):
    lengths = resampling.chunk_lengths(n, *SHAPE)
    most = resampling.CHUNK_PIXELS // (SHAPE[0] * SHAPE[1])
    assert sum(lengths) == n
    assert all(1 <= length <= most for length in lengths)
    assert not lengths or max(lengths) - min(lengths) <= 1
    assert len(lengths) == -(-n // most)


def test_chunk_lengths_of_images_larger_than_a_chunk():
    assert resampling.chunk_lengths(3, 300, 300) == [1, 1, 1]


def test_reused_work_arrays_give_what_fresh_ones_give():
    """Batches of other lengths in between (other chunk lengths, other margins) change
    nothing: the work arrays carry no state from one call to the next."""
    images, affine = batch(300)
    first = warped(images, affine)
    for n in (7, 256, 1, 83):
        warped(*batch(n, seed=n))
    warped(images.astype(np.float64), affine)
    np.testing.assert_array_equal(warped(images, affine), first)


def test_in_place_over_several_chunks():
    images, affine = batch(400)
    expected = warped(images, affine)
    factors = augment.elastic_factors(16.0, 4.0, *SHAPE)
    resampling.warp_batch(images, affine, factors, np.random.default_rng(1), images)
    np.testing.assert_array_equal(images, expected)


def test_threads_distorting_at_once_each_get_their_own_work_arrays():
    images, affine = batch(300)
    expected = warped(images, affine)
    results = [None] * 4

    def work(i):
        results[i] = warped(images, affine)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        np.testing.assert_array_equal(result, expected)


def test_random_bytes_are_the_generators_bits():
    rng = np.random.default_rng(3)
    expected = np.random.default_rng(3).bit_generator.random_raw(2).view(np.int8)[:13]
    np.testing.assert_array_equal(resampling.random_bytes(rng, 13), expected)
    mt = np.random.Generator(np.random.MT19937(3))
    raw = np.random.Generator(np.random.MT19937(3)).bit_generator.random_raw(4)
    np.testing.assert_array_equal(
        resampling.random_bytes(mt, 13), raw.astype(np.uint32).view(np.int8)[:13]
    )


@pytest.mark.parametrize("shape", [((30, 5), (5, 4000)), ((3000, 28), (28, 28)), ((1, 1), (1, 1))])
def test_one_thread_matmul_is_the_product(shape):
    rng = np.random.default_rng(0)
    a = rng.random(shape[0], dtype=np.float32)
    b = rng.random(shape[1], dtype=np.float32)
    out = np.empty((a.shape[0], b.shape[1]), np.float32)
    resampling.one_thread_matmul(a, b, out=out)
    np.testing.assert_allclose(out, a @ b, rtol=1e-5)
