"""PostgreSQL: server-side key recording, COPY, TRUNCATE, advisory locks, sequences.

Inserts and the recording of their keys are one statement (a data-modifying CTE),
so the same SQL works online and in ``--sql`` output, and a row's value hash is
computed by the server both when it is seeded and when it is undone.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from psycopg import sql as psql
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, REGCLASS
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.compiler import compiles

from seeds.dialects.base import (
    GenericImpl,
    Row,
    SequenceState,
    Sink,
    columns_in,
    single_integer_key,
)
from seeds.runtime.ledger import ledger_keys

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.sql.compiler import SQLCompiler

log = logging.getLogger(__name__)

_pg_sequence = sa.table(
    "pg_sequence", sa.column("seqrelid"), sa.column("seqstart"), schema="pg_catalog"
)


class Truncate(sa.sql.expression.Executable, sa.sql.expression.ClauseElement):
    """``TRUNCATE t1, t2 RESTART IDENTITY CASCADE``; names quoted by the dialect."""

    inherit_cache = False

    def __init__(self, tables: Sequence[sa.TableClause]) -> None:
        self.tables = list(tables)


@compiles(Truncate, "postgresql")
def _compile_truncate(element: Truncate, compiler: SQLCompiler, **kw: Any) -> str:
    names = ", ".join(compiler.preparer.format_table(t) for t in element.tables)
    return f"TRUNCATE {names} RESTART IDENTITY CASCADE"


class SetConstraintsDeferred(sa.sql.expression.Executable, sa.sql.expression.ClauseElement):
    """``SET CONSTRAINTS c1, c2 DEFERRED``; names quoted by the dialect."""

    inherit_cache = False

    def __init__(self, names: Sequence[str]) -> None:
        self.names = list(names)


@compiles(SetConstraintsDeferred, "postgresql")
def _compile_set_constraints(
    element: SetConstraintsDeferred, compiler: SQLCompiler, **kw: Any
) -> str:
    names = ", ".join(compiler.preparer.quote(name) for name in element.names)
    return f"SET CONSTRAINTS {names} DEFERRED"


def row_hash(columns: Iterable[sa.ColumnElement[Any]]) -> sa.ColumnElement[str]:
    """md5 of the JSON array of the values, computed by the server."""
    return sa.func.md5(sa.cast(sa.func.json_build_array(*columns), sa.Text))


# Column types whose values travel as arrays unchanged (no bind-time SQL wrapping
# like GeoAlchemy2's ST_GeomFromEWKT, no JSON serialisation).
_ARRAY_SAFE = (
    sa.String,
    sa.Integer,
    sa.Numeric,
    sa.Boolean,
    sa.Date,
    sa.DateTime,
    sa.Time,
    sa.Interval,
    sa.Uuid,
)


def _arrayable(table: sa.Table, columns: Sequence[str], rows: Sequence[Row]) -> bool:
    if not all(isinstance(table.c[name].type, _ARRAY_SAFE) for name in columns):
        return False
    return not any(
        isinstance(value, sa.sql.ClauseElement) for row in rows for value in row.values()
    )


def _unnest(table: sa.Table, columns: Sequence[str]) -> sa.Select[Any]:
    # SELECT unnest(CAST(:c0 AS type[])), unnest(...): set-returning functions in a
    # select list advance in lockstep, giving one row per array position.
    return sa.select(
        *(
            sa.func.unnest(
                sa.cast(
                    sa.bindparam(f"seed_col_{i}", type_=ARRAY(table.c[name].type)),
                    ARRAY(table.c[name].type),
                )
            )
            for i, name in enumerate(columns)
        )
    )


def _qualified(conn: Connection, table: sa.Table) -> str:
    # pg_get_serial_sequence takes the table as SQL text; the preparer quotes it.
    # Unqualified names resolve through the search path, i.e. the run's SCHEMA.
    clause = sa.table(table.name, schema=table.schema)
    return conn.dialect.identifier_preparer.format_table(clause)


def _log_sql(conn: Connection, statement: sa.ClauseElement) -> None:
    """Log a destructive statement at INFO exactly as it runs (values inlined)."""
    compiled = statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    log.info("%s", " ".join(str(compiled).split()))


class PostgresImpl(GenericImpl):
    """PostgreSQL (psycopg 3)."""

    name = "postgresql"
    can_truncate = True

    def database_name(self, conn: Connection) -> str:
        return str(conn.scalar(sa.select(sa.func.current_database())))

    def prepare(self, sink: Sink) -> None:
        # Row hashes go through json, which prints timestamptz in the session's
        # time zone: pin it so hashing at seed and at undo time agree.
        sink.execute(sa.text("SET LOCAL TIME ZONE 'UTC'"))

    def set_timeouts(self, conn: Connection, lock_timeout: str, statement_timeout: str) -> None:
        for name, value in (
            ("lock_timeout", lock_timeout),
            ("statement_timeout", statement_timeout),
        ):
            conn.execute(sa.select(sa.func.set_config(name, value, True)))

    @contextlib.contextmanager
    def deploy_lock(self, conn: Connection, key: int, wait: str) -> Iterator[None]:
        got = conn.scalar(sa.select(sa.func.pg_try_advisory_lock(key)))
        if not got:
            log.warning("another migration run holds the deploy lock; waiting up to %s", wait)
            previous = conn.scalar(sa.select(sa.func.current_setting("lock_timeout")))
            conn.execute(sa.select(sa.func.set_config("lock_timeout", wait, False)))
            try:
                conn.execute(sa.select(sa.func.pg_advisory_lock(key)))
            finally:
                conn.execute(sa.select(sa.func.set_config("lock_timeout", previous, False)))
            log.info("deploy lock acquired")
        conn.commit()
        try:
            yield
        finally:
            with contextlib.suppress(sa.exc.DBAPIError):
                conn.rollback()
            conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
            conn.commit()

    def insert_statement(self, table: sa.Table, conflict_on: Sequence[str] | None) -> sa.Insert:
        statement = pg_insert(table)
        if conflict_on:
            statement = statement.on_conflict_do_nothing(index_elements=list(conflict_on))
        return statement

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
        pk = list(table.primary_key.columns)
        columns = [c.name for c in table.columns if c.name in rows[0]]
        params: dict[str, Any] | None = None
        if not sink.offline and _arrayable(table, columns, rows):
            # One statement shape for every batch (column arrays unnested by the
            # server): compiled once, not once per 1,000-row VALUES list.
            source = self.insert_statement(table, conflict_on).from_select(
                columns, _unnest(table, columns)
            )
            params = {
                f"seed_col_{i}": [row[name] for row in rows] for i, name in enumerate(columns)
            }
        else:
            source = self.insert_statement(table, conflict_on).values(list(rows))
        seeded = source.returning(*pk, *(table.c[name] for name in hashed)).cte("seeded")
        int_key = single_integer_key(table)
        if int_key is not None:
            first: sa.ColumnElement[Any] = seeded.c[int_key.name]
            last: sa.ColumnElement[Any] = seeded.c[int_key.name]
            key: sa.ColumnElement[Any] = sa.null()
        else:
            first = last = sa.null()
            key = sa.cast(sa.func.json_build_array(*(seeded.c[c.name] for c in pk)), sa.Text)
        record = ledger_keys.insert().from_select(
            ["ledger_id", "table_name", "first_key", "last_key", "key", "row_hash"],
            sa.select(
                ledger_ref,
                sa.literal(table.name, sa.String),
                first,
                last,
                key,
                row_hash(seeded.c[name] for name in hashed),
            ).select_from(seeded),
        )
        # The INSERT's rowcount is the number of keys recorded = rows inserted (a
        # conflicting row is skipped by the CTE and records nothing); SQLAlchemy
        # keeps rowcount for such statements only when asked.
        result = sink.execute(record.execution_options(preserve_rowcount=True), params)
        return None if result is None else result.rowcount

    def adopt_recorded(
        self,
        conn: Connection,
        table: sa.Table,
        keys: Sequence[Sequence[Any]],
        *,
        hashed: Sequence[str],
        ledger_id: int,
    ) -> int:
        pk = list(table.primary_key.columns)
        int_key = single_integer_key(table)
        key_json: sa.ColumnElement[Any] = (
            sa.null() if int_key is not None else sa.cast(sa.func.json_build_array(*pk), sa.Text)
        )
        first: sa.ColumnElement[Any] = int_key if int_key is not None else sa.null()
        found = 0
        for start in range(0, len(keys), 1_000):
            where = columns_in(pk, keys[start : start + 1_000])
            record = ledger_keys.insert().from_select(
                ["ledger_id", "table_name", "first_key", "last_key", "key", "row_hash"],
                sa.select(
                    sa.literal(ledger_id, sa.BigInteger),
                    sa.literal(table.name, sa.String),
                    first,
                    first,
                    key_json,
                    row_hash(table.c[name] for name in hashed),
                ).where(where),
            )
            found += conn.execute(record.execution_options(preserve_rowcount=True)).rowcount
        return found

    def refresh_hashes(
        self, conn: Connection, table: sa.Table, ledger_id: int, hashed: Sequence[str]
    ) -> None:
        conn.execute(
            ledger_keys.update()
            .where(self._join(table, ledger_id))
            .values(row_hash=row_hash(table.c[name] for name in hashed))
        )

    def defer_constraints(self, conn: Connection, names: Sequence[str]) -> None:
        if names:
            conn.execute(SetConstraintsDeferred(names))

    def bulk_write(
        self,
        conn: Connection,
        table: sa.Table,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
    ) -> int:
        # COPY through the connection SQLAlchemy already has open, so the rows are in
        # the migration's transaction; psycopg streams them in bounded buffers.
        target = (
            psql.Identifier(table.schema, table.name)
            if table.schema
            else psql.Identifier(table.name)
        )
        statement = psql.SQL("COPY {} ({}) FROM STDIN").format(
            target, psql.SQL(", ").join(psql.Identifier(c) for c in columns)
        )
        raw = conn.connection.driver_connection
        assert raw is not None  # an open SQLAlchemy connection has its driver connection
        count = 0
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count

    def record_bulk_keys(
        self, conn: Connection, table: sa.Table, ledger_id: int, keys: Iterable[int]
    ) -> None:
        ranges: list[dict[str, Any]] = []
        for key in sorted(keys):
            if ranges and ranges[-1]["last_key"] == key - 1:
                ranges[-1]["last_key"] = key
            else:
                ranges.append(
                    {
                        "ledger_id": ledger_id,
                        "table_name": table.name,
                        "first_key": key,
                        "last_key": key,
                    }
                )
        for start in range(0, len(ranges), 5_000):
            conn.execute(ledger_keys.insert(), ranges[start : start + 5_000])

    def reserve_keys(
        self,
        conn: Connection,
        table: sa.Table,
        count: int,
        *,
        sequence: SequenceState | None,
        reserved_to: int = 0,
    ) -> list[int]:
        if sequence is None:
            return super().reserve_keys(conn, table, count, sequence=None, reserved_to=reserved_to)
        series = sa.func.generate_series(1, count).table_valued("n")
        return list(
            conn.scalars(
                sa.select(sa.func.nextval(sa.cast(sequence.name, REGCLASS))).select_from(series)
            )
        )

    # -- undoing ------------------------------------------------------------------
    def _join(self, table: sa.Table, ledger_id: int) -> sa.ColumnElement[bool]:
        k = ledger_keys.c
        int_key = single_integer_key(table)
        matches: sa.ColumnElement[bool]
        if int_key is not None:
            matches = int_key.between(k.first_key, k.last_key)
        else:
            pk = list(table.primary_key.columns)
            matches = sa.cast(sa.func.json_build_array(*pk), JSONB) == sa.cast(k.key, JSONB)
        return sa.and_(k.ledger_id == ledger_id, k.table_name == table.name, matches)

    def _recorded(self, table: sa.Table, ledger_id: int) -> sa.ColumnElement[bool]:
        return sa.exists(sa.select(1).select_from(ledger_keys).where(self._join(table, ledger_id)))

    def count_recorded(self, conn: Connection, table: sa.Table, ledger_id: int) -> int:
        query = (
            sa.select(sa.func.count()).select_from(table).where(self._recorded(table, ledger_id))
        )
        return conn.scalar(query) or 0

    def changed_rows(
        self, conn: Connection, table: sa.Table, ledger_id: int, hashed: Sequence[str]
    ) -> int:
        k = ledger_keys.c
        query = (
            sa.select(sa.func.count())
            .select_from(table.join(ledger_keys, self._join(table, ledger_id)))
            .where(
                k.row_hash.is_not(None),
                row_hash(table.c[name] for name in hashed) != k.row_hash,
            )
        )
        return conn.scalar(query) or 0

    def delete_recorded(self, conn: Connection, table: sa.Table, ledger_id: int) -> int:
        statement = sa.delete(table).where(self._recorded(table, ledger_id))
        _log_sql(conn, statement)
        return conn.execute(statement).rowcount

    def truncate(self, conn: Connection, tables: Sequence[sa.TableClause]) -> None:
        statement = Truncate(tables)
        _log_sql(conn, statement)
        conn.execute(statement)

    # -- sequences ----------------------------------------------------------------
    def sequence_state(self, conn: Connection, table: sa.Table) -> SequenceState | None:
        column = single_integer_key(table)
        if column is None:
            return None
        name = conn.scalar(
            sa.select(sa.func.pg_get_serial_sequence(_qualified(conn, table), column.name))
        )
        if name is None:
            return None
        regclass = sa.cast(name, REGCLASS)
        last = conn.scalar(sa.select(sa.func.pg_sequence_last_value(regclass)))
        start = conn.scalar(
            sa.select(_pg_sequence.c.seqstart).where(_pg_sequence.c.seqrelid == regclass)
        )
        return SequenceState(name=name, last_value=last, start=int(start or 1))

    def rewind_sequence(self, conn: Connection, state: SequenceState, used_to: int | None) -> None:
        # The dry run may have created the sequence itself (and rolled it back).
        if conn.scalar(sa.select(sa.func.to_regclass(state.name))) is None:
            return
        current = conn.scalar(
            sa.select(sa.func.pg_sequence_last_value(sa.cast(state.name, REGCLASS)))
        )
        if current != used_to:
            log.warning(
                "sequence %s moved on during the dry run (another session drew keys); left at %s",
                state.name,
                current,
            )
            return
        self.restore_sequence(conn, state)

    def restore_sequence(self, conn: Connection, state: SequenceState) -> None:
        regclass = sa.cast(state.name, REGCLASS)
        if state.last_value is None:
            conn.execute(sa.select(sa.func.setval(regclass, state.start, False)))
        else:
            conn.execute(sa.select(sa.func.setval(regclass, state.last_value, True)))
