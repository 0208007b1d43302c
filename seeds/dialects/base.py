"""The generic dialect: SQLAlchemy Core only, bound to one run's connection or ``--sql`` output.

A :class:`Dialect` is made once per run (see :func:`seeds.dialects.bind`) and holds
where statements go: a live connection, or Alembic's offline writer. Everything else
in Seedchain asks it for SQL or hands it a statement to run; nothing else asks which
database it is talking to. Dialects with more to offer (PostgreSQL) subclass it and
override only what differs, the way Alembic's ``DefaultImpl`` subclasses do.

Dialects know nothing of the ledger or of seed revisions: they import only
:mod:`seeds.errors`. Messages that must name a revision get it as an argument.
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
from typing import TYPE_CHECKING, Any, ClassVar

import sqlalchemy as sa

from seeds.errors import OfflineUnsupported, SeedDataError, UnsupportedByDialect, first_line

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, CursorResult

log = logging.getLogger(__name__)

Row = Mapping[str, Any]
Emit = Callable[[sa.Executable], None]

# Rows per statement: well under every driver's bound-parameter limit (PostgreSQL
# allows 65,535 per statement, SQLite 32,766) for tables of up to ~30 columns.
_PARAMS_PER_STATEMENT = 30_000


# Column types whose Python values the driver sends as they are: no bind-time SQL
# (GeoAlchemy2's ST_GeomFromEWKT) and no serialisation (JSON). Such values can travel
# as arrays to unnest, or as COPY rows.
PLAIN_TYPES = (
    sa.String,
    sa.Integer,
    sa.Numeric,  # Float included
    sa.Boolean,
    sa.Date,
    sa.DateTime,
    sa.Time,
    sa.Interval,
    sa.Uuid,
)


def rows_per_statement(columns: int) -> int:
    """How many rows of ``columns`` values fit one statement's parameters."""
    return max(1, min(1_000, _PARAMS_PER_STATEMENT // max(columns, 1)))


@dataclass(frozen=True)
class SequenceState:
    """Where a table's key sequence stood. ``last_value`` None: never used."""

    name: str
    last_value: int | None
    start: int


@dataclass(frozen=True)
class DeferredIndex:
    """A secondary index dropped for a big load, as the database defined it."""

    name: str
    definition: str  # CREATE [UNIQUE] INDEX ..., as the database prints it
    constraint: str | None  # the UNIQUE constraint it backed, re-attached after the build


def python_row_hash(values: Iterable[object]) -> str:
    """A stable hash of a row's values, the same on every machine."""
    text = json.dumps([_jsonable(v) for v in values], separators=(",", ":"))
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def hash_number(row_hash: str) -> int:
    """The first 64 bits of a hex row hash as a signed 64-bit number (a packed hash)."""
    value = int(row_hash[:16], 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def python_key_checksum(text: str) -> int:
    """A stored key's text as a 60-bit integer (the first 15 hex digits of its md5).

    Summed over a run's keys, it lets the ledger notice keys edited or removed since.
    """
    return int(hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()[:15], 16)


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


def explain_constraint_error(
    message: str,
    hint: str,
    *,
    revision: str,
    table: str,
    column: str | None = None,
    row_index: int | None = None,
) -> SeedDataError:
    """The error every dialect returns for a refused row: the database's words plus the fix."""
    return SeedDataError(
        f"{message}; {hint}", revision=revision, table=table, column=column, row_index=row_index
    )


class Dialect:
    """Seedchain's SQL on any SQLAlchemy database, bound to one run.

    Args:
        connection: The run's connection; None when rendering ``--sql``.
        sa_dialect: The SQLAlchemy dialect (taken from the connection when there is one).
        emit: Where offline statements go (Alembic's ``context.execute``).
    """

    name: ClassVar[str] = "generic"
    # TRUNCATE ... RESTART IDENTITY CASCADE exists.
    can_truncate: ClassVar[bool] = False
    # An INSERT ... RETURNING can feed another INSERT in the same statement (a
    # data-modifying CTE): rows and their ledger keys are written as one statement,
    # online and in --sql output alike.
    records_in_one_statement: ClassVar[bool] = False
    # True where bulk_write streams rows with COPY (else it batches INSERTs, and
    # SeedContext.insert does not route loads through it).
    can_copy: ClassVar[bool] = False
    # Schema changes roll back with the transaction, so a dry run of a whole chain
    # (`seeds plan`) can leave nothing behind.
    transactional_ddl: ClassVar[bool] = False

    def __init__(
        self,
        connection: Connection | None,
        *,
        sa_dialect: sa.Dialect | None = None,
        emit: Emit | None = None,
    ) -> None:
        if connection is None and (sa_dialect is None or emit is None):
            msg = "an offline dialect needs the SQLAlchemy dialect and an emit function"
            raise TypeError(msg)
        self._connection = connection
        self.sa_dialect: sa.Dialect = connection.dialect if connection is not None else sa_dialect  # type: ignore[assignment]
        self._emit = emit

    # -- where statements go ------------------------------------------------------
    @property
    def offline(self) -> bool:
        """True when statements are rendered as SQL instead of run."""
        return self._connection is None

    def connection_for(self, what: str, hint: str = "run it online") -> Connection:
        """The live connection; offline this refuses, naming ``what`` needed it."""
        if self._connection is None:
            raise OfflineUnsupported(
                f"{what} needs to read the database, which --sql cannot do; {hint}"
            )
        return self._connection

    @property
    def connection(self) -> Connection:
        """The live connection (online only)."""
        return self.connection_for("this step")

    def execute(
        self, statement: sa.Executable, params: Row | Sequence[Row] | None = None
    ) -> CursorResult[Any] | None:
        """Run a statement online (returning its result) or render it offline.

        ``params``: one mapping, or a sequence of them (executemany). Offline only
        statements with their values inside can be rendered, so none may be given.
        """
        if self._connection is None:
            if params is not None:
                raise OfflineUnsupported(
                    "a statement with separate parameters cannot be rendered by --sql; "
                    "run it online"
                )
            assert self._emit is not None  # checked in __init__
            self._emit(statement)
            return None
        if params is None:
            return self._connection.execute(statement)
        if isinstance(params, Mapping):
            return self._connection.execute(statement, dict(params))
        return self._connection.execute(statement, list(params))

    def run(self, statement: sa.Executable, params: Row | Sequence[Row] | None = None) -> Any:
        """Execute online and return the result (statements that must read)."""
        result = self.execute(statement, params)
        assert result is not None  # offline callers use execute()
        return result

    def scalar(self, statement: sa.Executable) -> Any:
        """The first column of the first row (online only)."""
        return self.connection.scalar(statement)

    def log_sql(self, statement: sa.ClauseElement) -> None:
        """Log a destructive statement at INFO exactly as it runs (values inlined)."""
        compiled = statement.compile(
            dialect=self.sa_dialect, compile_kwargs={"literal_binds": True}
        )
        log.info("%s", " ".join(str(compiled).split()))

    # -- session setup ------------------------------------------------------------
    def database_name(self) -> str:
        """The name the protection override must give for this database."""
        return self.connection.engine.url.database or ""

    @classmethod
    def search_path_statement(cls, sa_dialect: sa.Dialect, schema: str) -> sa.Select[Any]:
        """The statement that puts ``schema`` first on the session's search path."""
        raise UnsupportedByDialect(
            f"SCHEMA={schema!r}: {cls.name} has no schemas to put tables in; unset SCHEMA"
        )

    @classmethod
    def prepare_offline(cls, sa_dialect: sa.Dialect) -> None:
        """Set up a SQLAlchemy dialect that renders ``--sql`` with no server to ask."""

    @classmethod
    def schema_statements(cls, sa_dialect: sa.Dialect, schema: str) -> list[sa.Executable]:
        """Statements that create ``schema`` and put it first on the search path."""
        return [cls.search_path_statement(sa_dialect, schema)]

    @classmethod
    def script_guard(
        cls, version_table: sa.TableClause, start: str | None
    ) -> sa.Select[Any] | None:
        """For the top of a ``--sql`` script: a statement that fails unless the database
        is where the script starts (``start``, None for an empty database), so a script
        applied twice, or to the wrong database, stops there. None where it cannot be
        said in one statement."""
        return None

    def enforce_foreign_keys(self, revision: str) -> None:
        """Make the database check foreign keys for one seed revision's own work.

        Called first in a seed revision's upgrade and downgrade, before any statement
        that could open a transaction. A no-op where they are always checked.
        """

    def prepare(self) -> None:
        """Make the session deterministic for seeding (time zone and the like)."""

    def set_timeouts(self, lock_timeout: str, statement_timeout: str) -> None:
        """Bound destructive statements in time; a no-op where there are no timeouts."""

    def set_session_lock_timeout(self, lock_timeout: str) -> None:
        """Bound every lock wait of the session (schema steps included); a no-op where
        there are no lock timeouts."""

    @contextlib.contextmanager
    def deploy_lock(self, key: int, wait: str) -> Iterator[None]:
        """Serialise concurrent migration runs; a no-op without advisory locks."""
        yield

    def begin_read_only(self) -> None:
        """Make the transaction just begun one read-only snapshot, where the database can."""

    def defer_all_constraints(self) -> None:
        """Check deferrable constraints at the end of the transaction, where it can."""

    def check_deferred_constraints(self) -> None:
        """Check the deferred constraints now (errors surface here, not at COMMIT)."""

    # -- writing ------------------------------------------------------------------
    def insert_statement(self, table: sa.Table, conflict_on: Sequence[str] | None) -> sa.Insert:
        """An INSERT for ``table``; ``conflict_on`` asks to skip rows whose key exists."""
        if conflict_on:
            raise UnsupportedByDialect(
                f"ctx.ensure() on table {table.name} needs INSERT ... ON CONFLICT, which "
                f"Seedchain's {self.name} support lacks; use PostgreSQL or SQLite"
            )
        return sa.insert(table)

    def insert_source(
        self, table: sa.Table, rows: Sequence[Row], conflict_on: Sequence[str] | None
    ) -> tuple[sa.Insert, dict[str, Any] | None]:
        """One INSERT of ``rows`` with their values inside (or in the returned params)."""
        return self.insert_statement(table, conflict_on).values(list(rows)), None

    def row_hash(self, columns: Iterable[sa.ColumnElement[Any]]) -> sa.ColumnElement[str] | None:
        """The server-side hash of a row's values; None where rows are hashed in Python."""
        return None

    def packed_hashes(
        self, hashes: sa.ColumnElement[str], order_by: sa.ColumnElement[Any]
    ) -> sa.ColumnElement[Any] | None:
        """An aggregate of the first 64 bits of each of ``hashes`` (as signed numbers,
        NULL kept) into an array in ``order_by`` order; None where the database cannot
        (bulk rows are then hashed in Python, see :func:`hash_number`)."""
        return None

    def unpacked(self, packed: sa.ColumnElement[Any]) -> Any | None:
        """``packed`` (from :meth:`packed_hashes`) as a set of (hash, n) rows, n counting
        from 1; None where the database cannot."""
        return None

    def hash_number(self, hashed: sa.ColumnElement[str]) -> sa.ColumnElement[int] | None:
        """The first 64 bits of a row hash as a signed number, as packed."""
        return None

    def key_text(self, columns: Sequence[sa.ColumnElement[Any]]) -> sa.ColumnElement[Any] | None:
        """A composite key as the JSON text the ledger stores, computed by the server."""
        return None

    def key_series(
        self, first: sa.ColumnElement[Any], last: sa.ColumnElement[Any]
    ) -> sa.ColumnElement[Any] | None:
        """The integers from ``first`` to ``last`` as a set-returning expression; None
        where the database has none (ranges are then matched with BETWEEN)."""
        return None

    def key_matches(
        self, columns: Sequence[sa.ColumnElement[Any]], stored: sa.ColumnElement[Any]
    ) -> sa.ColumnElement[bool] | None:
        """``columns`` equal to the stored JSON key, in SQL; None where it cannot be said."""
        return None

    def key_checksum(self, stored: sa.ColumnElement[Any]) -> sa.ColumnElement[int] | None:
        """A stored JSON key's text as a 60-bit integer, in SQL, the same number as
        :func:`python_key_checksum`; None where keys are summed in Python."""
        return None

    def describe_error(self, err: sa.exc.DBAPIError) -> str:
        """The database's refusal of any statement, in one line."""
        return first_line(err)

    def explain_integrity_error(
        self,
        revision: str,
        table: sa.Table,
        rows: Sequence[Row],
        err: sa.exc.IntegrityError,
        *,
        offset: int = 0,
    ) -> SeedDataError:
        """Turn the database's refusal of a batch into an error naming the row and the fix.

        ``rows`` is the refused batch and ``offset`` its position in what the seed passed.
        """
        message = str(err.orig).splitlines()[0]
        return explain_constraint_error(message, "fix the row", revision=revision, table=table.name)

    def explain_write_error(
        self,
        revision: str,
        table: sa.Table,
        rows: Sequence[Row],
        err: sa.exc.DBAPIError,
        *,
        offset: int = 0,
    ) -> SeedDataError | None:
        """The row and column of ``rows`` that a non-constraint error of the batch's
        insert is about, as an error; None when the error is not about the rows (the
        run explains it) or nothing says which row."""
        return None

    def explain_bulk_error(
        self,
        revision: str,
        table: sa.Table,
        columns: Sequence[str],
        err: sa.exc.DBAPIError,
        *,
        last_row: Sequence[Any] | None,
        last_index: int,
        first_index: int = 0,
        rows: Sequence[Sequence[Any]] = (),
    ) -> SeedDataError | None:
        """Turn the database's refusal of a bulk load into an error naming what it can;
        None for what is not about the rows (a lost connection, a timeout), which the
        run explains.

        ``last_row`` is the last row handed to the driver, at position ``last_index`` of
        what the seed passed (the rows are streamed: earlier ones are not kept);
        ``first_index`` is the position of the first row of the refused COPY, whose
        rows (in ``columns`` order) are ``rows`` where the caller kept them.
        """
        if err.connection_invalidated:
            return None
        if isinstance(err, sa.exc.IntegrityError):
            return self.explain_integrity_error(revision, table, [], err)
        return explain_constraint_error(
            first_line(err),
            "fix the rows",
            revision=revision,
            table=table.name,
        )

    def defer_constraints(self, names: Sequence[str]) -> None:
        """Defer the named (DEFERRABLE) constraints to the end of the transaction."""
        if names:
            raise UnsupportedByDialect(
                f"{self.name} cannot defer constraints ({', '.join(names)}); make one "
                "foreign key of the cycle nullable so the rows can be loaded in two steps"
            )

    def bulk_write(
        self,
        table: sa.Table,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        before_end: Callable[[], None] | None = None,
    ) -> int:
        """Write rows (tuples in ``columns`` order) in bounded batches; return the count.

        ``before_end`` is called once every row is sent and before the write is waited
        for (a COPY's end): work the caller does there overlaps the database's.
        """
        conn = self.connection
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
        if before_end is not None:
            before_end()
        return count

    def defer_indexes(self, table: sa.Table) -> list[DeferredIndex]:
        """Drop ``table``'s secondary indexes for a big load into it (it is empty) and
        return what :meth:`restore_indexes` needs; [] where nothing is deferred."""
        return []

    def restore_indexes(self, table: sa.Table, deferred: Sequence[DeferredIndex]) -> None:
        """Build the deferred indexes again (one sorted pass each) and refresh the
        planner's statistics of ``table``."""

    def reserve_keys(
        self, table: sa.Table, count: int, *, sequence: SequenceState | None, reserved_to: int = 0
    ) -> Sequence[int]:
        """Keys for ``count`` new rows, handed out before writing: a ``range`` when
        they follow on.

        Args:
            sequence: The table's key sequence, as the caller already read it.
            reserved_to: The highest key this run has handed out for the table and
                perhaps not written yet (without a sequence, max(key) cannot see it).
        """
        column = single_integer_key(table)
        if column is None:
            raise UnsupportedByDialect(
                f"reserve_keys() on table {table.name}: its primary key is not one integer "
                "column; give such rows their keys yourself"
            )
        current = max(self.scalar(sa.select(sa.func.max(column))) or 0, reserved_to)
        return range(current + 1, current + 1 + count)

    # -- removing -----------------------------------------------------------------
    def truncate(self, tables: Sequence[sa.TableClause]) -> None:
        """TRUNCATE ... RESTART IDENTITY CASCADE; only dialects with ``can_truncate``."""
        raise UnsupportedByDialect(
            f"{self.name} has no TRUNCATE; the undo uses the keyed delete there"
        )

    def row_count(self, table: sa.TableClause) -> int:
        """All rows of a table."""
        return self.scalar(sa.select(sa.func.count()).select_from(table)) or 0

    # -- sequences ----------------------------------------------------------------
    def sequence_state(self, table: sa.Table) -> SequenceState | None:
        """The state of the table's key sequence; None where there is none to restore."""
        return None

    def restore_sequence(self, state: SequenceState) -> None:
        """Put a key sequence back where it stood."""

    def lock_holders(
        self, err: sa.exc.DBAPIError, tables: Sequence[sa.Table], schema: str | None
    ) -> list[str]:
        """When ``err`` is a lock or statement timeout: the other sessions holding locks
        on ``tables``, one description each, asked on a connection of its own (this one
        is in a failed transaction). Empty otherwise, or where the database cannot say."""
        return []

    def hold_inserts(self, table: sa.Table) -> None:
        """Wait for other sessions' open inserts into ``table`` and hold new ones off
        until this transaction ends, so a look at its highest key sees every key
        drawn. Nothing to do where writers are already serialised (SQLite)."""

    def rewind_sequence(self, state: SequenceState, used_to: int | None) -> None:
        """Undo a rolled-back run's draws: restore ``state`` if the sequence is still at
        ``used_to`` (nobody else drew from it since)."""
