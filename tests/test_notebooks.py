"""Every chapter runs as a notebook, top to bottom, the way a reader runs it, and follows the
book's notation.

Each chapter listed in ``_toc.yml`` that is a MyST notebook (a ``kernelspec`` in its front
matter) is read with Jupytext and executed with nbclient on the ``python3`` kernel, with
``book/`` as the working directory, as the book build does. The per-cell timeout is the
build's (``execute.timeout`` in ``_config.yml``). A page in the table of contents that is
not a notebook must be one of :data:`PLAIN_PAGES`, so that no chapter escapes execution.

The chapters read the real MNIST from ``$NNSCRATCH_DATA_DIR`` (the ``mnist`` fixture skips
without it, and fails instead when ``CI`` is set): tests never reach the network.

The notation (the table in the introduction, ``(notation)=``) gives every symbol one meaning;
the forms it retired are listed in :data:`RETIRED` and searched for in the prose and the math
of every page (code is left out). Chapter code must also fit the code box
(:data:`CODE_WIDTH`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jupytext
import pytest
import yaml
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
KERNEL = "python3"
# Pages of the table of contents with no code to run.
PLAIN_PAGES = frozenset({"book/intro", "book/api", "book/bibliography"})


def _toc_files(entries: list[dict[str, Any]]) -> Iterator[str]:
    """The ``file`` entries of a table of contents, depth first, in reading order."""
    for entry in entries:
        if "file" in entry:
            yield entry["file"]
        for key in ("parts", "chapters", "sections"):
            yield from _toc_files(entry.get(key, []))


def _chapters() -> list[str]:
    """Every file listed in ``_toc.yml`` (without suffix), root first."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [toc["root"], *_toc_files([toc])]


def _is_notebook(chapter: str) -> bool:
    """Whether the chapter's Markdown source is a notebook (declares a kernelspec)."""
    notebook = jupytext.read(ROOT / f"{chapter}.md")
    return "kernelspec" in notebook.metadata


def _cell_timeout() -> int:
    """The book build's per-cell timeout, in seconds."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    return int(config["execute"]["timeout"])


NOTEBOOKS = [chapter for chapter in _chapters() if chapter not in PLAIN_PAGES]


def test_every_chapter_is_a_notebook_or_a_plain_page() -> None:
    """A chapter without a kernelspec would be built without running: none may slip through."""
    missing = [chapter for chapter in _chapters() if not (ROOT / f"{chapter}.md").is_file()]
    assert not missing, f"listed in _toc.yml but not found: {missing}"
    not_notebooks = [chapter for chapter in NOTEBOOKS if not _is_notebook(chapter)]
    assert not not_notebooks, (
        f"these chapters have no kernelspec in their front matter, so they would never run: "
        f"{not_notebooks} (plain pages without code are {sorted(PLAIN_PAGES)})"
    )


@pytest.mark.slow
@pytest.mark.usefixtures("mnist")
@pytest.mark.parametrize("chapter", NOTEBOOKS, ids=[Path(c).name for c in NOTEBOOKS])
def test_chapter_runs_as_a_notebook(chapter: str) -> None:
    """The chapter, converted by Jupytext, runs without an error on a fresh kernel."""
    source = ROOT / f"{chapter}.md"
    if not source.is_file():
        pytest.fail(f"{chapter} is listed in _toc.yml but {source} does not exist")
    notebook = jupytext.read(source)
    assert notebook.metadata.get("kernelspec", {}).get("name") == KERNEL, (
        f"{chapter}: expected kernelspec name {KERNEL!r} in the front matter, found "
        f"{notebook.metadata.get('kernelspec')!r}"
    )
    client = NotebookClient(
        notebook,
        timeout=_cell_timeout(),
        kernel_name=KERNEL,
        resources={"metadata": {"path": str(BOOK)}},
    )
    client.execute()


# --------------------------------------------------------------------------- the notation

CODE_WIDTH = 88  # characters of a code line that fit the code box without scrolling

# (retired form, what the notation writes instead)
RETIRED = [
    (r"y\^\{?\\(?:text|mathrm)\{ls\}", r"\tilde y / \tilde Y for the smoothed targets"),
    (
        r"\\epsilon(?!_\{\\text\{mach\}\})",
        r"h for a step, \tau for Adam's constant, \epsilon_{\text{mach}} for machine epsilon",
    ),
    (r"\\varepsilon_\{?\\(?:text|mathrm)\{mach", r"\epsilon_{\text{mach}} for machine epsilon"),
    (
        r"\\pm\s*\\varepsilon|\b2\s*\\varepsilon\b|\\varepsilon\s*e_"
        r"|\\sqrt\{[^$]*?\}\s*\+\s*\\varepsilon",
        r"h for the finite-difference step, \tau for Adam's constant (\varepsilon is the "
        "label-smoothing weight only)",
    ),
    (r"\bh\s*=\s*\d+(?![\d.^{eE])", "d_1 for the hidden width (h is the finite-difference step)"),
    (
        r"hidden (?:width|size|units?) \$h\$|\$h\$ hidden|\\times\s*h\b(?!\^)",
        "d_1 for the hidden width (h is the finite-difference step)",
    ),
    (
        r"dropout (?:rate|probability) \$p\$|\\frac\{1\}\{1\s*-\s*p\}",
        r"\rho for the dropout probability (p is the probabilities)",
    ),
    (
        r"\\sigma\s*(?:\\[bB]igl?|\\left)?\(",
        r"\operatorname{logistic}(t) for the logistic function (\sigma is a standard deviation)",
    ),
    (r"J_\{?ij\}?", r"J_{ji} = \partial v_j / \partial u_i (row = output), J_{kl} for the softmax"),
    (r"\bp_\{?[ij]\b", "k, l for class indices (i, j index a layer's inputs and outputs)"),
    (
        r"(?i)\b0 \(white|white background|background is white|white \(0|fully black|black ink",
        "0 is the background (no ink), 255 full ink; digits are drawn light on dark",
    ),
    (r"divergence of \$p\$ from \$q\$", "D_KL(q || p) is the KL divergence of q from p"),
    (
        r"\\sqrt\{\s*2\s*/\s*n\s*\}|\\frac\{2\}\{n\}|n_\{?\\(?:text|mathrm)\{(?:in|out)\}",
        "d (fan-in) and m (fan-out) for a layer's widths (n is the batch size)",
    ),
]
# Said once, in the introduction's section on how to read the numbers; cited elsewhere.
SHARED_MACHINE = (
    r"(?i)the machine is shared|on a shared machine|timings?[^.]{0,40}\b(?:are|is) "
    r"(?:only )?indicative"
)
CODE_BLOCK = re.compile(
    r"^(`{3,})(?:\{code-cell\}|python|py|bash|sh|text)[^\n]*\n.*?^\1\s*$", re.M | re.S
)
PAGES = [chapter for chapter in _chapters() if (ROOT / f"{chapter}.md").is_file()]


def prose(chapter: str) -> list[tuple[int, str]]:
    """The lines of a page outside code (prose, math, captions of directives), numbered."""
    text = (ROOT / f"{chapter}.md").read_text(encoding="utf-8")
    blanked = CODE_BLOCK.sub(lambda match: "\n" * match.group(0).count("\n"), text)
    return list(enumerate(blanked.splitlines(), start=1))


def retired_forms(chapter: str) -> list[str]:
    """Each line of the page's prose that uses a retired form, with what to write instead."""
    found = []
    rules = list(RETIRED)
    if chapter != _chapters()[0]:  # the introduction says it; the others cite it
        rules.append((SHARED_MACHINE, "cite {ref}`reading-numbers` instead of repeating it"))
    for number, line in prose(chapter):
        for pattern, instead in rules:
            if match := re.search(pattern, line):
                found.append(f"line {number}: {match.group(0)!r} (write {instead})")
    return found


@pytest.mark.parametrize("pattern", [pattern for pattern, _ in RETIRED] + [SHARED_MACHINE])
def test_each_retired_form_is_a_valid_pattern(pattern: str) -> None:
    re.compile(pattern)


def test_the_retired_forms_are_found() -> None:
    offending = [
        r"$y^{\text{ls}}$",
        r"$(f(x + \epsilon) - f(x - \epsilon)) / (2\epsilon)$",
        r"with $h = 128$ hidden units",
        r"the logistic function $\sigma(t)$",
        r"$J_{ij} = \partial p_i / \partial z_j$",
        "from 0 (white background) to 255",
        "the KL divergence of $p$ from $q$",
        r"scaled by $\sqrt{2 / n}$",
        r"$\hat m / (\sqrt{\hat v} + \varepsilon)$",
    ]
    allowed = [
        r"$\epsilon_{\text{mach}} = 2.2 \times 10^{-16}$",
        r"the step $h = 10^{-6}$, $h = 1e-5$",
        r"$\tilde Y = (1 - \varepsilon) Y + \varepsilon / K$",
        r"$J_{kl} = \partial p_k / \partial z_l$, $J_{ji} = \partial a_j / \partial z_i$",
        r"$\sigma = 0.01$, $\mathcal{N}(0, \sigma^2)$, $\operatorname{logistic}(t)$",
        "0 is the background (no ink), 255 full ink",
        "the KL divergence of $q$ from $p$",
    ]
    for text in offending:
        assert any(re.search(pattern, text) for pattern, _ in RETIRED), text
    for text in allowed:
        assert not any(re.search(pattern, text) for pattern, _ in RETIRED), text


@pytest.mark.parametrize("chapter", PAGES)
def test_page_uses_the_notation(chapter: str) -> None:
    found = retired_forms(chapter)
    assert not found, f"{chapter}.md uses retired notation: " + "; ".join(found)


@pytest.mark.parametrize("chapter", PAGES)
def test_chapter_code_fits_the_code_box(chapter: str) -> None:
    notebook = jupytext.read(ROOT / f"{chapter}.md")
    long_lines = [
        f"cell {number}: {line.strip()[:50]}... ({len(line)} characters)"
        for number, cell in enumerate(notebook.cells, start=1)
        if cell.cell_type == "code"
        for line in cell.source.splitlines()
        if len(line) > CODE_WIDTH
    ]
    assert not long_lines, f"{chapter}.md: code lines over {CODE_WIDTH} characters: {long_lines}"
