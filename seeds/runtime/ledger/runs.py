"""The seed ledger: what every seed revision run did, and how to undo it exactly.

:class:`Ledger` does every read and write of the ledger tables (:mod:`.tables`), the
part Alembic's ``HeadMaintainer`` plays for ``alembic_version``: the rest of Seedchain
asks it, and never names a ledger table. It works over a bound
:class:`~seeds.dialects.Dialect`, so the same calls run online or render ``--sql``.
This module holds the runs and the database-level events (the stamp, overrides, copy
marks, re-stamps, and the protection they add up to); :mod:`.keys` holds the keys of
the rows each run inserted. Every write that must touch one row checks its rowcount
and raises :class:`LedgerMismatch` otherwise.

A run's ``undo`` column also says, per table, how many keys it recorded and two
checksums of them, computed by the database when the run closes, so an undo can tell
the key rows were not deleted or edited since (:meth:`Ledger.check_keys`). Protection
does not trust the stamp alone: :meth:`Ledger.protection` also reads the environments
of the ledger's own rows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.schema import CreateIndex, CreateTable

from seeds.dialects import bind
from seeds.errors import LedgerMismatch
from seeds.runtime.environment import Environment
from seeds.runtime.ledger.keys import KeyRecords, RunRef
from seeds.runtime.ledger.tables import (
    EventKind,
    Status,
    events,
    ledger,
    metadata,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from seeds.runtime.parameters import Parameters


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Protection:
    """The environment a database protects itself as, and why.

    Attributes:
        environment: Production when the stamp event or any ledger row says so
            (unless an accepted re-stamp says otherwise); else the stamp, or None.
        reason: Where that came from, for logs and messages.
    """

    environment: Environment | None
    reason: str


def _restamped_after(detail: str) -> int:
    """The newest ledger row id a re-stamp covers (0, all rows count, when unreadable)."""
    try:
        return int(json.loads(detail)["after_run"])
    except (ValueError, TypeError, KeyError):
        return 0


class Ledger(KeyRecords):
    """The ledger of one database, over one bound dialect.

    Args:
        dialect: The run's dialect (online, or rendering ``--sql``).
    """

    @classmethod
    def on(cls, conn: Connection) -> Ledger:
        """The ledger of the database behind ``conn`` (for tools outside a migration)."""
        return cls(bind(conn))

    # -- the tables -----------------------------------------------------------------
    def create(self) -> None:
        """Create the ledger tables when missing; safe every time, offline too."""
        for table in metadata.sorted_tables:
            self.dialect.execute(CreateTable(table, if_not_exists=True))
            for index in table.indexes:
                self.dialect.execute(CreateIndex(index, if_not_exists=True))

    def exists(self) -> bool:
        """True when the ledger tables are there."""
        return sa.inspect(self.dialect.connection).has_table(ledger.name)

    def drop(self) -> None:
        """Drop the ledger tables (benchmarks and tests start from nothing)."""
        metadata.drop_all(self.dialect.connection, checkfirst=True)

    # -- database-level events --------------------------------------------------------
    def stamp(self) -> Environment | None:
        """The environment the database was first seeded under, or None."""
        if not sa.inspect(self.dialect.connection).has_table(events.name):
            return None
        value = self.dialect.scalar(
            sa.select(events.c.environment)
            .where(events.c.kind == EventKind.STAMP)
            .order_by(events.c.id)
            .limit(1)
        )
        return Environment(value) if value else None

    def stamp_if_new(self, environment: Environment, database: str) -> None:
        """Record the environment the database is first seeded under (its protection stamp).

        INSERT ... SELECT ... WHERE NOT EXISTS: one statement, online and in ``--sql``.
        """
        first_seen = sa.select(
            sa.literal(EventKind.STAMP.value),
            sa.func.current_timestamp(),
            sa.literal(environment.value),
            sa.literal(database),
            sa.literal("first seeded under this environment"),
        ).where(
            ~sa.exists(sa.select(1).select_from(events).where(events.c.kind == EventKind.STAMP))
        )
        columns = ["kind", "at", "environment", "database", "detail"]
        self.dialect.execute(events.insert().from_select(columns, first_seen))

    def record_event(
        self, kind: EventKind, environment: Environment | str, database: str, detail: str
    ) -> None:
        """One ledger event, timed by the database clock (the tables are created first)."""
        self.create()
        self.dialect.execute(
            events.insert().values(
                kind=kind.value,
                at=sa.func.current_timestamp(),
                environment=str(environment),
                database=database,
                detail=detail,
            )
        )

    def is_marked_copy(self, database: str) -> bool:
        """True when a copy mark names this database.

        The name must match, so a marked copy restored under another name (or back
        into production) is not a copy any more.
        """
        if not sa.inspect(self.dialect.connection).has_table(events.name):
            return False
        mark = sa.select(events.c.id).where(
            events.c.kind == EventKind.COPY.value, events.c.database == database
        )
        return self.dialect.scalar(mark.limit(1)) is not None

    def _anonymized_copy(self, database: str, before: Any = None) -> sa.ColumnElement[bool]:
        """SQL: a completed anonymize of ``database`` follows a copy mark naming it
        (and precedes the event id ``before``, when given)."""
        done, mark = events.alias("done"), events.alias("mark")
        marked_first = sa.exists(
            sa.select(1)
            .select_from(mark)
            .where(
                mark.c.kind == EventKind.COPY.value,
                mark.c.database == database,
                mark.c.id < done.c.id,
            )
        )
        conditions = [done.c.kind == EventKind.ANONYMIZE.value, done.c.database == database]
        if before is not None:
            conditions.append(done.c.id < before)
        return sa.exists(sa.select(1).select_from(done).where(*conditions, marked_first))

    def is_anonymized_copy(self, database: str) -> bool:
        """True when a completed ``seeds anonymize`` of this database followed its copy
        mark: the one state in which it may be re-stamped."""
        if not sa.inspect(self.dialect.connection).has_table(events.name):
            return False
        return bool(self.dialect.scalar(sa.select(self._anonymized_copy(database))))

    def record_restamp(self, environment: Environment, database: str, note: str) -> None:
        """Record that an anonymized copy protects itself as ``environment`` from now on.

        The event's detail keeps the newest ledger row id at this moment, so production
        runs after the re-stamp are told from the ones it covers (clocks are too
        coarse for that on SQLite).
        """
        self.create()
        newest = self.dialect.scalar(sa.select(sa.func.max(ledger.c.id))) or 0
        detail = json.dumps({"note": note, "after_run": int(newest)}, sort_keys=True)
        self.record_event(EventKind.RESTAMP, environment, database, detail)

    def protection(self, database: str) -> Protection:
        """The environment protection goes by: the stamp, cross-checked with the ledger.

        Production when the stamp event says so, or when any ``seed_ledger`` row
        (applied, skipped or undone) ran under production, so deleting the stamp
        event does not unprotect a production database. The one way out is an
        accepted re-stamp naming this database (a completed anonymize after its copy
        mark came first); production rows written after the re-stamp count again.
        """
        inspector = sa.inspect(self.dialect.connection)
        has_events, has_runs = inspector.has_table(events.name), inspector.has_table(ledger.name)
        stamp = self.stamp()
        restamp = None
        if has_events:
            again = events.alias("again")
            restamp = self.dialect.run(
                sa.select(again.c.environment, again.c.detail)
                .where(
                    again.c.kind == EventKind.RESTAMP.value,
                    again.c.database == database,
                    self._anonymized_copy(database, before=again.c.id),
                )
                .order_by(again.c.id.desc())
                .limit(1)
            ).first()
        production_runs = None
        if has_runs:
            query = sa.select(ledger.c.revision).where(
                ledger.c.environment == Environment.PRODUCTION.value
            )
            if restamp is not None:
                query = query.where(ledger.c.id > _restamped_after(restamp.detail))
            production_runs = self.dialect.scalar(query.order_by(ledger.c.id).limit(1))
        stamped_production = stamp is Environment.PRODUCTION
        if production_runs is not None and (restamp is not None or not stamped_production):
            why = (
                f"seed {production_runs} ran under production after its re-stamp"
                if restamp is not None
                else f"seed {production_runs} ran under production, but the stamp event says "
                f"{stamp.value if stamp else 'nothing (it is missing)'}"
            )
            if not stamped_production:  # the stamp and the ledger disagree: say so
                log.warning("database %r is protected as production: %s", database, why)
            return Protection(Environment.PRODUCTION, why)
        if restamp is not None:
            environment = Environment(restamp.environment)
            return Protection(environment, f"re-stamped {environment} after it was anonymized")
        if stamp is None:
            return Protection(None, "no stamp and no production seed runs")
        return Protection(stamp, f"stamped {stamp} when first seeded")

    # -- runs -----------------------------------------------------------------------
    def open_run(
        self,
        revision: str,
        environment: Environment,
        status: Status,
        parameters: Parameters,
        *,
        source_checksum: str,
        override: str | None,
    ) -> RunRef:
        """Insert the ledger row of one seed revision run, before its rows are written."""
        values: dict[str, Any] = {
            "revision": revision,
            "environment": environment.value,
            "status": status.value,
            "applied_at": sa.func.current_timestamp(),
            "duration_ms": 0,
            "row_counts": {},
            "faker_seed": parameters.seed,
            "reference_time": parameters.now.isoformat(),
            "source_checksum": source_checksum,
            "undo": {"tables": []},
            "override": override,
        }
        if self.dialect.offline:
            self.dialect.execute(ledger.insert().values(**values))
            newest = (
                sa.select(sa.func.max(ledger.c.id))
                .where(ledger.c.revision == revision)
                .scalar_subquery()
            )
            return RunRef(None, newest)
        new_id = int(
            self.dialect.run(ledger.insert().values(**values).returning(ledger.c.id)).scalar_one()
        )
        return RunRef(new_id, sa.literal(new_id, sa.BigInteger))

    def close_run(
        self,
        run: RunRef,
        *,
        duration_ms: int,
        row_counts: Mapping[str, int],
        data_checksum: str,
        undo: Mapping[str, Any],
    ) -> None:
        """Fill in what the run did, once its rows are written.

        ``undo`` is stored with what the key rows hold per table (``recorded``),
        counted by the database in the same statement, online and in ``--sql``; in
        ``--sql`` the row counts are counted from the key rows too, when the script runs.
        """
        names = [entry["name"] for entry in undo.get("tables", [])]
        self.dialect.execute(
            ledger.update()
            .where(ledger.c.id == run.ref)
            .values(
                duration_ms=duration_ms,
                row_counts=(
                    self._counts_recorded(run.ref, names)
                    if self.dialect.offline
                    else dict(row_counts)
                ),
                data_checksum=data_checksum,
                undo=self._undo_with_recorded(run.ref, undo),
            )
        )

    def latest(self, revision: str) -> sa.Row[Any] | None:
        """The newest ledger row of ``revision`` that is not undone, or None."""
        if not self.exists():
            return None
        row: sa.Row[Any] | None = self.dialect.run(
            sa.select(ledger)
            .where(ledger.c.revision == revision, ledger.c.status != Status.UNDONE)
            .order_by(ledger.c.id.desc())
            .limit(1)
        ).first()
        return row

    def current(self) -> dict[str, sa.Row[Any]]:
        """The newest not-undone ledger row of every revision, in one query."""
        return {row.revision: row for row in self.history() if row.status != Status.UNDONE}

    def history(self) -> list[sa.Row[Any]]:
        """Every ledger row, oldest first."""
        if not self.exists():
            return []
        return list(self.dialect.run(sa.select(ledger).order_by(ledger.c.id)))

    def mark_undone(self, ledger_id: int, revision: str, *, override: str | None = None) -> None:
        """Mark one applied/skipped run as undone; exactly one row must change.

        ``override`` names the database when the undo ran only because of
        ``allow_unsafe`` (a production downgrade); the row keeps it.
        """
        values: dict[str, Any] = {
            "status": Status.UNDONE.value,
            "undone_at": sa.func.current_timestamp(),
        }
        if override is not None:
            values["override"] = override
        result = self.dialect.run(
            ledger.update()
            .where(ledger.c.id == ledger_id, ledger.c.status != Status.UNDONE)
            .values(**values)
        )
        if result.rowcount != 1:
            raise LedgerMismatch(revision, ledger.name, expected=1, found=result.rowcount)
