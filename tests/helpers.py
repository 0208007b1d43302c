"""Plain helpers shared by the tests: running Alembic and the console commands, reading rows.

Fixtures live in conftest.py; everything a test imports by name lives here, so no
test module imports conftest (pytest loads it under its own module name).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from seeds.runtime import ledger

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class Migrator:
    """Runs Alembic commands in-process against one database, as the CLI would.

    Args:
        url: The database.
        monkeypatch: Sets DATABASE_URL for the test.
        root: The project folder holding alembic.ini (default: this repository).
    """

    def __init__(
        self, url: str, monkeypatch: pytest.MonkeyPatch, root: Path = PROJECT_ROOT
    ) -> None:
        self.url = url
        self.root = root
        monkeypatch.setenv("DATABASE_URL", url)
        monkeypatch.delenv("APP_ENV", raising=False)
        monkeypatch.delenv("SCHEMA", raising=False)

    def config(self, **x_args: str) -> Config:
        cfg = Config(str(self.root / "alembic.ini"))
        x = {"env": "testing", **x_args}
        cfg.cmd_opts = argparse.Namespace(x=[f"{k}={v}" for k, v in x.items()])
        # pytest owns logging; env.py must not reconfigure it on every run.
        cfg.attributes["configure_logger"] = False
        return cfg

    def upgrade(self, revision: str = "head", **x_args: str) -> None:
        command.upgrade(self.config(**x_args), revision)

    def downgrade(self, revision: str = "base", **x_args: str) -> None:
        command.downgrade(self.config(**x_args), revision)

    def revisions(self) -> list[str]:
        """Every revision id from base to head, in order."""
        script = ScriptDirectory.from_config(self.config())
        return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def run_cli(
    *args: str, env: Mapping[str, str | None] | None = None, cwd: Path = PROJECT_ROOT
) -> subprocess.CompletedProcess[str]:
    """Run a console command (``alembic ...``, ``seeds ...``) as a user would."""
    full_env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "APP_ENV"}}
    for key, value in (env or {}).items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    # `pytest` is the console script, as a project runs its own tests; the rest as modules.
    if args[0] == "pytest":
        cmd = [str(Path(sys.executable).with_name("pytest")), *args[1:]]
    else:
        modules = {"alembic": "alembic", "seeds": "seeds", "flask": "flask"}
        cmd = [sys.executable, "-m", modules[args[0]], *args[1:]]
    return subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=300)


def rows(engine: sa.Engine, table: str) -> list[tuple[Any, ...]]:
    """Every row of ``table``, ordered by its first column."""
    star: sa.ColumnClause[Any] = sa.literal_column("*")
    query = sa.select(star).select_from(sa.table(table)).order_by(sa.text("1"))
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query)]


def version(engine: sa.Engine) -> str | None:
    """The revision alembic_version holds."""
    with engine.connect() as conn:
        revision: str | None = conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    return revision


def database_name(engine: sa.Engine) -> str:
    """The name the ledger stamps and an override must repeat (SQLite: the file's path)."""
    name = engine.url.database
    assert name, f"{engine.url!r} names no database"
    return name


def ledger_rows(engine: sa.Engine) -> list[sa.Row[Any]]:
    """Every ledger row, oldest first."""
    with engine.connect() as conn:
        return ledger.Ledger.on(conn).history()


def recorded_keys(engine: sa.Engine) -> list[tuple[str, list[Any]]]:
    """Every (table, key) the ledger records as seeded, sorted.

    The ledger stores an integer key as a range or any key as a JSON array; both
    read back as one entry per row, so a test states the keys and not the storage.
    A bulk row's hash row (``last_key`` NULL) is not a key: its range holds the key.
    """
    keys = ledger.ledger_keys
    query = sa.select(keys.c.table_name, keys.c.key, keys.c.first_key, keys.c.last_key)
    found: list[tuple[str, list[Any]]] = []
    with engine.connect() as conn:
        for table, key, first, last in conn.execute(query):
            if key is not None:
                found.append((table, key))
            elif last is not None:
                found.extend((table, [n]) for n in range(first, last + 1))
    return sorted(found)


def destructive(statements: list[str]) -> list[str]:
    """The DELETE and TRUNCATE statements among ``statements``."""
    return [s for s in statements if s.lstrip().upper().startswith(("DELETE", "TRUNCATE"))]


# Tables in a migrated database that hold no application data.
NOT_APPLICATION_TABLES = frozenset({"alembic_version", "spatial_ref_sys", *ledger.TABLE_NAMES})


def world(
    conn: sa.Connection,
    *,
    schema: str | None = None,
    leave_out: Mapping[str, Collection[Any]] | None = None,
) -> dict[str, list[tuple[tuple[str, Any], ...]]]:
    """Every application table's rows with the database's keys taken out.

    Two databases hold the same world when this is equal for both, whatever keys
    each handed out. A row's identity is its ordinal among its table's rows in key
    order (insertion order, for keys a sequence gives), and a foreign key becomes the
    referenced table and that row's ordinal; a table's own single integer key is
    dropped, since the row's place in the list already says it. Tables are reflected,
    so a new table or column is compared without touching this helper. Rows of tables
    without such a key (association tables) are sorted, as their order means nothing.

    Args:
        conn: A connection to the database.
        schema: The schema the application's tables are in (default: the search path).
        leave_out: Per table, primary key values of rows that are not part of the world
            (rows the application wrote); a reference to one of them stays visible
            as such instead of being mapped.
    """
    meta = sa.MetaData()
    meta.reflect(conn, schema=schema)
    tables = [t for t in meta.sorted_tables if t.name not in NOT_APPLICATION_TABLES]
    skipped = leave_out or {}
    kept: dict[str, list[sa.RowMapping]] = {}
    for table in tables:
        key = list(table.primary_key.columns)
        left_out = set(skipped.get(table.name, ()))
        found = conn.execute(sa.select(table).order_by(*key)).mappings().all()
        kept[table.name] = [r for r in found if _primary_key(r, key) not in left_out]
    captured: dict[str, list[tuple[tuple[str, Any], ...]]] = {}
    for table in tables:
        ordinals = {
            constraint: _ordinals(kept[constraint.referred_table.name], constraint)
            for constraint in table.foreign_key_constraints
        }
        surrogate = _surrogate_key(table)
        mapped = []
        for row in kept[table.name]:
            values = {name: value for name, value in row.items() if name != surrogate}
            for constraint, ordinal in ordinals.items():
                local = tuple(values.pop(column.name) for column in constraint.columns)
                if all(value is None for value in local):
                    reference: Any = None
                else:
                    referred = constraint.referred_table.name
                    reference = (referred, ordinal.get(local, ("not in the world", local)))
                values[",".join(column.name for column in constraint.columns)] = reference
            mapped.append(tuple(sorted(values.items())))
        captured[table.name] = mapped if surrogate else sorted(mapped, key=repr)
    return captured


def _primary_key(row: sa.RowMapping, key: list[sa.Column[Any]]) -> Any:
    """A row's primary key value: the value itself for one column, else a tuple."""
    values = tuple(row[column.name] for column in key)
    return values[0] if len(values) == 1 else values


def _ordinals(parents: list[sa.RowMapping], constraint: sa.ForeignKeyConstraint) -> dict[Any, int]:
    """The referenced columns' values of each parent row -> the row's ordinal."""
    referred = [element.column.name for element in constraint.elements]
    return {tuple(row[name] for name in referred): n for n, row in enumerate(parents)}


def _surrogate_key(table: sa.Table) -> str | None:
    """The name of the table's own single integer key (not also a foreign key), if any."""
    key = list(table.primary_key.columns)
    if len(key) == 1 and not key[0].foreign_keys and isinstance(key[0].type, sa.Integer):
        return key[0].name
    return None
