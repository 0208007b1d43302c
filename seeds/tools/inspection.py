"""Read-only questions about a database: which tables, how many rows, which revision."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

from seeds.runtime.ledger import TABLE_NAMES as _LEDGER_TABLES

# Tables PostGIS, Alembic and Seedchain keep for themselves; not application data.
_SYSTEM_TABLES = frozenset({"spatial_ref_sys", "alembic_version", *_LEDGER_TABLES})


def table_row_counts(conn: Connection, schema: str | None) -> tuple[str | None, dict[str, int]]:
    """Return the Alembic revision and the row count of every application table.

    Args:
        conn: An open connection.
        schema: The schema to look in, or None for the connection's default.
    """
    inspector = sa.inspect(conn)
    names = sorted(set(inspector.get_table_names(schema=schema)) - _SYSTEM_TABLES)
    counts = {
        name: conn.scalar(sa.select(sa.func.count()).select_from(sa.table(name, schema=schema)))
        or 0
        for name in names
    }
    revision = None
    if inspector.has_table("alembic_version", schema=schema):
        version = sa.table("alembic_version", sa.column("version_num"), schema=schema)
        revision = ", ".join(conn.scalars(sa.select(version.c.version_num)))
    return revision or None, counts
