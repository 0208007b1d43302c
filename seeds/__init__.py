"""Seedchain: seed data as Alembic data migrations.

Seed revisions live in the Alembic version chain next to schema revisions, declare
the environments they belong to, and are undone exactly on downgrade::

    from seeds import SeedContext, seed

    @seed(environments=["development"], tables=[users])
    def upgrade(ctx: SeedContext) -> None:
        ctx.insert(users, [{"username": "demo", ...}])

    downgrade = upgrade.downgrade

The names below are imported on first use: the pytest plugin is loaded by every
pytest run of a project that installs Seedchain, and should cost nothing there.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from seeds.context import SeedContext
    from seeds.environment import Environment
    from seeds.errors import SeedError
    from seeds.revision import SeedRevision, seed

__all__ = ["Environment", "SeedContext", "SeedError", "SeedRevision", "seed"]

_HOMES = {
    "Environment": "seeds.environment",
    "SeedContext": "seeds.context",
    "SeedError": "seeds.errors",
    "SeedRevision": "seeds.revision",
    "seed": "seeds.revision",
}

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        msg = f"module 'seeds' has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(home), name)
