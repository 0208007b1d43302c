"""Declarative base, naming convention and shared column types of the reference app.

Tables carry no schema: ``migrations/env.py`` picks the schema at run time through
``search_path``, so the same metadata serves every schema and database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from sqlalchemy import BigInteger, DateTime, Identity, MetaData, func
from sqlalchemy.orm import DeclarativeBase, mapped_column

# Alembic's recommended convention. Every constraint and index gets a predictable
# name, so schema revisions can name them with op.f(...) and a later revision can
# drop or alter them without reflecting the database first.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Surrogate key of every table. BY DEFAULT (not ALWAYS) so bulk loaders may assign
# keys before writing (COPY with explicit ids, foreign keys resolved in memory) and
# then move the sequence on; the application itself never sets ids.
BigIntPK = Annotated[int, mapped_column(BigInteger, Identity(always=False), primary_key=True)]

# Creation time, set by the database so rows written by COPY, raw SQL and the ORM
# all agree on the clock and the time zone.
CreatedAt = Annotated[datetime, mapped_column(DateTime(timezone=True), server_default=func.now())]


class Base(DeclarativeBase):
    """Declarative base of every reference-app model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
