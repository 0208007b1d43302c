"""One migration run: its facts, its bound dialect and ledger, and what each seed did.

env.py resolves the facts once, before any revision runs, and leaves the :class:`Run`
in Alembic's ``config.attributes`` (Alembic's own channel from env.py to the
revisions); a seed revision reads it back with :func:`current_run`. Calling a seed
outside such a run is an error that says where the code belongs.

Each seed revision reports what it did with :meth:`Run.record`; the run's
:class:`RunResult` is returned by :func:`seeds.runtime.env.run_migrations`. Alembic's
command functions return nothing, so for an in-process caller (``seeds plan``) that
one immutable value is also published under :data:`RESULT`; :func:`dry_run` reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from seeds.errors import ConfigurationError
from seeds.runtime.environment import Environment
from seeds.runtime.ledger import Ledger
from seeds.runtime.parameters import Parameters

if TYPE_CHECKING:
    from alembic.config import Config

    from seeds.dialects import Dialect, SequenceState
    from seeds.runtime.undo import PendingSequence, UndoPlan

ATTRIBUTE = "seedchain.run"
RESULT = "seedchain.result"
# Set to True in config.attributes by `seeds plan`: run everything, then roll back.
DRY_RUN = "seedchain.dry_run"


@dataclass(frozen=True)
class RunState:
    """Everything a seed revision needs to know about the run it is part of.

    Attributes:
        environment: The environment of the run.
        parameters: The typed ``-x`` arguments.
        database: The database's name (what ``allow_unsafe`` must name).
        schema: The schema of every table, or None.
        offline: True under ``--sql``.
        override: The database name when ``allow_unsafe`` was given and matched.
        stamp: The environment the database was first seeded under, if any.
        dry_run: True under `seeds plan`: everything is rolled back at the end.
        settings: ``[tool.seeds.<environment>]`` from pyproject.toml.
    """

    environment: Environment
    parameters: Parameters
    database: str
    schema: str | None
    offline: bool
    override: str | None = None
    stamp: Environment | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    dry_run: bool = False


@dataclass(frozen=True)
class SeedOutcome:
    """What one seed revision's upgrade did."""

    revision: str
    status: str  # "applied" or "skipped"
    row_counts: Mapping[str, int]
    # Sequences the seed drew keys from: (state before, last value after). A dry
    # run's rollback does not give sequence values back; these let it do so.
    sequences: tuple[tuple[SequenceState, int | None], ...] = ()
    rows_per_second: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    """What every seed revision of one run did, in order (upgrades and undo plans).

    ``steps`` are Alembic's, in the order they ran (``"a -> b, message"``), schema
    revisions included; ``environment`` and ``database`` are the run's, None when no
    revision ran.
    """

    outcomes: tuple[SeedOutcome | UndoPlan, ...] = ()
    steps: tuple[str, ...] = ()
    environment: str | None = None
    database: str | None = None


class Run:
    """One migration run: the facts, the dialect bound to its connection, its ledger.

    Args:
        state: The facts resolved before any revision ran.
        dialect: The run's dialect (online or rendering ``--sql``).
    """

    def __init__(self, state: RunState, dialect: Dialect) -> None:
        self.state = state
        self.dialect = dialect
        self.ledger = Ledger(dialect)
        self._outcomes: list[SeedOutcome | UndoPlan] = []
        self._after_commit: list[PendingSequence] = []
        self._steps: tuple[str, ...] = ()

    def record_steps(self, steps: list[str]) -> None:
        """Keep the steps Alembic is about to run, as it describes them."""
        self._steps = tuple(steps)

    def record(self, outcome: SeedOutcome | UndoPlan) -> None:
        """Report what one seed revision did (an upgrade's outcome or an undo's plan)."""
        self._outcomes.append(outcome)

    def after_commit(self, pending: PendingSequence) -> None:
        """Keep a sequence restore for when the revision's transaction has committed."""
        self._after_commit.append(pending)

    def take_after_commit(self) -> list[PendingSequence]:
        """The kept sequence restores, in the order they were kept; the list is emptied."""
        pending, self._after_commit = self._after_commit, []
        return pending

    def result(self) -> RunResult:
        """Everything recorded so far, as one immutable value."""
        return RunResult(
            tuple(self._outcomes),
            self._steps,
            self.state.environment.value,
            self.state.database,
        )


def current_run() -> Run:
    """The run left by env.py; raises when env.py did not set one up."""
    from alembic import context

    run = context.config.attributes.get(ATTRIBUTE)
    if not isinstance(run, Run):
        raise ConfigurationError(
            "a seed revision ran without Seedchain's env.py integration: make "
            "migrations/env.py call seeds.run_migrations()"
        )
    return run


def dry_run(config: Config, target: str, *, downgrade: bool) -> RunResult:
    """Run an upgrade (or downgrade) to ``target`` in a transaction that is rolled back.

    Returns what each seed revision would do; nothing in the database changes.
    """
    from alembic import command

    config.attributes[DRY_RUN] = True
    config.attributes["configure_logger"] = False
    (command.downgrade if downgrade else command.upgrade)(config, target)
    result = config.attributes.pop(RESULT, None)
    return result if isinstance(result, RunResult) else RunResult()
