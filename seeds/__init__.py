"""Seedchain: seed data as Alembic data migrations.

Seed revisions live in the Alembic version chain next to schema revisions, declare
the environments they belong to, and are undone exactly on downgrade::

    from seeds import SeedContext, seed

    @seed(environments=["development"], tables=[users])
    def upgrade(ctx: SeedContext) -> None:
        ctx.insert(users, [{"username": "demo", ...}])

    downgrade = upgrade.downgrade
"""

from __future__ import annotations

import logging

from seeds.context import SeedContext
from seeds.environment import Environment
from seeds.errors import SeedError
from seeds.revision import SeedRevision, seed

__all__ = ["Environment", "SeedContext", "SeedError", "SeedRevision", "seed"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
