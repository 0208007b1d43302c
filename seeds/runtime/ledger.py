"""The seed ledger: what every seed revision run did, and how to undo it exactly.

Three tables on their own MetaData, created on first use next to ``alembic_version``
(same schema, through the search path):

- ``seed_ledger``: one row per run of a seed revision (applied, skipped, later
  undone): environment, time, duration, rows per table, Faker seed, reference time,
  checksums of the data and of the revision's source, the override used.
- ``seed_ledger_keys``: the keys of the rows a run inserted, one row per key with a
  hash of the seeded values (so changed rows are found on undo), or one row per key
  range for bulk loads.
- ``seed_ledger_events``: database-level facts: the environment the database was
  first seeded under (its stamp) and every protection override.

Every write that must touch one row checks its rowcount (alembic's HeadMaintainer
habit) and raises :class:`LedgerMismatch` otherwise.
"""

from __future__ import annotations

import enum
import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.schema import CreateIndex, CreateTable

from seeds.runtime.environment import Environment
from seeds.errors import LedgerMismatch

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

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

ledger_keys = sa.Table(
    "seed_ledger_keys",
    metadata,
    sa.Column(
        "ledger_id",
        _Id,
        sa.ForeignKey("seed_ledger.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("table_name", sa.String(128), nullable=False),
    # Integer single-column keys: a range (first = last for one row).
    sa.Column("first_key", sa.BigInteger),
    sa.Column("last_key", sa.BigInteger),
    # Any other key: a JSON array of the key columns' values.
    sa.Column("key", JsonText()),
    # Hash of the seeded values of the row, to find rows changed since; NULL for
    # bulk ranges, whose rows are not hashed one by one.
    sa.Column("row_hash", sa.String(64)),
    sa.Index("ix_seed_ledger_keys_ledger_id", "ledger_id", "table_name"),
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


def create_statements() -> list[sa.Executable]:
    """DDL that creates the ledger when missing; safe to run every time, offline too."""
    statements: list[sa.Executable] = []
    for table in metadata.sorted_tables:
        statements.append(CreateTable(table, if_not_exists=True))
        statements.extend(CreateIndex(index, if_not_exists=True) for index in table.indexes)
    return statements


def exists(conn: Connection) -> bool:
    """True when the ledger tables are there."""
    return sa.inspect(conn).has_table(ledger.name)


def read_stamp(conn: Connection) -> Environment | None:
    """The environment the database was first seeded under, or None."""
    if not sa.inspect(conn).has_table(events.name):
        return None
    value = conn.scalar(
        sa.select(events.c.environment)
        .where(events.c.kind == EventKind.STAMP)
        .order_by(events.c.id)
        .limit(1)
    )
    return Environment(value) if value else None


def event_insert(
    kind: EventKind, environment: Environment, database: str, detail: str
) -> sa.Insert:
    """An INSERT of one ledger event, timed by the database clock."""
    return events.insert().values(
        kind=kind.value,
        at=sa.func.current_timestamp(),
        environment=environment.value,
        database=database,
        detail=detail,
    )


def latest(conn: Connection, revision: str) -> sa.Row[Any] | None:
    """The newest ledger row of ``revision`` that is not undone, or None."""
    if not exists(conn):
        return None
    return conn.execute(
        sa.select(ledger)
        .where(ledger.c.revision == revision, ledger.c.status != Status.UNDONE)
        .order_by(ledger.c.id.desc())
        .limit(1)
    ).first()


def current(conn: Connection) -> dict[str, sa.Row[Any]]:
    """The newest not-undone ledger row of every revision, in one query."""
    return {row.revision: row for row in history(conn) if row.status != Status.UNDONE}


def history(conn: Connection) -> list[sa.Row[Any]]:
    """Every ledger row, oldest first."""
    if not exists(conn):
        return []
    return list(conn.execute(sa.select(ledger).order_by(ledger.c.id)))


def mark_undone(conn: Connection, ledger_id: int, revision: str) -> None:
    """Mark one applied/skipped run as undone; exactly one row must change."""
    result = conn.execute(
        ledger.update()
        .where(ledger.c.id == ledger_id, ledger.c.status != Status.UNDONE)
        .values(status=Status.UNDONE.value, undone_at=sa.func.current_timestamp())
    )
    if result.rowcount != 1:
        raise LedgerMismatch(revision, ledger.name, expected=1, found=result.rowcount)
