"""Anonymize a restored copy: the database runner of ``seeds anonymize``.

This module owns the run over a database: checking the rules of
``[tool.seeds.anonymize]`` against the reflected tables (primary keys, column types
and lengths, unique columns, foreign keys between personal columns), the copy mark in
``seed_ledger_events``, the keyset-paginated batches and the report. What replaces a
value (the rules, the key, the HMAC mapping) is :mod:`seeds.data.pseudonyms`.

The whole run is one transaction in keyset-paginated batches (an executemany UPDATE
keyed by the primary key per batch): a failure, including a unique violation the
database still reports, leaves the database exactly as it was. A database is only
rewritten when ``seed_ledger_events`` says it is a copy; ``mark_copy=<database name>``
records that (in the same transaction).

Once a copy is anonymized, :func:`restamp` (``seeds restamp``) may record that it now
protects itself as another environment (staging, say): the ledger accepts that
re-stamp only when it names this database and a completed anonymize followed the
copy mark (:meth:`seeds.runtime.ledger.Ledger.protection`).
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from seeds.data.pseudonyms import (
    PER_COLUMN_LIMIT,
    ColumnRule,
    Kind,
    Pseudonymizer,
    mask,
    shortest_column,
)
from seeds.errors import AnonymizeError, ConfigurationError, EnvironmentBlocked
from seeds.runtime.environment import Environment
from seeds.runtime.ledger import EventKind, Ledger

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 5000

Progress = Callable[[str, int, int], None]
"""``progress(table, rows_done, rows_total)``, called after every batch."""


@dataclass(frozen=True)
class ColumnReport:
    """What anonymizing one column did (or, in a dry run, would do).

    Attributes:
        rows: Rows in the table.
        changed: Rows whose value changed (every non-NULL one).
        samples: A few ``(masked original, fake)`` pairs.
    """

    table: str
    column: str
    kind: Kind
    unique: bool
    rows: int
    changed: int
    samples: tuple[tuple[str, str | None], ...]

    def as_json(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "table": self.table,
            "column": self.column,
            "kind": self.kind.value,
            "unique": self.unique,
            "rows": self.rows,
            "changed": self.changed,
            "samples": [list(pair) for pair in self.samples],
        }


@dataclass(frozen=True)
class AnonymizeReport:
    """The outcome of one run.

    Attributes:
        database: The database's name.
        dry_run: Nothing was changed.
        marked_copy: This run recorded the copy mark (``mark_copy``).
        is_copy: The database is marked as a copy (before or by this run).
        rows: Rows rewritten (or that would be).
        seconds: Wall time of the run.
    """

    database: str
    schema: str | None
    dry_run: bool
    marked_copy: bool
    is_copy: bool
    columns: tuple[ColumnReport, ...]
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        """Rows rewritten per second."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "database": self.database,
            "schema": self.schema,
            "dry_run": self.dry_run,
            "marked_copy": self.marked_copy,
            "is_copy": self.is_copy,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second),
            "columns": [c.as_json() for c in self.columns],
        }


@dataclass(frozen=True)
class _TablePlan:
    """One table to rewrite: its primary key and its personal columns."""

    table: sa.Table
    key: tuple[sa.Column[Any], ...]
    rules: tuple[ColumnRule, ...]
    limits: tuple[int | None, ...]


def is_marked_copy(conn: Connection, database: str) -> bool:
    """True when the ledger holds a copy mark naming this database (see
    :meth:`seeds.runtime.ledger.Ledger.is_marked_copy`)."""
    return Ledger.on(conn).is_marked_copy(database)


def anonymize(
    conn: Connection,
    rules: Sequence[ColumnRule],
    key: bytes,
    *,
    schema: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
    mark_copy: str | None = None,
    progress: Progress | None = None,
    samples: int = 3,
) -> AnonymizeReport:
    """Rewrite the personal columns of a copy, in one transaction this function owns.

    Args:
        conn: A connection outside any transaction.
        rules: The personal columns (see :func:`seeds.data.pseudonyms.load_rules`).
        key: The secret key (see :func:`seeds.data.pseudonyms.load_key`).
        schema: The schema of the tables, or None for the connection's default.
        batch_size: Rows per keyset batch (one SELECT and one executemany UPDATE).
        dry_run: Read and report, in a read-only transaction; nothing is written.
        mark_copy: The database's name, to mark it as a copy first (recorded in
            ``seed_ledger_events``, created when missing).
        progress: Called after every batch.
        samples: ``(masked original, fake)`` pairs to report per column.

    Raises:
        AnonymizeError: the configuration does not fit the database, the database is
            not marked as a copy, or the database refused a value; nothing was changed.
        ConfigurationError: bad arguments.
    """
    if batch_size < 1:
        raise ConfigurationError(f"batch size {batch_size} is not a positive number of rows")
    if conn.in_transaction():
        # One transaction is the promise (all or nothing); a caller's would dilute it.
        raise ConfigurationError(
            "anonymize runs its own transaction; pass a connection outside one"
        )
    started = time.perf_counter()
    ledger = Ledger.on(conn)
    dialect = ledger.dialect
    with conn.begin() as transaction:
        if dry_run:
            # First statement of the transaction: one snapshot, and a guarantee of no writes.
            dialect.begin_read_only()
        database = dialect.database_name()
        if mark_copy is not None and mark_copy != database:
            raise AnonymizeError(
                f"--mark-copy {mark_copy!r} names another database; this one is {database!r}. "
                "The mark must name the database it is meant for"
            )
        plans, fake = _plan(conn, rules, key, schema)
        is_copy = ledger.is_marked_copy(database)
        marked = False
        if not dry_run:
            if not is_copy and mark_copy is None:
                raise AnonymizeError(
                    f"database {database!r} is not marked as a copy and anonymize rewrites "
                    f"personal data in place; if it is a copy, pass --mark-copy {database}"
                )
            if not is_copy:
                _record(ledger, EventKind.COPY, database, "marked by seeds anonymize")
                log.warning("marked database %r as a copy (--mark-copy)", database)
                marked = is_copy = True
            # Deferrable foreign keys between personal columns are checked at the end,
            # when both sides hold the fake value again.
            dialect.defer_all_constraints()
        reports: list[ColumnReport] = []
        rows = 0
        for plan in plans:
            table_reports, table_rows = _run_table(
                conn, plan, fake, batch_size, dry_run, progress, samples
            )
            reports.extend(table_reports)
            rows += table_rows
        if dry_run:
            transaction.rollback()
        else:
            # Deferred checks run here, inside the error mapping, not at COMMIT.
            _guard(None, dialect.check_deferred_constraints)
            detail = ", ".join(f"{r.table}.{r.column}={r.kind}" for r in reports)
            done = f"{rows} rows: {detail}"
            _record(ledger, EventKind.ANONYMIZE, database, done)
    seconds = time.perf_counter() - started
    log.info("anonymize %s: %d rows in %.2fs (dry run: %s)", database, rows, seconds, dry_run)
    return AnonymizeReport(
        database=database,
        schema=schema,
        dry_run=dry_run,
        marked_copy=marked,
        is_copy=is_copy,
        columns=tuple(reports),
        rows=rows,
        seconds=seconds,
    )


@dataclass(frozen=True)
class RestampReport:
    """What ``seeds restamp`` recorded.

    Attributes:
        database: The database's name.
        environment: What it protects itself as from now on.
        previous: What it protected itself as before, and why.
    """

    database: str
    environment: Environment
    previous: Environment | None
    previous_reason: str

    def as_json(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "database": self.database,
            "environment": self.environment.value,
            "previous": None if self.previous is None else self.previous.value,
            "previous_reason": self.previous_reason,
        }


def restamp(conn: Connection, environment: Environment, database: str) -> RestampReport:
    """Re-stamp an anonymized copy: protection goes by ``environment`` from now on.

    Raises:
        ConfigurationError: ``database`` names another database, or a transaction
            is open on ``conn``.
        EnvironmentBlocked: no completed anonymize of this database followed its copy
            mark; nothing was recorded.
    """
    if conn.in_transaction():
        raise ConfigurationError("restamp runs its own transaction; pass a connection outside one")
    ledger = Ledger.on(conn)
    with conn.begin():
        actual = ledger.dialect.database_name()
        if database != actual:
            raise ConfigurationError(
                f"--database {database!r} names another database; this one is {actual!r}. "
                "A re-stamp must name the database it is meant for"
            )
        if not ledger.is_anonymized_copy(actual):
            raise EnvironmentBlocked(
                f"refusing to re-stamp database {actual!r} as {environment}: the ledger holds "
                "no completed `seeds anonymize` of it after a copy mark; anonymize it first "
                f"(seeds anonymize --mark-copy {actual})"
            )
        before = ledger.protection(actual)
        was = before.environment.value if before.environment else "unstamped"
        note = f"re-stamped {environment} after anonymize (was {was}: {before.reason})"
        ledger.record_restamp(environment, actual, note)
    log.warning("re-stamped database %r as %s (was %s)", actual, environment, was)
    return RestampReport(actual, environment, before.environment, before.reason)


def _record(ledger: Ledger, kind: EventKind, database: str, detail: str) -> None:
    # The environment column says what the database was seeded as; a copy of production
    # is still stamped production, and an unstamped database says so.
    stamp = ledger.stamp()
    ledger.record_event(kind, stamp.value if stamp else "unstamped", database, detail)


def _plan(
    conn: Connection, rules: Sequence[ColumnRule], key: bytes, schema: str | None
) -> tuple[list[_TablePlan], Pseudonymizer]:
    """Check every rule against the database and build the per-table work; no writes."""
    inspector = sa.inspect(conn)
    by_table: dict[str, list[ColumnRule]] = {}
    for rule in rules:
        by_table.setdefault(rule.table, []).append(rule)
    kinds = {rule.name: rule.kind for rule in rules}
    unique_kinds: set[Kind] = set()
    limits: dict[Kind, int] = {}
    lengths: dict[ColumnRule, int | None] = {}
    plans = []
    for name, table_rules in by_table.items():
        if not inspector.has_table(name, schema=schema):
            where = f" in schema {schema!r}" if schema else ""
            raise AnonymizeError(f"no such table{where}; fix [tool.seeds.anonymize]", table=name)
        columns = {c["name"]: c for c in inspector.get_columns(name, schema=schema)}
        key_names = list(inspector.get_pk_constraint(name, schema=schema)["constrained_columns"])
        if not key_names:
            raise AnonymizeError("has no primary key, which keyed batches need", table=name)
        unique = _unique_columns(inspector, name, schema)
        column_limits: list[int | None] = []
        for rule in table_rules:
            column = columns.get(rule.column)
            if column is None:
                raise AnonymizeError(
                    f"no such column (the table has: {', '.join(columns)}); "
                    "fix [tool.seeds.anonymize]",
                    table=name,
                    column=rule.column,
                )
            _check_column(rule, column, key_names)
            length = getattr(column["type"], "length", None)
            column_limits.append(length)
            lengths[rule] = length
            if rule.column in unique and rule.kind is not Kind.NULL:
                unique_kinds.add(rule.kind)
            if length is not None and rule.kind not in PER_COLUMN_LIMIT:
                limits[rule.kind] = min(length, limits.get(rule.kind, length))
        table = sa.Table(
            name,
            sa.MetaData(),
            *(sa.Column(c, columns[c]["type"], primary_key=True) for c in key_names),
            *(
                sa.Column(r.column, columns[r.column]["type"])
                for r in table_rules
                if r.column not in key_names
            ),
            schema=schema,
        )
        plans.append(
            _TablePlan(
                table,
                tuple(table.c[c] for c in key_names),
                tuple(table_rules),
                tuple(column_limits),
            )
        )
    _check_foreign_keys(inspector, schema, kinds)
    _check_lengths(lengths, unique_kinds, limits)
    return plans, Pseudonymizer(key, unique=unique_kinds, limits=limits)


def _check_column(rule: ColumnRule, column: Mapping[str, Any], key_names: list[str]) -> None:
    if rule.column in key_names:
        raise AnonymizeError(
            "is part of the primary key, which the batches are keyed by; it cannot be rewritten",
            table=rule.table,
            column=rule.column,
        )
    if rule.kind is Kind.NULL:
        if not column["nullable"]:
            raise AnonymizeError(
                "is NOT NULL, so kind null cannot clear it; choose another kind",
                table=rule.table,
                column=rule.column,
            )
    elif not isinstance(column["type"], sa.String):
        raise AnonymizeError(
            f"is {column['type']}, not text; kind {rule.kind} writes text (kind null clears any)",
            table=rule.table,
            column=rule.column,
        )


def _unique_columns(inspector: sa.Inspector, table: str, schema: str | None) -> set[str]:
    """Columns in any unique constraint or unique index (expression and partial ones too).

    An expression index (``lower(email)``) only gives its text; a column named in it
    counts, which at worst adds a suffix where none was needed.
    """
    names: set[str] = set()
    for constraint in inspector.get_unique_constraints(table, schema=schema):
        names.update(constraint["column_names"])
    expressions: list[str] = []
    for index in inspector.get_indexes(table, schema=schema):
        if index["unique"]:
            names.update(c for c in index["column_names"] if c is not None)
            expressions.extend(e for e in index.get("expressions", []) or [] if e)
    columns = [c["name"] for c in inspector.get_columns(table, schema=schema)]
    for column in columns:
        pattern = re.compile(rf'(?<![\w"]){re.escape(column)}(?![\w"])|"{re.escape(column)}"')
        if any(pattern.search(expression) for expression in expressions):
            names.add(column)
    return names


def _check_foreign_keys(
    inspector: sa.Inspector, schema: str | None, kinds: Mapping[str, Kind]
) -> None:
    """Both sides of a foreign key on a personal column must map the same way, deferrably.

    Value-based mapping gives both sides the same fake, but each side is rewritten by
    its own statement, so the constraint may only be checked at the end.
    """
    for (_, table), foreign_keys in inspector.get_multi_foreign_keys(schema=schema).items():
        for fk in foreign_keys:
            if fk["referred_schema"] not in (None, schema):
                continue
            pairs = zip(fk["constrained_columns"], fk["referred_columns"], strict=True)
            for local, remote in pairs:
                here = f"{table}.{local}"
                there = f"{fk['referred_table']}.{remote}"
                if here not in kinds and there not in kinds:
                    continue
                if kinds.get(here) != kinds.get(there):
                    raise AnonymizeError(
                        f"{here} references {there} (foreign key {fk['name']}), so both must be "
                        f"anonymized with the same kind (now: {kinds.get(here) or 'not listed'} "
                        f"and {kinds.get(there) or 'not listed'}); fix [tool.seeds.anonymize]"
                    )
                options = fk.get("options", {})
                action = str(options.get("onupdate") or "NO ACTION").upper()
                if not options.get("deferrable") or action != "NO ACTION":
                    raise AnonymizeError(
                        f"foreign key {fk['name']} ({here} -> {there}) must be DEFERRABLE with "
                        f"ON UPDATE NO ACTION (it is {'' if options.get('deferrable') else 'not '}"
                        f"deferrable, ON UPDATE {action}) for both sides to change in one "
                        "transaction; alter it on this copy first"
                    )


def _check_lengths(
    lengths: Mapping[ColumnRule, int | None],
    unique_kinds: Collection[Kind],
    limits: Mapping[Kind, int],
) -> None:
    """Every fake must fit its column whole (a cut suffix would no longer be unique)."""
    for rule, length in lengths.items():
        if rule.kind is Kind.NULL:
            continue
        limit = length if rule.kind in PER_COLUMN_LIMIT else limits.get(rule.kind)
        unique = rule.kind in unique_kinds
        needed = shortest_column(rule.kind, unique)
        if limit is not None and limit < needed:
            why = " (unique values carry a suffix from the key)" if unique else ""
            raise AnonymizeError(
                f"the {rule.kind} values written here may be {limit} characters long "
                f"(the shortest column of the kind); they need at least {needed}{why}",
                table=rule.table,
                column=rule.column,
            )


def _run_table(
    conn: Connection,
    plan: _TablePlan,
    fake: Pseudonymizer,
    batch_size: int,
    dry_run: bool,
    progress: Progress | None,
    sample_count: int,
) -> tuple[list[ColumnReport], int]:
    """Keyset batches over one table: read, map, and (unless a dry run) write back."""
    table, key = plan.table, plan.key
    personal = [table.c[r.column] for r in plan.rules]
    total = conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0
    select = sa.select(*key, *personal).order_by(*key).limit(batch_size)
    # Bound parameters only; the prefix keeps them apart from the table's column names.
    update = (
        table.update()
        .where(*(column == sa.bindparam(f"_anon_k{i}") for i, column in enumerate(key)))
        .values({c.name: sa.bindparam(f"_anon_v{j}") for j, c in enumerate(personal)})
    )
    changed = [0] * len(personal)
    samples: list[list[tuple[str, str | None]]] = [[] for _ in personal]
    done = 0
    rewritten = 0
    last: tuple[Any, ...] | None = None
    log.info("anonymize %s: %d rows, batches of %d", table.name, total, batch_size)
    while True:
        query = select
        if last is not None:
            # Keyset pagination: each batch starts after the last key of the one before.
            start = sa.tuple_(*key) > sa.tuple_(*last) if len(key) > 1 else key[0] > last[0]
            query = query.where(start)
        batch = conn.execute(query).all()
        if not batch:
            break
        params = []
        for row in batch:
            keys = row[: len(key)]
            values = row[len(key) :]
            new = [
                fake.value(rule.kind, value, limit)
                for rule, value, limit in zip(plan.rules, values, plan.limits, strict=True)
            ]
            if new == list(values):
                continue  # nothing personal in this row (all NULL)
            for j, (before, after) in enumerate(zip(values, new, strict=True)):
                if before != after:
                    changed[j] += 1
                    if len(samples[j]) < sample_count:
                        samples[j].append((mask(before), after))
            params.append(
                {
                    **{f"_anon_k{i}": k for i, k in enumerate(keys)},
                    **{f"_anon_v{j}": v for j, v in enumerate(new)},
                }
            )
        if params and not dry_run:
            _guard(table.name, functools.partial(conn.execute, update, params), after=last)
        rewritten += len(params)
        done += len(batch)
        last = tuple(batch[-1][: len(key)])
        if progress is not None:
            progress(table.name, done, total)
    reports = [
        ColumnReport(
            table=table.name,
            column=rule.column,
            kind=rule.kind,
            unique=fake.is_unique(rule.kind),
            rows=done,
            changed=changed[j],
            samples=tuple(samples[j]),
        )
        for j, rule in enumerate(plan.rules)
    ]
    return reports, rewritten


def _guard(
    table: str | None, action: Callable[[], object], *, after: tuple[Any, ...] | None = None
) -> None:
    """Run ``action``; a database error becomes one line (and the transaction rolls back)."""
    try:
        action()
    except sa.exc.DBAPIError as err:
        orig = err.orig
        first = str(orig).strip().splitlines()[0] if orig is not None else str(err)
        where = "" if after is None else f" (batch after key {list(after)})"
        if isinstance(err, sa.exc.IntegrityError):
            hint = (
                "two rows received one fake value (a hash collision, or values that are "
                "already fakes of others under this key); run again with another key"
            )
        else:
            hint = "the database refused the rewrite"
        raise AnonymizeError(f"{first}{where}; {hint}; nothing was changed", table=table) from err
