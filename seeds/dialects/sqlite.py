"""SQLite: the generic implementation plus ``INSERT ... ON CONFLICT DO NOTHING``.

SQLite has no TRUNCATE (undo is always the keyed delete) and reuses max(rowid)+1 for
new keys, so nothing needs restoring for up, down, up to give the same keys.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from seeds.dialects.base import GenericImpl


class SqliteImpl(GenericImpl):
    """SQLite (3.35 or newer, for RETURNING)."""

    name = "sqlite"

    def insert_statement(self, table: sa.Table, conflict_on: Sequence[str] | None) -> sa.Insert:
        statement = sqlite_insert(table)
        if conflict_on:
            statement = statement.on_conflict_do_nothing(index_elements=list(conflict_on))
        return statement
