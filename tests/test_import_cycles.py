"""No import cycles among the modules of the three wings (tap, target, emulators), read from their
source (AST): a cycle makes what a module sees at import time depend on which module came first."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tap_andsend", "target_salesforce_andsend", "emulators")


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(module: str, path: Path, known: dict[str, Path], *, lazy: bool) -> set[str]:
    """The wings' modules `module` imports: at import time (module level, outside ``if TYPE_CHECKING``),
    or with ``lazy`` also inside functions and under TYPE_CHECKING."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and _is_type_checking(node):
                if lazy:
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                name = ".".join([*base, *([node.module] if node.module else [])])
                found.add(name)
                found.update(f"{name}.{a.name}" for a in node.names)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if lazy:
                    visit(node.body)
            elif isinstance(node, ast.ClassDef):
                visit(node.body)
            else:
                for name in ("body", "orelse", "finalbody"):
                    visit([n for n in getattr(node, name, None) or [] if isinstance(n, ast.stmt)])
                for handler in getattr(node, "handlers", None) or []:
                    visit(handler.body)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return {m for m in found if m in known and m != module}


def _cycles(lazy: bool) -> list[list[str]]:
    known = _modules()
    graph = {m: _imports(m, p, known, lazy=lazy) for m, p in known.items()}
    # Tarjan's strongly connected components: every one with more than one module is a cycle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
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
                out.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            connect(module)
    return out


def test_no_import_cycle_at_import_time():
    assert _cycles(lazy=False) == []


def test_matching_parts_import_no_run_context():
    """The Matcher, the owner lookup and the Account index are built from their parts: none of
    them needs context.py, not even lazily or for type checking."""
    lookup = {f"target_salesforce_andsend.{m}" for m in ("context", "matching", "owners", "account_index")}
    assert [c for c in _cycles(lazy=True) if lookup & set(c)] == []


def test_a_cycle_is_found(tmp_path, monkeypatch):
    """The check itself: two modules importing each other are reported."""
    package = tmp_path / "emulators"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from . import b\n")
    (package / "b.py").write_text("from .a import x\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert _cycles(lazy=False) == [["emulators.a", "emulators.b"]]
