"""Tests for nnscratch.images: digits drawn by the test, prepared the way MNIST was."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from nnscratch import images


def canvas(h: int = 120, w: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Row and column coordinates of every pixel."""
    return np.mgrid[0:h, 0:w].astype(np.float64)


def one(dark_on_light: bool = False) -> np.ndarray:
    """A thick, upright "1" off to the left of a 120 x 100 canvas: ink 1, background 0."""
    r, c = canvas()
    ink = ((r >= 10) & (r < 100) & (c >= 20) & (c < 38)).astype(np.float64)
    ink[10:30, 5:20] = (r[10:30, 5:20] - 10 > 20 - c[10:30, 5:20]).astype(np.float64)  # the flag
    return 1 - ink if dark_on_light else ink


def ring(dark_on_light: bool = False, centre=(70, 40)) -> np.ndarray:
    """A "0": an oval ring in the lower left of a 120 x 100 canvas."""
    r, c = canvas()
    d = np.hypot((r - centre[0]) / 40, (c - centre[1]) / 25)
    ink = ((d > 0.7) & (d < 1.0)).astype(np.float64)
    return 1 - ink if dark_on_light else ink


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    rows, cols = np.indices(img.shape)
    return float((rows * img).sum() / img.sum()), float((cols * img).sum() / img.sum())


def ink_box(img: np.ndarray) -> tuple[int, int]:
    rows, cols = np.flatnonzero(img.any(axis=1)), np.flatnonzero(img.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def check_mnist_like(img: np.ndarray) -> None:
    assert img.shape == (28, 28)
    assert img.min() >= 0 and img.max() <= 1
    cy, cx = centre_of_mass(img)
    assert abs(cy - 14) <= 0.5 + 1e-6 and abs(cx - 14) <= 0.5 + 1e-6
    h, w = ink_box(img)
    assert max(h, w) == 20 and min(h, w) <= 20
    assert img[0].sum() == img[-1].sum() == img[:, 0].sum() == img[:, -1].sum() == 0


@pytest.mark.parametrize("draw", [one, ring])
@pytest.mark.parametrize("dark_on_light", [False, True])
def test_prepared_like_mnist(draw, dark_on_light):
    check_mnist_like(images.prepare_digit(draw(dark_on_light)))


@pytest.mark.parametrize("draw", [one, ring])
def test_polarity_does_not_matter(draw):
    light = images.prepare_digit(draw(dark_on_light=False))
    dark = images.prepare_digit(draw(dark_on_light=True))
    np.testing.assert_allclose(light, dark, atol=1e-12)


def test_aspect_ratio_is_kept():
    h0, w0 = ink_box(ring())  # 79 x 49
    assert ink_box(images.prepare_digit(ring())) == (20, round(w0 * 20 / h0))


def test_grey_background_and_faint_ink_are_normalised():
    clean = images.prepare_digit(ring())
    photo = 0.35 + 0.4 * ring()  # grey paper, weak ink, plus a little noise below the threshold
    photo += np.random.default_rng(0).uniform(0, 0.03, size=photo.shape)
    got = images.prepare_digit(photo)
    check_mnist_like(got)
    assert np.abs(got - clean).mean() < 0.01


def test_ink_is_full_strength_and_anti_aliased():
    img = images.prepare_digit(ring())
    assert img.max() == pytest.approx(1.0)
    assert ((img > 0) & (img < 1)).any()  # grey edges, as in MNIST


def test_small_input_is_scaled_up():
    small = np.zeros((10, 10))
    small[2:8, 4:6] = 1.0
    check_mnist_like(images.prepare_digit(small))


def test_a_prepared_digit_survives_being_drawn_large():
    first = images.prepare_digit(ring())
    big = np.kron(1 - first, np.ones((9, 9)))  # dark on light, nine times larger
    again = images.prepare_digit(big)
    check_mnist_like(again)
    assert np.corrcoef(first.ravel(), again.ravel())[0, 1] > 0.95


@pytest.mark.parametrize(("dtype", "want"), [(np.float32, np.float32), (np.uint8, np.float64)])
def test_dtypes(dtype, want):
    img = ring()
    img = (img * 255).astype(np.uint8) if dtype == np.uint8 else img.astype(dtype)
    out = images.prepare_digit(img)
    assert out.dtype == want
    np.testing.assert_allclose(out, images.prepare_digit(ring()), atol=1e-5)


@pytest.mark.parametrize(
    "blank",
    [np.zeros((30, 30)), np.ones((30, 30)), np.full((30, 30), 0.5), np.eye(30) * 0.05],
)
def test_blank_image(blank):
    with pytest.raises(ValueError, match="blank"):
        images.prepare_digit(blank)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((3, 4, 4)), "2 dimension"),
        (np.zeros((0, 4)), "non-empty"),
        (np.full((4, 4), 2.0), r"in \[0, 1\]"),
        (np.full((4, 4), np.nan), "finite"),
        (np.zeros((4, 4), dtype=np.int64), "floating"),
        (np.zeros((4, 4, 3), dtype=np.uint8), "2-D"),
    ],
)
def test_bad_arrays(bad, message):
    with pytest.raises(ValueError, match=message):
        images.prepare_digit(bad)


def save(path, gray: np.ndarray, mode: str = "L"):
    img = Image.fromarray(np.round(gray * 255).astype(np.uint8), mode="L")
    img.convert(mode).save(path)
    return path


@pytest.mark.parametrize("mode", ["L", "RGB", "P", "1"])
@pytest.mark.parametrize("suffix", [".png", ".bmp", ".gif"])
def test_load_digit_from_files(tmp_path, mode, suffix):
    path = save(tmp_path / f"ring{suffix}", ring(dark_on_light=True), mode)
    x = images.load_digit(path)
    assert x.shape == (784,) and x.dtype == np.float32
    check_mnist_like(x.reshape(28, 28))
    np.testing.assert_allclose(x, images.prepare_digit(ring()).ravel(), atol=1e-6)
    assert images.load_digit(str(path), dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize("ink", [0, 255])
def test_load_digit_with_transparent_background(tmp_path, ink):
    alpha = np.round(ring() * 255).astype(np.uint8)
    rgba = np.zeros((*alpha.shape, 4), dtype=np.uint8)
    rgba[..., :3] = ink
    rgba[..., 3] = alpha  # strokes opaque, canvas fully transparent
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "drawn.png")
    x = images.load_digit(tmp_path / "drawn.png")
    np.testing.assert_allclose(x, images.prepare_digit(ring()).ravel(), atol=1e-6)


def test_load_digit_from_a_jpeg_photo(tmp_path):
    photo = 0.8 - 0.6 * one()  # dark ink on light grey paper, lossy compression
    Image.fromarray(np.round(photo * 255).astype(np.uint8)).save(tmp_path / "one.jpg", quality=70)
    x = images.load_digit(tmp_path / "one.jpg").reshape(28, 28)
    check_mnist_like(x)
    assert np.abs(x - images.prepare_digit(one())).mean() < 0.02


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not a picture\n")
    with pytest.raises(ValueError, match=r"notes\.png: not an image file"):
        images.load_digit(path)


def test_truncated_image(tmp_path):
    path = save(tmp_path / "cut.png", ring(dark_on_light=True))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"cut\.png: (damaged|not an image)"):
        images.load_digit(path)


def test_blank_file_names_the_file(tmp_path):
    path = save(tmp_path / "white.png", np.ones((40, 40)))
    with pytest.raises(ValueError, match=r"white\.png: the image is blank"):
        images.load_digit(path)


def test_load_digit_refuses_an_integer_dtype(tmp_path):
    path = save(tmp_path / "ring.png", ring(dark_on_light=True))
    with pytest.raises(ValueError, match="floating-point"):
        images.load_digit(path, dtype=np.uint8)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        images.load_digit(tmp_path / "absent.png")


def test_without_pillow(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"nnscratch\[full\]"):
        images.load_digit(tmp_path / "any.png")


def test_real_mnist_digits_survive_being_redrawn(mnist):
    """An MNIST digit drawn large, dark on light, comes back close to itself."""
    correlations = []
    for digit in mnist.x_test[:50]:
        big = Image.fromarray(255 - digit).resize((140, 140), Image.Resampling.BILINEAR)
        again = images.prepare_digit(np.asarray(big))
        assert again.shape == (28, 28)
        correlations.append(np.corrcoef(digit.ravel(), again.ravel())[0, 1])
    assert np.median(correlations) > 0.95 and min(correlations) > 0.6
