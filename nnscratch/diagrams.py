"""Diagrams of the network for the book, drawn on a matplotlib ``Axes`` they are given.

:func:`draw_backprop_graph` draws the computational graph of a network with one hidden layer,
for one image: ``x -> z1 -> a1 -> z2 -> p -> loss``, each node with the shape of its value, the
parameters feeding the two affine maps and the label feeding the loss. Solid black arrows are
the forward pass; dashed red arrows say what the backward pass of the shortcut sends back along
each edge (``delta2 = p - y``, ``delta1``, the outer products). Numbered marks can be pinned on
the backward edges, as the chapter on the shortcut does with its five observations.

:func:`draw_matrix` draws a matrix (a Jacobian, a gradient) as a heatmap, one cell per entry,
on a diverging colour map with zero white, so that its structure (a diagonal, blocks, zeros)
shows at a glance.

The module imports nothing from matplotlib: it only calls methods of the ``Axes``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from ._checks import check_finite, check_layer_sizes, check_positive

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.image import AxesImage
    from matplotlib.text import Text

MATRIX_COLORMAP = "RdBu_r"
"""The colour map of :func:`draw_matrix`: blue below zero, white at zero, red above."""

FORWARD_COLOR = "0.15"
BACKWARD_COLOR = "#c0392b"

# Node positions in data coordinates: the chain on y = 0, parameters and label above it.
_CHAIN_Y, _ABOVE_Y = 0.0, 1.8
_CHAIN_X = {"x": 0.0, "z1": 2.6, "a1": 5.2, "z2": 7.8, "p": 10.4, "loss": 13.0}
_ABOVE_X = {"layer1": 2.6, "layer2": 7.8, "y": 13.0}
_DASHES = (0, (4, 2))

# Edges: (from, to, label); the backward ones keyed by their name in BACKWARD_EDGES.
_FORWARD = (
    ("x", "z1", ""),
    ("z1", "a1", r"$\operatorname{relu}$"),
    ("a1", "z2", ""),
    ("z2", "p", r"$\operatorname{softmax}$"),
    ("p", "loss", r"$-\log p_y$"),
    ("layer1", "z1", ""),
    ("layer2", "z2", ""),
    ("y", "loss", ""),
)
_BACKWARD = {
    "delta2": ("loss", "z2", r"$\delta^{(2)} = p - y$"),
    "grads2": ("z2", "layer2", r"$a^{(1)\top} \delta^{(2)},\ \delta^{(2)}$"),
    "input2": ("z2", "a1", r"$\delta^{(2)} W^{(2)\top}$"),
    "delta1": (
        "a1",
        "z1",
        r"$\delta^{(1)} = \delta^{(2)} W^{(2)\top}$" "\n" r"$\odot\, [z^{(1)} > 0]$",
    ),
    "grads1": ("z1", "layer1", r"$x^{\top} \delta^{(1)},\ \delta^{(1)}$"),
}

BACKWARD_EDGES = tuple(_BACKWARD)
"""The backward edges a mark can be pinned on, in the order the backward pass takes them: the
loss to ``z2`` (``delta2 = p - y``), ``z2`` to its parameters (``a1^T delta2``), ``z2`` to
``a1`` (``delta2 W2^T``), ``a1`` to ``z1`` (``delta1``), ``z1`` to its parameters
(``x^T delta1``)."""


def draw_backprop_graph(
    ax: Axes, sizes: Sequence[int] = (784, 512, 10), *, marks: Mapping[str, str] | None = None
) -> None:
    """Draw the forward and backward pass of a ``sizes[0]-sizes[1]-sizes[2]`` network on ``ax``.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
        Drawn on and set up for the diagram: its limits are set and its frame is turned off.
    sizes : sequence of three int
        The widths ``d0, d1, d2`` of the input, the hidden layer and the output, shown in the
        shapes of the nodes (a row ``1 x d`` for one image).
    marks : mapping of str to str, optional
        A short text (``"4"``, ``"1, 2"``) to pin on a backward edge, keyed by the edge's name
        in :data:`BACKWARD_EDGES`.

    Raises
    ------
    ValueError
        If ``sizes`` is not three positive integers, or a mark names an unknown edge.
    """
    d0, d1, d2 = _three_sizes(sizes)
    marks = dict(marks or {})
    unknown = sorted(set(marks) - set(BACKWARD_EDGES))
    if unknown:
        raise ValueError(f"marks must name edges among {BACKWARD_EDGES}, got {unknown}")
    nodes = {
        name: _node(ax, name, symbol, shape)
        for name, symbol, shape in (
            ("x", "x", rf"1 \times {d0}"),
            ("z1", "z^{(1)}", rf"1 \times {d1}"),
            ("a1", "a^{(1)}", rf"1 \times {d1}"),
            ("z2", "z^{(2)}", rf"1 \times {d2}"),
            ("p", "p", rf"1 \times {d2}"),
            ("loss", r"\ell", r"\text{scalar}"),
            ("layer1", "W^{(1)}, b^{(1)}", rf"{d0} \times {d1},\ {d1}"),
            ("layer2", "W^{(2)}, b^{(2)}", rf"{d1} \times {d2},\ {d2}"),
            ("y", "y", rf"1 \times {d2}"),
        )
    }
    for source, target, label in _FORWARD:
        _arrow(ax, nodes[source], nodes[target], FORWARD_COLOR)
        if label:
            _chain_label(ax, source, target, label, FORWARD_COLOR, depth=-0.08)
    for edge, (source, target, label) in _BACKWARD.items():
        if source in _ABOVE_X or target in _ABOVE_X:  # up to the parameters, label beside
            _arrow(ax, nodes[source], nodes[target], BACKWARD_COLOR, rad=0.35, dashed=True)
            text = _side_label(ax, source, label, BACKWARD_COLOR)
        else:  # back along the chain, below it; the long arc from the loss skips p
            rad = -0.35 if edge == "delta2" else -0.3
            _arrow(ax, nodes[source], nodes[target], BACKWARD_COLOR, rad=rad, dashed=True)
            depth = 1.05 if edge == "delta2" else 0.62
            text = _chain_label(ax, source, target, label, BACKWARD_COLOR, depth=depth)
        if edge in marks:
            _mark(ax, text, marks[edge])
    ax.plot([], [], color=FORWARD_COLOR, label="forward pass")
    ax.plot([], [], color=BACKWARD_COLOR, linestyle=_DASHES, label="backward pass")
    ax.legend(loc="lower left", frameon=False, fontsize=9)
    ax.set_xlim(-0.8, 13.8)
    ax.set_ylim(-1.6, 2.3)
    ax.axis("off")


def draw_matrix(ax: Axes, matrix: ArrayLike, *, scale: float | None = None) -> AxesImage:
    """Draw ``matrix`` on ``ax`` as a heatmap of ``matrix / scale``, from -1 (blue) to 1 (red).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    matrix : array_like, shape (rows, columns) or (columns,)
        A vector is drawn as a row. Entry ``(j, i)`` is the cell in row ``j``, column ``i``,
        row 0 at the top, as the matrix is written.
    scale : float, optional
        The value drawn in full colour; default the largest ``|entry|`` (1 if all are zero).
        Give several matrices the same scale to compare their entries.

    Returns
    -------
    matplotlib.image.AxesImage
        For a colour bar, which then reads in units of ``scale``.

    Raises
    ------
    ValueError
        If ``matrix`` has more than two dimensions or a non-finite entry, or ``scale`` is not
        a positive number.
    """
    values = np.asarray(matrix, dtype=np.float64)
    if values.ndim == 1:
        values = values[np.newaxis, :]
    if values.ndim != 2:
        raise ValueError(f"matrix must be a vector or a matrix, got shape {values.shape}")
    check_finite(values, name="matrix")
    if scale is None:
        scale = float(np.abs(values).max(initial=0.0)) or 1.0
    scale = check_positive(scale, "scale")
    return ax.imshow(values / scale, cmap=MATRIX_COLORMAP, vmin=-1, vmax=1, interpolation="nearest")


def _three_sizes(sizes: Sequence[int]) -> tuple[int, int, int]:
    checked = check_layer_sizes(sizes)
    if len(checked) != 3:
        raise ValueError(
            f"sizes must be three widths (input, hidden, output), got {len(checked)}: {sizes!r}"
        )
    return checked[0], checked[1], checked[2]


def _node(ax: Axes, name: str, symbol: str, shape: str) -> Text:
    """A rounded box holding the node's symbol above its shape, at the node's place."""
    param = name in _ABOVE_X
    x, y = (_ABOVE_X[name], _ABOVE_Y) if param else (_CHAIN_X[name], _CHAIN_Y)
    box = {
        "boxstyle": "round,pad=0.3",
        "facecolor": "#f4f1e8" if param else "#e8eef7",
        "edgecolor": "0.35",
        "linewidth": 0.8,
    }
    text = f"${symbol}$\n${shape}$"
    return ax.text(x, y, text, ha="center", va="center", multialignment="center", bbox=box)


def _arrow(
    ax: Axes, source: Text, target: Text, color: str, *, rad: float = 0.0, dashed: bool = False
) -> None:
    """An arrow from box to box, bent by ``rad`` (the arc's bulge, signed; 0 is straight)."""
    props: dict[str, Any] = {
        "arrowstyle": "-|>",
        "color": color,
        "linewidth": 1.1,
        "linestyle": _DASHES if dashed else "-",
        "connectionstyle": f"arc3,rad={rad}",
        "patchA": source.get_bbox_patch(),
        "patchB": target.get_bbox_patch(),
        "shrinkA": 2,
        "shrinkB": 2,
        "mutation_scale": 12,
    }
    ax.annotate("", xy=target.get_position(), xytext=source.get_position(), arrowprops=props)


def _chain_label(
    ax: Axes, source: str, target: str, text: str, color: str, *, depth: float
) -> Text:
    """A label centred on a chain edge: above the chain for ``depth < 0``, below it otherwise."""
    x = (_CHAIN_X[source] + _CHAIN_X[target]) / 2
    va = "bottom" if depth < 0 else "top"
    return ax.text(x, _CHAIN_Y - depth, text, color=color, ha="center", va=va, fontsize=9)


def _side_label(ax: Axes, node: str, text: str, color: str) -> Text:
    """A label right of the vertical edge above a chain node."""
    x, y = _CHAIN_X[node] + 0.5, (_CHAIN_Y + _ABOVE_Y) / 2
    return ax.text(x, y, text, color=color, ha="left", va="center", fontsize=9)


def _mark(ax: Axes, label: Text, mark: str) -> None:
    """A round badge holding ``mark``, beside a label: on its left if centred, else its right."""
    left = label.get_horizontalalignment() == "center"
    ax.annotate(
        mark,
        (0, 1) if left else (1, 1),
        xycoords=label,
        xytext=(-5, 0) if left else (5, 0),
        textcoords="offset points",
        ha="right" if left else "left",
        va="top",
        fontsize=8,
        color="white",
        fontweight="bold",
        bbox={"boxstyle": "circle,pad=0.2", "facecolor": BACKWARD_COLOR, "edgecolor": "none"},
    )
