"""Alembic environment: all of the work is done by seeds.alembic_env."""

from app.models import Base
from seeds.alembic_env import run_migrations

run_migrations(target_metadata=Base.metadata)
