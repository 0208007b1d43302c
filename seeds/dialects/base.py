"""The generic implementation: SQLAlchemy Core only, rows and keys through Python.

Dialects with more to offer (PostgreSQL) subclass :class:`GenericImpl` and override
only what differs, alembic's ``DefaultImpl`` way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from seeds.errors import OfflineUnsupported, SeedDataError
from seeds.runtime.ledger import ledger_keys
from seeds.runtime.validation import explain_integrity_error

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, CursorResult

log = logging.getLogger(__name__)

Row = Mapping[str, Any]

# Rows per statement: well under every driver's bound-parameter limit (PostgreSQL
# allows 65,535 per statement, SQLite 32,766) for tables of up to ~30 columns.
_PARAMS_PER_STATEMENT = 30_000


def rows_per_statement(columns: int) -> int:
    """How many rows of ``columns`` values fit one statement's parameters."""
    return max(1, min(1_000, _PARAMS_PER_STATEMENT // max(columns, 1)))


@dataclass(frozen=True)
class SequenceState:
    """Where a table's key sequence stood. ``last_value`` None: never used."""

    name: str
    last_value: int | None
    start: int


class Sink:
    """Where statements go: a live connection, or Alembic's ``--sql`` output.

    Args:
        connection: The migration's connection; None when offline.
        emit: Alembic's ``op.execute`` for offline rendering.
        revision: The seed revision, named in offline refusals.
    """

    def __init__(
        self,
        connection: Connection | None,
        emit: Callable[[sa.Executable], None],
        revision: str,
    ) -> None:
        self._connection = connection
        self._emit = emit
        self.revision = revision

    @property
    def offline(self) -> bool:
        """True when statements are rendered as SQL instead of run."""
        return self._connection is None

    @property
    def connection(self) -> Connection:
        """The live connection; offline this refuses, naming what needed it."""
        if self._connection is None:
            raise OfflineUnsupported(
                f"seed {self.revision} needs to read the database, which --sql cannot do; "
                "run it online, or make it insert-only (ctx.insert/ctx.ensure)"
            )
        return self._connection

    def execute(
        self, statement: sa.Executable, params: Row | Sequence[Row] | None = None
    ) -> CursorResult[Any] | None:
        """Run a statement online (returning its result) or render it offline.

        ``params``: one mapping, or a sequence of them (executemany); offline only
        statements with their values inside can be rendered, so none may be given.
        """
        if self._connection is None:
            if params is not None:
                msg = "offline statements carry their values; params cannot be rendered"
                raise ValueError(msg)
            self._emit(statement)
            return None
        if params is None:
            return self._connection.execute(statement)
        if isinstance(params, Mapping):
            return self._connection.execute(statement, dict(params))
        return self._connection.execute(statement, list(params))


def python_row_hash(values: Iterable[object]) -> str:
    """A stable hash of a row's values, the same on every machine."""
    text = json.dumps([_jsonable(v) for v in values], separators=(",", ":"))
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _jsonable(value: object) -> object:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value.normalize())
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return str(value)


def columns_in(
    columns: Sequence[sa.ColumnElement[Any]], keys: Iterable[Sequence[Any]]
) -> sa.ColumnElement[bool]:
    """``col IN (...)`` for one column, ``(a, b) IN ((...), ...)`` for several."""
    values = [tuple(key) for key in keys]
    if len(columns) == 1:
        return columns[0].in_([value[0] for value in values])
    return sa.tuple_(*columns).in_(values)


def single_integer_key(table: sa.Table) -> sa.Column[Any] | None:
    """The key column when the primary key is one integer column, else None."""
    columns = list(table.primary_key.columns)
    if len(columns) == 1 and isinstance(columns[0].type, sa.Integer):
        return columns[0]
    return None


class GenericImpl:
    """Seedchain's work on any SQLAlchemy dialect; SQLite and PostgreSQL subclass it."""

    name = "generic"
    # TRUNCATE ... RESTART IDENTITY CASCADE exists (PostgreSQL only).
    can_truncate = False

    # -- transaction setup -------------------------------------------------------
    def database_name(self, conn: Connection) -> str:
        """The name the protection override must give for this database."""
        return conn.engine.url.database or ""

    def enforce_foreign_keys(self, sink: Sink) -> None:
        """Make the database check foreign keys for this seed revision's own work.

        Called first thing in a seed revision's upgrade and downgrade, before any
        statement that could open a transaction. A no-op where they are always
        checked; SQLite checks them only when asked.
        """

    def prepare(self, sink: Sink) -> None:
        """Make the session deterministic for seeding (time zone and the like)."""

    def set_timeouts(self, conn: Connection, lock_timeout: str, statement_timeout: str) -> None:
        """Bound destructive statements in time; a no-op where there are no timeouts."""

    @contextlib.contextmanager
    def deploy_lock(self, conn: Connection, key: int, wait: str) -> Iterator[None]:
        """Serialise concurrent migration runs; a no-op without advisory locks."""
        yield

    # -- writing ----------------------------------------------------------------
    def insert_statement(self, table: sa.Table, conflict_on: Sequence[str] | None) -> sa.Insert:
        """An INSERT for ``table``; ``conflict_on`` asks to skip rows whose key exists."""
        if conflict_on:
            msg = (
                f"ctx.ensure() on table {table.name} needs INSERT ... ON CONFLICT, which "
                "the generic dialect support lacks; use PostgreSQL or SQLite"
            )
            raise NotImplementedError(msg)
        return sa.insert(table)

    def insert_recorded(
        self,
        sink: Sink,
        table: sa.Table,
        rows: Sequence[Row],
        *,
        hashed: Sequence[str],
        conflict_on: Sequence[str] | None,
        ledger_ref: sa.ColumnElement[Any],
    ) -> int | None:
        """Insert rows and record the keys (and value hashes) of those inserted.

        Returns how many rows were inserted (None offline, where nobody knows).
        """
        if sink.offline:
            raise OfflineUnsupported(
                f"seed {sink.revision}: --sql on {self.name} cannot record which rows "
                f"it inserts into {table.name} (only PostgreSQL renders that as SQL); "
                "run it online"
            )
        pk = list(table.primary_key.columns)
        statement = self.insert_statement(table, conflict_on).returning(
            *pk, *(table.c[name] for name in hashed)
        )
        result = sink.execute(statement, rows)
        assert result is not None
        inserted = result.all()
        if inserted:
            sink.execute(
                ledger_keys.insert().values(ledger_id=ledger_ref),
                [
                    {
                        "table_name": table.name,
                        "key": list(row[: len(pk)]),
                        "row_hash": python_row_hash(row[len(pk) :]),
                    }
                    for row in inserted
                ],
            )
        return len(inserted)

    def explain_integrity_error(
        self,
        sink: Sink,
        revision: str,
        table: sa.Table,
        rows: Sequence[Row],
        err: sa.exc.IntegrityError,
        *,
        offset: int = 0,
    ) -> SeedDataError:
        """Turn the database's refusal of a batch into an error naming the row and the fix.

        ``rows`` is the refused batch and ``offset`` its position in what the seed
        passed; the generic version reads the driver's diagnostics (SQLSTATE, key).
        """
        return explain_integrity_error(revision, table, rows, err, offset=offset)

    def adopt_recorded(
        self,
        conn: Connection,
        table: sa.Table,
        keys: Sequence[Sequence[Any]],
        *,
        hashed: Sequence[str],
        ledger_id: int,
    ) -> int:
        """Record existing rows (by key) as inserted by this run; return how many."""
        pk = list(table.primary_key.columns)
        found = 0
        for start in range(0, len(keys), 500):
            batch = [tuple(k) for k in keys[start : start + 500]]
            where = self._key_filter(table, batch)
            current = list(conn.execute(sa.select(*pk, *(table.c[n] for n in hashed)).where(where)))
            if current:
                conn.execute(
                    ledger_keys.insert(),
                    [
                        {
                            "ledger_id": ledger_id,
                            "table_name": table.name,
                            "key": list(row[: len(pk)]),
                            "row_hash": python_row_hash(row[len(pk) :]),
                        }
                        for row in current
                    ],
                )
            found += len(current)
        return found

    def refresh_hashes(
        self, conn: Connection, table: sa.Table, ledger_id: int, hashed: Sequence[str]
    ) -> None:
        """Re-hash recorded rows after the seed itself updated them (cycle loads)."""
        pk = list(table.primary_key.columns)
        k = ledger_keys.c
        for batch in self._batches(conn, table, ledger_id):
            where = self._key_filter(table, [row.key for row in batch])
            for row in conn.execute(sa.select(*pk, *(table.c[n] for n in hashed)).where(where)):
                conn.execute(
                    ledger_keys.update()
                    .where(
                        k.ledger_id == ledger_id,
                        k.table_name == table.name,
                        k.key == list(row[: len(pk)]),
                    )
                    .values(row_hash=python_row_hash(row[len(pk) :]))
                )

    def defer_constraints(self, conn: Connection, names: Sequence[str]) -> None:
        """Defer the named (DEFERRABLE) constraints to the end of the transaction."""
        if names:
            msg = f"{self.name} cannot defer constraints ({', '.join(names)})"
            raise NotImplementedError(msg)

    def bulk_write(
        self,
        conn: Connection,
        table: sa.Table,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
    ) -> int:
        """Write rows (tuples in ``columns`` order) in bounded batches; return the count."""
        statement = sa.insert(table)
        size = rows_per_statement(len(columns))
        count = 0
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(dict(zip(columns, row, strict=True)))
            if len(batch) >= size:
                conn.execute(statement, batch)
                count += len(batch)
                batch = []
        if batch:
            conn.execute(statement, batch)
            count += len(batch)
        return count

    def record_bulk_keys(
        self, conn: Connection, table: sa.Table, ledger_id: int, keys: Iterable[int]
    ) -> None:
        """Record the keys of bulk-written rows (no value hashes)."""
        payload = [{"ledger_id": ledger_id, "table_name": table.name, "key": [k]} for k in keys]
        for start in range(0, len(payload), 5_000):
            conn.execute(ledger_keys.insert(), payload[start : start + 5_000])

    def reserve_keys(
        self,
        conn: Connection,
        table: sa.Table,
        count: int,
        *,
        sequence: SequenceState | None,
        reserved_to: int = 0,
    ) -> list[int]:
        """Keys for ``count`` new rows, handed out before writing.

        Args:
            sequence: The table's key sequence, as the caller already read it.
            reserved_to: The highest key this run has handed out for the table and
                perhaps not written yet (without a sequence, max(key) cannot see it).
        """
        column = single_integer_key(table)
        if column is None:
            msg = f"table {table.name} has no single integer key to reserve"
            raise ValueError(msg)
        current = max(conn.scalar(sa.select(sa.func.max(column))) or 0, reserved_to)
        return list(range(current + 1, current + 1 + count))

    # -- undoing ------------------------------------------------------------------
    def _recorded_keys(self, conn: Connection, table: sa.Table, ledger_id: int) -> list[Any]:
        k = ledger_keys.c
        return list(
            conn.execute(
                sa.select(k.key, k.first_key, k.last_key, k.row_hash).where(
                    k.ledger_id == ledger_id, k.table_name == table.name
                )
            )
        )

    def _key_filter(self, table: sa.Table, keys: Sequence[Any]) -> sa.ColumnElement[bool]:
        return columns_in(list(table.primary_key.columns), keys)

    def _batches(self, conn: Connection, table: sa.Table, ledger_id: int) -> Iterator[list[Any]]:
        recorded = self._recorded_keys(conn, table, ledger_id)
        for start in range(0, len(recorded), 500):
            yield recorded[start : start + 500]

    def count_recorded(self, conn: Connection, table: sa.Table, ledger_id: int) -> int:
        """How many of the rows the run inserted into ``table`` are still there."""
        total = 0
        for batch in self._batches(conn, table, ledger_id):
            where = self._key_filter(table, [row.key for row in batch])
            total += conn.scalar(sa.select(sa.func.count()).select_from(table).where(where)) or 0
        return total

    def changed_rows(
        self, conn: Connection, table: sa.Table, ledger_id: int, hashed: Sequence[str]
    ) -> int:
        """How many recorded rows no longer hold the values the seed wrote."""
        pk = list(table.primary_key.columns)
        changed = 0
        for batch in self._batches(conn, table, ledger_id):
            expected = {tuple(row.key): row.row_hash for row in batch if row.row_hash}
            where = self._key_filter(table, list(expected))
            current = conn.execute(sa.select(*pk, *(table.c[name] for name in hashed)).where(where))
            for row in current:
                if python_row_hash(row[len(pk) :]) != expected.get(tuple(row[: len(pk)])):
                    changed += 1
        return changed

    def delete_recorded(self, conn: Connection, table: sa.Table, ledger_id: int) -> int:
        """Delete the rows the run inserted into ``table``; return how many."""
        deleted = 0
        for batch in self._batches(conn, table, ledger_id):
            where = self._key_filter(table, [row.key for row in batch])
            deleted += conn.execute(sa.delete(table).where(where)).rowcount
        return deleted

    def truncate(self, conn: Connection, tables: Sequence[sa.TableClause]) -> None:
        """TRUNCATE ... RESTART IDENTITY CASCADE; only dialects with ``can_truncate``."""
        msg = f"{self.name} has no TRUNCATE; the planner must choose the keyed delete"
        raise NotImplementedError(msg)

    def row_count(self, conn: Connection, table: sa.TableClause) -> int:
        """All rows of a table."""
        return conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0

    # -- sequences ----------------------------------------------------------------
    def sequence_state(self, conn: Connection, table: sa.Table) -> SequenceState | None:
        """The state of the table's key sequence; None where there is none to restore."""
        return None

    def restore_sequence(self, conn: Connection, state: SequenceState) -> None:
        """Put a key sequence back where it stood."""

    def rewind_sequence(self, conn: Connection, state: SequenceState, used_to: int | None) -> None:
        """Undo a rolled-back run's draws: restore ``state`` if the sequence is still at
        ``used_to`` (nobody else drew from it since)."""
