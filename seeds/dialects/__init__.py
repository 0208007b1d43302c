"""Dialect-specific work behind one interface, chosen by dialect name.

``impl_for("postgresql")`` gives the PostgreSQL implementation (COPY, server-side
row hashes, TRUNCATE, advisory locks, sequences); any other dialect gets the
generic one, which needs nothing beyond SQLAlchemy Core. No other module asks
which dialect it is talking to.
"""

from __future__ import annotations

from seeds.dialects.base import GenericImpl, SequenceState, Sink
from seeds.dialects.postgresql import PostgresImpl
from seeds.dialects.sqlite import SqliteImpl

__all__ = ["GenericImpl", "PostgresImpl", "SequenceState", "Sink", "SqliteImpl", "impl_for"]

_REGISTRY: dict[str, type[GenericImpl]] = {"postgresql": PostgresImpl, "sqlite": SqliteImpl}


def impl_for(dialect_name: str) -> GenericImpl:
    """The implementation for a dialect, falling back to the generic one."""
    return _REGISTRY.get(dialect_name, GenericImpl)()
