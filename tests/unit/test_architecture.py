"""The shape of the package, read from its source: no import cycle between modules (imports
inside functions included, since they hide an arrow but still make one), no private name taken
from another module, and the wings' manifests reachable from one composition root.

``import-linter`` (``make lint``) checks the layers; this test checks what it cannot: cycles
through function-level imports. Imports under ``if TYPE_CHECKING:`` are annotations only and
never run, so they are not arrows.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import hanoi

ROOT = Path(hanoi.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, at any depth, except those under ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and _is_type_checking(child):
            yield from (x for n in child.orelse for x in _imports(n))
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        yield from _imports(child)


def _edges(module: str, path: Path) -> set[str]:
    out: set[str] = set()
    for imp in _imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(imp, ast.Import):
            out.update(a.name for a in imp.names if a.name in MODULES)
        elif imp.module and imp.level == 0 and imp.module.split(".")[0] == "hanoi":
            for a in imp.names:
                sub = f"{imp.module}.{a.name}"
                out.add(sub if sub in MODULES else imp.module)
    out.discard(module)
    return out


GRAPH = {m: _edges(m, p) for m, p in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import() -> None:
    src = "import os\n\ndef f():\n    from hanoi.b import x\n\nif TYPE_CHECKING:\n    from hanoi.c import y\n"
    names = {i.module if isinstance(i, ast.ImportFrom) else i.names[0].name for i in _imports(ast.parse(src))}
    assert names == {"os", "hanoi.b"}  # the function-level import counts, the annotation-only one not
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_between_modules() -> None:
    assert len(GRAPH) > 100
    assert _cycles(GRAPH) == []


def test_no_module_takes_a_private_name_from_another() -> None:
    taken = []
    for module, path in MODULES.items():
        for imp in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(imp, ast.ImportFrom) and imp.module and imp.module.startswith("hanoi"):
                taken += [f"{module}: {imp.module}.{a.name}" for a in imp.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert taken == []


def test_services_is_gone_and_every_wing_has_the_same_rooms() -> None:
    assert not (ROOT / "services").exists()
    for wing in ("requests", "signals", "media"):
        rooms = {p.stem for p in (ROOT / wing).glob("*.py")}
        assert {"rows", "send", "service", "receive", "wing"} <= rooms, wing
