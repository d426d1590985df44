"""Random distortions (nnscratch.augment): exact cases, SciPy as reference, ink, bits, errors."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from nnscratch import augment

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
DTYPES = (np.uint8, np.float32, np.float64)
BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "augment.py"


def random_images(n: int, shape=(28, 28), dtype=np.float32, seed: int = 0) -> np.ndarray:
    """Random "digits": ink in the centre, a blank margin of 4 pixels, as MNIST has."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, *shape))
    images[:, 4:-4, 4:-4] = rng.random((n, shape[0] - 8, shape[1] - 8))
    if np.dtype(dtype) == np.uint8:
        return np.round(images * 255).astype(np.uint8)
    return images.astype(dtype)


def identities(n: int) -> np.ndarray:
    return np.tile(IDENTITY, (n, 1, 1))


def translations(shifts) -> np.ndarray:
    """Affine maps moving the ink of image i by shifts[i] = (down, right) pixels."""
    affine = identities(len(shifts))
    affine[:, :, 2] = -np.asarray(shifts, dtype=float)
    return affine


def shifted_with_zeros(image: np.ndarray, down: int, right: int) -> np.ndarray:
    """np.roll by (down, right), with zeros where the roll would wrap around."""
    rolled = np.roll(image, (down, right), axis=(0, 1))
    height, width = image.shape
    rows, columns = np.arange(height)[:, None], np.arange(width)[None, :]
    inside = (rows - down >= 0) & (rows - down < height) & (columns - right >= 0)
    inside &= columns - right < width
    return np.where(inside, rolled, 0).astype(image.dtype)


def scipy_warp(images: np.ndarray, affine: np.ndarray, field=None) -> np.ndarray:
    """The reference: SciPy's bilinear interpolation (order 1) with zeros outside the image."""
    height, width = images.shape[1:]
    rows, columns = np.mgrid[:height, :width].astype(float)
    out = np.empty(images.shape)
    for i, (image, a) in enumerate(zip(images.astype(float), affine, strict=True)):
        y = a[0, 0] * rows + a[0, 1] * columns + a[0, 2]
        x = a[1, 0] * rows + a[1, 1] * columns + a[1, 2]
        if field is not None:
            y, x = y + field[i, 0], x + field[i, 1]
        out[i] = ndimage.map_coordinates(image, [y, x], order=1, mode="grid-constant", cval=0)
    return out


# Exact cases -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_no_distortion_gives_the_images_back_exactly(dtype):
    images = random_images(100, dtype=dtype)
    rng = np.random.default_rng(0)
    assert np.array_equal(augment.distort(images, rng), images)
    assert augment.distort(images, rng).dtype == images.dtype
    assert np.array_equal(augment.warp(images, identities(100)), images)


@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_strengths_give_the_images_back_exactly(dtype):
    """rotate=0 etc. and an elastic field of strength 0 go through the whole computation."""
    images = random_images(300, dtype=dtype)  # several chunks of 83 images
    rng = np.random.default_rng(1)
    kwargs = dict(rotate=0, scale=0, shear=0, translate=0, elastic=(0.0, 4.0))
    assert np.array_equal(augment.distort(images, rng, **kwargs), images)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shift", [(0, 1), (3, -2), (-5, 7), (27, 0), (-28, 5), (40, -40)])
def test_whole_pixel_translation_is_np_roll_with_zero_fill(dtype, shift):
    images = random_images(90, dtype=dtype)
    moved = augment.warp(images, translations([shift] * len(images)))
    expected = np.stack([shifted_with_zeros(image, *shift) for image in images])
    assert moved.dtype == images.dtype
    assert np.array_equal(moved, expected)


@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(1, 12),
    width=st.integers(1, 12),
    n=st.integers(1, 5),
    down=st.integers(-14, 14),
    right=st.integers(-14, 14),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_whole_pixel_translation_of_any_size_is_roll_with_zero_fill(
    height, width, n, down, right, seed
):
    images = np.random.default_rng(seed).random((n, height, width))
    moved = augment.warp(images, translations([(down, right)] * n))
    expected = np.stack([shifted_with_zeros(image, down, right) for image in images])
    assert np.array_equal(moved, expected)


def test_a_quarter_turn_is_np_rot90():
    """Counter-clockwise as displayed: output pixel (r, c) reads the input at (c, 27 - r).

    The map is that of random_affine for an angle of 90 degrees (checked there).
    """
    images = random_images(50, dtype=np.float64)
    centre = np.array([13.5, 13.5])
    inverse = np.array([[0.0, 1.0], [-1.0, 0.0]])  # [[cos, sin], [-sin, cos]] at 90 degrees
    affine = np.tile(np.hstack([inverse, (centre - inverse @ centre)[:, None]]), (50, 1, 1))
    assert np.array_equal(augment.warp(images, affine), np.rot90(images, axes=(1, 2)))


# Agreement with SciPy -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_affine_warp_agrees_with_scipy(dtype):
    """Bilinear interpolation with zeros outside, over several chunks (the last one partial)."""
    images = random_images(200, dtype=dtype)
    affine = augment.random_affine(
        200, np.random.default_rng(2), rotate=40, scale=0.3, shear=25, translate=4
    )
    warped = augment.warp(images, affine)
    # Source positions are float32: about 1e-6 pixels off, so values about 1e-6 off.
    np.testing.assert_allclose(warped, scipy_warp(images, affine), atol=2e-5)


def test_elastic_warp_agrees_with_scipy_at_the_positions_of_elastic_field():
    images = random_images(200, dtype=np.float64)
    affine = augment.random_affine(200, np.random.default_rng(3), rotate=10, translate=1)
    field = augment.elastic_field(200, np.random.default_rng(4), 34, 4)
    warped = augment.warp(images, affine, elastic=(34, 4), rng=np.random.default_rng(4))
    np.testing.assert_allclose(warped, scipy_warp(images, affine, field), atol=2e-5)


@settings(max_examples=40, deadline=None)
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    n=st.integers(0, 4),
    seed=st.integers(0, 2**32 - 1),
    alpha=st.floats(0, 10),
    sigma=st.floats(0.3, 8),
)
def test_property_distort_agrees_with_scipy_for_any_shape(height, width, n, seed, alpha, sigma):
    rng = np.random.default_rng(seed)
    images = rng.random((n, height, width))
    affine = augment.random_affine(
        n, rng, rotate=30, scale=0.2, shear=20, translate=3, shape=(height, width)
    )
    field = augment.elastic_field(
        n, np.random.default_rng(seed), alpha, sigma, shape=(height, width)
    )
    warped = augment.warp(images, affine, elastic=(alpha, sigma), rng=np.random.default_rng(seed))
    np.testing.assert_allclose(warped, scipy_warp(images, affine, field), atol=1e-4)


@pytest.mark.parametrize("size, sigma", [(28, 4.0), (28, 1.0), (5, 7.0), (1, 2.0), (30, 0.2)])
def test_gaussian_matrix_is_scipys_reflecting_gaussian_filter(size, sigma):
    matrix = augment.gaussian_matrix(size, sigma)
    reference = ndimage.gaussian_filter1d(np.eye(size), sigma, axis=0, mode="reflect")
    np.testing.assert_allclose(matrix, reference, atol=1e-15)
    np.testing.assert_allclose(matrix.sum(axis=1), 1, atol=1e-15)
    np.testing.assert_allclose(matrix, matrix.T, atol=1e-15)


# What distort draws ---------------------------------------------------------------------------


def test_distort_is_random_affine_then_warp_with_the_same_generator():
    images = random_images(100)
    kwargs = dict(rotate=20, scale=0.1, shear=5, translate=2)
    distorted = augment.distort(images, np.random.default_rng(5), **kwargs, elastic=(34, 4))
    rng = np.random.default_rng(5)
    affine = augment.random_affine(100, rng, **kwargs)
    assert np.array_equal(distorted, augment.warp(images, affine, elastic=(34, 4), rng=rng))


def test_random_affine_draws_each_kind_within_its_range():
    rng = np.random.default_rng(6)
    centre = np.array([13.5, 13.5, 1.0])
    rotations = augment.random_affine(2000, rng, rotate=30)
    angles = np.arctan2(rotations[:, 0, 1], rotations[:, 0, 0])
    cos, sin = np.cos(angles), np.sin(angles)
    expected = np.moveaxis(np.array([[cos, sin], [-sin, cos]]), 2, 0)  # R^-1, (row, column)
    np.testing.assert_allclose(rotations[:, :, :2], expected)
    degrees = np.degrees(angles)
    assert degrees.min() >= -30 and degrees.max() <= 30
    assert degrees.min() < -29 and degrees.max() > 29
    np.testing.assert_allclose(rotations @ centre, np.tile(centre[:2], (2000, 1)), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(rotations[:, :, :2]), 1)
    scalings = augment.random_affine(2000, rng, scale=0.2)
    factors = 1 / scalings[:, 0, 0]  # the map holds the inverse
    np.testing.assert_allclose(scalings[:, :, :2], factors[:, None, None] ** -1 * np.eye(2))
    assert factors.min() >= 0.8 and factors.max() <= 1.2 and np.ptp(factors) > 0.39
    shears = augment.random_affine(2000, rng, shear=20)
    tangents = -shears[:, 1, 0]  # the inverse of a horizontal shear is [[1, 0], [-tan, 1]]
    assert np.abs(np.degrees(np.arctan(tangents))).max() <= 20
    np.testing.assert_allclose(shears[:, 0], np.tile([1, 0, 0], (2000, 1)))
    shifts = augment.random_affine(2000, rng, translate=3)
    np.testing.assert_allclose(shifts[:, :, :2], np.tile(np.eye(2), (2000, 1, 1)))
    assert np.abs(shifts[:, :, 2]).max() <= 3 and np.abs(shifts[:, :, 2]).max() > 2.99


def test_elastic_field_has_the_mean_and_variance_of_smoothed_uniform_noise():
    """Var d[r, c] = alpha^2 Var(u) (sum_k G[r, k]^2) (sum_l G[c, l]^2), Var(u) ~ 1/3.

    Over 4,000 fields the variance of each pixel is estimated to about 2% (one standard
    error), the average over the pixels much better; the mean is 0 by symmetry of the levels.
    """
    alpha, sigma = 34.0, 4.0
    fields = augment.elastic_field(4000, np.random.default_rng(7), alpha, sigma)
    squares = (augment.gaussian_matrix(28, sigma) ** 2).sum(axis=1)
    expected = alpha**2 * (1 - 256.0**-2) / 3 * np.outer(squares, squares)
    ratio = fields.astype(np.float64).var(axis=0) / expected  # (2, 28, 28)
    assert abs(ratio.mean() - 1) < 0.03 and np.abs(ratio - 1).max() < 0.15
    assert np.abs(fields.mean(axis=0)).max() < 0.1 * np.sqrt(expected.min())


# Ink -----------------------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    down=st.floats(-3, 3),
    right=st.floats(-3, 3),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_any_translation_keeps_the_ink_exactly(down, right, seed):
    """Each source pixel's four bilinear weights sum to 1, so a translation that keeps the ink
    inside the image keeps its total (here the ink is at least 4 pixels from the border)."""
    images = random_images(3, dtype=np.float64, seed=seed)
    moved = augment.warp(images, translations([(down, right)] * 3))
    np.testing.assert_allclose(moved.sum(axis=(1, 2)), images.sum(axis=(1, 2)), rtol=1e-6)


def test_rotation_shear_and_scale_keep_the_ink_approximately():
    """A rotation or a shear keeps areas, so it keeps the ink up to the error of sampling the
    interpolated image (bilinear, with corners at the source pixels) on a grid turned against
    the source grid; a scaling by s multiplies the areas, and the ink, by s**2, up to the same
    error on a grid of another spacing, which is larger.

    The "digits" are smooth blobs (Gaussians of width 2 pixels) well inside the image; over
    2,000 of them the largest errors were 0.12% (rotation), 0.0005% (shear) and 2.3% (scale
    within 20%), hence the tolerances 0.2% and 3%. (MNIST's sharp strokes: see below.)
    """
    rows, columns = np.mgrid[:28, :28]
    centres = np.random.default_rng(8).uniform(11, 16, (200, 2))
    blobs = np.exp(
        -((rows - centres[:, :1, None]) ** 2 + (columns - centres[:, 1:, None]) ** 2) / 8
    )
    ink = blobs.sum(axis=(1, 2))
    rng = np.random.default_rng(9)
    for kwargs in (dict(rotate=180), dict(shear=30)):
        ratio = augment.distort(blobs, rng, **kwargs).sum(axis=(1, 2)) / ink
        np.testing.assert_allclose(ratio, 1, atol=2e-3)
    affine = augment.random_affine(200, rng, scale=0.2)
    factors = 1 / affine[:, 0, 0]
    ratio = augment.warp(blobs, affine).sum(axis=(1, 2)) / ink
    np.testing.assert_allclose(ratio, factors**2, rtol=0.03)


def test_mnist_ink_is_kept_approximately(mnist):
    """Rotating the sharp strokes of MNIST digits by up to 15 degrees changes the ink of a
    digit by up to 4% (measured over these 2,000 digits: 3.0% at most, where ink near the
    border leaves the frame) and the average by less than 0.1% (measured: 0.006%). Mild
    elastic fields (alpha 8, sigma 4) stretch some strokes and squeeze others, by up to 30%
    per digit (measured: 23%), but keep the average within 1% (measured: +0.06%). (Strong
    fields, Simard's (34, 4), raise the average by 2.5%: where a field magnifies, the ink
    grows by more than it shrinks where the field reduces.)"""
    images = mnist.x_train[:2000].astype(np.float64)
    ink = images.sum(axis=(1, 2))
    rng = np.random.default_rng(10)
    ratio = augment.distort(images, rng, rotate=15).sum(axis=(1, 2)) / ink
    assert np.abs(ratio - 1).max() < 0.04 and abs(ratio.mean() - 1) < 1e-3
    ratio = augment.distort(images, rng, elastic=(8, 4)).sum(axis=(1, 2)) / ink
    assert np.abs(ratio - 1).max() < 0.3 and abs(ratio.mean() - 1) < 0.01


def test_every_value_lies_between_zero_and_the_extremes_of_its_image():
    """Bilinear interpolation is a weighted mean with zeros outside: nothing else is read."""
    images = random_images(200, dtype=np.float64) - 0.3
    distorted = augment.distort(
        images, np.random.default_rng(11), rotate=60, scale=0.5, translate=10, elastic=(60, 2)
    )
    low = np.minimum(images.min(axis=(1, 2)), 0)[:, None, None]
    high = np.maximum(images.max(axis=(1, 2)), 0)[:, None, None]
    assert np.all((distorted >= low - 1e-12) & (distorted <= high + 1e-12))


# Bits and dtypes -------------------------------------------------------------------------------


@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.MT19937, np.random.Philox])
def test_the_same_seed_gives_the_same_bits(bit_generator):
    images = random_images(100)
    kwargs = dict(rotate=15, scale=0.1, shear=10, translate=2, elastic=(34, 4))
    first = augment.distort(images, np.random.Generator(bit_generator(12)), **kwargs)
    again = augment.distort(images, np.random.Generator(bit_generator(12)), **kwargs)
    other = augment.distort(images, np.random.Generator(bit_generator(13)), **kwargs)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first, images)


def test_uint8_images_are_the_float32_result_rounded():
    images = random_images(100, dtype=np.uint8)
    kwargs = dict(rotate=15, elastic=(34, 4))
    as_uint8 = augment.distort(images, np.random.default_rng(14), **kwargs)
    as_float = augment.distort(images.astype(np.float32), np.random.default_rng(14), **kwargs)
    assert as_uint8.dtype == np.uint8
    assert np.array_equal(as_uint8, np.rint(as_float).astype(np.uint8))


def test_float64_images_are_interpolated_in_float64():
    images = random_images(100, dtype=np.float64)
    kwargs = dict(rotate=15, elastic=(34, 4))
    double = augment.distort(images, np.random.default_rng(15), **kwargs)
    single = augment.distort(images.astype(np.float32), np.random.default_rng(15), **kwargs)
    assert double.dtype == np.float64
    np.testing.assert_allclose(double, single, atol=1e-6)
    assert not np.array_equal(double, single.astype(np.float64))


def test_out_receives_the_result_and_may_be_the_images_themselves():
    images = random_images(200)
    kwargs = dict(rotate=15, elastic=(34, 4))
    expected = augment.distort(images, np.random.default_rng(16), **kwargs)
    out = np.full_like(images, np.nan)
    assert augment.distort(images, np.random.default_rng(16), **kwargs, out=out) is out
    assert np.array_equal(out, expected)
    flat = images.reshape(200, 784).copy()  # a training loop's flat inputs, seen as images
    view = flat.reshape(200, 28, 28)
    augment.distort(view, np.random.default_rng(16), **kwargs, out=flat.reshape(200, 28, 28))
    assert np.array_equal(flat.reshape(200, 28, 28), expected)


# Errors --------------------------------------------------------------------------------------

RNG = np.random.default_rng(0)
IMAGES = random_images(4)
WITH_NAN = IMAGES.copy()
WITH_NAN[1, 9, 9] = np.nan


@pytest.mark.parametrize(
    "changes, error, message",
    [
        (dict(images=IMAGES[0]), ValueError, r"shape \(n, height, width\), found shape \(28, 28\)"),
        (dict(images=IMAGES.astype(np.int64)), ValueError, "float32 or float64, found dtype int64"),
        (dict(images=IMAGES.astype(bool)), ValueError, "found dtype bool"),
        (dict(images=IMAGES.astype(np.float16)), ValueError, "found dtype float16"),
        (dict(images=np.zeros((2, 0, 5))), ValueError, r"found shape \(2, 0, 5\)"),
        (dict(images=WITH_NAN), ValueError, r"must be finite, found nan at index \(1, 9, 9\)"),
        (dict(rng=0), TypeError, "numpy.random.Generator .*found int"),
        (dict(rng=np.random.RandomState(0)), TypeError, "found RandomState"),
        (dict(rotate=-5), ValueError, r"rotate must be a finite number of degrees in \[0, 180\]"),
        (dict(rotate=float("nan")), ValueError, "rotate .* got nan"),
        (dict(rotate="15"), ValueError, "rotate must be a number of degrees in .* got '15'"),
        (dict(scale=1.0), ValueError, r"scale .* in \[0, 1\), got 1.0"),
        (dict(shear=90), ValueError, r"shear .* in \[0, 90\), got 90"),
        (dict(translate=-1), ValueError, "translate .* of pixels .* got -1"),
        (dict(translate=math.inf), ValueError, "translate .* got inf"),
        (dict(elastic=34), ValueError, r"pair \(alpha, sigma\) .* found 34"),
        (dict(elastic=(34,)), ValueError, r"found \(34,\)"),
        (dict(elastic=(-1, 4)), ValueError, r"alpha \(the elastic strength\) .* got -1"),
        (dict(elastic=(34, 0)), ValueError, r"sigma \(the elastic smoothness\) .* got 0"),
        (dict(elastic=(34, -4)), ValueError, r"sigma .* in \(0, inf\), got -4"),
        (dict(out=np.empty((4, 28, 28))), ValueError, "dtype float32, found .* float64"),
        (dict(out=np.empty((4, 28, 27), np.float32)), ValueError, r"found \(4, 28, 27\) float32"),
        (dict(out=[0]), ValueError, "found list"),
        (dict(out=np.broadcast_to(IMAGES[0], IMAGES.shape)), ValueError, "writeable"),
    ],
)
def test_distort_refuses_bad_arguments_saying_what_it_expected_and_found(changes, error, message):
    arguments = dict(images=IMAGES, rng=RNG) | changes
    images, rng = arguments.pop("images"), arguments.pop("rng")
    with pytest.raises(error, match=message):
        augment.distort(images, rng, **arguments)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (
            lambda: augment.warp(IMAGES, identities(3)),
            ValueError,
            r"\(4, 2, 3\).* found \(3, 2, 3\)",
        ),
        (lambda: augment.warp(IMAGES, identities(4) * np.nan), ValueError, "affine must be finite"),
        (lambda: augment.warp(IMAGES, np.ones((4, 2, 3), int)), ValueError, "affine .* dtype int"),
        (lambda: augment.warp(IMAGES, identities(4), elastic=(34, 4)), TypeError, "found NoneType"),
        (lambda: augment.random_affine(-1, RNG), ValueError, "n must be an integer >= 0, got -1"),
        (lambda: augment.random_affine(2.0, RNG), ValueError, "got 2.0"),
        (lambda: augment.random_affine(2, RNG, shape=(28,)), ValueError, r"pair .* found \(28,\)"),
        (lambda: augment.elastic_field(2, RNG, 34, 4, shape=(0, 9)), ValueError, ">= 1, got 0"),
        (lambda: augment.elastic_field(2, RNG, 34, -4), ValueError, "sigma .* got -4"),
        (lambda: augment.gaussian_matrix(0, 4), ValueError, "size must be .* >= 1, got 0"),
        (lambda: augment.gaussian_matrix(28, -1), ValueError, r"sigma .* in \(0, inf\), got -1"),
    ],
)
def test_the_other_functions_refuse_bad_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_a_partial_overlap_of_out_and_images_is_refused():
    buffer = np.zeros((5, 9, 9))
    with pytest.raises(ValueError, match="out must be images itself or not overlap it"):
        augment.distort(buffer[1:], RNG, out=buffer[:-1])


# The benchmark ------------------------------------------------------------------------------


def test_the_benchmark_prints_its_table(capsys):
    spec = importlib.util.spec_from_file_location("benchmark_augment", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--images", "512", "--rounds", "2", "--epoch-fraction", "0.01"])
    output = capsys.readouterr().out
    for kind in module.KINDS:
        assert kind in output
    assert "epoch of training" in output and "BLAS" in output


def test_distortions_hold_the_parameters_of_distort():
    distortions = augment.Distortions(rotate=10, scale=0.1, elastic=[16, 4])
    assert distortions.elastic == (16.0, 4.0)  # a list read back from JSON becomes a tuple
    expected = augment.distort(
        IMAGES, np.random.default_rng(5), rotate=10, scale=0.1, elastic=(16, 4)
    )
    out = np.empty_like(IMAGES)
    assert distortions(IMAGES, np.random.default_rng(5), out=out) is out
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(augment.Distortions()(IMAGES, RNG), IMAGES)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(rotate=200), r"rotate must be a finite number of degrees in \[0, 180\], got 200"),
        (dict(scale=-0.1), r"scale .* got -0.1"),
        (dict(translate="1"), "translate must be a number of pixels .* got '1'"),
        (dict(elastic=(16,)), r"pair \(alpha, sigma\) .* found \(16,\)"),
        (dict(elastic=(16, 0)), r"sigma \(the elastic smoothness\) .* got 0"),
    ],
)
def test_distortions_refuse_bad_parameters_on_creation(changes, message):
    with pytest.raises(ValueError, match=message):
        augment.Distortions(**changes)
