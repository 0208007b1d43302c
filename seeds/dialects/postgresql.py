"""PostgreSQL (psycopg 3): COPY, TRUNCATE, advisory locks, sequences, schemas, diagnostics.

Every PostgreSQL-only statement and every reading of psycopg's error diagnostics
lives here. An insert can feed the ledger's key rows in the same statement (a
data-modifying CTE), so the same SQL works online and in ``--sql`` output, and a
row's value hash is computed by the server both when it is seeded and when it is undone.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import psycopg
import sqlalchemy as sa
from psycopg import sql as psql
from sqlalchemy.dialects.postgresql import ARRAY, BIT, JSONB, REGCLASS, aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.schema import CreateSchema

from seeds.dialects.base import (
    PLAIN_TYPES,
    DeferredIndex,
    Dialect,
    Row,
    SequenceState,
    explain_constraint_error,
    single_integer_key,
)
from seeds.errors import SeedDataError, first_line

if TYPE_CHECKING:
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


class DropIndexOrConstraint(sa.sql.expression.Executable, sa.sql.expression.ClauseElement):
    """``DROP INDEX i`` or ``ALTER TABLE t DROP CONSTRAINT c``; names quoted."""

    inherit_cache = False

    def __init__(self, table: sa.Table, index: str, constraint: str | None) -> None:
        self.table = table
        self.index = index
        self.constraint = constraint


@compiles(DropIndexOrConstraint, "postgresql")
def _compile_drop_index(element: DropIndexOrConstraint, compiler: SQLCompiler, **kw: Any) -> str:
    preparer = compiler.preparer
    if element.constraint is not None:
        table = preparer.format_table(element.table)
        return f"ALTER TABLE {table} DROP CONSTRAINT {preparer.quote(element.constraint)}"
    index = sa.table(element.index, schema=element.table.schema)
    return f"DROP INDEX {preparer.format_table(index)}"


class UniqueUsingIndex(sa.sql.expression.Executable, sa.sql.expression.ClauseElement):
    """``ALTER TABLE t ADD CONSTRAINT c UNIQUE USING INDEX i``; names quoted."""

    inherit_cache = False

    def __init__(self, table: sa.Table, constraint: str, index: str) -> None:
        self.table = table
        self.constraint = constraint
        self.index = index


@compiles(UniqueUsingIndex, "postgresql")
def _compile_unique_using(element: UniqueUsingIndex, compiler: SQLCompiler, **kw: Any) -> str:
    preparer = compiler.preparer
    return (
        f"ALTER TABLE {preparer.format_table(element.table)} ADD CONSTRAINT "
        f"{preparer.quote(element.constraint)} UNIQUE USING INDEX {preparer.quote(element.index)}"
    )


class Analyze(sa.sql.expression.Executable, sa.sql.expression.ClauseElement):
    """``ANALYZE t``: the planner's statistics, after a big load."""

    inherit_cache = False

    def __init__(self, table: sa.Table) -> None:
        self.table = table


@compiles(Analyze, "postgresql")
def _compile_analyze(element: Analyze, compiler: SQLCompiler, **kw: Any) -> str:
    return f"ANALYZE {compiler.preparer.format_table(element.table)}"


_pg_index = sa.table(
    "pg_index",
    sa.column("indexrelid", sa.Integer),
    sa.column("indrelid", sa.Integer),
    sa.column("indisprimary", sa.Boolean),
    schema="pg_catalog",
)
_pg_constraint = sa.table(
    "pg_constraint",
    sa.column("conname", sa.Text),
    sa.column("conindid", sa.Integer),
    sa.column("contype", sa.Text),
    sa.column("condeferrable", sa.Boolean),
    schema="pg_catalog",
)
_pg_class = sa.table(
    "pg_class", sa.column("oid", sa.Integer), sa.column("relname", sa.Text), schema="pg_catalog"
)


class SetConstraints(sa.sql.expression.Executable, sa.sql.expression.ClauseElement):
    """``SET CONSTRAINTS c1, c2 DEFERRED`` (or ``ALL``, or ``IMMEDIATE``); names quoted."""

    inherit_cache = False

    def __init__(self, names: Sequence[str] | None, *, deferred: bool) -> None:
        self.names = None if names is None else list(names)
        self.deferred = deferred


@compiles(SetConstraints, "postgresql")
def _compile_set_constraints(element: SetConstraints, compiler: SQLCompiler, **kw: Any) -> str:
    which = (
        "ALL"
        if element.names is None
        else ", ".join(compiler.preparer.quote(name) for name in element.names)
    )
    return f"SET CONSTRAINTS {which} {'DEFERRED' if element.deferred else 'IMMEDIATE'}"


class LockTableShare(sa.sql.expression.Executable, sa.sql.expression.ClauseElement):
    """``LOCK TABLE t IN SHARE MODE``: waits for open inserts, blocks new ones."""

    inherit_cache = False

    def __init__(self, table: sa.Table) -> None:
        self.table = table


@compiles(LockTableShare, "postgresql")
def _compile_lock_table_share(element: LockTableShare, compiler: SQLCompiler, **kw: Any) -> str:
    return f"LOCK TABLE {compiler.preparer.format_table(element.table)} IN SHARE MODE"


class SetTransactionReadOnly(sa.sql.expression.Executable, sa.sql.expression.ClauseElement):
    """``SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY``: one snapshot, no writes."""

    inherit_cache = True


@compiles(SetTransactionReadOnly, "postgresql")
def _compile_read_only(element: SetTransactionReadOnly, compiler: SQLCompiler, **kw: Any) -> str:
    return "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"


def row_hash(columns: Iterable[sa.ColumnElement[Any]]) -> sa.ColumnElement[str]:
    """md5 of the JSON array of the values, computed by the server."""
    return sa.func.md5(sa.cast(sa.func.json_build_array(*columns), sa.Text))


def _arrayable(table: sa.Table, columns: Sequence[str], rows: Sequence[Row]) -> bool:
    if not all(isinstance(table.c[name].type, PLAIN_TYPES) for name in columns):
        return False
    # One Python type per column (NULLs aside): psycopg sends a list as one array
    # type and refuses a mixed one ("cannot dump lists of mixed types"); VALUES lets
    # the server convert each value on its own, as it would in any INSERT.
    kinds: dict[str, type] = {}
    for row in rows:
        for name, value in row.items():
            if value is None:
                continue
            if isinstance(value, sa.sql.ClauseElement):
                return False
            if kinds.setdefault(name, type(value)) is not type(value):
                return False
    return True


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


# The catalog views that say who holds which lock.
_locks = sa.table(
    "pg_locks",
    sa.column("pid", sa.Integer),
    sa.column("relation", REGCLASS),
    sa.column("granted", sa.Boolean),
    schema="pg_catalog",
)
_activity = sa.table(
    "pg_stat_activity",
    sa.column("pid", sa.Integer),
    sa.column("usename", sa.Text),
    sa.column("application_name", sa.Text),
    sa.column("state", sa.Text),
    sa.column("query", sa.Text),
    schema="pg_catalog",
)


def _qualified(sa_dialect: sa.Dialect, table: sa.Table) -> str:
    # pg_get_serial_sequence takes the table as SQL text; the preparer quotes it.
    # Unqualified names resolve through the search path, i.e. the run's SCHEMA.
    return sa_dialect.identifier_preparer.format_table(sa.table(table.name, schema=table.schema))


def search_path(sa_dialect: sa.Dialect, schema: str) -> str:
    """The search_path value putting ``schema`` first, then public.

    search_path is a list of identifiers; the preparer quotes the schema so any name
    is data. public stays on the path because PostGIS lives there.
    """
    return f"{sa_dialect.identifier_preparer.quote_identifier(schema)}, public"


_KEY_DETAIL = re.compile(r"Key \((?P<cols>[^)]*)\)=\((?P<vals>.*)\)")

# SQLSTATE of a constraint violation -> what to do about it.
_HINTS = {
    "23503": "seed the referenced row first, or fix the reference",
    "23505": "the row already exists; use ctx.ensure(..., key=[...]) or change the value",
    "23502": "give the column a value",
    "23514": "fix the value so the CHECK constraint holds",
    "55P03": "another session holds a lock on the table: retry when it is done, or raise "
    "-x lock_timeout",
    "57014": "the statement ran past statement_timeout: raise -x statement_timeout",
    "57P01": "the server shut down during the run; the revision rolled back, run it again",
    "42703": "the seed's frozen table names a column the database table lacks: fix the "
    "sa.Table in the seed file (seeds new writes it from the database)",
    "42804": "a frozen column's type is not the table's: fix the sa.Column in the seed file",
}


def _explain(
    revision: str,
    table: sa.Table,
    rows: Sequence[Row],
    error: BaseException,
    offset: int,
    *,
    row_index: int | None = None,
    column: str | None = None,
) -> SeedDataError:
    """A psycopg error as one line naming the row (found by the key in DETAIL, unless
    the caller knows it) and the fix."""
    diag = getattr(error, "diag", None)
    detail = getattr(diag, "message_detail", None) or ""
    primary = getattr(diag, "message_primary", None) or str(error).splitlines()[0]
    column = getattr(diag, "column_name", None) or column
    match = _KEY_DETAIL.search(detail)
    if match:
        cols = [c.strip().strip('"') for c in match["cols"].split(",")]
        vals = [v.strip() for v in match["vals"].split(",")]
        column = column or cols[0]
        for index, row in enumerate(rows):
            if [str(row.get(c)) for c in cols] == vals:
                row_index = offset + index
                break
    hint = _HINTS.get(getattr(error, "sqlstate", None) or "", "fix the row")
    return explain_constraint_error(
        primary + (f" ({detail})" if detail else ""),
        hint,
        revision=revision,
        table=table.name,
        column=column,
        row_index=row_index,
    )


# Where the server was in a COPY when it refused a row: "COPY posts, line 12, column
# title: ..." (the line counts the rows sent, from 1; the column is there for a value
# it could not take).
_COPY_LINE = re.compile(r"\bCOPY .*?, line (?P<line>\d+)(?:, column (?P<column>.+?))?(?::|$)", re.M)

NUL_HINT = "remove the NUL byte from the value"
_NUL_REFUSED = "PostgreSQL text fields cannot contain NUL (0x00) bytes"
# psycopg before 3.2 sends a NUL byte in COPY on to the server, which names the line
# but not the column; refuse it here, as later psycopg does, so the row and column
# are named either way.
_SENDS_NUL = tuple(int(part) for part in psycopg.__version__.split(".")[:2]) < (3, 2)


def _nul_column(names: Sequence[str], values: Sequence[Any]) -> str | None:
    """The first column whose text holds a NUL byte, which psycopg will not send."""
    for name, value in zip(names, values, strict=False):
        if isinstance(value, str) and "\x00" in value:
            return name
    return None


def _nul_refused(
    err: sa.exc.DBAPIError, revision: str, table: sa.Table, column: str, row_index: int
) -> SeedDataError:
    """psycopg's refusal of a NUL byte, naming the row and column that held it."""
    return explain_constraint_error(
        first_line(err),
        NUL_HINT,
        revision=revision,
        table=table.name,
        column=column,
        row_index=row_index,
    )


def _where_reported(diag: Any) -> str:
    """``table t, column c, constraint k``: what psycopg's diagnostics name, if anything."""
    parts = [
        f"{label} {value}"
        for label, value in (
            ("table", getattr(diag, "table_name", None)),
            ("column", getattr(diag, "column_name", None)),
            ("constraint", getattr(diag, "constraint_name", None)),
        )
        if value
    ]
    return ", ".join(parts)


class PostgresDialect(Dialect):
    """PostgreSQL (psycopg 3)."""

    name = "postgresql"
    can_truncate = True
    records_in_one_statement = True
    can_copy = True
    transactional_ddl = True

    def database_name(self) -> str:
        return str(self.scalar(sa.select(sa.func.current_database())))

    @classmethod
    def prepare_offline(cls, sa_dialect: sa.Dialect) -> None:
        # Online, SQLAlchemy asks the server whether backslashes escape in string
        # literals; offline it cannot, and before 2.0.3x it assumed they do, doubling
        # every backslash of seeded data. standard_conforming_strings has been on by
        # default since PostgreSQL 9.1, and the script is for such a server.
        setattr(sa_dialect, "_backslash_escapes", False)  # noqa: B010

    @classmethod
    def script_guard(
        cls, version_table: sa.TableClause, start: str | None
    ) -> sa.Select[Any] | None:
        # No DO block: its body is text, and the revision would be formatted into it.
        # A cast that cannot succeed raises with the message instead, a bound literal.
        if start is None:
            name: sa.ColumnElement[str] = sa.func.quote_ident(version_table.name)
            if version_table.schema:
                name = sa.func.quote_ident(version_table.schema) + "." + name
            fine: sa.ColumnElement[bool] = sa.func.to_regclass(name).is_(None)
            problem = "it starts from an empty database, and this one has alembic_version"
        else:
            fine = sa.exists().where(version_table.c.version_num == start)
            problem = f"it upgrades from revision {start}, and the database is not there"
        message = f"seedchain: script refused: {problem} (already applied?); nothing changed"
        # The cast wraps the CASE: a cast of the bare literal would be folded, and
        # fail, when the statement is planned, whichever branch applies.
        verdict = sa.case((fine, sa.literal("1", sa.Text)), else_=sa.literal(message, sa.Text))
        return sa.select(sa.cast(verdict, sa.Integer))

    def describe_error(self, err: sa.exc.DBAPIError) -> str:
        diag = getattr(err.orig, "diag", None)
        primary = getattr(diag, "message_primary", None)
        if diag is None or not primary:
            return super().describe_error(err)
        detail = getattr(diag, "message_detail", None)
        where = _where_reported(diag)
        hint = _HINTS.get(getattr(err.orig, "sqlstate", None) or "")
        return (
            (f"{where}: " if where else "")
            + str(primary)
            + (f" ({detail})" if detail else "")
            + (f"; {hint}" if hint else "")
        )

    @classmethod
    def search_path_statement(cls, sa_dialect: sa.Dialect, schema: str) -> sa.Select[Any]:
        return sa.select(sa.func.set_config("search_path", search_path(sa_dialect, schema), False))

    @classmethod
    def schema_statements(cls, sa_dialect: sa.Dialect, schema: str) -> list[sa.Executable]:
        return [
            CreateSchema(schema, if_not_exists=True),
            cls.search_path_statement(sa_dialect, schema),
        ]

    def prepare(self) -> None:
        # Row hashes go through json, which prints timestamptz in the session's
        # time zone: pin it so hashing at seed and at undo time agree.
        self.execute(sa.select(sa.func.set_config("TimeZone", "UTC", True)))

    def set_timeouts(self, lock_timeout: str, statement_timeout: str) -> None:
        for name, value in (
            ("lock_timeout", lock_timeout),
            ("statement_timeout", statement_timeout),
        ):
            self.execute(sa.select(sa.func.set_config(name, value, True)))

    def set_session_lock_timeout(self, lock_timeout: str) -> None:
        # Session-wide, so an ALTER TABLE of the chain that meets a long reader fails
        # after lock_timeout instead of queueing every later query on that table.
        self.execute(sa.select(sa.func.set_config("lock_timeout", lock_timeout, False)))

    @contextlib.contextmanager
    def deploy_lock(self, key: int, wait: str) -> Iterator[None]:
        conn = self.connection
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
            try:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
                conn.commit()
            except sa.exc.DBAPIError as err:
                # The session is gone (a server restart, a killed backend) and its lock
                # with it. Raising here would hide whatever ended the run.
                log.warning("deploy lock went with the lost session (%s)", first_line(err))

    def begin_read_only(self) -> None:
        self.execute(SetTransactionReadOnly())

    def defer_all_constraints(self) -> None:
        self.execute(SetConstraints(None, deferred=True))

    def check_deferred_constraints(self) -> None:
        self.execute(SetConstraints(None, deferred=False))

    # -- writing ------------------------------------------------------------------
    def insert_statement(self, table: sa.Table, conflict_on: Sequence[str] | None) -> sa.Insert:
        statement = pg_insert(table)
        if conflict_on:
            statement = statement.on_conflict_do_nothing(index_elements=list(conflict_on))
        return statement

    def insert_source(
        self, table: sa.Table, rows: Sequence[Row], conflict_on: Sequence[str] | None
    ) -> tuple[sa.Insert, dict[str, Any] | None]:
        columns = [c.name for c in table.columns if c.name in rows[0]]
        if self.offline or not _arrayable(table, columns, rows):
            return self.insert_statement(table, conflict_on).values(list(rows)), None
        # One statement shape for every batch (column arrays unnested by the server):
        # compiled once, not once per 1,000-row VALUES list.
        statement = self.insert_statement(table, conflict_on).from_select(
            columns, _unnest(table, columns)
        )
        params = {f"seed_col_{i}": [row[name] for row in rows] for i, name in enumerate(columns)}
        return statement, params

    def row_hash(self, columns: Iterable[sa.ColumnElement[Any]]) -> sa.ColumnElement[str]:
        return row_hash(columns)

    def packed_hashes(
        self, hashes: sa.ColumnElement[str], order_by: sa.ColumnElement[Any]
    ) -> sa.ColumnElement[Any]:
        return sa.func.array_agg(aggregate_order_by(self.hash_number(hashes), order_by))

    def unpacked(self, packed: sa.ColumnElement[Any]) -> Any:
        return sa.func.unnest(packed).table_valued("hash", with_ordinality="n").render_derived()

    def hash_number(self, hashed: sa.ColumnElement[str]) -> sa.ColumnElement[int]:
        # 'x' || 16 hex digits read as a 64-bit string is the number hash_number() gives.
        digits = sa.literal("x", sa.Text) + sa.func.left(hashed, 16)
        return sa.cast(sa.cast(digits, BIT(64)), sa.BigInteger)

    def key_text(self, columns: Sequence[sa.ColumnElement[Any]]) -> sa.ColumnElement[Any]:
        return sa.cast(sa.func.json_build_array(*columns), sa.Text)

    def key_series(
        self, first: sa.ColumnElement[Any], last: sa.ColumnElement[Any]
    ) -> sa.ColumnElement[Any]:
        return sa.func.generate_series(first, last)

    def key_matches(
        self, columns: Sequence[sa.ColumnElement[Any]], stored: sa.ColumnElement[Any]
    ) -> sa.ColumnElement[bool]:
        return sa.cast(sa.func.json_build_array(*columns), JSONB) == sa.cast(stored, JSONB)

    def key_checksum(self, stored: sa.ColumnElement[Any]) -> sa.ColumnElement[int]:
        # 'x' || 15 hex digits read as a bit string is the number python_key_checksum gives.
        digits = sa.literal("x", sa.Text) + sa.func.left(sa.func.md5(stored), 15)
        return sa.cast(sa.cast(digits, BIT(60)), sa.BigInteger)

    def explain_integrity_error(
        self,
        revision: str,
        table: sa.Table,
        rows: Sequence[Row],
        err: sa.exc.IntegrityError,
        *,
        offset: int = 0,
    ) -> SeedDataError:
        return _explain(revision, table, rows, err.orig or err, offset)

    def explain_write_error(
        self,
        revision: str,
        table: sa.Table,
        rows: Sequence[Row],
        err: sa.exc.DBAPIError,
        *,
        offset: int = 0,
    ) -> SeedDataError | None:
        if err.connection_invalidated:
            return None
        sqlstate = getattr(err.orig, "sqlstate", None)
        if sqlstate is not None:
            # A value or a frozen column the table cannot take (classes 22 and 42):
            # name the table, and the row where the DETAIL's key finds one. Other
            # errors (timeouts, a lost session) are the run's to explain.
            if sqlstate[:2] not in ("22", "42"):
                return None
            return _explain(revision, table, rows, err.orig or err, offset)
        # psycopg refused to send a value: find it in the batch.
        for index, row in enumerate(rows):
            column = _nul_column(list(row), list(row.values()))
            if column is not None:
                return _nul_refused(err, revision, table, column, offset + index)
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
        orig = err.orig
        sqlstate = getattr(orig, "sqlstate", None)
        if err.connection_invalidated or (sqlstate or "")[:2] in ("55", "57"):
            return None  # a lost session, a lock or statement timeout: not the rows
        diag = getattr(orig, "diag", None)
        found = _COPY_LINE.search(getattr(diag, "context", None) or "")
        if found:
            # The server counts a COPY's rows from 1.
            line, column = int(found["line"]), found["column"]
            return _explain(
                revision, table, [], orig or err, 0, row_index=first_index + line - 1, column=column
            )
        column = None if last_row is None else _nul_column(columns, last_row)
        if sqlstate is None and column is not None:
            # psycopg refused the value as it wrote the row: the last one it was given.
            return _nul_refused(err, revision, table, column, last_index)
        if isinstance(err, sa.exc.IntegrityError) and rows:
            # Checked at the end of the COPY (a foreign key): no line in its CONTEXT,
            # but the DETAIL's key finds the row among the ones sent.
            mappings = [dict(zip(columns, row, strict=True)) for row in rows]
            return _explain(revision, table, mappings, orig or err, first_index)
        return super().explain_bulk_error(
            revision, table, columns, err, last_row=last_row, last_index=last_index
        )

    def defer_constraints(self, names: Sequence[str]) -> None:
        if names:
            self.execute(SetConstraints(names, deferred=True))

    def bulk_write(
        self,
        table: sa.Table,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        *,
        before_end: Callable[[], None] | None = None,
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
        raw = self.connection.connection.driver_connection
        assert raw is not None  # an open SQLAlchemy connection has its driver connection
        count = 0
        try:
            refused = False
            with raw.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    if _SENDS_NUL and _nul_column(columns, row) is not None:
                        # Stop cleanly: raised inside the COPY, the server would answer
                        # the cancel with a timeout error instead of this one.
                        refused = True
                        break
                    copy.write_row(row)
                    count += 1
                if before_end is not None and not refused:
                    # The server is still taking the rows in: work done here overlaps.
                    before_end()
            if refused:
                raise psycopg.DataError(_NUL_REFUSED)
        except psycopg.Error as err:
            # COPY goes around SQLAlchemy, so its errors arrive unwrapped: wrap them
            # the way SQLAlchemy would, so callers handle one kind of error. A lost
            # session it would have noticed too: invalidated, the connection is not
            # asked to roll back over a dead socket.
            lost = raw.broken or raw.closed
            if lost:
                self.connection.invalidate(err)
            raise sa.exc.DBAPIError.instance(
                str(statement.as_string(raw)), None, err, psycopg.Error, connection_invalidated=lost
            ) from err
        return count

    def defer_indexes(self, table: sa.Table) -> list[DeferredIndex]:
        # As pg_restore does: a secondary index built once over the loaded rows is a
        # sorted pass; kept during the load, it takes a random insert per row. An index
        # backing a constraint something else depends on (a foreign key's target, an
        # exclusion or deferrable constraint) stays.
        i, c = _pg_index.c, _pg_constraint.c
        relation = sa.cast(_qualified(self.sa_dialect, table), REGCLASS)
        owner = sa.select(c.conname).where(c.conindid == i.indexrelid, c.contype == "u")
        blocked = sa.exists().where(
            c.conindid == i.indexrelid,
            sa.or_(c.contype.in_(["f", "x", "p"]), c.condeferrable),
        )
        query = (
            sa.select(
                _pg_class.c.relname,
                sa.func.pg_get_indexdef(i.indexrelid),
                owner.scalar_subquery(),
            )
            .join_from(_pg_index, _pg_class, _pg_class.c.oid == i.indexrelid)
            .where(i.indrelid == relation, sa.not_(i.indisprimary), ~blocked)
            .order_by(_pg_class.c.relname)
        )
        deferred = [DeferredIndex(*row) for row in self.connection.execute(query)]
        for index in deferred:
            self.execute(DropIndexOrConstraint(table, index.name, index.constraint))
        return deferred

    def restore_indexes(self, table: sa.Table, deferred: Sequence[DeferredIndex]) -> None:
        for index in deferred:
            # The database's own definition of the index, as it printed it: no text
            # of ours goes into it.
            self.connection.exec_driver_sql(index.definition)
            if index.constraint is not None:
                self.execute(UniqueUsingIndex(table, index.constraint, index.name))
        self.execute(Analyze(table))

    def reserve_keys(
        self, table: sa.Table, count: int, *, sequence: SequenceState | None, reserved_to: int = 0
    ) -> Sequence[int]:
        if sequence is None:
            return super().reserve_keys(table, count, sequence=None, reserved_to=reserved_to)
        if count <= 0:
            return range(0)
        series = sa.func.generate_series(1, count).table_valued("n")
        drawn = (
            sa.select(sa.func.nextval(sa.cast(sequence.name, REGCLASS)).label("key"))
            .select_from(series)
            .subquery()
        )
        low, high = sa.func.min(drawn.c.key), sa.func.max(drawn.c.key)
        # The keys themselves only when they do not follow on (another session drew
        # from the sequence meanwhile): a million reserved keys are two numbers.
        scattered = sa.case(
            (
                high - low + 1 != sa.func.count(),
                sa.func.array_agg(aggregate_order_by(drawn.c.key, drawn.c.key)),
            ),
            else_=sa.null(),
        )
        row = self.connection.execute(sa.select(low, high, scattered)).one()
        if row[2] is not None:
            return list(row[2])
        return range(row[0], row[1] + 1)

    # -- removing -----------------------------------------------------------------
    def truncate(self, tables: Sequence[sa.TableClause]) -> None:
        statement = Truncate(tables)
        self.log_sql(statement)
        self.execute(statement)

    # -- sequences ----------------------------------------------------------------
    def sequence_state(self, table: sa.Table) -> SequenceState | None:
        column = single_integer_key(table)
        if column is None:
            return None
        name = self.scalar(
            sa.select(
                sa.func.pg_get_serial_sequence(_qualified(self.sa_dialect, table), column.name)
            )
        )
        if name is None:
            return None
        regclass = sa.cast(name, REGCLASS)
        last = self.scalar(sa.select(sa.func.pg_sequence_last_value(regclass)))
        start = self.scalar(
            sa.select(_pg_sequence.c.seqstart).where(_pg_sequence.c.seqrelid == regclass)
        )
        return SequenceState(name=name, last_value=last, start=int(start or 1))

    def rewind_sequence(self, state: SequenceState, used_to: int | None) -> None:
        # The dry run may have created the sequence itself (and rolled it back).
        if self.scalar(sa.select(sa.func.to_regclass(state.name))) is None:
            return
        current = self.scalar(
            sa.select(sa.func.pg_sequence_last_value(sa.cast(state.name, REGCLASS)))
        )
        if current != used_to:
            log.warning(
                "sequence %s moved on during the dry run (another session drew keys); left at %s",
                state.name,
                current,
            )
            return
        self.restore_sequence(state)

    def lock_holders(
        self, err: sa.exc.DBAPIError, tables: Sequence[sa.Table], schema: str | None
    ) -> list[str]:
        if self.connection is None or not tables:
            return []
        if getattr(err.orig, "sqlstate", None) not in {"55P03", "57014"}:
            return []  # not a timeout: nobody else's lock to name
        try:
            return self._lock_holders(tables, schema)
        except sa.exc.SQLAlchemyError:
            return []  # a diagnosis only: never in the way of the error it explains

    def _lock_holders(self, tables: Sequence[sa.Table], schema: str | None) -> list[str]:
        assert self.connection is not None
        # psycopg knows its backend's pid without asking this (failed) session.
        info = getattr(self.connection.connection.dbapi_connection, "info", None)
        mine = getattr(info, "backend_pid", None)
        preparer = self.sa_dialect.identifier_preparer
        relations = [
            sa.func.to_regclass(preparer.format_table(sa.table(t.name, schema=schema)))
            for t in tables
        ]
        query = (
            sa.select(
                _activity.c.pid,
                _activity.c.usename,
                _activity.c.application_name,
                _activity.c.state,
                sa.func.left(_activity.c.query, 80).label("query"),
            )
            .distinct()
            .join_from(_locks, _activity, _locks.c.pid == _activity.c.pid)
            .where(_locks.c.granted, _locks.c.relation.in_(relations), _locks.c.pid != mine)
            .order_by(_activity.c.pid)
        )
        with self.connection.engine.connect() as other:
            found = other.execute(query).all()
        return [
            f"pid {row.pid} ({row.usename}, {row.application_name or 'no application name'}, "
            f"{row.state}: {' '.join((row.query or '').split())})"
            for row in found
        ]

    def hold_inserts(self, table: sa.Table) -> None:
        self.execute(LockTableShare(table))

    def restore_sequence(self, state: SequenceState) -> None:
        regclass = sa.cast(state.name, REGCLASS)
        if state.last_value is None:
            self.execute(sa.select(sa.func.setval(regclass, state.start, False)))
        else:
            self.execute(sa.select(sa.func.setval(regclass, state.last_value, True)))
