"""Places: the PostGIS extension and stores with GiST-indexed geometries.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 23:33:00.000000

Schema revision. It must keep working when the models change, so it never imports
app.models: columns, constraints and their names are written out here (op.f(...)
marks a name as final, so the naming convention does not rename it again).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Make sure PostGIS is installed, then create ``stores`` and its GiST indexes."""
    # In public, not in the app's schema: env.py puts public after the chosen schema
    # on search_path, so every app schema in this database shares one installation
    # (an extension lives in exactly one schema per database). Creating it needs a
    # role allowed to; where a DBA installed it beforehand this is a no-op.
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis SCHEMA public")
    op.create_table(
        "stores",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("city", sa.String(100), nullable=False),
        # spatial_index=False: the GiST indexes are created explicitly below, not by
        # GeoAlchemy2's table events, so this file says everything it does.
        sa.Column(
            "location",
            Geometry(geometry_type="POINT", srid=4326, spatial_index=False),
            nullable=False,
        ),
        sa.Column(
            "service_area",
            Geometry(geometry_type="POLYGON", srid=4326, spatial_index=False),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stores")),
    )
    op.create_index(op.f("ix_stores_location"), "stores", ["location"], postgresql_using="gist")
    op.create_index(
        op.f("ix_stores_service_area"), "stores", ["service_area"], postgresql_using="gist"
    )


def downgrade() -> None:
    """Drop ``stores``; the PostGIS extension stays installed.

    Other schemas of this database (other app schemas, test schemas) and objects
    outside this chain may use PostGIS, and dropping it would need CASCADE and
    destroy their geometry columns. Installing it again is a no-op thanks to
    IF NOT EXISTS, so leaving it keeps up, down, up working.
    """
    op.drop_table("stores")
