"""The import rules of STYLE.md: who may import piccolo, blacksheep and the handlers."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "neuronetz_gateway"
HTTP_EDGE = ("app.py", "routes.py", "edge/", "proxy/", "ops/")
DOMAIN = ("auth/", "policy/", "limits/", "backends/", "admin/", "db/", "audit/", "doctor/")


def _imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[path.relative_to(PACKAGE).as_posix()] = names
    return found


def _importers(prefix: str) -> set[str]:
    return {
        f
        for f, names in _imports().items()
        if any(n == prefix or n.startswith(prefix + ".") for n in names)
    }


def test_only_db_imports_piccolo() -> None:
    assert _importers("piccolo") and all(f.startswith("db/") for f in _importers("piccolo"))


def test_only_the_http_edge_imports_blacksheep() -> None:
    importers = _importers("blacksheep")
    assert importers and all(f.startswith(HTTP_EDGE) for f in importers), importers


def test_domain_packages_do_not_reach_into_the_http_layer() -> None:
    for module in (
        "neuronetz_gateway.proxy",
        "neuronetz_gateway.ops",
        "neuronetz_gateway.app",
        "neuronetz_gateway.routes",
    ):
        offenders = {f for f in _importers(module) if f.startswith(DOMAIN)}
        assert offenders == set(), (module, offenders)


def test_cli_never_imports_handlers() -> None:
    for module in (
        "neuronetz_gateway.proxy",
        "neuronetz_gateway.ops",
        "neuronetz_gateway.routes",
        "neuronetz_gateway.edge",
    ):
        assert {f for f in _importers(module) if f.startswith("cli/")} == set()
