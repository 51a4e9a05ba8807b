"""Every third-party package the services import is a declared dependency in
pyproject.toml (an undeclared one installs today only because something else pulls it in)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRST_PARTY = {
    "phs",
    "phs_runtime",
    "phs_scheduling",
    "phs_reports",
    "phs_web",
    "phs_notifications",
    "google",
}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {_norm(re.split(r"[\[<>=!~; ]", d, maxsplit=1)[0]) for d in deps}


def _imported(folder: Path) -> set[str]:
    found: set[str] = set()
    for path in folder.rglob("*.py"):
        if "node_modules" in path.parts or ("migrations" in path.parts and "versions" in path.parts):
            continue  # the web app's tooling; alembic's own scripts
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in FIRST_PARTY}


def test_every_import_of_the_services_is_declared() -> None:
    dists = packages_distributions()
    declared = _declared()
    missing = {
        module: dists.get(module, ["?"])
        for module in _imported(ROOT / "services")
        if not {_norm(d) for d in dists.get(module, [])} & declared
    }
    assert not missing, f"imported by services/ but not in pyproject's dependencies: {missing}"


def test_the_check_sees_an_undeclared_import() -> None:
    dists = packages_distributions()
    assert "jwt" in _imported(ROOT / "services/runtime")
    assert {_norm(d) for d in dists["jwt"]} == {"pyjwt"}
    assert "yaml" not in _declared() and "pyyaml" not in _declared()
