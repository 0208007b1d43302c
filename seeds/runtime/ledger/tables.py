"""The ledger's four tables, on their own MetaData.

Created on first use next to ``alembic_version`` (same schema, through the search
path):

- ``seed_ledger``: one row per run of a seed revision (applied, skipped, later
  undone): environment, time, duration, rows per table, Faker seed, reference time,
  checksums of the data and of the revision's source, the override used, and in its
  ``undo`` JSON what the undo needs (per table: key columns, sequences, hashed and
  volatile columns, and the count and checksums of the keys recorded).
- ``seed_ledger_keys``: the keys of the rows a run inserted, one row per key with a
  hash of the seeded values (so changed rows are found on undo), or, for bulk loads,
  one row per key range (the key set). Runs from before ``seed_ledger_hashes`` also
  hold one hash row per bulk key (``last_key`` NULL, so only the ranges count as the
  key set).
- ``seed_ledger_hashes``: the value hashes of bulk-loaded rows, packed: one row per
  block of consecutive keys holding an array of one 64-bit hash per key, in key
  order. A million rows make a few hundred ledger rows, not a million.
- ``seed_ledger_events``: database-level facts: the environment the database was
  first seeded under (its stamp), every protection override, copy marks, completed
  anonymize runs and re-stamps of anonymized copies.

Only :class:`seeds.runtime.ledger.Ledger` reads and writes them.
"""

from __future__ import annotations

import enum
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

metadata = sa.MetaData()

# SQLite only auto-increments an INTEGER PRIMARY KEY, never a BIGINT one.
_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class JsonText(sa.types.TypeDecorator[Any]):
    """JSON kept as text: renders as a literal in --sql output (sa.JSON cannot),
    and reads the same on every dialect. Keys are sorted so equal data is equal text.
    """

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> str | None:
        return None if value is None else json.dumps(value, sort_keys=True)

    def process_literal_param(self, value: Any, dialect: sa.Dialect) -> str:
        return "null" if value is None else json.dumps(value, sort_keys=True)

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> Any:
        return None if value is None else json.loads(value)


class Status(enum.StrEnum):
    """State of one ledger row."""

    APPLIED = "applied"
    SKIPPED = "skipped"
    UNDONE = "undone"


ledger = sa.Table(
    "seed_ledger",
    metadata,
    sa.Column("id", _Id, sa.Identity(), primary_key=True),
    sa.Column("revision", sa.String(64), nullable=False),
    sa.Column("environment", sa.String(20), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("undone_at", sa.DateTime(timezone=True)),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("row_counts", JsonText(), nullable=False),
    sa.Column("faker_seed", sa.BigInteger, nullable=False),
    sa.Column("reference_time", sa.String(40), nullable=False),
    sa.Column("data_checksum", sa.String(64)),
    sa.Column("source_checksum", sa.String(64), nullable=False),
    # Per table: key columns, the sequence before and after, how rows were keyed.
    sa.Column("undo", JsonText(), nullable=False),
    sa.Column("override", sa.String(200)),
    sa.Index("ix_seed_ledger_revision", "revision"),
)


def _ledger_id() -> sa.Column[int]:
    """The run a key or hash row belongs to; gone with the run's ledger row."""
    return sa.Column(
        "ledger_id", _Id, sa.ForeignKey("seed_ledger.id", ondelete="CASCADE"), nullable=False
    )


ledger_keys = sa.Table(
    "seed_ledger_keys",
    metadata,
    _ledger_id(),
    sa.Column("table_name", sa.String(128), nullable=False),
    # Integer single-column keys: a range (first = last for one row). A bulk load's
    # per-row hash rows have first_key = the row's key and last_key NULL: they never
    # match a range condition, so the key set of a bulk load stays its ranges.
    sa.Column("first_key", sa.BigInteger),
    sa.Column("last_key", sa.BigInteger),
    # Any other key: a JSON array of the key columns' values.
    sa.Column("key", JsonText()),
    # Hash of the seeded values of the row (volatile columns left out), to find rows
    # changed since; NULL for bulk ranges, whose rows have hash rows of their own.
    sa.Column("row_hash", sa.String(64)),
    sa.Index("ix_seed_ledger_keys_ledger_id", "ledger_id", "table_name"),
)


# Keys per packed hash row: an array of 4096 64-bit numbers (32 KiB), unnested once per
# block when the undo compares (a text sliced per row would be read whole per row).
HASH_BLOCK = 4096

ledger_hashes = sa.Table(
    "seed_ledger_hashes",
    metadata,
    _ledger_id(),
    sa.Column("table_name", sa.String(128), nullable=False),
    sa.Column("first_key", sa.BigInteger, nullable=False),
    sa.Column("last_key", sa.BigInteger, nullable=False),
    # The first 64 bits of each key's row hash from first_key to last_key, in key
    # order (NULL where the seed left no row): a bigint[] on PostgreSQL, JSON elsewhere.
    sa.Column(
        "hashes",
        JsonText().with_variant(ARRAY(sa.BigInteger), "postgresql"),
        nullable=False,
    ),
    sa.Index("ix_seed_ledger_hashes_ledger_id", "ledger_id", "table_name"),
)


class EventKind(enum.StrEnum):
    """Kinds of database-level ledger events."""

    STAMP = "stamp"
    OVERRIDE = "override"
    # ``seeds anonymize --mark-copy``: this database is a copy (of production, say)
    # whose personal data may be rewritten; the event names the database it marks.
    COPY = "copy"
    # One completed ``seeds anonymize`` run: which columns, how many rows.
    ANONYMIZE = "anonymize"
    # ``seeds restamp``: an anonymized copy now protects itself as another
    # environment; it names its database and counts only after a completed anonymize
    # that followed the copy mark (see Ledger.protection).
    RESTAMP = "restamp"


events = sa.Table(
    "seed_ledger_events",
    metadata,
    sa.Column("id", _Id, sa.Identity(), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("environment", sa.String(20), nullable=False),
    sa.Column("database", sa.String(200), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
)

TABLE_NAMES = frozenset(t.name for t in metadata.sorted_tables)
