"""Wiring Seedchain into an existing Alembic or Flask-Migrate project (``seeds init``).

Four changes, each made only when it is missing, so a second run changes nothing:

- ``env.py`` keeps everything the project wrote: its logging, its metadata, its
  ``process_revision_directives`` and other ``context.configure`` arguments. Only the
  block that hands Alembic a connection (``context.configure(...)`` and ``with
  context.begin_transaction(): context.run_migrations()``, with the ``connect()`` around
  it) becomes one call to ``run_migrations(...)`` carrying the project's own arguments.
  Seedchain has to own the connection: it picks the database and the environment before
  any revision runs, holds the deploy lock, and puts sequences back after an undo.
- ``seed.py.mako`` beside the revisions' ``script.py.mako``: the template of ``seeds new``.
- a ``[tool.seeds]`` table in ``pyproject.toml``.
- ``.devdb/`` (the project-local database) in ``.gitignore``.

Nothing is written until every change has been worked out, so a project this cannot
wire is left as it was.
"""

from __future__ import annotations

import ast
import difflib
import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from seeds.errors import ConfigurationError
from seeds.runtime.database import alembic_ini
from seeds.runtime.project import load_alembic_config

TEMPLATE = Path(__file__).parent / "templates" / "seed.py.mako"

# context.configure arguments Seedchain sets from the run, the same way the templates
# set them: dropped from the project's call.
_SUPPLIED = frozenset({"connection", "url", "literal_binds", "dialect_opts"})
# Arguments that would change what Seedchain decides: refused, never dropped silently.
_OWNED = frozenset({"as_sql", "version_table_schema", "transaction_per_migration"})

_ALEMBIC_PLACEHOLDER_URL = "driver://user:pass@localhost/dbname"
_GITIGNORE_ENTRIES = frozenset({".devdb", ".devdb/", "/.devdb", "/.devdb/"})
_ADOPTING = 'see "Adopting Seedchain in an existing project" in the Seedchain README'

PYPROJECT_TABLE = """\
[tool.seeds]
# Seedchain's counts and switches. Top-level keys apply to every environment, a table
# per environment overrides them, and -x name=value overrides both for one run. A seed
# reads one with ctx.setting("name", default).

[tool.seeds.development]
# users = 50
"""

GITIGNORE_ENTRY = "# The project-local development database (seeds devdb)\n.devdb/\n"


@dataclass(frozen=True)
class FileChange:
    """One file ``seeds init`` writes: ``before`` is None for a new file."""

    path: Path
    before: str | None
    after: str
    why: str

    def diff(self, root: Path) -> str:
        name = self.path.relative_to(root).as_posix()
        lines = difflib.unified_diff(
            (self.before or "").splitlines(keepends=True),
            self.after.splitlines(keepends=True),
            fromfile="/dev/null" if self.before is None else f"a/{name}",
            tofile=f"b/{name}",
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


@dataclass(frozen=True)
class InitPlan:
    """What ``seeds init`` would change in ``root``, and what the user should know."""

    root: Path
    changes: list[FileChange]
    notes: list[str] = field(default_factory=list)

    def write(self) -> None:
        for change in self.changes:
            change.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = change.path.with_name(change.path.name + ".seeds-init")
            temporary.write_text(change.after)
            os.replace(temporary, change.path)


def plan_init(root: Path) -> InitPlan:
    """The changes that wire Seedchain into the project at ``root``.

    Raises:
        ConfigurationError: no Alembic project here, an env.py whose shape this cannot
            rewrite safely, or an unreadable pyproject.toml; nothing is changed.
    """
    config = load_alembic_config(alembic_ini(root))
    script_dir = _script_dir(config, root)
    env_py = script_dir / "env.py"
    if not env_py.is_file():
        raise ConfigurationError(f"no env.py in {script_dir}; is this an Alembic project?")
    changes = [
        change
        for change in (
            _env_change(env_py),
            _template_change(script_dir / "seed.py.mako"),
            _pyproject_change(root / "pyproject.toml"),
            _gitignore_change(root / ".gitignore"),
        )
        if change is not None
    ]
    return InitPlan(root, changes, _notes(config))


def _script_dir(config: Config, root: Path) -> Path:
    """The revisions' folder. A relative ``script_location`` is taken from the project
    folder, never from wherever ``seeds init`` was started (that could be another
    project's ``migrations/``); ``package:folder`` locations are Alembic's to find."""
    location = config.get_main_option("script_location") or ""
    if ":" in location and not Path(location).is_absolute():
        try:
            return Path(ScriptDirectory.from_config(config).dir).resolve()
        except CommandError as err:
            raise ConfigurationError(f"{config.config_file_name}: {err}") from err
    folder = Path(location) if Path(location).is_absolute() else root / location
    if not folder.is_dir():
        raise ConfigurationError(
            f"{config.config_file_name}: script_location {location!r} is no folder "
            f"under {root}; fix script_location"
        )
    return folder.resolve()


def _notes(config: Config) -> list[str]:
    url = config.get_main_option("sqlalchemy.url")
    if url and url.strip() != _ALEMBIC_PLACEHOLDER_URL:
        return [
            f"alembic.ini sets sqlalchemy.url = {url}; Seedchain does not read it. The "
            "database is DATABASE_URL (with -x env= or APP_ENV), else the project-local "
            "one (seeds devdb)"
        ]
    return []


def _env_change(path: Path) -> FileChange | None:
    source = path.read_text()
    wired = wire_env(source, flask=_is_flask(source), name=str(path))
    if wired == source:
        return None
    return FileChange(path, source, wired, "run the revisions through Seedchain")


def _template_change(path: Path) -> FileChange | None:
    if path.is_file():
        return None
    return FileChange(path, None, TEMPLATE.read_text(), "the template of `seeds new`")


def _pyproject_change(path: Path) -> FileChange | None:
    before = path.read_text() if path.is_file() else None
    if before is not None:
        try:
            document = tomllib.loads(before)
        except tomllib.TOMLDecodeError as err:
            raise ConfigurationError(f"{path} is not valid TOML ({err}); fix the file") from err
        if "seeds" in document.get("tool", {}):
            return None
    return FileChange(path, before, _appended(before, PYPROJECT_TABLE), "Seedchain's settings")


def _gitignore_change(path: Path) -> FileChange | None:
    before = path.read_text() if path.is_file() else None
    if before is not None and _GITIGNORE_ENTRIES & {line.strip() for line in before.splitlines()}:
        return None
    return FileChange(
        path, before, _appended(before, GITIGNORE_ENTRY), "keep the local database out of git"
    )


def _appended(before: str | None, block: str) -> str:
    if not before:
        return block
    return before + ("\n" if before.endswith("\n") else "\n\n") + block


def uses_flask(root: Path) -> bool:
    """True when the project's env.py is Flask-Migrate's: it needs the Flask app."""
    env_py = _script_dir(load_alembic_config(alembic_ini(root)), root) / "env.py"
    return env_py.is_file() and _is_flask(env_py.read_text())


def _is_flask(source: str) -> bool:
    """Flask-Migrate's env.py reads the app through ``current_app``."""
    tree = ast.parse(source)
    return any(
        isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "flask"
        for node in ast.walk(tree)
    )


# --- env.py -------------------------------------------------------------------------


def wire_env(source: str, *, flask: bool, name: str = "env.py") -> str:
    """``source`` with each connection block replaced by a Seedchain ``run_migrations``.

    Returns ``source`` unchanged when it already runs its revisions through Seedchain.

    Raises:
        ConfigurationError: a shape this cannot rewrite without guessing.
    """
    tree = ast.parse(source)
    configures = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _is_context_call(node, "configure")
    ]
    if not configures:
        if _imports_seedchain(tree):
            return source
        raise ConfigurationError(
            f"{name} never calls context.configure(); seeds init cannot tell where the "
            f"revisions run. Call run_migrations() from seeds there by hand ({_ADOPTING})"
        )
    if any(isinstance(node, ast.AsyncFunctionDef) for node in ast.walk(tree)):
        raise ConfigurationError(
            f"{name} runs its revisions on an async engine; Seedchain runs them on its own "
            f"connection. Replace the async functions with run_migrations() ({_ADOPTING})"
        )
    bound = _module_names(tree)
    if "run_migrations" in bound and not _imports_seedchain(tree):
        raise ConfigurationError(
            f"{name} already defines a name run_migrations; rename it, then run seeds init again"
        )
    parents = _parents(tree)
    lines = source.splitlines(keepends=True)
    removed: list[ast.stmt] = []
    edits: list[tuple[int, int, list[str]]] = []
    for call in configures:
        body, first, last = _connection_block(call, parents, name)
        statement = body[first]
        indent = " " * statement.col_offset
        edits.append(
            (
                statement.lineno - 1,
                _end(body[last]),
                _render_call(indent, _arguments(call, source, name)),
            )
        )
        removed.extend(body[first : last + 1])
        for unused in _assignments_left_unused(tree, body[:first], removed):
            edits.append((unused.lineno - 1, _end(unused), []))
            removed.append(unused)
    for unused in _imports_left_unused(tree, removed):
        edits.append((unused.lineno - 1, _end(unused), []))
    if not _imports_seedchain(tree):
        module = "seeds.integrations.flask" if flask else "seeds"
        at = _import_position(tree)
        edits.append((at, at, [f"from {module} import run_migrations\n"]))
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        if not replacement and _blank(lines, start - 1) and _blank(lines, end):
            end += 1  # a removed line between two blank ones leaves one blank line
        lines[start:end] = replacement
    return "".join(lines)


def _is_context_call(node: ast.AST, attribute: str) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == attribute
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "context"
    )


def _imports_seedchain(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.ImportFrom)
        and (node.module or "").split(".")[0] == "seeds"
        and any(alias.name == "run_migrations" for alias in node.names)
        for node in tree.body
    )


def _module_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _parents(tree: ast.Module) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _statement_lists(node: ast.AST) -> Iterator[list[ast.stmt]]:
    for name in ("body", "orelse", "finalbody"):
        value = getattr(node, name, None)
        if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
            yield value


def _contains(statement: ast.stmt, predicate: str) -> bool:
    return any(_is_context_call(node, predicate) for node in ast.walk(statement))


def _connection_block(
    call: ast.Call, parents: dict[ast.AST, ast.AST], name: str
) -> tuple[list[ast.stmt], int, int]:
    """The statements from ``context.configure`` to ``context.run_migrations`` in one
    block, widened to the ``with engine.connect()`` around them when that is all the
    ``with`` holds."""
    statement: ast.AST = call
    while not isinstance(statement, ast.stmt):
        statement = parents[statement]
    parent = parents[statement]
    for body in _statement_lists(parent):
        if statement not in body:
            continue
        first = body.index(statement)
        last = next(
            (i for i in range(first, len(body)) if _contains(body[i], "run_migrations")), None
        )
        if last is None:
            break
        if first == 0 and last == len(body) - 1 and _is_connect_block(parent):
            return _connection_block_of(parent, parents)
        return body, first, last
    raise ConfigurationError(
        f"{name}: context.configure() at line {call.lineno} is not followed by "
        "context.run_migrations() in the same block; seeds init cannot rewrite it. Call "
        f"run_migrations() from seeds instead of both, by hand ({_ADOPTING})"
    )


def _connection_block_of(
    statement: ast.AST, parents: dict[ast.AST, ast.AST]
) -> tuple[list[ast.stmt], int, int]:
    parent = parents[statement]
    for body in _statement_lists(parent):
        if statement in body:
            index = body.index(statement)
            return body, index, index
    raise AssertionError("a statement is always in its parent's body")


def _is_connect_block(node: ast.AST) -> bool:
    return isinstance(node, ast.With) and all(
        isinstance(item.context_expr, ast.Call)
        and isinstance(item.context_expr.func, ast.Attribute)
        and item.context_expr.func.attr in {"connect", "begin"}
        for item in node.items
    )


def _arguments(call: ast.Call, source: str, name: str) -> list[str]:
    if call.args:
        raise ConfigurationError(
            f"{name}: context.configure() at line {call.lineno} takes positional arguments; "
            "name them, then run seeds init again"
        )
    arguments = []
    for keyword in call.keywords:
        text = ast.get_source_segment(source, keyword.value) or ""
        if keyword.arg is None:
            arguments.append(f"**{text}")
        elif keyword.arg in _OWNED:
            raise ConfigurationError(
                f"{name}: context.configure({keyword.arg}=...) at line {call.lineno}: "
                "Seedchain sets it from SCHEMA and the run; remove it, then run seeds init again"
            )
        elif keyword.arg not in _SUPPLIED:
            arguments.append(f"{keyword.arg}={text}")
    return arguments


def _render_call(indent: str, arguments: list[str]) -> list[str]:
    one_line = f"{indent}run_migrations({', '.join(arguments)})\n"
    if len(one_line) <= 80 and "\n" not in ", ".join(arguments):
        return [one_line]
    inner = indent + "    "
    return [
        f"{indent}run_migrations(\n",
        *(f"{inner}{argument},\n" for argument in arguments),
        f"{indent})\n",
    ]


def _loads(tree: ast.AST, name: str, outside: list[ast.stmt]) -> int:
    skipped = {id(node) for statement in outside for node in ast.walk(statement)}
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and node.id == name and id(node) not in skipped
    )


def _assignments_left_unused(
    tree: ast.Module, before: list[ast.stmt], removed: list[ast.stmt]
) -> list[ast.stmt]:
    """Plain ``name = ...`` statements whose name only the removed block used
    (the template's ``connectable`` and ``url``)."""
    unused: list[ast.stmt] = []
    for statement in before:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            target = statement.targets[0].id
            used_in_block = _loads(ast.Module(body=removed, type_ignores=[]), target, [])
            if used_in_block and _loads(tree, target, [*removed, statement]) == 0:
                unused.append(statement)
    return unused


def _imports_left_unused(tree: ast.Module, removed: list[ast.stmt]) -> list[ast.stmt]:
    """Module imports whose every name only removed statements used
    (the template's ``engine_from_config`` and ``pool``)."""
    unused: list[ast.stmt] = []
    block = ast.Module(body=removed, type_ignores=[])
    for statement in tree.body:
        if not isinstance(statement, ast.Import | ast.ImportFrom):
            continue
        names = [(a.asname or a.name).split(".")[0] for a in statement.names]
        if all(_loads(block, n, []) and _loads(tree, n, removed) == 0 for n in names):
            unused.append(statement)
    return unused


def _import_position(tree: ast.Module) -> int:
    """The line (0-based) after the module's leading imports."""
    at = 0
    for statement in tree.body:
        if isinstance(statement, ast.Import | ast.ImportFrom):
            at = _end(statement)
        elif isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            at = at or _end(statement)  # the docstring
        else:
            break
    return at


def _end(statement: ast.stmt) -> int:
    return statement.end_lineno or statement.lineno


def _blank(lines: list[str], index: int) -> bool:
    return 0 <= index < len(lines) and not lines[index].strip()
