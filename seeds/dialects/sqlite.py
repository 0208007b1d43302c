"""SQLite: the generic implementation plus what SQLite does differently.

- Writing: ``INSERT ... ON CONFLICT DO NOTHING`` for ``ctx.ensure`` (SQLite 3.24) and
  ``RETURNING`` for the keys the ledger records (SQLite 3.35).
- Foreign keys: SQLite checks them only on a connection that ran ``PRAGMA
  foreign_keys = ON``, and a new connection has them off. A seed revision's upgrade and
  downgrade switch them on (:meth:`SqliteDialect.enforce_foreign_keys`), so a dangling
  reference fails the seed (leaving nothing behind) and the undo removes what ``ON DELETE CASCADE``
  says, or refuses to orphan rows, exactly as on PostgreSQL. The setting is
  put back when the next revision's transaction begins: schema revisions alter SQLite
  tables with Alembic's batch mode (copy, DROP, rename), and with enforcement on, the
  DROP of a referenced table deletes its children (or fails); Alembic's batch docs ask
  for the pragma to be off there.
- Undo: there is no TRUNCATE, so the planner always picks the keyed DELETE.
- Keys: an ``INTEGER PRIMARY KEY`` takes max(key) + 1, so up, down, up gives the same
  keys with nothing to restore; an ``AUTOINCREMENT`` table keeps its high-water mark
  in ``sqlite_sequence``, which is saved and restored like a PostgreSQL sequence.
- Errors: SQLite's constraint errors carry no key or row (``UNIQUE constraint failed:
  users.username``, ``FOREIGN KEY constraint failed``); the offending row of the batch
  is found by looking its values up, so the message names it as on PostgreSQL.
- What SQLite cannot do, said in the log or in the error: advisory locks (two runs at
  once on one file are not serialised: run migrations from one process at a time),
  lock and statement timeouts (the driver's busy timeout, 5 s by default, bounds lock
  waits), and ``--sql`` for seeds that insert (their keys can only be recorded online,
  so the ledger refuses with a one-line error).
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from seeds.dialects.base import (
    Dialect,
    SequenceState,
    columns_in,
    explain_constraint_error,
    single_integer_key,
)
from seeds.errors import ConfigurationError, SeedDataError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

_master = sa.table("sqlite_master", sa.column("type"), sa.column("name"), sa.column("sql"))
_sequence = sa.table("sqlite_sequence", sa.column("name"), sa.column("seq"))

# Only the SQL text of a table tells whether its key is AUTOINCREMENT (no pragma or
# reflection reports it); a false match costs one no-op DELETE on sqlite_sequence.
_AUTOINCREMENT = re.compile(r"\bAUTOINCREMENT\b", re.IGNORECASE)

_READ_FOREIGN_KEYS = sa.text("PRAGMA foreign_keys")
_FOREIGN_KEYS_ON = sa.text("PRAGMA foreign_keys = ON")
_FOREIGN_KEYS_OFF = "PRAGMA foreign_keys = OFF"

# sqlite3.IntegrityError.sqlite_errorname (Python 3.11+) -> what to do about it.
_HINTS = {
    "SQLITE_CONSTRAINT_FOREIGNKEY": "seed the referenced row first, or fix the reference",
    "SQLITE_CONSTRAINT_UNIQUE": (
        "the row already exists; use ctx.ensure(..., key=[...]) or change the value"
    ),
    "SQLITE_CONSTRAINT_PRIMARYKEY": (
        "the row already exists; use ctx.ensure(..., key=[...]) or change the value"
    ),
    "SQLITE_CONSTRAINT_NOTNULL": "give the column a value",
    "SQLITE_CONSTRAINT_CHECK": "fix the value so the CHECK constraint holds",
}

Row = Mapping[str, Any]
Culprit = tuple[int, str, str]  # (row index in the batch, column, what is wrong)


def _foreign_keys_off(conn: Connection) -> None:
    # A "begin" event: the previous revision has committed and SQLite is outside any
    # transaction, the only place where the pragma takes effect.
    conn.exec_driver_sql(_FOREIGN_KEYS_OFF)
    log.debug("sqlite: foreign key enforcement back off for the next revision")


class SqliteDialect(Dialect):
    """SQLite (3.35 or newer, for RETURNING)."""

    name = "sqlite"

    # -- transaction setup -------------------------------------------------------
    def enforce_foreign_keys(self, revision: str) -> None:
        if self.offline:
            return
        conn = self.connection
        if conn.scalar(_READ_FOREIGN_KEYS):
            return  # on already (a connect hook of the project's own): leave it so
        conn.execute(_FOREIGN_KEYS_ON)
        if not conn.scalar(_READ_FOREIGN_KEYS):
            raise ConfigurationError(
                f"seed {revision}: SQLite did not switch on foreign key enforcement "
                "(PRAGMA foreign_keys = ON has no effect inside a transaction, and none in "
                "a SQLite built without foreign keys); seeds need it to refuse dangling "
                "references and to undo exactly. Run the migration on a connection that "
                "is not already in a transaction"
            )
        sa.event.listen(conn, "begin", _foreign_keys_off, once=True)
        log.debug("sqlite: foreign key enforcement on for seed %s", revision)

    def set_timeouts(self, lock_timeout: str, statement_timeout: str) -> None:
        log.info(
            "sqlite has no lock_timeout or statement_timeout; lock waits are bounded by "
            "the driver's busy timeout (sqlite3 timeout=, 5 s by default)"
        )

    @contextlib.contextmanager
    def deploy_lock(self, key: int, wait: str) -> Iterator[None]:
        log.info(
            "sqlite has no advisory locks: concurrent runs on one file are not "
            "serialised; run migrations from one process at a time"
        )
        yield

    def key_matches(
        self, columns: Sequence[sa.ColumnElement[Any]], stored: sa.ColumnElement[Any]
    ) -> sa.ColumnElement[bool]:
        # The ledger stores a composite key as JSON text; json() normalises its spacing
        # to what json_array() writes.
        return sa.func.json(stored) == sa.func.json_array(*columns)

    # -- writing ----------------------------------------------------------------
    def insert_statement(self, table: sa.Table, conflict_on: Sequence[str] | None) -> sa.Insert:
        statement = sqlite_insert(table)
        if conflict_on:
            statement = statement.on_conflict_do_nothing(index_elements=list(conflict_on))
        return statement

    def explain_integrity_error(
        self,
        revision: str,
        table: sa.Table,
        rows: Sequence[Row],
        err: sa.exc.IntegrityError,
        *,
        offset: int = 0,
    ) -> SeedDataError:
        kind = getattr(err.orig, "sqlite_errorname", "") or ""
        message = str(err.orig).splitlines()[0]
        culprit: Culprit | None = None
        if rows and not self.offline:
            # A failed statement rolls back only itself in SQLite, so the transaction is
            # still usable for the look-ups that find the row; and ``rows`` went in as
            # one statement (insert_recorded's batches fit one multi-row INSERT), so
            # none of them is in the table to be mistaken for the culprit.
            conn = self.connection
            if kind in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
                culprit = _existing_key(conn, table, rows, _failed_columns(message, table))
            elif kind == "SQLITE_CONSTRAINT_FOREIGNKEY":
                culprit = _dangling_reference(conn, table, rows)
            elif kind == "SQLITE_CONSTRAINT_NOTNULL":
                culprit = _null_value(rows, _failed_columns(message, table))
        hint = _HINTS.get(kind, "fix the row")
        if culprit is None:
            return explain_constraint_error(message, hint, revision=revision, table=table.name)
        index, column, detail = culprit
        return explain_constraint_error(
            f"{message} ({detail})",
            hint,
            revision=revision,
            table=table.name,
            column=column,
            row_index=offset + index,
        )

    # -- sequences ----------------------------------------------------------------
    def sequence_state(self, table: sa.Table) -> SequenceState | None:
        conn = self.connection
        if single_integer_key(table) is None or not _has_sequence_table(conn):
            return None
        last = conn.scalar(sa.select(_sequence.c.seq).where(_sequence.c.name == table.name))
        if last is None:
            ddl = conn.scalar(
                sa.select(_master.c.sql).where(
                    _master.c.type == "table", _master.c.name == table.name
                )
            )
            if not _AUTOINCREMENT.search(ddl or ""):
                return None  # a plain INTEGER PRIMARY KEY: max(key) + 1, nothing to keep
        return SequenceState(name=table.name, last_value=last, start=1)

    def restore_sequence(self, state: SequenceState) -> None:
        conn = self.connection
        where = _sequence.c.name == state.name
        if state.last_value is None:
            conn.execute(sa.delete(_sequence).where(where))
        else:
            conn.execute(sa.update(_sequence).where(where).values(seq=state.last_value))


def _has_sequence_table(conn: Connection) -> bool:
    # SQLite creates sqlite_sequence with the first AUTOINCREMENT table.
    query = sa.select(sa.func.count()).where(
        _master.c.type == "table", _master.c.name == "sqlite_sequence"
    )
    return bool(conn.scalar(query))


def _failed_columns(message: str, table: sa.Table) -> list[str]:
    """The columns of ``UNIQUE constraint failed: users.a, users.b`` (table prefix off)."""
    _, _, listed = message.partition(": ")
    prefix = f"{table.name}."
    names = [part.strip().removeprefix(prefix) for part in listed.split(",")]
    return [name for name in names if name in table.c]


def _candidates(rows: Sequence[Row], columns: Sequence[str]) -> list[tuple[int, tuple[Any, ...]]]:
    """(index, values) of the rows that set every one of ``columns`` to a value."""
    return [
        (index, tuple(row[c] for c in columns))
        for index, row in enumerate(rows)
        if all(row.get(c) is not None for c in columns)
    ]


def _describe(columns: Sequence[str], values: tuple[Any, ...]) -> str:
    shown = (repr(v) if isinstance(v, str) else str(v) for v in values)
    return ", ".join(f"{c}={v}" for c, v in zip(columns, shown, strict=True))


def _existing_key(
    conn: Connection, table: sa.Table, rows: Sequence[Row], columns: list[str]
) -> Culprit | None:
    """The first row whose unique ``columns`` are taken by a row already in the table."""
    candidates = _candidates(rows, columns)
    if not columns or not candidates:
        return None
    selected = [table.c[c] for c in columns]
    query = sa.select(*selected).where(columns_in(selected, [key for _, key in candidates]))
    taken = {tuple(found) for found in conn.execute(query)}
    for index, key in candidates:
        if key in taken:
            return index, columns[0], f"{_describe(columns, key)} already exists"
    return None


def _dangling_reference(conn: Connection, table: sa.Table, rows: Sequence[Row]) -> Culprit | None:
    """The first row whose foreign key names no row of the referenced table."""
    inspector = sa.inspect(conn)
    for fk in inspector.get_foreign_keys(table.name, schema=table.schema):
        columns = list(fk["constrained_columns"])
        referred = fk["referred_table"]
        schema = fk.get("referred_schema")
        referred_columns = list(fk["referred_columns"]) or list(
            inspector.get_pk_constraint(referred, schema=schema)["constrained_columns"]
        )
        candidates = _candidates(rows, columns)
        if not candidates or len(referred_columns) != len(columns):
            continue
        # Typed like the referencing columns, so values bind as they were stored.
        parent = sa.table(
            referred,
            *(
                sa.column(name, table.c[own].type if own in table.c else None)
                for name, own in zip(referred_columns, columns, strict=True)
            ),
            schema=schema,
        )
        selected = list(parent.c)
        query = sa.select(*selected).where(columns_in(selected, [key for _, key in candidates]))
        present = {tuple(found) for found in conn.execute(query)}
        if referred == table.name:  # a tree: rows of the same statement count too
            present |= {key for _, key in _candidates(rows, referred_columns)}
        for index, key in candidates:
            if key not in present:
                target = f"{referred}({', '.join(referred_columns)})"
                return index, columns[0], f"{_describe(columns, key)} has no row in {target}"
    return None


def _null_value(rows: Sequence[Row], columns: list[str]) -> Culprit | None:
    for column in columns:
        for index, row in enumerate(rows):
            if row.get(column) is None:
                return index, column, "no value"
    return None
