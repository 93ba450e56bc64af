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


def _imports(module: str, path: Path, known: dict[str, Path], *, lazy: bool,
             type_checking: bool | None = None, external: bool = False) -> set[str]:
    """The wings' modules `module` imports: at import time (module level, outside ``if TYPE_CHECKING``),
    or with ``lazy`` also inside functions and (unless ``type_checking`` is False) under TYPE_CHECKING.
    ``external``: every name imported, the wings' and the libraries'."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and _is_type_checking(node):
                if lazy if type_checking is None else type_checking:
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
    return {m for m in found if (external or m in known) and m != module}


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


# The target's planning modules: records and lookups in, decisions out. They must never reach code that
# speaks HTTP or opens a store, not even through a function-level import.
PURE = ("prospects.prepare", "prospects.plan", "task_plan", "badge_plan", "tasks", "match_rules", "lookup_memory",
        "transforms", "crm_status", "duplicates", "addresses", "field_access", "record_types", "normalize",
        "salesforce.retry_policy")
IO_LIBRARIES = ("requests", "urllib3", "httpx", "psycopg", "sqlite3", "socket", "http", "urllib.request")
# What sending looks like on a client or store handed in as an argument (typed only for type checking).
IO_CALLS = {"request", "query", "query_many", "query_all", "describe", "describe_many", "write_together", "upsert",
            "put_links", "pending_put"}
IO_MODULES = ("salesforce.client", "salesforce.auth", "salesforce.bulk", "salesforce.bundling", "salesforce.pool",
              "salesforce.writer", "links", "context", "andsend_writeback", "account_index", "matching", "owners",
              "crm_status_sync", "prospects.execute", "activities", "badges", "target")


def _reached(start: str) -> tuple[set[str], set[str]]:
    """The wings' modules ``start`` reaches through imports run at any time (type hints left out),
    and every name those modules import."""
    known = _modules()
    seen, names, todo = {start}, set(), [start]
    while todo:
        module = todo.pop()
        imported = _imports(module, known[module], known, lazy=True, type_checking=False, external=True)
        names |= imported
        for m in imported & set(known) - seen:
            seen.add(m)
            todo.append(m)
    return seen, names


def test_planning_modules_reach_no_http_and_no_store():
    for name in PURE:
        module = f"target_salesforce_andsend.{name}"
        reached, names = _reached(module)
        io = sorted({f"target_salesforce_andsend.{m}" for m in IO_MODULES} & reached)
        libs = sorted(n for n in names if n.split(".")[0] in IO_LIBRARIES or n in IO_LIBRARIES)
        calls = sorted({node.func.attr for node in ast.walk(ast.parse(_modules()[module].read_text(encoding="utf-8")))
                        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in IO_CALLS})
        assert (module, io, libs, calls) == (module, [], [], [])


def test_a_cycle_is_found(tmp_path, monkeypatch):
    """The check itself: two modules importing each other are reported."""
    package = tmp_path / "emulators"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from . import b\n")
    (package / "b.py").write_text("from .a import x\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert _cycles(lazy=False) == [["emulators.a", "emulators.b"]]
