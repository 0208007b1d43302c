"""The state of one migration run, handed from env.py to the seed revisions.

env.py resolves it once (before any revision runs) and leaves it in Alembic's
``config.attributes``; a seed revision reads it back. Calling a seed outside such a
run is an error that says where the code belongs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from seeds.runtime.environment import Environment
from seeds.errors import ConfigurationError
from seeds.runtime.parameters import Parameters

ATTRIBUTE = "seedchain.run"
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
        outcomes: What each seed revision did in this run, in order (SeedOutcome
            for upgrades, UndoPlan for downgrades); `seeds plan` reports them.
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
    outcomes: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class SeedOutcome:
    """What one seed revision's upgrade did."""

    revision: str
    status: str  # "applied" or "skipped"
    row_counts: Mapping[str, int]
    # Sequences the seed drew keys from: (state before, last value after). A dry
    # run's rollback does not give sequence values back; these let it do so.
    sequences: list[tuple[Any, int | None]] = field(default_factory=list)
    rows_per_second: Mapping[str, float] = field(default_factory=dict)


def current_run() -> RunState:
    """The run state left by env.py; raises when env.py did not set one up."""
    from alembic import context

    state = context.config.attributes.get(ATTRIBUTE)
    if not isinstance(state, RunState):
        raise ConfigurationError(
            "a seed revision ran without Seedchain's env.py: make migrations/env.py call "
            "seeds.runtime.env.run_migrations()"
        )
    return state
