"""PostGIS, row by row: a store's point and its service area buffered in metres per INSERT.

The way a hand-written seeder does it: one ``INSERT`` per store, the polygon built by
the server from ``ST_Buffer`` on the geography, a commit per 1,000. Seedchain's side is
the reference app's development seed, run by ``alembic`` (see ``harness``).
"""

from __future__ import annotations

import random

import sqlalchemy as sa
from geoalchemy2 import Geometry

from seeds.data import geo
from seeds.dev.bench.shape import SEED

BATCH = 1_000

metadata = sa.MetaData()

stores = sa.Table(
    "stores",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("city", sa.String(100), nullable=False),
    sa.Column("location", Geometry("POINT", srid=4326, spatial_index=False), nullable=False),
    sa.Column("service_area", Geometry("POLYGON", srid=4326, spatial_index=False), nullable=False),
    sa.Index("ix_bench_stores_location", "location", postgresql_using="gist"),
    sa.Index("ix_bench_stores_service_area", "service_area", postgresql_using="gist"),
)


def fresh(engine: sa.Engine) -> None:
    """An empty ``stores`` table with its GiST indexes (PostGIS must be installed)."""
    with engine.begin() as conn:
        metadata.drop_all(conn, checkfirst=True)
        metadata.create_all(conn)


def per_row(engine: sa.Engine, count: int) -> None:
    """``count`` stores in Europe, one INSERT each, 500 m to 5 km service areas."""
    stream = random.Random(SEED)
    with engine.connect() as conn:
        for n in range(count):
            lon, lat = stream.uniform(-9.0, 30.0), stream.uniform(36.0, 60.0)
            radius = stream.randint(500, 5_000)
            conn.execute(
                sa.insert(stores).values(
                    name=f"Store #{n + 1}",
                    city="Bench",
                    location=geo.point(lon, lat),
                    service_area=geo.metre_buffer(lon, lat, radius),
                )
            )
            if (n + 1) % BATCH == 0:
                conn.commit()
        conn.commit()


def loaded(engine: sa.Engine) -> int:
    """Stores in the table."""
    with engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(stores)) or 0)
