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
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from seeds.errors import (
    ConfigurationError,
    ConnectionLost,
    OfflineUnsupported,
    SeedError,
    SeedFailed,
    UndoRefused,
    first_line,
)
from seeds.runtime import undo
from seeds.runtime.context import SeedContext
from seeds.runtime.environment import Environment
from seeds.runtime.ledger import Status
from seeds.runtime.run import SeedOutcome, current_run

log = logging.getLogger(__name__)

SeedFunction = Callable[[SeedContext], None]


def source_checksum(path: str | Path) -> str:
    """sha256 of a revision file, to notice an applied seed that was edited since."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class SeedRevision:
    """An Alembic ``upgrade`` callable that runs a seed; ``.downgrade`` undoes it.

    Build it with :func:`seed`. Attributes mirror the declaration: ``environments``,
    ``tables``, ``volatile`` (table name -> columns left out of row hashes), and
    ``function`` (the seed itself).
    """

    def __init__(
        self,
        function: SeedFunction,
        environments: frozenset[Environment],
        tables: Sequence[sa.Table],
        volatile: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.function = function
        self.environments = environments
        self.tables = list(tables)
        self.volatile: dict[str, list[str]] = {k: list(v) for k, v in (volatile or {}).items()}
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
        state, dialect, ledger = run.state, run.dialect, run.ledger
        revision = self.revision
        dialect.enforce_foreign_keys(revision)  # first: SQLite can switch it on only here
        ledger.create()
        ledger.stamp_if_new(state.environment, state.database)
        applies = self.runs_in(state.environment)
        status = Status.APPLIED if applies else Status.SKIPPED
        ledger_run = ledger.open_run(
            revision,
            state.environment,
            status,
            state.parameters,
            source_checksum=source_checksum(self.source_file) if self.source_file else "",
            override=state.override,
        )
        if not applies:
            run.record(SeedOutcome(revision, status.value, {}))
            log.info(
                "seed %s: skipped in %s (it runs in %s)",
                revision,
                state.environment,
                ", ".join(sorted(self.environments)),
            )
            return
        dialect.prepare()
        ctx = SeedContext(
            revision=revision,
            environment=state.environment,
            parameters=state.parameters,
            tables=self.tables,
            ledger=ledger,
            ledger_run=ledger_run,
            settings=state.settings,
            volatile=self.volatile,
        )
        started = time.perf_counter()
        try:
            self.function(ctx)
            ctx.finish()
        except Exception as err:
            if not state.dry_run and ledger_run.id is not None:
                # The revision's transaction rolls back; the sequences it drew from do
                # not. Give their values back once it has (see undo.restore_sequences).
                for load in ctx.loads.values():
                    if load.sequence is not None:
                        run.after_commit(
                            undo.PendingSequence(
                                revision, ledger_run.id, load.table, load.sequence, gone_when=None
                            )
                        )
            raise _one_line(
                revision, err, dialect, self.source_file, self.tables, state.schema
            ) from err
        duration_ms = round((time.perf_counter() - started) * 1000)
        counts = {name: load.rows for name, load in ctx.loads.items()}
        ledger.close_run(
            ledger_run,
            # Offline the script counts its rows when it runs (the ledger does), and
            # records no duration, so the script is the same text every run.
            duration_ms=0 if state.offline else duration_ms,
            row_counts=counts,
            data_checksum=ctx.data_checksum,
            undo={
                "tables": [load.undo_record() for load in ctx.loads.values()],
                "settings": ctx.settings_used,
            },
        )
        sequences = []
        if state.dry_run:
            for load in ctx.loads.values():
                if load.sequence is not None:
                    after = dialect.sequence_state(load.table)
                    sequences.append((load.sequence, after.last_value if after else None))
        speed = {name: rate for name, _, rate in ctx.report()}
        run.record(SeedOutcome(revision, status.value, counts, tuple(sequences), speed))
        for name, rows, rate in ctx.report():
            log.info("seed %s: %-20s %10d rows %12.0f rows/s", revision, name, rows, rate)
        total = sum(counts.values())
        log.info(
            "seed %s: applied in %s, %d rows, %d ms",
            revision,
            state.environment,
            total,
            duration_ms,
        )


def _one_line(
    revision: str,
    err: Exception,
    dialect: Any,
    source_file: str | None,
    tables: Iterable[sa.Table] = (),
    schema: str | None = None,
) -> SeedError:
    """Whatever a seed's body raised, as the one line Alembic prints after ``FAILED:``.

    Seedchain's own errors already are; the database's say what it reported, and the
    author's own exceptions say where in the seed file. The traceback goes to the log
    at DEBUG (``-v`` for ``seeds``, ``level = DEBUG`` for logger ``seeds`` in alembic.ini).
    """
    if isinstance(err, SeedError):
        return err
    log.debug("seed %s failed", revision, exc_info=err)
    if isinstance(err, sa.exc.DBAPIError) and err.connection_invalidated:
        return ConnectionLost(first_line(err), revision=revision)
    if isinstance(err, sa.exc.DBAPIError):
        said = dialect.describe_error(err)
        holders = dialect.lock_holders(err, list(tables), schema)
        if holders:
            said += f" (locks held by {'; '.join(holders)})"
        return SeedFailed(f"seed {revision}: {said}")
    if isinstance(err, MemoryError):
        return SeedFailed(
            f"seed {revision}: ran out of memory building its rows; lower the counts "
            "(-x name=) or load the large tables with ctx.bulk, which streams"
        )
    return SeedFailed(f"seed {revision}: {type(err).__name__}: {err}{_where(err, source_file)}")


def _where(err: Exception, source_file: str | None) -> str:
    """`` (at file:line)``: the last line of the seed's own file the error passed through."""
    frames = traceback.extract_tb(err.__traceback__)
    own = [f for f in frames if source_file and Path(f.filename) == Path(source_file)]
    if not (own or frames):
        return ""
    frame = (own or frames)[-1]
    return f" (at {Path(frame.filename).name}:{frame.lineno})"


def _downgrade_override(run: Any) -> str | None:
    """The database name when this downgrade runs only because of ``allow_unsafe``."""
    state = run.state
    return state.override if state.stamp is Environment.PRODUCTION else None


class _Downgrade:
    """The ``downgrade`` callable of a seed revision."""

    __name__ = "downgrade"

    def __init__(self, seed_revision: SeedRevision) -> None:
        self._seed = seed_revision

    def __call__(self, **_: Any) -> None:
        run = current_run()
        revision = self._seed.revision
        if run.state.offline:
            raise OfflineUnsupported(
                f"seed {revision}: its downgrade reads the ledger to remove exactly the "
                "rows it inserted, which --sql cannot do; run the downgrade online"
            )
        run.dialect.enforce_foreign_keys(revision)
        record = run.ledger.latest(revision)
        if record is None:
            log.warning("seed %s: no ledger record, nothing to undo", revision)
            return
        if record.status == Status.SKIPPED:
            run.ledger.mark_undone(record.id, revision, override=_downgrade_override(run))
            log.info("seed %s: was skipped in %s, nothing to undo", revision, record.environment)
            return
        try:
            plan = undo.plan(run, record, self._seed.tables)
            run.record(plan)
            undo.execute(run, plan)
        except sa.exc.OperationalError as err:
            if err.connection_invalidated:
                # The session is gone, and its transaction with it: no lock was in the way.
                raise ConnectionLost(first_line(err), revision=revision, undo=True) from err
            # A lock or statement timeout: the transaction rolls back whole.
            first = first_line(err)
            holders = run.dialect.lock_holders(err, list(self._seed.tables), run.state.schema)
            who = f"held by {'; '.join(holders)}" if holders else "another session may hold them"
            raise UndoRefused(
                f"seed {revision}: the undo stopped: {first}; nothing was removed (locks on "
                f"its tables: {who}; retry when it is done, or change -x lock_timeout / "
                "-x statement_timeout)"
            ) from err
        run.ledger.mark_undone(record.id, revision, override=_downgrade_override(run))


def seed(
    *,
    environments: Iterable[str | Environment],
    tables: Sequence[sa.Table],
    volatile: Mapping[str, Sequence[str]] | None = None,
) -> Callable[[SeedFunction], SeedRevision]:
    """Declare a seed revision's ``upgrade``; see the module docstring for an example.

    Args:
        environments: Where the seed runs, e.g. ``["development", "testing"]``.
        tables: The tables it writes, as they are at this revision (``sa.Table`` on
            a MetaData of the revision's own, with their primary keys), never the
            application's current models.
        volatile: Per table name, the columns the application is expected to change
            in seeded rows (``{"users": ["last_seen"]}``). They are left out of the
            row hashes, so the downgrade does not count such an update as a change.

    Raises:
        ConfigurationError: an unknown environment, a table without primary key, or
            a volatile table or column the seed does not declare.
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
    checked = _volatile_columns(volatile or {}, tables)

    def decorate(function: SeedFunction) -> SeedRevision:
        return SeedRevision(function, envs, tables, checked)

    return decorate


def _volatile_columns(
    volatile: Mapping[str, Sequence[str]], tables: Sequence[sa.Table]
) -> dict[str, list[str]]:
    """``seed(volatile=...)`` checked against the declared tables, columns in table order."""
    by_name = {t.name: t for t in tables}
    checked: dict[str, list[str]] = {}
    for name, columns in volatile.items():
        table = by_name.get(name)
        if table is None:
            raise ConfigurationError(
                f"seed(volatile=...) names table {name!r}, which is not among "
                f"tables=[{', '.join(sorted(by_name))}]; declare it or remove it from volatile"
            )
        if isinstance(columns, str):
            raise ConfigurationError(
                f"seed(volatile=...) for table {name!r} is the string {columns!r}; give a "
                f'list of column names, e.g. {{"{name}": ["{columns}"]}}'
            )
        for column in columns:
            if column not in table.c:
                raise ConfigurationError(
                    f"seed(volatile=...) names column {name}.{column}, which table {name} "
                    f"does not have (it has {', '.join(table.c.keys())})"
                )
            if table.c[column].primary_key:
                raise ConfigurationError(
                    f"seed(volatile=...) names column {name}.{column}, part of the primary "
                    "key; the downgrade finds rows by key, so a key column cannot be volatile"
                )
        checked[name] = [c.name for c in table.c if c.name in set(columns)]
    return checked
