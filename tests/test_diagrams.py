"""Tests of nnscratch.diagrams: the computational graph and the matrices the book draws."""

from itertools import combinations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from nnscratch.diagrams import BACKWARD_EDGES, MATRIX_COLORMAP, draw_backprop_graph, draw_matrix

pytest.importorskip("matplotlib")
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

MARKS = {"delta2": "1, 2", "input2": "3", "delta1": "4", "grads1": "5", "grads2": "5"}


def drawn(sizes=(784, 512, 10), marks=None):
    """The axes with the graph drawn on it, rendered once (so that every text has its place)."""
    figure = Figure(figsize=(8.5, 3.2))
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    draw_backprop_graph(ax, sizes, marks=marks)
    figure.canvas.draw()
    return ax


@pytest.fixture(scope="module")
def plain():
    return drawn()


@pytest.fixture(scope="module")
def marked():
    return drawn(marks=MARKS)


def texts(ax):
    """Every text drawn: node boxes, labels, and the badges of the marks (annotations)."""
    return [text for text in ax.texts if text.get_text()]


def test_the_nodes_show_the_shapes_of_the_given_sizes():
    shown = " ".join(text.get_text() for text in texts(drawn((5, 3, 2))))
    for shape in (r"1 \times 5", r"1 \times 3", r"1 \times 2", r"5 \times 3,\ 3", r"3 \times 2"):
        assert shape in shown
    assert "784" not in shown


def test_the_backward_edges_carry_the_shortcut(plain):
    shown = " ".join(text.get_text() for text in texts(plain))
    for quantity in (
        r"\delta^{(2)} = p - y",
        r"\delta^{(2)} W^{(2)\top}",
        r"\odot\, [z^{(1)} > 0]",
        r"x^{\top} \delta^{(1)}",
        r"a^{(1)\top} \delta^{(2)}",
    ):
        assert quantity in shown


def test_one_arrow_per_edge(plain):
    arrows = [text for text in plain.texts if getattr(text, "arrow_patch", None)]
    assert len(arrows) == 8 + len(BACKWARD_EDGES)  # 8 forward edges, into the 6 + 3 nodes


def test_each_mark_is_a_badge_beside_its_label(marked):
    ax = marked
    renderer = ax.figure.canvas.get_renderer()
    badges = [text for text in ax.texts if text.get_text() in MARKS.values()]
    assert sorted(text.get_text() for text in badges) == sorted(MARKS.values())
    for badge in badges:
        label = badge.xycoords  # placed relative to the label it marks
        box, beside = badge.get_window_extent(renderer), label.get_window_extent(renderer)
        if label.get_horizontalalignment() == "center":
            assert box.x1 <= beside.x0
        else:
            assert box.x0 >= beside.x1


@pytest.mark.parametrize("graph", ["plain", "marked"])
def test_no_two_texts_overlap(graph, request):
    ax = request.getfixturevalue(graph)
    renderer = ax.figure.canvas.get_renderer()
    boxes = {}
    for text in texts(ax):
        patch = text.get_bbox_patch()
        extent = (patch or text).get_window_extent(renderer)
        boxes[text.get_text()] = extent
    overlapping = [
        (a, b) for (a, box_a), (b, box_b) in combinations(boxes.items(), 2) if box_a.overlaps(box_b)
    ]
    assert not overlapping


def test_everything_lies_inside_the_axes(marked):
    ax = marked
    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    for text in texts(ax):
        extent = (text.get_bbox_patch() or text).get_window_extent(renderer)
        assert frame.x0 <= extent.x0 and extent.x1 <= frame.x1, text.get_text()
        assert frame.y0 <= extent.y0 and extent.y1 <= frame.y1, text.get_text()


def test_an_unknown_edge_is_refused_by_name():
    ax = Figure().subplots()
    with pytest.raises(ValueError, match=r"marks must name edges among .*got \['relu'\]"):
        draw_backprop_graph(ax, marks={"relu": "4"})


@pytest.mark.parametrize("sizes", [(784, 10), (784, 16, 12, 10), (784, 0, 10)])
def test_sizes_must_be_three_widths(sizes):
    with pytest.raises(ValueError, match="widths"):
        draw_backprop_graph(Figure().subplots(), sizes)


def test_a_matrix_is_drawn_as_written_divided_by_its_largest_entry():
    matrix = np.array([[0.0, -2.0, 1.0], [4.0, 0.5, 0.0]])
    image = draw_matrix(Figure().subplots(), matrix)
    assert_array_equal(image.get_array(), matrix / 4)
    assert image.get_clim() == (-1, 1)
    assert image.get_cmap().name == MATRIX_COLORMAP
    assert image.get_extent() == [-0.5, 2.5, 1.5, -0.5]  # row 0 on top, one cell per entry


def test_a_given_scale_is_used_and_a_vector_is_a_row():
    image = draw_matrix(Figure().subplots(), np.array([1.0, -3.0]), scale=6.0)
    assert_array_equal(image.get_array(), [[1 / 6, -0.5]])


def test_a_matrix_of_zeros_is_drawn_white():
    image = draw_matrix(Figure().subplots(), np.zeros((2, 2)))
    assert_array_equal(image.get_array(), np.zeros((2, 2)))


@pytest.mark.parametrize(
    ("matrix", "scale", "message"),
    [
        (np.zeros((2, 2, 2)), None, r"a vector or a matrix, got shape \(2, 2, 2\)"),
        (np.array([[1.0, np.nan]]), None, r"matrix must be finite, found nan at index \(0, 1\)"),
        (np.eye(2), 0.0, "scale must be a finite number > 0"),
    ],
)
def test_what_cannot_be_drawn_is_refused(matrix, scale, message):
    with pytest.raises(ValueError, match=message):
        draw_matrix(Figure().subplots(), matrix, scale=scale)
