"""The schema at head is the models: Alembic's comparison plus names it does not check."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import seeds
from app.models import Base
from tests.helpers import Migrator


def test_autogenerate_finds_no_difference(migrator: Migrator, engine: sa.Engine) -> None:
    migrator.upgrade("head")
    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                # What every project wired to Seedchain gets: no ledger or PostGIS tables.
                "include_name": seeds.include_name,
                "include_object": seeds.include_object,
            },
        )
        assert compare_metadata(ctx, Base.metadata) == []


def _reflected_names(conn: sa.Connection, table: str) -> dict[str, Any]:
    inspector = sa.inspect(conn)
    pk = inspector.get_pk_constraint(table)
    return {
        "pk": (pk["name"], tuple(pk["constrained_columns"])),
        "unique": {
            (u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)
        },
        "check": {c["name"] for c in inspector.get_check_constraints(table)},
        "fk": {
            (
                f["name"],
                tuple(f["constrained_columns"]),
                f["referred_table"],
                f["options"].get("ondelete"),
            )
            for f in inspector.get_foreign_keys(table)
        },
        "index": {
            (
                i["name"],
                tuple(i["column_names"]),
                bool(i["unique"]),
                (i.get("dialect_options", {}).get("postgresql_using") or "btree"),
            )
            for i in inspector.get_indexes(table)
            if not i.get("duplicates_constraint")
        },
    }


def _model_names(table: sa.Table) -> dict[str, Any]:
    return {
        "pk": (table.primary_key.name, tuple(c.name for c in table.primary_key.columns)),
        "unique": {
            (c.name, tuple(col.name for col in c.columns))
            for c in table.constraints
            if isinstance(c, sa.UniqueConstraint)
        },
        "check": {c.name for c in table.constraints if isinstance(c, sa.CheckConstraint)},
        "fk": {
            (
                fk.name,
                tuple(e.parent.name for e in fk.elements),
                fk.referred_table.name,
                fk.ondelete.upper() if fk.ondelete else None,
            )
            for fk in table.foreign_key_constraints
        },
        "index": {
            (
                i.name,
                tuple(c.name for c in i.columns),
                bool(i.unique),
                i.dialect_options["postgresql"].get("using") or "btree",
            )
            for i in table.indexes
        },
    }


def test_constraint_and_index_names_methods_and_ondelete_match(
    migrator: Migrator, engine: sa.Engine
) -> None:
    # compare_metadata checks neither CHECK constraints nor the index method (a
    # GiST index recreated as btree passes it), so compare those names directly.
    migrator.upgrade("head")
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            assert _reflected_names(conn, table.name) == _model_names(table), table.name


def test_every_foreign_key_column_is_indexed() -> None:
    for table in Base.metadata.sorted_tables:
        leading = {tuple(c.name for c in i.columns)[0] for i in table.indexes}
        leading.add(next(iter(table.primary_key.columns)).name)
        for fk in table.foreign_key_constraints:
            assert fk.column_keys[0] in leading, f"{table.name}.{fk.column_keys[0]} has no index"
            assert fk.ondelete, f"{table.name}.{fk.name} has no explicit ON DELETE"
