"""The server pipeline knows no storage library: walking the imports its modules make
at run time (not those for type checking only), through phs_runtime, never reaches
SQLAlchemy. The storage side comes in as an injected error mapper."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import phs_runtime.pipeline


def _runtime_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _reachable(start: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if not name.startswith("phs_runtime"):
            continue
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:  # `from module import name` of something not a module
            continue
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            continue
        todo.extend(_runtime_imports(Path(spec.origin)))
    return seen


def test_the_pipeline_does_not_import_sqlalchemy() -> None:
    package = Path(phs_runtime.pipeline.__file__).parent
    modules = [f"phs_runtime.pipeline.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"]
    reached = _reachable(["phs_runtime.pipeline", *modules])
    assert "phs_runtime.pipeline.interceptor" in reached
    assert not {n for n in reached if n.split(".")[0] == "sqlalchemy"}
    assert "phs_runtime.policy" not in reached  # the guard is handed in


def test_the_walk_would_notice() -> None:
    assert "sqlalchemy.exc" in _reachable(["phs_runtime.db_errors"])
