"""Protected environments (Rails' idea): a production database guards itself.

The ledger remembers the environment a database was first seeded under, and every
seed run's environment; :meth:`seeds.runtime.ledger.Ledger.protection` resolves them
(a production stamp, or any production run, makes the database production unless an
anonymized copy was re-stamped with ``seeds restamp``). A production database
refuses runs declared ``development`` or ``testing`` (their seeds are not for it)
and any downgrade, unless the operator passes ``-x allow_unsafe=<database name>``.
Naming the database, not just saying "yes", means an override typed into the wrong
terminal tab does nothing.
"""

from __future__ import annotations

import logging

from seeds.errors import ConfigurationError, EnvironmentBlocked
from seeds.runtime.environment import Environment

log = logging.getLogger(__name__)

_UNSAFE_IN_PRODUCTION = frozenset({Environment.DEVELOPMENT, Environment.TESTING})


def resolve_override(allow_unsafe: str | None, database: str) -> str | None:
    """The database name when ``allow_unsafe`` names this database; None when not given.

    Raises:
        ConfigurationError: ``allow_unsafe`` names another database.
    """
    if allow_unsafe is None:
        return None
    if allow_unsafe != database:
        raise ConfigurationError(
            f"-x allow_unsafe={allow_unsafe!r} names another database; this one is "
            f"{database!r}. The override must name the database it is meant for"
        )
    return database


def check_environment(
    environment: Environment, stamp: Environment | None, database: str, override: str | None
) -> bool:
    """Refuse a development/testing run against a production database.

    Returns True when the run goes ahead only because of the override.
    """
    if stamp is not Environment.PRODUCTION or environment not in _UNSAFE_IN_PRODUCTION:
        return False
    if override is None:
        raise EnvironmentBlocked(
            f"database {database!r} is marked production; refusing to run {environment} "
            f"seeds against it (to do it anyway: -x allow_unsafe={database})"
        )
    log.warning(
        "OVERRIDE: running %s against production database %r (-x allow_unsafe)",
        environment,
        database,
    )
    return True


def check_downgrade(
    steps: list[str], stamp: Environment | None, database: str, override: str | None
) -> bool:
    """Refuse any downgrade of a production database.

    Args:
        steps: The downgrade steps about to run (empty: not a downgrade).

    Returns True when the downgrade goes ahead only because of the override.
    """
    if not steps or stamp is not Environment.PRODUCTION:
        return False
    if override is None:
        raise EnvironmentBlocked(
            f"database {database!r} is marked production; refusing to downgrade it "
            f"({', '.join(steps)}) (to do it anyway: -x allow_unsafe={database})"
        )
    log.warning(
        "OVERRIDE: downgrading production database %r (%s) (-x allow_unsafe)",
        database,
        ", ".join(steps),
    )
    return True
