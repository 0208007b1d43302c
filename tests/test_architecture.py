"""The layers of docs/architecture.md, checked against the code's own imports."""

from __future__ import annotations

import ast
from pathlib import Path

import seeds

PACKAGE = Path(seeds.__file__).parent

# Layer -> the layers it may import (besides itself). Lower layers never import upwards.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "dialects": {"errors"},
    "data": {"errors"},
    "runtime": {"errors", "dialects", "data"},
    "tools": {"errors", "dialects", "data", "runtime"},
    "dev": {"errors", "dialects", "data", "runtime", "tools"},
    "integrations": {"errors", "dialects", "data", "runtime", "tools", "dev"},
}
# The one documented exception: with no DATABASE_URL, the runtime starts the installed
# project-local cluster on demand (imported inside the function that needs it).
EXCEPTIONS = {("runtime/database.py", "dev")}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "seeds" or len(parts) < 2:
        return None
    return parts[1]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_every_module_imports_only_its_own_and_lower_layers() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        own = relative.split("/")[0].removesuffix(".py")
        if own not in ALLOWED:
            continue  # seeds/__init__.py and __main__.py: the facade reaches every layer
        for module in _imports(path):
            layer = _layer(module)
            if layer is None or layer == own or layer not in ALLOWED:
                continue
            if layer not in ALLOWED[own] and (relative, layer) not in EXCEPTIONS:
                wrong.append(f"{relative} imports {module} ({own} -> {layer})")
    assert wrong == []


def _code_without_docstrings(path: Path) -> str:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            body[0] = ast.Pass()  # type: ignore[index]  # body is the list just checked
    return ast.unparse(tree)


def test_no_postgresql_only_sql_outside_dialects() -> None:
    # Statements only PostgreSQL understands, and psycopg's diagnostics, belong to
    # dialects/postgresql.py: raw SQL text, server functions, DB-API cursors.
    markers = (
        "sa.text(",
        "exec_driver_sql",
        "sa.func.set_config",
        "sa.func.pg_",
        ".diag",
        'execute("',
    )
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(("dialects/", "dev/")):
            continue  # dev/ manages the PostgreSQL server itself
        code = _code_without_docstrings(path)
        found = {f"{relative}: {m}" for m in markers if m in code}
        # seeds new writes revision files whose frozen server defaults are sa.text(...)
        wrong.extend(sorted(found - {"tools/authoring.py: sa.text("}))
    assert wrong == []


def test_the_public_api_is_declared_and_importable() -> None:
    assert "seed" in seeds.__all__ and "SeedContext" in seeds.__all__
    for name in seeds.__all__:
        assert getattr(seeds, name) is not None
    errors = [n for n in seeds.__all__ if n.endswith(("Error", "Refused", "Blocked"))]
    assert all(issubclass(getattr(seeds, n), seeds.SeedError) for n in errors)
