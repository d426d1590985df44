"""The package's shape: its imports form a stack, and private names stay in their module.

A leading underscore means "this module only": no other module of the package, no chapter
and no test of another module uses it. The package's imports, module-level and inside
functions alike (but not those only made for type checkers, under ``if TYPE_CHECKING:``),
must form a graph without cycles. Everything is read with :mod:`ast`; nothing is imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "nnscratch"
NAME = PACKAGE.name


def is_private(name: str) -> bool:
    """A leading underscore that is not a dunder (``__version__``, ``__init__`` are public)."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@dataclass
class Module:
    """One module of the package: its dotted name, its syntax tree, and what it imports."""

    name: str
    path: Path
    tree: ast.Module
    is_package: bool
    imports: set[str] = field(default_factory=set)  # package modules, by dotted name
    aliases: dict[str, str] = field(default_factory=dict)  # local name -> package module
    defined: set[str] = field(default_factory=set)  # private names defined in this module


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def type_checking_nodes(tree: ast.AST) -> set[int]:
    """The ids of the nodes inside ``if TYPE_CHECKING:`` blocks (imports for mypy only)."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                skipped.update(id(inner) for inner in ast.walk(child))
    return skipped


def resolve(module: Module, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` statement reads from."""
    if node.level == 0:
        return node.module or ""
    base = module.name.split(".")
    if not module.is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def read_package() -> dict[str, Module]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {}
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        name = module_name(path)
        modules[name] = Module(name, path, tree, path.name == "__init__.py")
    for module in modules.values():
        skipped = type_checking_nodes(module.tree)
        for node in ast.walk(module.tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == NAME:
                        module.imports.add(alias.name)
                        if alias.asname:
                            module.aliases[alias.asname] = alias.name
            elif isinstance(node, ast.ImportFrom):
                source = resolve(module, node)
                if source.split(".")[0] != NAME:
                    continue
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    if submodule in modules:  # from . import data: the module data
                        module.imports.add(submodule)
                        module.aliases[alias.asname or alias.name] = submodule
                    else:  # from .data import load_mnist: a name of the module data
                        module.imports.add(source)
        module.defined = defined_private_names(module.tree)
    return modules


def defined_private_names(tree: ast.AST) -> set[str]:
    """Private names a module defines: functions, classes, variables, arguments, and the
    attributes its methods set on ``self`` or ``cls``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                names.add(node.attr)  # not other objects' attributes, set from outside
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return {name for name in names if is_private(name)}


@dataclass(frozen=True)
class Use:
    """A private name used somewhere: ``name`` at ``line``, in the code ``text``."""

    line: int
    name: str
    text: str
    root: str | None = None  # the name the expression starts from, for an attribute

    def __str__(self) -> str:
        return f"line {self.line}: {self.text}"


def private_uses(tree: ast.AST, own: set[str], package_names: set[str]) -> Iterator[Use]:
    """Private names of others used in ``tree``: imported from a package module, reached
    through a name bound to the package (``package_names``: ``ns`` in ``ns.layers._x``, a
    module, a class imported from it), or an attribute that is not one of ``own``, the
    private names the code's own module defines."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (
            node.level or (node.module or "").startswith(NAME)
        ):
            for alias in node.names:
                if is_private(alias.name) and alias.name not in own:
                    source = "." * node.level + (node.module or "")
                    yield Use(node.lineno, alias.name, f"from {source} import {alias.name}")
        elif isinstance(node, ast.Attribute) and is_private(node.attr):
            root = root_name(node)
            if root in package_names or node.attr not in own:
                yield Use(node.lineno, node.attr, ast.unparse(node), root)


def root_name(node: ast.expr) -> str | None:
    """The name an expression like ``ns.layers.Linear(...).x`` starts from (``ns``)."""
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def package_bindings(tree: ast.AST) -> set[str]:
    """The names bound by imports of the package: ``import nnscratch as ns``, ``import
    nnscratch.functional as F``, ``from nnscratch import bench``, ``from nnscratch.model
    import MLP``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == NAME:
                    names.add(alias.asname or NAME)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == NAME:
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def sorted_uses(uses: Iterator[Use]) -> list[Use]:
    return sorted(set(uses), key=lambda use: (use.line, use.text))


MODULES = read_package()
PACKAGE_PRIVATE = set().union(*(module.defined for module in MODULES.values()))


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first == last), or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports; a package's own ``__init__`` is left out
    of its submodules' imports (Python runs it first in any case)."""
    graph = {}
    for name, module in MODULES.items():
        graph[name] = {
            target
            for target in module.imports
            if target in MODULES and target != name and not name.startswith(f"{target}.")
        }
    return graph


def test_the_graph_is_read():
    graph = import_graph()
    assert f"{NAME}.model" in graph and f"{NAME}.cli" in graph
    assert f"{NAME}.model" in graph[f"{NAME}.cli"]  # from .model import MLP


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_imports_have_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_name_of_another_module(name):
    module = MODULES[name]
    others = {local for local, target in module.aliases.items() if target != name}
    uses = [str(use) for use in sorted_uses(private_uses(module.tree, module.defined, others))]
    assert not uses, f"{module.path.relative_to(ROOT)} uses private names of other modules: {uses}"


def test_the_private_name_check_catches_each_form():
    code = ast.parse(
        "from nnscratch.functional import _softmax\n"
        "import nnscratch.layers as L\n"
        "L._random_bits(rng, 3)\n"
        "model._last_logits\n"
        "self._mine\n"
    )
    found = sorted_uses(private_uses(code, {"_mine"}, {"L"}))
    assert [(use.line, use.name) for use in found] == [
        (1, "_softmax"),
        (3, "_random_bits"),
        (4, "_last_logits"),
    ]


# --------------------------------------------------------------------------- the chapters


def code_cells(chapter: Path) -> Iterator[tuple[int, ast.Module]]:
    """The code cells of a MyST notebook, parsed (IPython magics and shell lines dropped);
    nothing for a page that is not a notebook."""
    notebook = jupytext.read(chapter)
    if "kernelspec" not in notebook.metadata:
        return
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type != "code":
            continue
        lines = [line for line in cell.source.splitlines() if line.lstrip()[:1] not in "%!"]
        yield number, ast.parse("\n".join(lines), filename=f"{chapter.name}, cell {number}")


CHAPTERS = sorted((ROOT / "book").glob("*.md"))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[chapter.stem for chapter in CHAPTERS])
def test_chapters_call_no_private_name(chapter):
    cells = list(code_cells(chapter))
    package = set().union(*(package_bindings(cell) for _, cell in cells))
    uses = [
        f"cell {number}, {use}"
        for number, cell in cells
        for use in private_uses(cell, set(), package)
        # a chapter's own helpers may be private; reached from the package, nothing may be
        if use.name in PACKAGE_PRIVATE or use.root in package
    ]
    assert not uses, f"{chapter.name} uses private names of nnscratch: {uses}"


# --------------------------------------------------------------------------- the tests


TESTS = sorted((ROOT / "tests").rglob("test_*.py"))


def mirrored_module(test_file: Path) -> Module | None:
    """The module ``tests/[sub/]test_x.py`` tests: ``nnscratch.[sub.]x``, or the private
    ``nnscratch._x`` (``test_checks.py`` tests ``_checks``)."""
    parts = test_file.relative_to(ROOT / "tests").with_suffix("").parts
    folders, stem = parts[:-1], parts[-1].removeprefix("test_")
    for name in (stem, f"_{stem}"):
        module = MODULES.get(".".join((NAME, *folders, name)))
        if module is not None:
            return module
    return None


@pytest.mark.parametrize(
    "test_file", TESTS, ids=[str(path.relative_to(ROOT / "tests")) for path in TESTS]
)
def test_tests_use_only_their_own_module_private_names(test_file):
    """``tests/test_x.py`` tests ``nnscratch.x`` and may look inside it, and only inside it."""
    tree = ast.parse(test_file.read_text(encoding="utf-8"))
    mirrored = mirrored_module(test_file)
    own = (mirrored.defined if mirrored else set()) | defined_private_names(tree)
    uses = [str(use) for use in private_uses(tree, own, set()) if use.name in PACKAGE_PRIVATE]
    assert not uses, f"{test_file.name} uses private names of other modules: {uses}"


def test_every_module_has_its_test_file():
    """Packages (their ``__init__`` only re-exports) and ``__main__`` aside."""
    tested = {module.name for module in map(mirrored_module, TESTS) if module is not None}
    modules = {name for name, module in MODULES.items() if not module.is_package}
    untested = sorted(modules - tested - {f"{NAME}.__main__"})
    assert not untested, f"modules without a tests/test_<module>.py: {untested}"
