"""Seedchain: seed data as Alembic data migrations.

Seed revisions live in the Alembic version chain next to schema revisions, declare
the environments they belong to, and are undone exactly on downgrade::

    from seeds import SeedContext, seed

    @seed(environments=["development"], tables=[users])
    def upgrade(ctx: SeedContext) -> None:
        ctx.insert(users, [{"username": "demo", ...}])

    downgrade = upgrade.downgrade

The names in ``__all__`` are the public API; every other module is internal and may
change between releases (``docs/architecture.md`` says which layer holds what). They
are imported on first use: the pytest plugin is loaded by every pytest run of a
project that installs Seedchain, and should cost nothing there.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # "X as X" marks a re-export, so type checkers and linters see the public names.
    from seeds.data import geo as geo
    from seeds.data.factories import Choice as Choice
    from seeds.data.factories import Chunk as Chunk
    from seeds.data.factories import Factory as Factory
    from seeds.data.factories import Lazy as Lazy
    from seeds.data.factories import LazyColumn as LazyColumn
    from seeds.data.factories import Pool as Pool
    from seeds.data.factories import Row as Row
    from seeds.data.factories import Sequence as Sequence
    from seeds.data.factories import pool as pool
    from seeds.data.factories import spread as spread
    from seeds.data.factories import trend as trend
    from seeds.errors import AnonymizeError as AnonymizeError
    from seeds.errors import ConfigurationError as ConfigurationError
    from seeds.errors import DevDBError as DevDBError
    from seeds.errors import EnvironmentBlocked as EnvironmentBlocked
    from seeds.errors import EnvironmentNotDeclared as EnvironmentNotDeclared
    from seeds.errors import GeometryError as GeometryError
    from seeds.errors import LedgerDamaged as LedgerDamaged
    from seeds.errors import LedgerMismatch as LedgerMismatch
    from seeds.errors import OfflineUnsupported as OfflineUnsupported
    from seeds.errors import SeedDatabaseError as SeedDatabaseError
    from seeds.errors import SeedDataError as SeedDataError
    from seeds.errors import SeedError as SeedError
    from seeds.errors import UndoRefused as UndoRefused
    from seeds.errors import UnknownEnvironment as UnknownEnvironment
    from seeds.errors import UnsupportedByDialect as UnsupportedByDialect
    from seeds.runtime.autogenerate import include_name as include_name
    from seeds.runtime.autogenerate import include_object as include_object
    from seeds.runtime.context import SeedContext as SeedContext
    from seeds.runtime.env import run_migrations as run_migrations
    from seeds.runtime.environment import Environment as Environment
    from seeds.runtime.revision import SeedRevision as SeedRevision
    from seeds.runtime.revision import seed as seed

_ERRORS = (
    "AnonymizeError",
    "ConfigurationError",
    "DevDBError",
    "EnvironmentBlocked",
    "EnvironmentNotDeclared",
    "GeometryError",
    "LedgerDamaged",
    "LedgerMismatch",
    "OfflineUnsupported",
    "SeedDataError",
    "SeedDatabaseError",
    "SeedError",
    "UndoRefused",
    "UnknownEnvironment",
    "UnsupportedByDialect",
)
_FACTORIES = (
    "Choice",
    "Chunk",
    "Factory",
    "Lazy",
    "LazyColumn",
    "Pool",
    "Row",
    "Sequence",
    "pool",
    "spread",
    "trend",
)

_HOMES: dict[str, str] = {
    "Environment": "seeds.runtime.environment",
    "SeedContext": "seeds.runtime.context",
    "SeedRevision": "seeds.runtime.revision",
    "seed": "seeds.runtime.revision",
    "run_migrations": "seeds.runtime.env",
    "include_name": "seeds.runtime.autogenerate",
    "include_object": "seeds.runtime.autogenerate",
    **dict.fromkeys(_ERRORS, "seeds.errors"),
    **dict.fromkeys(_FACTORIES, "seeds.data.factories"),
}

__all__ = [
    "AnonymizeError",
    "Choice",
    "Chunk",
    "ConfigurationError",
    "DevDBError",
    "Environment",
    "EnvironmentBlocked",
    "EnvironmentNotDeclared",
    "Factory",
    "geo",
    "include_name",
    "include_object",
    "GeometryError",
    "Lazy",
    "LazyColumn",
    "LedgerDamaged",
    "LedgerMismatch",
    "OfflineUnsupported",
    "Pool",
    "Row",
    "pool",
    "run_migrations",
    "seed",
    "SeedContext",
    "SeedDataError",
    "SeedDatabaseError",
    "SeedError",
    "SeedRevision",
    "Sequence",
    "spread",
    "trend",
    "UndoRefused",
    "UnknownEnvironment",
    "UnsupportedByDialect",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    if name == "geo":
        return importlib.import_module("seeds.data.geo")
    home = _HOMES.get(name)
    if home is None:
        msg = f"module 'seeds' has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(home), name)


def __dir__() -> list[str]:
    return __all__
