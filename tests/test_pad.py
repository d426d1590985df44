"""The drawing pad of the "Try it" chapter, in the real browser.

Opens ``_build/html/book/try.html`` in headless Chromium (served from 127.0.0.1 with the
site server and browser fixtures of conftest, as ``test_site.py`` does, and from a
``file://`` URL) and checks the page's JavaScript against the package:
``window.nnscratchPad.predict`` against ``MLP.predict`` with the exported model and against
the float32 model it was exported from, ``prepare`` against
``nnscratch.images.prepare_digit``, and strokes drawn with the mouse against the digits they
draw. Measured figures (largest differences, the time from the last stroke event to the
answer) are printed for the record, never asserted as durations.

Needs ``make book`` first (the site, the exported weights and the model file they came
from) and the real MNIST; skips without them as the site test does.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np
import pytest
from conftest import HOST, ROOT, SITE, TIMEOUT_MS
from PIL import Image

import nnscratch as ns
from nnscratch import export

pytestmark = [pytest.mark.site, pytest.mark.browser]

PAGE = "book/try.html"
WEIGHTS = SITE / "_static" / "pad" / "weights.js"
MODELS = ROOT / "_build" / "models"
PROBABILITY_TOLERANCE = 1e-3  # the page against the float32 model
PIXEL_TOLERANCE = 1e-6  # the page's prepare against prepare_digit
READY = "() => window.nnscratchPad !== undefined"

# Installed before the last stroke ends: records the time stamp of every pointerup event and
# the time at which the pad sets `last`, in the page's clock (performance.now()).
WATCH_LAST = """
() => {
  const pad = window.nnscratchPad;
  let value = pad.last;
  const times = {ups: [], sets: []};
  window.padTimes = times;
  addEventListener("pointerup", (e) => times.ups.push(e.timeStamp), {capture: true});
  Object.defineProperty(pad, "last", {
    configurable: true,
    get: () => value,
    set: (v) => { value = v; times.sets.push(performance.now()); },
  });
}
"""


@dataclass
class Tab:
    """A page of the pad, with what went wrong on it."""

    page: object
    problems: list[str] = field(default_factory=list)

    def evaluate(self, script: str, arg: object = None) -> object:
        return self.page.evaluate(script, arg)


@pytest.fixture(scope="module")
def exported(site_url: str) -> tuple[ns.MLP, ns.MLP, dict]:
    """The page's model (decoded from the published weights), the float32 model it was
    exported from, and the file's content; skips, as the site test does, without the site."""
    if not WEIGHTS.is_file():
        pytest.fail(f"{WEIGHTS} is missing: the 'Try it' chapter writes it during `make book`")
    page_model, content = export.load_export(WEIGHTS)
    model_file = MODELS / content["model_file"]
    if not model_file.is_file():
        pytest.fail(f"{model_file}, which the page's weights came from, is missing")
    digest = hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert digest == content["model_sha256"], (
        f"{WEIGHTS} was exported from another {model_file.name} (SHA-256 "
        f"{content['model_sha256']}, the file now has {digest}): build the book again"
    )
    return page_model, ns.MLP.load(model_file), content


@contextlib.contextmanager
def open_tab(browser, url: str, **options: object) -> Iterator[Tab]:
    """Open ``url`` in a fresh context (with Playwright's ``options``) whose requests may
    reach 127.0.0.1 and files only."""
    context = browser.new_context(**options)
    context.set_default_timeout(TIMEOUT_MS)
    tab = Tab(context.new_page())

    def route(route) -> None:
        parts = urlsplit(route.request.url)
        if parts.scheme == "file" or parts.hostname == HOST:
            route.continue_()
        else:
            tab.problems.append(f"request to another host: {route.request.url}")
            route.abort()

    def on_console(message) -> None:
        if message.type == "error":
            tab.problems.append(f"console: {message.text}")

    def on_response(response) -> None:
        if response.status >= 400:
            tab.problems.append(f"HTTP {response.status}: {response.url}")

    context.route("**/*", route)
    tab.page.on("console", on_console)
    tab.page.on("pageerror", lambda error: tab.problems.append(f"page error: {error}"))
    tab.page.on("response", on_response)
    try:
        tab.page.goto(url, wait_until="load")
        tab.page.wait_for_function(READY)
        yield tab
    finally:
        context.close()


@pytest.fixture
def tab(browser, site_url: str, exported) -> Iterator[Tab]:
    with open_tab(browser, site_url + PAGE) as opened:
        yield opened


def test_the_page_loads_offline_without_errors(tab: Tab) -> None:
    """Nothing leaves 127.0.0.1, nothing fails, the console stays clean; the pad is blank."""
    assert tab.evaluate("() => window.nnscratchPad.last") is None
    assert tab.page.locator("#nnscratch-pad .pad-bar").count() == 10
    assert not tab.problems, "\n".join(tab.problems)


def test_predict_agrees_with_the_package(tab: Tab, exported, mnist, capsys) -> None:
    """200 test images: the labels of MLP.predict, probabilities within 1e-3 of float32."""
    page_model, float32_model, _ = exported
    x = ns.prepare.preprocess(mnist.x_test[:200], dtype=np.float64)
    p_page = np.array(
        tab.evaluate("(rows) => rows.map((x) => window.nnscratchPad.predict(x))", x.tolist())
    )
    assert p_page.shape == (200, 10)
    np.testing.assert_array_equal(p_page.argmax(axis=1), page_model.predict(x))
    difference = np.abs(p_page - float32_model.predict_proba(x.astype(np.float32))).max()
    same_model = np.abs(p_page - page_model.predict_proba(x)).max()
    with capsys.disabled():
        print(
            f"\npad predict, 200 test images: labels equal to MLP.predict; largest probability "
            f"difference {difference:.2e} from float32, {same_model:.2e} from the exported model"
        )
    assert difference <= PROBABILITY_TOLERANCE
    assert same_model <= 1e-12  # the same float64 arithmetic, summed in another order
    assert not tab.problems, "\n".join(tab.problems)


def rendered_digits(images: np.ndarray, seed: int = 0) -> list[np.ndarray]:
    """Each 28x28 image resized (bilinear) to a random size, with random ink and paper levels,
    light ink on dark for the even ones and dark ink on light for the odd ones: grey levels in
    [0, 1], float64."""
    rng = np.random.default_rng(seed)
    rendered = []
    for i, image in enumerate(images):
        width, height = (int(v) for v in rng.integers(18, 160, size=2))
        resized = Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR)
        ink = np.asarray(resized, dtype=np.float64) / 255
        paper, pen = rng.uniform(0, 0.3), rng.uniform(0.7, 1)
        gray = paper + (pen - paper) * ink
        rendered.append(1 - gray if i % 2 else gray)
    return rendered


def page_prepare(tab: Tab, grays: list[np.ndarray], ink: str = "auto") -> np.ndarray:
    """``window.nnscratchPad.prepare`` of each (h, w) image: shape (len(grays), 784)."""
    return np.array(
        tab.evaluate(
            "([images, ink]) => images.map(([g, w, h]) =>"
            " window.nnscratchPad.prepare(g, w, h, ink))",
            [[[g.ravel().tolist(), g.shape[1], g.shape[0]] for g in grays], ink],
        )
    )


def test_prepare_agrees_with_prepare_digit(tab: Tab, mnist, capsys) -> None:
    """20 test digits at other sizes and polarities: equal to 1e-6 per pixel."""
    grays = rendered_digits(mnist.x_test[:20])
    assert {g.shape[0] > 28 for g in grays} == {True, False}  # larger and smaller than MNIST
    js = page_prepare(tab, grays)
    python = np.stack([ns.images.prepare_digit(g).ravel() for g in grays])
    difference = np.abs(js - python).max()
    with capsys.disabled():
        print(f"\npad prepare, 20 rendered digits: largest pixel difference {difference:.2e}")
    assert difference <= PIXEL_TOLERANCE
    assert not tab.problems, "\n".join(tab.problems)


def test_prepare_rounds_like_python(tab: Tab) -> None:
    """Bars whose scaled side is a half-integer (2.5, 12.5 pixels): Python's round() goes to
    the even neighbour, where JavaScript's Math.round goes up."""
    grays = []
    for height, width in [(5, 40), (40, 5), (5, 8), (3, 40), (1, 1)]:
        gray = np.zeros((60, 60))
        gray[10 : 10 + height, 10 : 10 + width] = 1
        grays.append(gray)
    js = page_prepare(tab, grays)
    python = np.stack([ns.images.prepare_digit(g).ravel() for g in grays])
    np.testing.assert_allclose(js, python, rtol=0, atol=PIXEL_TOLERANCE)


def new_rule_images(digit: np.ndarray) -> dict[str, np.ndarray]:
    """Pictures that the rules of prepare_digit's polarity, background and frame decide; the
    first two are ``digit`` (uint8, 28 x 28) drawn three times larger:

    - dark ink on grey paper (0.45): the whole image's median is the paper, below 0.5;
    - dark ink on white paper in a black frame 4 pixels wide (its top line 95% full): the
      border is dark, the median light; the frame is cut off;
    - a light frame around nothing, on black: kept, since nothing but frame would remain;
    - a tie on grey paper (0.625): a light bar 0.375 above the paper, a dark bar 0.375 below
      it (exact in binary); a tie is light ink, so the light bar is the digit.
    """
    ink = np.kron(digit / 255, np.ones((3, 3)))
    framed = np.pad(1 - ink, 10, constant_values=1.0)
    for edge in (np.s_[:4, :], np.s_[-4:, :], np.s_[:, :4], np.s_[:, -4:]):
        framed[edge] = 0
    framed[0, :5] = 1
    frame_only = np.zeros((60, 60))
    for edge in (np.s_[:3, :], np.s_[-3:, :], np.s_[:, :3], np.s_[:, -3:]):
        frame_only[edge] = 1
    tie = np.full((80, 80), 0.625)
    tie[10:70, 18:24] = 1.0
    tie[40:46, 45:75] = 0.25
    return {
        "dark on grey paper": 0.45 * (1 - ink),
        "dark frame": framed,
        "frame only": frame_only,
        "tie": tie,
    }


@pytest.mark.parametrize(
    ("name", "guessed"),
    [
        ("dark on grey paper", "dark"),
        ("dark frame", "dark"),
        ("frame only", "light"),
        ("tie", "light"),
    ],
)
def test_prepare_follows_the_ink_and_frame_rules(tab: Tab, mnist, name, guessed, capsys) -> None:
    """Polarity from the whole image's median (a tie is light ink), the background at that
    median, a frame cut off unless it is all there is: as prepare_digit decides, to 1e-6."""
    gray = new_rule_images(mnist.x_test[0])[name]
    assert ns.images.guess_ink(gray) == guessed
    python = ns.images.prepare_digit(gray).ravel()
    difference = np.abs(page_prepare(tab, [gray])[0] - python).max()
    with capsys.disabled():
        print(f"\npad prepare, {name}: largest pixel difference {difference:.2e}")
    assert difference <= PIXEL_TOLERANCE
    assert not tab.problems, "\n".join(tab.problems)


@pytest.mark.parametrize("ink", ["light", "dark"])
def test_prepare_takes_the_ink_as_prepare_digit_does(tab: Tab, mnist, ink) -> None:
    """The tie read both ways: ink="light" (the light bar), ink="dark" (the dark bar)."""
    gray = new_rule_images(mnist.x_test[0])["tie"]
    python = ns.images.prepare_digit(gray, ink=ink).ravel()
    np.testing.assert_allclose(
        page_prepare(tab, [gray], ink)[0], python, rtol=0, atol=PIXEL_TOLERANCE
    )


def test_prepare_refuses_an_unknown_ink_as_prepare_digit_does(tab: Tab) -> None:
    message = tab.evaluate(
        "() => { try { window.nnscratchPad.prepare(new Array(4).fill(0.5), 2, 2, 'pale'); }"
        " catch (e) { return e.message; } }"
    )
    with pytest.raises(ValueError) as python_error:
        ns.images.prepare_digit(np.full((2, 2), 0.5), ink="pale")
    assert message == str(python_error.value)


def test_prepare_refuses_a_blank_image_as_prepare_digit_does(tab: Tab) -> None:
    message = tab.evaluate(
        "() => { try { window.nnscratchPad.prepare(new Array(100).fill(0.5), 10, 10); }"
        " catch (e) { return e.message; } }"
    )
    with pytest.raises(ValueError) as python_error:
        ns.images.prepare_digit(np.full((10, 10), 0.5))
    assert message is not None and message.startswith("the image is blank")
    assert str(python_error.value).startswith("the image is blank")


def draw(tab: Tab, strokes: list[list[tuple[float, float]]], device: str = "mouse") -> float:
    """Draw ``strokes`` (points as shares of the pad's width and height) with the mouse or a
    finger (touch events, through the Chrome DevTools Protocol); return the milliseconds from
    the last pointerup event to the pad's setting `last`."""
    box = tab.page.locator("#nnscratch-pad .pad-canvas").bounding_box()
    tab.evaluate(WATCH_LAST)
    for stroke in strokes:
        points = [(box["x"] + u * box["width"], box["y"] + v * box["height"]) for u, v in stroke]
        if device == "mouse":
            mouse_stroke(tab.page.mouse, points)
        else:
            touch_stroke(tab.page.context.new_cdp_session(tab.page), points)
    times = tab.evaluate("() => window.padTimes")
    after = [t for t in times["sets"] if t >= times["ups"][-1]]
    assert after, f"the pad did not set `last` after the last stroke: {times}"
    return after[0] - times["ups"][-1]


def mouse_stroke(mouse, points: list[tuple[float, float]], steps: int = 12) -> None:
    mouse.move(*points[0])
    mouse.down()
    for point in points[1:]:
        mouse.move(*point, steps=steps)
    mouse.up()


def touch_stroke(cdp, points: list[tuple[float, float]], steps: int = 12) -> None:
    def touch(kind: str, x: float, y: float) -> None:
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})

    touch("touchStart", *points[0])
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        for t in np.linspace(0, 1, steps + 1)[1:]:
            touch("touchMove", x0 + t * (x1 - x0), y0 + t * (y1 - y0))
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


BAR = [[(0.5, 0.15), (0.5, 0.85)]]
SEVEN = [[(0.25, 0.2), (0.75, 0.2)], [(0.75, 0.2), (0.42, 0.85)]]


@pytest.mark.parametrize(("strokes", "digit"), [(BAR, 1), (SEVEN, 7)], ids=["bar", "seven"])
def test_strokes_drawn_with_the_mouse_are_read(tab: Tab, strokes, digit, capsys) -> None:
    """A vertical bar reads as 1, a 7 of two strokes as 7; `last` is set after the strokes."""
    delays = []
    for _ in range(5):
        tab.page.locator(".pad-clear").click()
        assert tab.evaluate("() => window.nnscratchPad.last") is None
        delays.append(draw(tab, strokes))
        last = tab.evaluate("() => window.nnscratchPad.last")
        assert last["label"] == digit, f"drew a {digit}, the pad read {last}"
        assert abs(sum(last["probabilities"]) - 1) < 1e-12
        assert int(np.argmax(last["probabilities"])) == digit
        assert tab.page.locator(".pad-answer").inner_text() == str(digit)
    with capsys.disabled():
        print(
            f"\npad strokes ({digit}): last pointerup to `last` set, median "
            f"{statistics.median(delays):.1f} ms over {len(delays)} drawings "
            f"({', '.join(f'{d:.1f}' for d in delays)})"
        )
    assert tab.page.locator(".pad-unit").count() > 0  # the units behind the answer
    assert not tab.problems, "\n".join(tab.problems)


def test_strokes_drawn_by_touch_are_read(browser, site_url: str, exported) -> None:
    """A finger on a touch screen draws as the mouse does (pointer events of type touch)."""
    with open_tab(browser, site_url + PAGE, has_touch=True) as tab:
        tab.evaluate(
            "() => { window.pointerTypes = [];"
            " document.querySelector('.pad-canvas').addEventListener('pointerdown',"
            " (e) => window.pointerTypes.push(e.pointerType)); }"
        )
        for strokes, digit in [(BAR, 1), (SEVEN, 7)]:
            tab.page.locator(".pad-clear").click()
            draw(tab, strokes, device="touch")
            assert tab.evaluate("() => window.nnscratchPad.last.label") == digit
        assert set(tab.evaluate("() => window.pointerTypes")) == {"touch"}
        assert not tab.problems, "\n".join(tab.problems)


def test_sample_is_read_as_python_reads_it(tab: Tab, exported) -> None:
    """Sample paints a test image as 10x10 blocks; the answer is prepare_digit + predict's."""
    page_model, _, content = exported
    images, labels = content["samples"]["images"], content["samples"]["labels"]
    for _ in range(3):
        tab.page.locator(".pad-sample").click()
        index = int(tab.page.locator(".pad-note").get_attribute("data-sample"))
        assert f"labelled {labels[index]}" in tab.page.locator(".pad-note").inner_text()
        side = tab.evaluate("() => document.querySelector('.pad-canvas').width") // 28
        gray = np.kron(255 - images[index].astype(np.float64), np.ones((side, side))) / 255
        expected = page_model.predict_proba(ns.images.prepare_digit(gray).reshape(1, 784))[0]
        last = tab.evaluate("() => window.nnscratchPad.last")
        np.testing.assert_allclose(last["probabilities"], expected, rtol=0, atol=1e-9)
        assert last["label"] == int(np.argmax(expected))
    assert not tab.problems, "\n".join(tab.problems)


def test_the_page_works_from_a_file_url(browser, exported) -> None:
    """Opened as a file, the page loads its weights (a script tag) and reads a drawing."""
    url = (SITE / PAGE).resolve().as_uri()
    with open_tab(browser, url) as tab:
        assert draw(tab, BAR) >= 0
        assert tab.evaluate("() => window.nnscratchPad.last.label") == 1
        assert not tab.problems, "\n".join(tab.problems)
