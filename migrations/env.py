"""Alembic environment: all of the work is done by seeds.runtime.env."""

from app.models import Base
from seeds.runtime.env import run_migrations

run_migrations(target_metadata=Base.metadata)
