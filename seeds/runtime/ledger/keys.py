"""The keys of the rows each seed run inserted: recording them, matching them, checking them.

:class:`KeyRecords` is the half of the ledger that works on ``seed_ledger_keys``: the
recorded insert (rows and their keys in one statement where the dialect can), bulk
ranges and their row hashes, adoption, and the set-based queries of the undo (count,
change check, delete), plus the check that a closed run's keys are still the ones it
recorded. :class:`~seeds.runtime.ledger.Ledger` is built on it.
"""

from __future__ import annotations

import functools
import heapq
import json
import logging
import operator
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from seeds.dialects import Dialect
from seeds.dialects.base import (
    columns_in,
    hash_number,
    python_key_checksum,
    python_row_hash,
    single_integer_key,
)
from seeds.errors import LedgerDamaged, OfflineUnsupported
from seeds.runtime.ledger.tables import (
    HASH_BLOCK,
    Status,
    ledger,
    ledger_hashes,
    ledger_keys,
)

log = logging.getLogger(__name__)

Row = Mapping[str, Any]

_KEY_COLUMNS = ["ledger_id", "table_name", "first_key", "last_key", "key", "row_hash"]
# Keys per statement when the ledger has to name them one by one.
_BATCH = 500

# Key of the ``undo`` JSON holding, per table, what close_run found recorded:
# {"count": keys, "sum": twice the sum of the integer keys, "checksum": sum of the
# other keys' 60-bit md5 prefixes (null when nobody could compute it, offline)}.
RECORDED = "recorded"


@dataclass(frozen=True)
class RunRef:
    """An open ledger row: its id online, and an SQL expression naming it either way.

    Offline there is no id to read back; the expression finds the newest row of the
    revision when the rendered script runs.
    """

    id: int | None
    ref: sa.ColumnElement[Any]


class KeyRecords:
    """Reads and writes of ``seed_ledger_keys`` over one bound dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect

    # -- what a closed run recorded, checked before its undo ---------------------------
    def _recorded_facts(
        self, ref: sa.ColumnElement[Any], table_name: str
    ) -> tuple[sa.Select[int, int, int], bool]:
        """One row of count, sum and checksum of a run's keys of one table (set-based),
        and whether the checksum is in it (else it is NULL: keys go through Python)."""
        k = ledger_keys.c
        width = k.last_key - k.first_key + 1
        # Numeric: no bigint overflow however large the keys; no division, so exact.
        doubled = (sa.cast(k.first_key, sa.Numeric) + k.last_key) * width
        count = sa.func.coalesce(sa.func.sum(sa.case((k.key.is_(None), width), else_=1)), 0)
        total = sa.func.coalesce(sa.func.sum(sa.case((k.key.is_(None), doubled), else_=0)), 0)
        server = self.dialect.key_checksum(k.key)
        checksum = sa.func.coalesce(sa.func.sum(server), 0) if server is not None else sa.null()
        query = sa.select(
            sa.type_coerce(count, sa.BigInteger).label("count"),
            sa.type_coerce(total, sa.BigInteger).label("sum"),
            sa.type_coerce(checksum, sa.BigInteger).label("checksum"),
        ).where(k.ledger_id == ref, k.table_name == table_name)
        return query, server is not None

    def _python_checksum(self, ref: sa.ColumnElement[Any], table_name: str) -> int | None:
        """The checksum of a run's composite keys, summed here; None offline."""
        if self.dialect.offline:
            return None
        k = ledger_keys.c
        texts = self.dialect.run(
            sa.select(sa.type_coerce(k.key, sa.Text)).where(
                k.ledger_id == ref, k.table_name == table_name, k.key.is_not(None)
            )
        ).scalars()
        return sum(python_key_checksum(text) for text in texts)

    def _undo_with_recorded(self, ref: sa.ColumnElement[Any], undo: Mapping[str, Any]) -> Any:
        """The ``undo`` JSON text with ``recorded`` filled in by the database.

        Built as SQL concatenation of JSON fragments (bound literals) and the cast
        aggregates, so the same statement renders deterministically in ``--sql``.
        """
        names = [entry["name"] for entry in undo.get("tables", [])]
        if not names:
            return {**undo, RECORDED: {}}
        fixed = json.dumps({k: v for k, v in undo.items() if k != RECORDED}, sort_keys=True)
        head = fixed[:-1] + (", " if fixed != "{}" else "") + json.dumps(RECORDED) + ": {"
        parts: list[sa.ColumnElement[str]] = [sa.literal(head, sa.Text)]
        for i, name in enumerate(names):
            query, on_server = self._recorded_facts(ref, name)
            facts = query.subquery()
            checksum: sa.ColumnElement[str]
            if on_server:
                checksum = sa.cast(facts.c.checksum, sa.Text)
            else:
                value = self._python_checksum(ref, name)
                checksum = sa.literal(json.dumps(value), sa.Text)
            fragment = functools.reduce(
                operator.add,
                [
                    sa.literal(
                        ("" if i == 0 else ", ") + json.dumps(name) + ': {"checksum": ', sa.Text
                    ),
                    checksum,
                    sa.literal(', "count": ', sa.Text),
                    sa.cast(facts.c.count, sa.Text),
                    sa.literal(', "sum": ', sa.Text),
                    sa.cast(facts.c.sum, sa.Text),
                    sa.literal("}", sa.Text),
                ],
            )
            parts.append(sa.select(fragment).select_from(facts).scalar_subquery())
        parts.append(sa.literal("}}", sa.Text))
        return functools.reduce(operator.add, parts)

    def _counts_recorded(self, ref: sa.ColumnElement[Any], names: list[str]) -> Any:
        """``{"table": rows, ...}`` as JSON text the database counts from the key rows.

        For ``--sql``: only the database running the script knows how many rows
        ``ON CONFLICT DO NOTHING`` inserted, and the keys it recorded say exactly that.
        """
        if not names:
            return {}
        parts: list[sa.ColumnElement[str]] = []
        for i, name in enumerate(names):
            facts = self._recorded_facts(ref, name)[0].subquery()
            label = ("{" if i == 0 else ", ") + json.dumps(name) + ": "
            parts.append(sa.literal(label, sa.Text))
            parts.append(
                sa.select(sa.cast(facts.c.count, sa.Text)).select_from(facts).scalar_subquery()
            )
        parts.append(sa.literal("}", sa.Text))
        return functools.reduce(operator.add, parts)

    def recorded_now(self, ledger_id: int, table_name: str) -> dict[str, int | None]:
        """Count, sum and checksum of a run's key rows of one table as they are now."""
        ref = sa.literal(ledger_id, sa.BigInteger)
        query, on_server = self._recorded_facts(ref, table_name)
        row = self.dialect.run(query).one()
        checksum = row.checksum if on_server else self._python_checksum(ref, table_name)
        return {
            "checksum": None if checksum is None else int(checksum),
            "count": int(row.count),
            "sum": int(row.sum),
        }

    def check_keys(self, record: Any) -> None:
        """Compare a run's key rows with what it recorded when it closed.

        Raises:
            LedgerDamaged: key rows were deleted, added or edited since; nothing has
                been deleted yet (call it before planning the undo).
        """
        recorded = (record.undo or {}).get(RECORDED)
        if recorded is None:
            # Runs closed before the ledger recorded these facts have nothing to compare.
            log.info("seed %s: the ledger holds no key counts to check", record.revision)
            return
        for name, expected in sorted(recorded.items()):
            found = self.recorded_now(record.id, name)
            compared = ["count", "sum"]
            if expected.get("checksum") is not None and found["checksum"] is not None:
                compared.append("checksum")
            if any(int(expected[fact]) != found[fact] for fact in compared):
                raise LedgerDamaged(
                    record.revision,
                    name,
                    expected={fact: int(expected[fact]) for fact in compared},
                    found={fact: int(found[fact] or 0) for fact in compared},
                )

    # -- keys of the rows a run inserted ----------------------------------------------
    def forget_keys(self, ledger_id: int) -> None:
        """Drop the key rows of a run whose rows are gone (the run row stays as history)."""
        self.dialect.execute(ledger_keys.delete().where(ledger_keys.c.ledger_id == ledger_id))
        self.dialect.execute(ledger_hashes.delete().where(ledger_hashes.c.ledger_id == ledger_id))

    def insert_recorded(
        self,
        run: RunRef,
        table: sa.Table,
        rows: Sequence[Row],
        *,
        hashed: Sequence[str],
        conflict_on: Sequence[str] | None,
        revision: str,
    ) -> int | None:
        """Insert rows and record the keys (and value hashes) of those inserted.

        Returns how many rows were inserted (None offline, where nobody knows).
        """
        dialect = self.dialect
        pk = list(table.primary_key.columns)
        source, params = dialect.insert_source(table, rows, conflict_on)
        returning = source.returning(*pk, *(table.c[name] for name in hashed))
        if dialect.records_in_one_statement:
            seeded = returning.cte("seeded")
            server_hash = dialect.row_hash(seeded.c[name] for name in hashed)
            assert server_hash is not None  # such dialects hash on the server
            rows_of = self._key_rows(run, table, [seeded.c[c.name] for c in pk], server_hash)
            record = ledger_keys.insert().from_select(_KEY_COLUMNS, rows_of.select_from(seeded))
            # The INSERT's rowcount is the number of keys recorded = rows inserted (a
            # conflicting row is skipped by the CTE and records nothing); SQLAlchemy
            # keeps rowcount for such statements only when asked.
            result = dialect.execute(record.execution_options(preserve_rowcount=True), params)
            return None if result is None else result.rowcount
        if dialect.offline:
            raise OfflineUnsupported(
                f"seed {revision}: --sql on {dialect.name} cannot record which rows it "
                f"inserts into {table.name} (only PostgreSQL renders that as SQL); run it online"
            )
        inserted = dialect.run(returning, params).all()
        self._record_python(run.ref, table, [tuple(r) for r in inserted], len(pk))
        return len(inserted)

    def adopt(
        self, run: RunRef, table: sa.Table, keys: Sequence[Sequence[Any]], *, hashed: Sequence[str]
    ) -> int:
        """Record existing rows (by key) as inserted by this run; return how many exist."""
        pk = list(table.primary_key.columns)
        selected = [*pk, *(table.c[n] for n in hashed)]
        server_hash = self.dialect.row_hash(table.c[n] for n in hashed)
        found = 0
        for start in range(0, len(keys), _BATCH):
            where = columns_in(pk, keys[start : start + _BATCH])
            if server_hash is not None:
                rows_of = self._key_rows(run, table, pk, server_hash).where(where)
                record = ledger_keys.insert().from_select(_KEY_COLUMNS, rows_of)
                found += self.dialect.run(record.execution_options(preserve_rowcount=True)).rowcount
                continue
            current = [tuple(r) for r in self.dialect.run(sa.select(*selected).where(where))]
            self._record_python(run.ref, table, current, len(pk))
            found += len(current)
        return found

    def record_bulk_ranges(
        self, run: RunRef, table: sa.Table, ranges: Sequence[Sequence[int]]
    ) -> None:
        """Record the keys of bulk-written rows as [first, last] ranges (hashed later,
        by :meth:`hash_bulk_rows`)."""
        rows = [{"table_name": table.name, "first_key": r[0], "last_key": r[1]} for r in ranges]
        statement = ledger_keys.insert().values(ledger_id=run.ref)
        for start in range(0, len(rows), 5_000):
            self.dialect.execute(statement, rows[start : start + 5_000])

    def hash_bulk_rows(self, run: RunRef, table: sa.Table, hashed: Sequence[str]) -> int:
        """Hash every row the run bulk-wrote into ``table``; return how many keys it covered.

        Call once per table, after the run's last bulk write to it. The run's key
        ranges are cut into blocks of HASH_BLOCK keys; each block gets one row of
        ``seed_ledger_hashes`` holding the hash of every key's row, in key order. One
        INSERT ... SELECT where the server hashes; elsewhere block by block in Python.
        """
        key = single_integer_key(table)
        assert key is not None  # bulk() accepts only tables with one integer key
        server_hash = self.dialect.row_hash(table.c[n] for n in hashed)
        blocks = self._bulk_blocks(run.ref, table).subquery("blocks")
        in_block = key.between(blocks.c.first_key, blocks.c.last_key)
        packed = None if server_hash is None else self.dialect.packed_hashes(server_hash, key)
        if server_hash is not None and packed is not None:
            # The block's rows through the key index, in key order: their hashes line
            # up with the keys when every key has its row (the seed deleted none).
            found = (
                sa.select(packed.label("hashes"), sa.func.count().label("rows"))
                .where(in_block)
                .lateral("found")
            )
            # Otherwise key by key (an index probe each), a key with no row as NULL.
            each = (
                sa.func.generate_series(blocks.c.first_key, blocks.c.last_key)
                .table_valued("k")
                .render_derived()
            )
            hash_of_key = sa.select(server_hash).where(key == each.c.k).scalar_subquery()
            with_gaps = self.dialect.packed_hashes(hash_of_key, each.c.k)
            assert with_gaps is not None  # the dialect packed the other form
            by_key = sa.select(with_gaps).select_from(each).scalar_subquery()
            size = blocks.c.last_key - blocks.c.first_key + 1
            record = ledger_hashes.insert().from_select(
                ["ledger_id", "table_name", "first_key", "last_key", "hashes"],
                sa.select(
                    run.ref,
                    sa.literal(table.name, sa.String),
                    blocks.c.first_key,
                    blocks.c.last_key,
                    sa.case((found.c.rows == size, found.c.hashes), else_=by_key),
                ).select_from(blocks.join(found, sa.true())),
            )
            self.dialect.execute(record)
        else:
            k = ledger_keys.c
            ranges = self.dialect.run(
                sa.select(k.first_key, k.last_key).where(*self._is_bulk_range(run.ref, table))
            ).all()
            for first_key, last_key in ranges:
                for first in range(first_key, last_key + 1, HASH_BLOCK):
                    last = min(first + HASH_BLOCK - 1, last_key)
                    self.dialect.execute(
                        ledger_hashes.insert().values(
                            ledger_id=run.ref,
                            table_name=table.name,
                            first_key=first,
                            last_key=last,
                            hashes=self._python_block(table, hashed, first, last),
                        )
                    )
        h = ledger_hashes.c
        covered = sa.select(sa.func.coalesce(sa.func.sum(h.last_key - h.first_key + 1), 0)).where(
            h.ledger_id == run.ref, h.table_name == table.name
        )
        return int(self.dialect.scalar(covered))

    @staticmethod
    def _is_bulk_range(ref: sa.ColumnElement[Any], table: sa.Table) -> list[sa.ColumnElement[bool]]:
        k = ledger_keys.c
        return [
            k.ledger_id == ref,
            k.table_name == table.name,
            k.row_hash.is_(None),
            k.key.is_(None),
            k.last_key.is_not(None),
        ]

    def _bulk_blocks(self, ref: sa.ColumnElement[Any], table: sa.Table) -> sa.Select[Any]:
        """(first_key, last_key) of every HASH_BLOCK-sized block of the run's bulk ranges,
        cut by the server (generate_series)."""
        k = ledger_keys.c
        starts = (
            sa.func.generate_series(k.first_key, k.last_key, HASH_BLOCK)
            .table_valued("first")
            .render_derived()
        )
        last = sa.func.least(starts.c.first + (HASH_BLOCK - 1), k.last_key)
        return (
            sa.select(starts.c.first.label("first_key"), last.label("last_key"))
            .select_from(ledger_keys)
            .join(starts, sa.true())
            .where(*self._is_bulk_range(ref, table))
        )

    def _python_block(
        self, table: sa.Table, hashed: Sequence[str], first: int, last: int
    ) -> list[int | None]:
        """The packed hashes of keys ``first`` .. ``last``, computed here."""
        key = single_integer_key(table)
        assert key is not None
        rows = self.dialect.run(
            sa.select(key, *(table.c[n] for n in hashed)).where(key.between(first, last))
        )
        found = {row[0]: hash_number(python_row_hash(row[1:])) for row in rows}
        return [found.get(n) for n in range(first, last + 1)]

    def refresh_hashes(self, run: RunRef, table: sa.Table, hashed: Sequence[str]) -> None:
        """Re-hash recorded rows after the seed itself updated them (cycle loads)."""
        server_hash = self.dialect.row_hash(table.c[n] for n in hashed)
        matches = self._matches(table, run.ref)
        if server_hash is not None and matches is not None:
            self.dialect.execute(ledger_keys.update().where(matches).values(row_hash=server_hash))
            return
        pk = list(table.primary_key.columns)
        k = ledger_keys.c
        for batch in self._recorded_batches(table, run.ref):
            where = columns_in(pk, [key for key, _ in batch])
            selected = sa.select(*pk, *(table.c[n] for n in hashed)).where(where)
            for row in self.dialect.run(selected):
                key = list(row[: len(pk)])
                self.dialect.execute(
                    ledger_keys.update()
                    .where(
                        k.ledger_id == run.ref,
                        k.table_name == table.name,
                        self._stored_is(table, key),
                    )
                    .values(row_hash=python_row_hash(row[len(pk) :]))
                )

    def count_recorded(self, ledger_id: int, table: sa.Table) -> int:
        """How many of the rows the run inserted into ``table`` are still there."""
        key = single_integer_key(table)
        if key is not None:
            # Each recorded range reads its own rows through the key index: a million
            # keys in one range are one index range scan, not a million-entry hash of
            # the expanded key set.
            k = ledger_keys.c
            ranges = sa.and_(
                k.ledger_id == sa.literal(ledger_id, sa.BigInteger),
                k.table_name == table.name,
                k.key.is_(None),
                k.last_key.is_not(None),
                key.between(k.first_key, k.last_key),
            )
            counted = sa.select(sa.func.count()).select_from(ledger_keys.join(table, ranges))
            return int(self.dialect.scalar(counted) or 0)
        query = sa.select(sa.func.count()).select_from(table)
        return sum(
            self.dialect.scalar(query.where(where)) or 0
            for where in self._recorded_wheres(ledger_id, table)
        )

    def changed_rows(self, ledger_id: int, table: sa.Table, hashed: Sequence[str]) -> int:
        """How many recorded rows no longer hold the values the seed wrote."""
        ref = sa.literal(ledger_id, sa.BigInteger)
        server_hash = self.dialect.row_hash(table.c[n] for n in hashed)
        joined = self._hashed_join(table, ref)
        if server_hash is not None and joined is not None:
            query = (
                sa.select(sa.func.count())
                .select_from(table.join(ledger_keys, joined))
                .where(server_hash != ledger_keys.c.row_hash)
            )
            per_row = int(self.dialect.scalar(query) or 0)
        else:
            per_row = sum(1 for _ in self._changed_in_python(table, ref, hashed))
        bulk = self._changed_bulk(table, ref, hashed)
        if isinstance(bulk, sa.Select):
            counted = sa.select(sa.func.count()).select_from(bulk.subquery())
            return per_row + int(self.dialect.scalar(counted) or 0)
        return per_row + sum(1 for _ in bulk)

    def changed_keys(
        self, ledger_id: int, table: sa.Table, hashed: Sequence[str], *, limit: int
    ) -> list[tuple[Any, ...]]:
        """The keys of the first ``limit`` changed rows (by key), as :meth:`changed_rows`
        counts them: one query where the server hashes, else a pass in Python."""
        ref = sa.literal(ledger_id, sa.BigInteger)
        pk = list(table.primary_key.columns)
        server_hash = self.dialect.row_hash(table.c[n] for n in hashed)
        joined = self._hashed_join(table, ref)
        if server_hash is not None and joined is not None:
            query = (
                sa.select(*pk)
                .select_from(table.join(ledger_keys, joined))
                .where(server_hash != ledger_keys.c.row_hash)
                .order_by(*pk)
                .limit(limit)
            )
            per_row = [tuple(row) for row in self.dialect.run(query)]
        else:
            per_row = heapq.nsmallest(limit, self._changed_in_python(table, ref, hashed))
        bulk = self._changed_bulk(table, ref, hashed)
        if isinstance(bulk, sa.Select):
            bulk_keys = [tuple(row) for row in self.dialect.run(bulk.order_by(*pk).limit(limit))]
        else:
            bulk_keys = heapq.nsmallest(limit, bulk)
        return heapq.nsmallest(limit, [*per_row, *bulk_keys])

    def _changed_bulk(
        self, table: sa.Table, ref: sa.ColumnElement[Any], hashed: Sequence[str]
    ) -> sa.Select[Any] | Iterator[tuple[Any, ...]]:
        """The keys of bulk-loaded rows whose values no longer hash as recorded: a
        SELECT where the server hashes, else the keys found block by block in Python.

        Each block's array is unnested once and its n-th hash meets the row keyed
        first_key + n - 1, so the comparison is set-based and never one per row.
        """
        key = single_integer_key(table)
        h = ledger_hashes.c
        if key is None:
            return iter(())
        server_hash = self.dialect.row_hash(table.c[n] for n in hashed)
        stored = self.dialect.unpacked(h.hashes)
        if server_hash is not None and stored is not None:
            now = self.dialect.hash_number(server_hash)
            return (
                sa.select(key)
                .select_from(ledger_hashes)
                .join(stored, sa.true())
                .join(table, key == h.first_key + stored.c.n - 1)
                .where(
                    h.ledger_id == ref,
                    h.table_name == table.name,
                    stored.c.hash.is_distinct_from(now),
                )
            )
        return self._changed_bulk_in_python(table, ref, hashed)

    def _changed_bulk_in_python(
        self, table: sa.Table, ref: sa.ColumnElement[Any], hashed: Sequence[str]
    ) -> Iterator[tuple[Any, ...]]:
        h = ledger_hashes.c
        blocks = self.dialect.run(
            sa.select(h.first_key, h.last_key, h.hashes).where(
                h.ledger_id == ref, h.table_name == table.name
            )
        ).all()
        for first, last, stored in blocks:
            now = self._python_block(table, hashed, first, last)
            for offset, (was, is_) in enumerate(zip(stored, now, strict=True)):
                if is_ is not None and is_ != was:
                    yield (first + offset,)

    def null_recorded(self, ledger_id: int, table: sa.Table, columns: Sequence[str]) -> None:
        """Set ``columns`` to NULL in the rows the run inserted (a cycle's nullable key,
        cleared before the delete the way the load filled it in after the insert)."""
        for where in self._recorded_wheres(ledger_id, table):
            self.dialect.execute(sa.update(table).where(where).values(dict.fromkeys(columns)))

    def status_of(self, ledger_id: int) -> Status | None:
        """The status of one ledger row as committed so far, or None when it is gone."""
        value = self.dialect.scalar(sa.select(ledger.c.status).where(ledger.c.id == ledger_id))
        return None if value is None else Status(value)

    def delete_recorded(self, ledger_id: int, table: sa.Table) -> int:
        """Delete the rows the run inserted into ``table``; return how many."""
        deleted = 0
        for where in self._recorded_wheres(ledger_id, table):
            statement = sa.delete(table).where(where)
            self.dialect.log_sql(statement)
            deleted += int(self.dialect.run(statement).rowcount)
        return deleted

    # -- how a table's rows meet their key rows ---------------------------------------
    def _key_rows(
        self,
        run: RunRef,
        table: sa.Table,
        key_columns: Sequence[sa.ColumnElement[Any]],
        row_hash: sa.ColumnElement[str],
    ) -> sa.Select[Any]:
        """The SELECT of ``_KEY_COLUMNS`` recording rows whose key is ``key_columns``:
        an integer key as a one-key range, any other as JSON text, with its hash."""
        if single_integer_key(table) is not None:
            key_parts = [key_columns[0], key_columns[0], sa.null()]
        else:
            text = self.dialect.key_text(key_columns)
            key_parts = [sa.null(), sa.null(), text if text is not None else sa.null()]
        return sa.select(run.ref, sa.literal(table.name, sa.String), *key_parts, row_hash)

    def _matches(
        self, table: sa.Table, ref: sa.ColumnElement[Any]
    ) -> sa.ColumnElement[bool] | None:
        """Join condition of ``table``'s rows with this run's key rows; None where the
        dialect cannot compare a composite key in SQL (then keys go through Python)."""
        k = ledger_keys.c
        int_key = single_integer_key(table)
        matches = (
            int_key.between(k.first_key, k.last_key)
            if int_key is not None
            else self.dialect.key_matches(list(table.primary_key.columns), k.key)
        )
        if matches is None:
            return None
        return sa.and_(k.ledger_id == ref, k.table_name == table.name, matches)

    def _hashed_join(
        self, table: sa.Table, ref: sa.ColumnElement[Any]
    ) -> sa.ColumnElement[bool] | None:
        """Join condition of ``table``'s rows with this run's hash rows (one per row);
        None where the dialect cannot compare a composite key in SQL.

        Every hash row of an integer key has ``first_key`` = the row's key (per-row
        key rows and bulk hash rows alike), so the join is an equality.
        """
        k = ledger_keys.c
        int_key = single_integer_key(table)
        matches = (
            int_key == k.first_key
            if int_key is not None
            else self.dialect.key_matches(list(table.primary_key.columns), k.key)
        )
        if matches is None:
            return None
        return sa.and_(
            k.ledger_id == ref, k.table_name == table.name, k.row_hash.is_not(None), matches
        )

    def _changed_in_python(
        self, table: sa.Table, ref: sa.ColumnElement[Any], hashed: Sequence[str]
    ) -> Iterator[tuple[Any, ...]]:
        """Keys of recorded rows whose values no longer hash as recorded (Python's hash)."""
        k = ledger_keys.c
        pk = list(table.primary_key.columns)
        integer = single_integer_key(table) is not None
        recorded = self.dialect.run(
            sa.select(k.key, k.first_key, k.row_hash).where(
                k.ledger_id == ref, k.table_name == table.name, k.row_hash.is_not(None)
            )
        ).all()
        for start in range(0, len(recorded), _BATCH):
            expected = {
                (row.first_key,) if integer else tuple(row.key): row.row_hash
                for row in recorded[start : start + _BATCH]
            }
            where = columns_in(pk, list(expected))
            for row in self.dialect.run(sa.select(*pk, *(table.c[n] for n in hashed)).where(where)):
                key = tuple(row[: len(pk)])
                if python_row_hash(row[len(pk) :]) != expected.get(key):
                    yield key

    def _recorded_filter(
        self, table: sa.Table, ref: sa.ColumnElement[Any]
    ) -> sa.ColumnElement[bool] | None:
        """``table``'s rows that this run recorded, in SQL; None where keys go by Python.

        Integer keys are matched against the key set the ranges expand to, so the
        database can hash-join them: matching each row against every range (BETWEEN in
        a correlated subquery) is a nested loop, minutes at 100,000 rows.
        """
        k = ledger_keys.c
        int_key = single_integer_key(table)
        series = self.dialect.key_series(k.first_key, k.last_key)
        if int_key is not None and series is not None:
            keys = sa.select(series).where(k.ledger_id == ref, k.table_name == table.name)
            return int_key.in_(keys)
        matches = self._matches(table, ref)
        if matches is None:
            return None
        return sa.exists(sa.select(1).select_from(ledger_keys).where(matches))

    def _recorded_wheres(self, ledger_id: int, table: sa.Table) -> Iterator[sa.ColumnElement[bool]]:
        """WHERE clauses that together select the rows this run recorded: one set-based
        clause, or, where keys cannot be matched in SQL, one ``key IN (...)`` per batch."""
        ref = sa.literal(ledger_id, sa.BigInteger)
        where = self._recorded_filter(table, ref)
        if where is not None:
            yield where
            return
        pk = list(table.primary_key.columns)
        for batch in self._recorded_batches(table, ref):
            yield columns_in(pk, [key for key, _ in batch])

    def recorded_filter(self, ledger_id: int, table: sa.Table) -> sa.ColumnElement[bool] | None:
        """``table``'s rows this run recorded, as a WHERE clause; None where it cannot be
        said in SQL (composite keys on a database without JSON functions)."""
        return self._recorded_filter(table, sa.literal(ledger_id, sa.BigInteger))

    def recorded_keys(self, ledger_id: int, table: sa.Table) -> sa.Select[Any] | None:
        """A SELECT of the key of every row of ``table`` this run recorded that is still
        there (single-column keys), for queries that look for rows referencing them."""
        where = self._recorded_filter(table, sa.literal(ledger_id, sa.BigInteger))
        columns = list(table.primary_key.columns)
        if where is None or len(columns) != 1:
            return None
        return sa.select(columns[0]).where(where)

    def _stored_is(self, table: sa.Table, key: list[Any]) -> sa.ColumnElement[bool]:
        k = ledger_keys.c
        stored: sa.ColumnElement[bool] = (
            k.first_key == key[0] if single_integer_key(table) is not None else k.key == key
        )
        return stored

    def _recorded_batches(
        self, table: sa.Table, ref: sa.ColumnElement[Any]
    ) -> Iterator[list[tuple[tuple[Any, ...], str | None]]]:
        """(key, row hash) of every recorded row of ``table``, in batches."""
        k = ledger_keys.c
        rows = self.dialect.run(
            sa.select(k.key, k.first_key, k.last_key, k.row_hash).where(
                k.ledger_id == ref, k.table_name == table.name
            )
        ).all()
        pairs: list[tuple[tuple[Any, ...], str | None]] = []
        for row in rows:
            if row.key is not None:
                pairs.append((tuple(row.key), row.row_hash))
            elif row.last_key is None:
                continue  # a bulk row's hash; its key is in the run's range rows
            else:
                pairs.extend(((n,), row.row_hash) for n in range(row.first_key, row.last_key + 1))
        for start in range(0, len(pairs), _BATCH):
            yield pairs[start : start + _BATCH]

    def _record_python(
        self, ref: sa.ColumnElement[Any], table: sa.Table, rows: list[tuple[Any, ...]], width: int
    ) -> None:
        """Record key rows for ``rows`` (key columns first, then the hashed values)."""
        if not rows:
            return
        integer = single_integer_key(table) is not None
        payload = [
            {
                "table_name": table.name,
                "first_key": row[0] if integer else None,
                "last_key": row[0] if integer else None,
                "key": None if integer else list(row[:width]),
                "row_hash": python_row_hash(row[width:]),
            }
            for row in rows
        ]
        self.dialect.execute(ledger_keys.insert().values(ledger_id=ref), payload)
