"""Seed revisions: ordinary Alembic revision files whose upgrade is a seed.

A seed revision declares the environments it runs in and the tables it writes (as
they are at that point in the chain), and gets a :class:`SeedContext`::

    users = sa.Table("users", sa.MetaData(),
                     sa.Column("id", sa.BigInteger, primary_key=True),
                     sa.Column("username", sa.String(50), nullable=False, unique=True))

    @seed(environments=["development", "testing"], tables=[users])
    def upgrade(ctx: SeedContext) -> None:
        ctx.insert(users, [{"username": "demo"}])

    downgrade = upgrade.downgrade

Outside its environments the revision is a no-op both ways (the ledger says
"skipped"). It runs inside the revision's transaction, so a failure leaves none of
its rows and does not move ``alembic_version``. Its downgrade removes exactly the
rows it inserted (see :mod:`seeds.runtime.undo`); no hand-written downgrade is needed.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from seeds.runtime import ledger

from seeds.runtime import undo
from seeds.runtime.context import SeedContext
from seeds.dialects import Sink, impl_for
from seeds.runtime.environment import Environment
from seeds.errors import ConfigurationError, OfflineUnsupported
from seeds.runtime.run import RunState, SeedOutcome, current_run

log = logging.getLogger(__name__)

SeedFunction = Callable[[SeedContext], None]


def source_checksum(path: str | Path) -> str:
    """sha256 of a revision file, to notice an applied seed that was edited since."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class SeedRevision:
    """An Alembic ``upgrade`` callable that runs a seed; ``.downgrade`` undoes it.

    Build it with :func:`seed`. Attributes mirror the declaration: ``environments``,
    ``tables``, and ``function`` (the seed itself).
    """

    def __init__(
        self,
        function: SeedFunction,
        environments: frozenset[Environment],
        tables: Sequence[sa.Table],
    ) -> None:
        self.function = function
        self.environments = environments
        self.tables = list(tables)
        self.__name__ = "upgrade"  # Alembic logs steps by their function's name
        self.__doc__ = function.__doc__
        self.downgrade = _Downgrade(self)

    @property
    def revision(self) -> str:
        """The revision id, read from the revision module's ``revision`` variable."""
        value = self.function.__globals__.get("revision")
        if not isinstance(value, str):
            raise ConfigurationError(
                f"{self.function.__module__}: a seed revision module needs a "
                '`revision = "..."` string above the @seed function'
            )
        return value

    @property
    def source_file(self) -> str:
        """Path of the revision file."""
        return str(self.function.__globals__.get("__file__", ""))

    def runs_in(self, environment: Environment) -> bool:
        """True when this seed belongs to ``environment``."""
        return environment in self.environments

    def __call__(self, **_: Any) -> None:
        run = current_run()
        revision = self.revision
        sink = Sink(None if run.offline else op.get_bind(), op.execute, revision)
        impl = impl_for(context.get_context().dialect.name)
        impl.enforce_foreign_keys(sink)  # first: SQLite can switch it on only here
        for statement in ledger.create_statements():
            sink.execute(statement)
        _stamp_if_new(sink, run)
        applies = self.runs_in(run.environment)
        status = ledger.Status.APPLIED if applies else ledger.Status.SKIPPED
        ledger_id, ledger_ref = _open_ledger_row(sink, run, revision, status, self.source_file)
        if not applies:
            run.outcomes.append(SeedOutcome(revision, status.value, {}))
            log.info(
                "seed %s: skipped in %s (it runs in %s)",
                revision,
                run.environment,
                ", ".join(sorted(self.environments)),
            )
            return
        impl.prepare(sink)
        ctx = SeedContext(
            revision=revision,
            environment=run.environment,
            parameters=run.parameters,
            tables=self.tables,
            sink=sink,
            impl=impl,
            ledger_ref=ledger_ref,
            ledger_id=ledger_id,
            settings=run.settings,
        )
        started = time.perf_counter()
        self.function(ctx)
        duration_ms = round((time.perf_counter() - started) * 1000)
        counts = {name: load.rows for name, load in ctx.loads.items()}
        sink.execute(
            ledger.ledger.update()
            .where(ledger.ledger.c.id == ledger_ref)
            .values(
                # Offline nobody knows how many rows ON CONFLICT skipped, or how long
                # it took; and the rendered SQL must be the same text every run.
                duration_ms=0 if run.offline else duration_ms,
                row_counts={} if run.offline else counts,
                data_checksum=ctx.data_checksum,
                undo={
                    "tables": [load.undo_record() for load in ctx.loads.values()],
                    "settings": ctx.settings_used,
                },
            )
        )
        sequences = []
        if run.dry_run:
            for load in ctx.loads.values():
                if load.sequence is not None:
                    after = impl.sequence_state(sink.connection, load.table)
                    sequences.append((load.sequence, after.last_value if after else None))
        speed = {name: rate for name, _, rate in ctx.report()}
        run.outcomes.append(SeedOutcome(revision, status.value, counts, sequences, speed))
        for name, rows, rate in ctx.report():
            log.info("seed %s: %-20s %10d rows %12.0f rows/s", revision, name, rows, rate)
        total = sum(counts.values())
        log.info(
            "seed %s: applied in %s, %d rows, %d ms", revision, run.environment, total, duration_ms
        )


class _Downgrade:
    """The ``downgrade`` callable of a seed revision."""

    __name__ = "downgrade"

    def __init__(self, seed_revision: SeedRevision) -> None:
        self._seed = seed_revision

    def __call__(self, **_: Any) -> None:
        run = current_run()
        revision = self._seed.revision
        if run.offline:
            raise OfflineUnsupported(
                f"seed {revision}: its downgrade reads the ledger to remove exactly the "
                "rows it inserted, which --sql cannot do; run the downgrade online"
            )
        conn = op.get_bind()
        impl = impl_for(conn.dialect.name)
        impl.enforce_foreign_keys(Sink(conn, op.execute, revision))
        record = ledger.latest(conn, revision)
        if record is None:
            log.warning("seed %s: no ledger record, nothing to undo", revision)
            return
        if record.status == ledger.Status.SKIPPED:
            ledger.mark_undone(conn, record.id, revision)
            log.info("seed %s: was skipped in %s, nothing to undo", revision, record.environment)
            return
        plan = undo.plan(conn, impl, record, self._seed.tables, schema=run.schema)
        run.outcomes.append(plan)
        undo.execute(conn, impl, plan, run)
        ledger.mark_undone(conn, record.id, revision)


def seed(
    *, environments: Iterable[str | Environment], tables: Sequence[sa.Table]
) -> Callable[[SeedFunction], SeedRevision]:
    """Declare a seed revision's ``upgrade``; see the module docstring for an example.

    Args:
        environments: Where the seed runs, e.g. ``["development", "testing"]``.
        tables: The tables it writes, as they are at this revision (``sa.Table`` on
            a MetaData of the revision's own, with their primary keys), never the
            application's current models.

    Raises:
        ConfigurationError: an unknown environment, or a table without primary key.
    """
    envs = frozenset(Environment.parse(str(e), "seed(environments=...)") for e in environments)
    if not envs:
        raise ConfigurationError("seed(environments=[]) names no environment; name at least one")
    for table in tables:
        if not isinstance(table, sa.Table) or not table.primary_key.columns:
            name = getattr(table, "name", table)
            raise ConfigurationError(
                f"seed table {name!r} must be an sa.Table with its primary key declared "
                "(the downgrade removes rows by key)"
            )

    def decorate(function: SeedFunction) -> SeedRevision:
        return SeedRevision(function, envs, tables)

    return decorate


def _stamp_if_new(sink: Sink, run: RunState) -> None:
    """Record the environment the database is first seeded under (its protection stamp)."""
    events = ledger.events
    first_seen = sa.select(
        sa.literal(ledger.EventKind.STAMP.value),
        sa.func.current_timestamp(),
        sa.literal(run.environment.value),
        sa.literal(run.database),
        sa.literal("first seeded under this environment"),
    ).where(
        # INSERT ... SELECT ... WHERE NOT EXISTS: one statement, online and in --sql.
        ~sa.exists(sa.select(1).select_from(events).where(events.c.kind == ledger.EventKind.STAMP))
    )
    columns = ["kind", "at", "environment", "database", "detail"]
    sink.execute(events.insert().from_select(columns, first_seen))


def _open_ledger_row(
    sink: Sink, run: RunState, revision: str, status: ledger.Status, source_file: str
) -> tuple[int | None, sa.ColumnElement[Any]]:
    values: dict[str, Any] = {
        "revision": revision,
        "environment": run.environment.value,
        "status": status.value,
        "applied_at": sa.func.current_timestamp(),
        "duration_ms": 0,
        "row_counts": {},
        "faker_seed": run.parameters.seed,
        "reference_time": run.parameters.now.isoformat(),
        "source_checksum": source_checksum(source_file) if source_file else "",
        "undo": {"tables": []},
        "override": run.override,
    }
    table = ledger.ledger
    if sink.offline:
        sink.execute(table.insert().values(**values))
        newest = (
            sa.select(sa.func.max(table.c.id)).where(table.c.revision == revision).scalar_subquery()
        )
        return None, newest
    result = sink.execute(table.insert().values(**values).returning(table.c.id))
    assert result is not None
    ledger_id = int(result.scalar_one())
    return ledger_id, sa.literal(ledger_id, sa.BigInteger)
