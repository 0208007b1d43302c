"""Alembic environment: Seedchain's run_migrations does all of the work."""

from app.models import Base
from seeds import run_migrations

run_migrations(target_metadata=Base.metadata)
