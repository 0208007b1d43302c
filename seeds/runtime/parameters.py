"""The ``-x`` arguments Seedchain understands, parsed once into typed values.

``-x seed=N`` (Faker seed, default 12345), ``-x now=ISO-8601`` (reference time,
default 2026-01-01T00:00:00Z), ``-x locale=xx_YY``, ``-x allow_unsafe=<database>``,
``-x allow_changed=<database>``, ``-x allow_cascade=<database>``, ``-x lock_timeout=5s``,
``-x statement_timeout=15min``; any other key (for example
``-x users=1000``) is a count or switch for the seed sets, kept in ``extra``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from seeds.data.streams import DEFAULT_LOCALE, DEFAULT_NOW, DEFAULT_SEED
from seeds.errors import ConfigurationError

DEFAULT_LOCK_TIMEOUT = "5s"
DEFAULT_STATEMENT_TIMEOUT = "15min"

# Arguments env.py and the engine read themselves; everything else is for seed sets.
_KNOWN = {
    "env",
    "schema",
    "seed",
    "now",
    "locale",
    "allow_unsafe",
    "allow_changed",
    "allow_cascade",
    "lock_timeout",
    "statement_timeout",
    "lock_wait",
}
# PostgreSQL duration syntax: a number and an optional unit.
_DURATION = re.compile(r"^\d+(\.\d+)?\s*(us|ms|s|min|h|d)?$")


@dataclass(frozen=True)
class Parameters:
    """Typed ``-x`` arguments of one run."""

    seed: int = DEFAULT_SEED
    now: datetime = DEFAULT_NOW
    locale: str = DEFAULT_LOCALE
    allow_unsafe: str | None = None
    allow_changed: str | None = None
    allow_cascade: str | None = None
    lock_timeout: str = DEFAULT_LOCK_TIMEOUT
    statement_timeout: str = DEFAULT_STATEMENT_TIMEOUT
    lock_wait: str = "10min"
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_x_args(cls, x_args: Mapping[str, str]) -> Parameters:
        """Parse Alembic's ``-x`` dictionary; a bad value names the argument and the fix."""
        seed = DEFAULT_SEED
        if "seed" in x_args:
            try:
                seed = int(x_args["seed"])
            except ValueError:
                seed = -1
            if not 0 <= seed < 2**63:  # the ledger keeps it as a bigint
                raise ConfigurationError(
                    f"-x seed={x_args['seed']!r} is not a whole number from 0 to "
                    f"{2**63 - 1}; e.g. -x seed=12345"
                )
        now = DEFAULT_NOW
        if "now" in x_args:
            try:
                now = datetime.fromisoformat(x_args["now"])
            except ValueError:
                raise ConfigurationError(
                    f"-x now={x_args['now']!r} is not an ISO-8601 time; "
                    "e.g. -x now=2026-01-01T00:00:00+00:00"
                ) from None
            if now.tzinfo is None:
                now = now.replace(tzinfo=UTC)
        durations = {}
        for key, default in (
            ("lock_timeout", DEFAULT_LOCK_TIMEOUT),
            ("statement_timeout", DEFAULT_STATEMENT_TIMEOUT),
            ("lock_wait", "10min"),
        ):
            value = x_args.get(key, default).strip()
            if not _DURATION.match(value):
                raise ConfigurationError(
                    f"-x {key}={value!r} is not a duration; e.g. 5s, 500ms, 2min"
                )
            durations[key] = value
        return cls(
            seed=seed,
            now=now,
            locale=x_args.get("locale", DEFAULT_LOCALE),
            allow_unsafe=x_args.get("allow_unsafe") or None,
            allow_changed=x_args.get("allow_changed") or None,
            allow_cascade=x_args.get("allow_cascade") or None,
            extra={k: v for k, v in x_args.items() if k not in _KNOWN},
            **durations,
        )
