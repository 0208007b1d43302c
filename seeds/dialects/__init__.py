"""Dialect-specific SQL behind one interface, bound to a run.

:func:`bind` gives the dialect of a connection (or of ``--sql`` output): PostgreSQL's
(COPY, server-side row hashes, TRUNCATE, advisory locks, sequences, schemas), SQLite's,
or the generic one, which needs nothing beyond SQLAlchemy Core. Adding a database is
adding a module here and a line to ``_REGISTRY``. Nothing outside this package asks
which database it is talking to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from seeds.dialects.base import Dialect, Emit, SequenceState
from seeds.dialects.postgresql import PostgresDialect
from seeds.dialects.sqlite import SqliteDialect

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = [
    "Dialect",
    "PostgresDialect",
    "SequenceState",
    "SqliteDialect",
    "bind",
    "canonical_sql",
    "dialect_class",
]

_REGISTRY: dict[str, type[Dialect]] = {"postgresql": PostgresDialect, "sqlite": SqliteDialect}


def dialect_class(name: str) -> type[Dialect]:
    """The implementation for a SQLAlchemy dialect name, falling back to the generic one."""
    return _REGISTRY.get(name, Dialect)


# The data checksum renders SQL expressions (geometry constructors and the like) as
# text; any fixed dialect makes that text the same on every machine, and PostgreSQL
# renders the most literal values. Built from a URL because the dialect classes'
# constructors are untyped.
_CANONICAL = sa.engine.URL.create("postgresql+psycopg").get_dialect()()


def canonical_sql(clause: sa.ClauseElement) -> str:
    """``clause`` as stable SQL text, values inlined where they have a literal form."""
    try:
        return str(clause.compile(dialect=_CANONICAL, compile_kwargs={"literal_binds": True}))
    except sa.exc.CompileError:  # a bound value with no literal form: the SQL alone
        return str(clause.compile(dialect=_CANONICAL))


def bind(
    connection: Connection | None, *, sa_dialect: sa.Dialect | None = None, emit: Emit | None = None
) -> Dialect:
    """The dialect of one run: on ``connection``, or rendering to ``emit`` under ``--sql``."""
    name = connection.dialect.name if connection is not None else getattr(sa_dialect, "name", "")
    return dialect_class(name)(connection, sa_dialect=sa_dialect, emit=emit)
