"""SeedContext: what a seed revision's function gets to work with.

It holds the run (environment, reference time, Faker seed), the revision's frozen
tables, per-row random streams, and the loaders. Every loader validates its rows,
writes them in bounded batches, and records the keys of what it inserted, so the
revision's downgrade can remove exactly those rows.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import logging
import operator
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import sqlalchemy as sa

from seeds.data.streams import Streams
from seeds.dialects import canonical_sql
from seeds.dialects.base import (
    PLAIN_TYPES,
    DeferredIndex,
    rows_per_statement,
    single_integer_key,
)
from seeds.errors import ConfigurationError, OfflineUnsupported, SeedDataError
from seeds.runtime.environment import Environment
from seeds.runtime.ordering import load_order
from seeds.runtime.progress import Progress
from seeds.runtime.validation import validate_rows

if TYPE_CHECKING:
    from faker import Faker
    from sqlalchemy.engine import Connection

    from seeds.dialects import SequenceState
    from seeds.runtime.ledger import Ledger, RunRef
    from seeds.runtime.parameters import Parameters

log = logging.getLogger(__name__)

T = TypeVar("T")

# Rows per chunk of a streamed insert: what a load of any size holds in memory.
STREAM_CHUNK = 10_000
# From this many rows expected, a load into an empty table builds the table's
# secondary indexes after the rows are in (then ANALYZE), as pg_restore does.
DEFER_INDEXES_FROM = 100_000
# From this many rows a load goes by COPY (where it can): below it, multi-row INSERTs
# with their row-by-row checks cost little and their errors are the most precise.
COPY_FROM = 1_000


def _chunks(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _digest_text(rows: list[tuple[Any, ...]]) -> bytes:
    """The data checksum's text of some rows: the same bytes however rows are batched
    (a list's repr is its items' reprs joined by ", ")."""
    return repr(rows)[1:-1].encode() + b", " if rows else b""


def _add_ranges(ranges: list[list[int]], keys: Sequence[int]) -> None:
    """Merge ``keys`` into ``ranges`` ([first, last] pairs), extending the last one
    while keys follow on: a million reserved keys stay one pair."""
    ordered = keys if isinstance(keys, range) and keys.step == 1 else sorted(keys)
    if isinstance(ordered, range):
        if not ordered:
            return
        if ranges and ranges[-1][1] == ordered[0] - 1:
            ranges[-1][1] = ordered[-1]
        else:
            ranges.append([ordered[0], ordered[-1]])
        return
    for key in ordered:
        if ranges and ranges[-1][1] == key - 1:
            ranges[-1][1] = key
        else:
            ranges.append([key, key])


def _canonical(value: object) -> object:
    """A value as the data checksum sees it: reprs of SQL expressions and GeoAlchemy2
    elements hold memory addresses, which would make the checksum differ every run."""
    if isinstance(value, sa.ClauseElement):
        return canonical_sql(value)
    elements = sys.modules.get("geoalchemy2.elements")  # loaded if such a value exists
    if elements is not None and isinstance(value, elements.WKTElement | elements.WKBElement):
        return f"SRID={value.srid};{value.desc}"
    return value


@dataclass
class TableLoad:
    """What one seed wrote into one table (becomes the table's undo record)."""

    table: sa.Table
    rows: int = 0
    hashed: list[str] = field(default_factory=list)
    # Columns the application is expected to change (``@seed(volatile=...)``): never
    # hashed, so updating only them is not a change of a seeded row.
    volatile: list[str] = field(default_factory=list)
    sequence: SequenceState | None = None
    bulk: bool = False
    seconds: float = 0.0
    reserved_to: int = 0  # highest key handed out by reserve_keys

    def undo_record(self) -> dict[str, Any]:
        """The JSON-able part of the ledger's ``undo`` column for this table."""
        return {
            "name": self.table.name,
            "key": [c.name for c in self.table.primary_key.columns],
            "hashed": self.hashed,
            "volatile": self.volatile,
            "bulk": self.bulk,
            "sequence": None
            if self.sequence is None
            else {
                "name": self.sequence.name,
                "last_value": self.sequence.last_value,
                "start": self.sequence.start,
            },
        }


class SeedContext:
    """The run context handed to a seed revision's function.

    Attributes:
        revision: The seed revision id.
        environment: The environment of this run.
        now: The reference time (``-x now``); use it instead of the clock.
        parameters: All ``-x`` arguments, typed.
        tables: The revision's frozen tables by name.
        offline: True under ``alembic upgrade --sql``: loaders render SQL, nothing
            can be read back.
    """

    def __init__(
        self,
        *,
        revision: str,
        environment: Environment,
        parameters: Parameters,
        tables: Sequence[sa.Table],
        ledger: Ledger,
        ledger_run: RunRef,
        settings: Mapping[str, Any],
        volatile: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.revision = revision
        self.environment = environment
        self.parameters = parameters
        self.now: datetime = parameters.now
        self.tables: dict[str, sa.Table] = {t.name: t for t in tables}
        self._volatile = {name: list(columns) for name, columns in (volatile or {}).items()}
        self._ledger = ledger
        self._dialect = ledger.dialect
        self._run = ledger_run
        self.offline = self._dialect.offline
        self._settings = settings
        self._streams = Streams(parameters.seed, revision, parameters.locale)
        self._checksum = hashlib.sha256()
        self.loads: dict[str, TableLoad] = {}
        # Settings the seed read (config or -x), kept in the ledger for verification.
        self.settings_used: dict[str, int] = {}

    # -- reading --------------------------------------------------------------
    @property
    def connection(self) -> Connection:
        """The migration's connection, for reads; offline this stops with a clear error."""
        return self._dialect.connection_for(
            f"seed {self.revision}",
            hint="run it online, or make it insert-only (ctx.insert/ctx.ensure)",
        )

    def setting(self, name: str, default: int, *, minimum: int = 0) -> int:
        """A count or switch: ``-x name=`` first, then ``[tool.seeds.<env>]``, then default.

        Values below ``minimum`` (0 unless the seed says otherwise: a world needs at
        least one user) are refused with the place to fix them.
        """
        raw = self.parameters.extra.get(name, self._settings.get(name, default))
        fix = f"fix -x {name}= or [tool.seeds.{self.environment}] in pyproject.toml"
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"seed {self.revision}: setting {name}={raw!r} is not a whole number; {fix}"
            ) from None
        if value < minimum:
            raise ConfigurationError(
                f"seed {self.revision}: setting {name}={raw!r} is below {minimum}; {fix}"
            )
        self.settings_used[name] = value
        return value

    # -- determinism ----------------------------------------------------------
    def random(self, name: str, n: object) -> random.Random:
        """The random stream of row ``n`` of ``name``, from (seed, revision, name, n).

        ``n`` is the row's position in this seed: ``7`` for row 7 of the users,
        ``(5, 2)`` for child 2 of project 5, or a natural value such as a city's name.
        Never a key the database assigned: keys depend on the rows the database held
        before and on sequences a downgrade could not wind back, so the same
        ``-x seed`` would give different data. Wrong: ``ctx.random("members",
        project["id"])``; right: ``ctx.random("members", position)``.
        """
        return self._streams.random(name, n)

    def faker(self, table: str, n: object) -> Faker:
        """Faker seeded for row ``n`` of ``table``, from (seed, revision, table, n).

        ``n`` is the row's position in this seed, never a database key (see
        :meth:`random` for why). The instance is shared: take one row's values
        before asking for the next row's Faker.
        """
        return self._streams.faker(table, n)

    @property
    def data_checksum(self) -> str:
        """sha256 of every row offered to the loaders, in order."""
        return self._checksum.hexdigest()

    # -- writing ----------------------------------------------------------------
    def insert(
        self,
        table: sa.Table | str,
        rows: Iterable[Mapping[str, Any]],
        *,
        via: Literal["auto", "copy", "values"] = "auto",
        expected: int | None = None,
    ) -> int | None:
        """Insert rows; their keys are recorded for the downgrade.

        ``rows`` may be any iterable, a generator of millions of rows included: it is
        read STREAM_CHUNK rows at a time, so memory is bounded by the chunk. With
        ``via="auto"`` a load of COPY_FROM rows or more into a table with a single
        integer key goes through COPY where the database has it (PostgreSQL, online):
        keys the rows lack are reserved from the table's sequence chunk by chunk, the
        first chunk is validated row by row and the database checks the rest (an error
        still names the row). Everywhere else (SQLite, ``--sql``, small loads, JSON or
        geometry columns, SQL expressions as values) rows go through multi-row INSERTs,
        validated one by one. ``via="copy"`` insists on COPY and says why it cannot;
        ``via="values"`` never uses it. ``expected`` (the number of rows the iterable
        will give) lets the progress report show an ETA.

        Returns the number of rows inserted (None offline).
        """
        t = self._table(table)
        self._load(t)
        if expected is None and isinstance(rows, Sized):
            expected = len(rows)
        chunks = _chunks(rows, STREAM_CHUNK)
        first = next(chunks, [])
        why_not = self._why_not_copy(t, first)
        if via == "copy" and why_not is not None:
            raise SeedDataError(
                f"insert(via='copy') cannot use COPY: {why_not}",
                revision=self.revision,
                table=t.name,
            )
        if via == "copy" or (via == "auto" and why_not is None and len(first) >= COPY_FROM):
            return self._stream(t, first, chunks, expected)
        inserted: int | None = 0
        offset = 0
        for chunk in itertools.chain([first], chunks):
            count = self._write(t, list(chunk), conflict_on=None, offset=offset)
            inserted = None if count is None or inserted is None else inserted + count
            offset += len(chunk)
        return inserted

    def ensure(
        self, table: sa.Table | str, rows: Iterable[Mapping[str, Any]], *, key: Sequence[str]
    ) -> int | None:
        """Insert the rows whose natural ``key`` is not there yet; leave existing rows alone.

        Idempotent: safe against a database that already has some or all of the rows
        (production essentials). Only rows this call inserted are recorded, so the
        downgrade never removes a row that was there before.
        """
        t = self._table(table)
        missing = [name for name in key if name not in t.c]
        if missing:
            raise SeedDataError(
                f"ensure() key {missing} is not a column; use the natural key's columns",
                revision=self.revision,
                table=t.name,
            )
        return self._write(t, list(rows), conflict_on=list(key))

    def reserve_keys(self, table: sa.Table | str, count: int) -> Sequence[int]:
        """Keys for ``count`` new rows of ``table``, taken from its sequence before writing.

        Bulk loads set keys themselves so foreign keys resolve in memory. The keys come
        as a ``range`` when they follow on (always, unless another session drew keys
        from the sequence at the same moment), so a million of them take no memory.
        """
        t = self._table(table)
        load = self._load(t)
        self._require_online()
        keys = self._dialect.reserve_keys(
            t, count, sequence=load.sequence, reserved_to=load.reserved_to
        )
        if keys:
            load.reserved_to = max(
                load.reserved_to, keys[-1] if isinstance(keys, range) else max(keys)
            )
        return keys

    def bulk(
        self, table: sa.Table | str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> int:
        """Stream tuples into ``table`` by COPY (PostgreSQL), in ``columns`` order.

        The lower-level sibling of :meth:`insert` for rows that are already tuples: the
        key column must be among ``columns`` (use :meth:`reserve_keys`) and rows are not
        validated one by one. The ledger keeps their key ranges; once the seed function
        returns, every bulk-written row is hashed over ``columns`` (the key and volatile
        columns left out) for the undo's change check.
        """
        t = self._table(table)
        self._require_online()
        key = single_integer_key(t)
        if key is None or key.name not in columns:
            raise SeedDataError(
                "bulk() needs the table's single integer key among the columns; "
                "take keys with ctx.reserve_keys()",
                revision=self.revision,
                table=t.name,
            )
        load = self._load(t)
        # In table order, like insert(): a table both inserted into and bulk-loaded
        # with the same columns has one set of hashed columns.
        self._hash_columns(load, [c.name for c in t.c if c.name in columns and c is not key])
        load.bulk = True
        position = list(columns).index(key.name)
        ranges: list[list[int]] = []
        count = 0
        progress = Progress(self.revision, t.name, None)
        started = time.perf_counter()
        for chunk in _chunks(rows, STREAM_CHUNK):
            tuples = [tuple(row) for row in chunk]
            self._checksum.update(_digest_text(tuples))
            count += self._copy(t, columns, tuples, first_index=count)
            _add_ranges(ranges, [row[position] for row in tuples])
            progress.advance(len(tuples))
        progress.close()
        self._ledger.record_bulk_ranges(self._run, t, ranges)
        load.seconds += time.perf_counter() - started
        load.rows += count
        log.info("seed %s: %d rows into %s (bulk)", self.revision, count, t.name)
        return count

    def _why_not_copy(self, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> str | None:
        """Why ``rows`` cannot go into ``table`` by COPY here, or None when they can."""
        if not self._dialect.can_copy:
            return f"{self._dialect.name} has no COPY"
        if self.offline:
            return "--sql renders INSERT statements"
        if single_integer_key(table) is None:
            return "the table's key is not one integer column (COPY rows are keyed by ranges)"
        names = set(rows[0]) if rows else set()
        for name in sorted(names & set(table.c.keys())):
            if not isinstance(table.c[name].type, PLAIN_TYPES):
                return f"column {name} ({table.c[name].type}) needs SQL around its values"
        if any(isinstance(v, sa.ClauseElement) for row in rows for v in row.values()):
            return "a value is an SQL expression"
        return None

    def _stream(
        self,
        table: sa.Table,
        first: list[Mapping[str, Any]],
        rest: Iterator[list[Mapping[str, Any]]],
        expected: int | None,
    ) -> int:
        """Load chunks of rows by COPY, reserving the keys they lack chunk by chunk."""
        load = self._load(table)
        key = single_integer_key(table)
        assert key is not None  # _why_not_copy checked it
        columns = validate_rows(self.revision, table, first)
        given = key.name in columns
        names = set(columns)
        pick = operator.itemgetter(*columns)
        single = len(columns) == 1
        self._hash_columns(load, [name for name in columns if name != key.name])
        load.bulk = True
        written = columns if given else [key.name, *columns]
        key_at = columns.index(key.name) if given else 0
        ranges: list[list[int]] = []
        count = 0
        progress = Progress(self.revision, table.name, expected)
        started = time.perf_counter()
        deferred = self._defer_indexes(table, expected)

        def prepared(chunk: list[Mapping[str, Any]], start: int) -> list[tuple[Any, ...]]:
            for index, row in enumerate(chunk, start=start):
                # The first chunk was validated in full; later ones only for shape: the
                # database checks their values (and the error names the row it refused).
                if row.keys() != names:
                    raise SeedDataError(
                        f"sets columns {sorted(row)} but row 0 sets {sorted(names)}; "
                        "give every row of one call the same columns",
                        revision=self.revision,
                        table=table.name,
                        row_index=index,
                    )
            values = [(pick(row),) if single else pick(row) for row in chunk]
            self._checksum.update(_digest_text(values))
            return values

        # The next chunk is built while the server still takes this one in (the
        # backend is another process: the two overlap on two cores). What building it
        # raises waits until this chunk's COPY has ended.
        ahead: list[list[tuple[Any, ...]] | BaseException | None] = []

        def read_ahead(start: int) -> None:
            try:
                following = next(rest, None)
                ahead.append(None if following is None else prepared(following, start))
            except BaseException as err:  # re-raised below, once the COPY has ended
                ahead.append(err)

        values: list[tuple[Any, ...]] | None = prepared(first, 0)
        while values is not None:
            if given:
                keys: Sequence[int] = [row[key_at] for row in values]
                tuples = values
            else:
                keys = self.reserve_keys(table, len(values))
                tuples = [(k, *row) for k, row in zip(keys, values, strict=True)]
            following_start = count + len(tuples)
            count += self._copy(
                table,
                written,
                tuples,
                first_index=count,
                before_end=functools.partial(read_ahead, following_start),
            )
            _add_ranges(ranges, keys)
            progress.advance(len(tuples))
            if not ahead:
                read_ahead(following_start)
            following = ahead.pop()
            if isinstance(following, BaseException):
                raise following
            values = following
        progress.close()
        if deferred:
            self._restore_indexes(table, deferred)
        self._ledger.record_bulk_ranges(self._run, table, ranges)
        load.seconds += time.perf_counter() - started
        load.rows += count
        log.info("seed %s: %d rows into %s (COPY)", self.revision, count, table.name)
        return count

    def _defer_indexes(self, table: sa.Table, expected: int | None) -> list[DeferredIndex]:
        """Drop the secondary indexes of ``table`` for a big load, when that is safe:
        the table is empty (nobody's index is slowed for rows already there) and the
        run is not production's. The drop and the rebuild are in the revision's
        transaction (a failure puts the indexes back) and hold the table's lock until
        it commits."""
        if expected is None or expected < DEFER_INDEXES_FROM:
            return []
        if self.environment is Environment.PRODUCTION:
            return []
        if self._dialect.scalar(sa.select(sa.exists().select_from(table))):
            return []
        deferred = self._dialect.defer_indexes(table)
        if deferred:
            log.info(
                "seed %s: %s empty, %d rows coming: building %s after the load",
                self.revision,
                table.name,
                expected,
                ", ".join(index.name for index in deferred),
            )
        return deferred

    def _restore_indexes(self, table: sa.Table, deferred: list[DeferredIndex]) -> None:
        started = time.perf_counter()
        try:
            self._dialect.restore_indexes(table, deferred)
        except sa.exc.IntegrityError as err:
            # A duplicate the unique index would have refused row by row: the database
            # names the value; the row was one of this load's.
            raise self._dialect.explain_integrity_error(self.revision, table, [], err) from err
        log.info(
            "seed %s: built %d indexes of %s and analyzed it in %.2f s",
            self.revision,
            len(deferred),
            table.name,
            time.perf_counter() - started,
        )

    def _copy(
        self,
        table: sa.Table,
        columns: Sequence[str],
        rows: list[tuple[Any, ...]],
        *,
        first_index: int,
        before_end: Callable[[], None] | None = None,
    ) -> int:
        """One COPY of ``rows``; a refusal becomes an error naming the row and column.
        ``before_end`` runs once the rows are sent, while the server takes them in."""
        handed = [0]  # how many rows the driver was given: the last one may be the culprit

        def tracked() -> Iterator[tuple[Any, ...]]:
            for row in rows:
                handed[0] += 1
                yield row

        try:
            with self._queries_refused(table):
                return self._dialect.bulk_write(table, columns, tracked(), before_end=before_end)
        except sa.exc.DBAPIError as err:
            last = handed[0] - 1
            explained = self._dialect.explain_bulk_error(
                self.revision,
                table,
                columns,
                err,
                last_row=rows[last] if last >= 0 else None,
                last_index=first_index + last,
                first_index=first_index,
                rows=rows,
            )
            if explained is None:
                raise
            raise explained from err

    @contextlib.contextmanager
    def _queries_refused(self, table: sa.Table) -> Iterator[None]:
        """While a COPY holds the connection, a statement on it (a seed's generator
        reading the database for the next chunk) would wait for the COPY forever: it is
        refused with the way out instead."""
        if not self._dialect.can_copy:  # batched INSERTs hold nothing between batches
            yield
            return
        conn = self._dialect.connection

        def refuse(*_: object) -> None:
            raise SeedDataError(
                "the rows' generator used the database while a COPY was writing them "
                "(the next chunk is built during the COPY); read what the rows need "
                "before insert(), or pass via='values'",
                revision=self.revision,
                table=table.name,
            )

        sa.event.listen(conn, "before_cursor_execute", refuse)
        try:
            yield
        finally:
            sa.event.remove(conn, "before_cursor_execute", refuse)

    def load(self, rows_by_table: Mapping[sa.Table | str, Sequence[Mapping[str, Any]]]) -> None:
        """Insert rows of several tables in foreign-key order, cycles included.

        Parents go first (the order comes from the foreign-key graph). A cycle is
        broken at a DEFERRABLE constraint (deferred) or a nullable one (inserted as
        NULL, then updated once both sides exist); rows must carry their keys.
        """
        tables = [self._table(t) for t in rows_by_table]
        given = {self._table(t).name: list(rows) for t, rows in rows_by_table.items()}
        order = load_order(tables)
        if order.deferred:
            self._require_online()
            self._dialect.defer_constraints([str(c.name) for c in order.deferred])
        later: list[tuple[sa.Table, list[str], list[Mapping[str, Any]]]] = []
        for table in order.tables:
            rows = given[table.name]
            nulled = [c for c in order.nulled_columns(table) if rows and c in rows[0]]
            if nulled:
                later.append((table, nulled, rows))
                rows = [{**row, **dict.fromkeys(nulled)} for row in rows]
            self._write(table, rows, conflict_on=None)
        for table, columns, rows in later:
            pk = [c.name for c in table.primary_key.columns]
            statement = (
                sa.update(table)
                .where(*(table.c[name] == sa.bindparam(f"key_{name}") for name in pk))
                .values({name: sa.bindparam(f"set_{name}") for name in columns})
            )
            params = [
                {**{f"key_{n}": row[n] for n in pk}, **{f"set_{n}": row[n] for n in columns}}
                for row in rows
            ]
            self.connection.execute(statement, params)
            self._ledger.refresh_hashes(self._run, table, self.loads[table.name].hashed)
            log.info(
                "seed %s: set %s of %d %s rows after the cycle",
                self.revision,
                ", ".join(columns),
                len(rows),
                table.name,
            )

    def adopt(self, table: sa.Table | str, keys: Iterable[Sequence[Any]]) -> int:
        """Record rows this seed created some other way (an ORM session on
        ``ctx.connection``, say) so the downgrade removes them too.

        Only adopt rows this seed itself created: the downgrade deletes them.
        Returns how many of the keys were found.
        """
        t = self._table(table)
        load = self._load(t)
        key = single_integer_key(t)
        hashed = self._hash_columns(load, [c.name for c in t.columns if c is not key])
        wanted = [tuple(k) for k in keys]
        if self.offline:  # there is no ledger row to attach keys to
            raise OfflineUnsupported(f"seed {self.revision}: adopt() needs the database")
        found = self._ledger.adopt(self._run, t, wanted, hashed=hashed)
        if found != len(wanted):
            raise SeedDataError(
                f"adopt() was given {len(wanted)} keys but {found} rows exist; adopt only "
                "rows this seed created (and flush the session first)",
                revision=self.revision,
                table=t.name,
            )
        load.rows += found
        return found

    @contextlib.contextmanager
    def checkpoint(self, name: str, *, recover: bool = False) -> Iterator[Checkpoint]:
        """A named SAVEPOINT inside the seed's transaction.

        Leaving the block normally releases it. An exception rolls the database (and
        this context's counts and checksum) back to it; with ``recover=True`` the
        error is logged and the seed carries on, otherwise it propagates.
        ``cp.rollback()`` inside the block goes back to the checkpoint and continues.
        """
        if self.offline:
            raise OfflineUnsupported(f"seed {self.revision}: checkpoints need the database")
        point = Checkpoint(self, name)
        try:
            yield point
        except Exception as err:
            point.rollback()
            point.release()
            if not recover:
                raise
            log.warning("seed %s: rolled back to checkpoint %r after: %s", self.revision, name, err)
        else:
            point.release()

    def finish(self) -> None:
        """Hash the rows :meth:`bulk` wrote, one statement per table; called by the seed
        revision once its function has returned (so the hashes hold what the seed left)."""
        for load in self.loads.values():
            if not load.bulk:
                continue
            started = time.perf_counter()
            hashed = self._ledger.hash_bulk_rows(self._run, load.table, load.hashed)
            seconds = time.perf_counter() - started
            load.seconds += seconds
            log.info(
                "seed %s: hashed %d bulk rows of %s in %.2f s",
                self.revision,
                hashed,
                load.table.name,
                seconds,
            )

    def report(self) -> list[tuple[str, int, float]]:
        """(table, rows, rows per second) for every table written, in order."""
        return [
            (name, load.rows, load.rows / load.seconds if load.seconds else 0.0)
            for name, load in self.loads.items()
        ]

    # -- internals --------------------------------------------------------------
    def _require_online(self) -> None:
        """Refuse under --sql, naming this seed (the step needs to read the database)."""
        _ = self.connection

    def _table(self, table: sa.Table | str) -> sa.Table:
        name = table if isinstance(table, str) else table.name
        try:
            return self.tables[name]
        except KeyError:
            raise SeedDataError(
                f"is not declared by this seed revision (it declares {sorted(self.tables)}); "
                "add it to tables=[...]",
                revision=self.revision,
                table=name,
            ) from None

    def _load(self, table: sa.Table) -> TableLoad:
        if table.name not in self.loads:
            # The sequence as it stood before this seed's first row: the downgrade
            # puts it back so up, down, up gives the same keys.
            sequence = None if self.offline else self._dialect.sequence_state(table)
            volatile = self._volatile.get(table.name, [])
            self.loads[table.name] = TableLoad(table, sequence=sequence, volatile=volatile)
        return self.loads[table.name]

    def _hash_columns(self, load: TableLoad, columns: list[str]) -> list[str]:
        # The undo compares each row with a hash over these columns; one set per
        # table keeps that comparison meaningful (adopt() hashes every column, the
        # others the columns written; a single integer key never, being the row's
        # identity in the ledger). Volatile columns are never hashed.
        hashed = [name for name in columns if name not in load.volatile]
        if load.hashed and load.hashed != hashed:
            raise SeedDataError(
                f"sets columns {hashed}, but earlier rows of this seed set {load.hashed}; "
                "give every row written to one table the same columns (None where empty)",
                revision=self.revision,
                table=load.table.name,
            )
        load.hashed = hashed
        return hashed

    def _write(
        self,
        table: sa.Table,
        rows: list[Mapping[str, Any]],
        *,
        conflict_on: list[str] | None,
        offset: int = 0,
    ) -> int | None:
        load = self._load(table)
        if not rows:
            return 0
        started = time.perf_counter()
        try:
            return self._write_rows(table, load, rows, conflict_on=conflict_on, offset=offset)
        finally:
            load.seconds += time.perf_counter() - started

    def _write_rows(
        self,
        table: sa.Table,
        load: TableLoad,
        rows: list[Mapping[str, Any]],
        *,
        conflict_on: list[str] | None,
        offset: int = 0,
    ) -> int | None:
        columns = validate_rows(self.revision, table, rows, offset=offset)
        # A single integer key is the row's identity in the ledger, not a value to
        # compare: left out, so rows of one table hash alike by INSERT and by COPY.
        key = single_integer_key(table)
        hashed = self._hash_columns(load, [c for c in columns if key is None or c != key.name])
        inserted: int | None = 0
        size = rows_per_statement(len(columns))
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            # Values in table order, as the COPY path sums them: the checksum does not
            # depend on the way the rows went in.
            self._checksum.update(
                _digest_text([tuple(_canonical(row[c]) for c in columns) for row in batch])
            )
            try:
                count = self._ledger.insert_recorded(
                    self._run,
                    table,
                    batch,
                    hashed=hashed,
                    conflict_on=conflict_on,
                    revision=self.revision,
                )
            except sa.exc.IntegrityError as err:
                raise self._dialect.explain_integrity_error(
                    self.revision, table, batch, err, offset=offset + start
                ) from err
            except sa.exc.DBAPIError as err:
                explained = self._dialect.explain_write_error(
                    self.revision, table, batch, err, offset=offset + start
                )
                if explained is None:
                    raise
                raise explained from err
            inserted = None if count is None or inserted is None else inserted + count
        if inserted is not None:
            load.rows += inserted
            skipped = len(rows) - inserted
            log.info(
                "seed %s: %d rows into %s%s",
                self.revision,
                inserted,
                table.name,
                f" ({skipped} already there)" if skipped else "",
            )
        return inserted


class Checkpoint:
    """A SAVEPOINT plus a copy of the context's bookkeeping at that moment."""

    def __init__(self, ctx: SeedContext, name: str) -> None:
        self.name = name
        self._ctx = ctx
        self._savepoint = ctx.connection.begin_nested()
        self._loads = {n: (ld.rows, list(ld.hashed), ld.seconds) for n, ld in ctx.loads.items()}
        self._checksum = ctx._checksum.copy()
        log.info("seed %s: checkpoint %r", ctx.revision, name)

    def rollback(self) -> None:
        """Go back to the checkpoint: rows written since are gone, counts too."""
        if not self._savepoint.is_active:
            return
        self._savepoint.rollback()
        ctx = self._ctx
        for name, load in ctx.loads.items():
            # A table first written after the checkpoint keeps its entry (and the
            # sequence state from before the seed), emptied.
            rows, hashed, seconds = self._loads.get(name, (0, [], 0.0))
            load.rows, load.hashed, load.seconds = rows, list(hashed), seconds
        ctx._checksum = self._checksum.copy()
        self._savepoint = ctx.connection.begin_nested()
        log.info("seed %s: rolled back to checkpoint %r", ctx.revision, self.name)

    def release(self) -> None:
        """Keep what was written since the checkpoint."""
        if self._savepoint.is_active:
            self._savepoint.commit()
