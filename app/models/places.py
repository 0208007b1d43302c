"""Places aggregate: stores with a PostGIS location and service area."""

from __future__ import annotations

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, BigIntPK


class Store(Base):
    """A store at a point (lon/lat, SRID 4326) that serves the area of a polygon."""

    __tablename__ = "stores"
    __table_args__ = (
        # spatial_index=False on the columns and explicit GiST indexes here: the
        # indexes are ordinary metadata, named by the convention, created by the
        # schema revision and compared by autogenerate, rather than side effects of
        # GeoAlchemy2's table events.
        Index("ix_stores_location", "location", postgresql_using="gist"),
        Index("ix_stores_service_area", "service_area", postgresql_using="gist"),
    )

    id: Mapped[BigIntPK]
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    location: Mapped[WKBElement] = mapped_column(Geometry("POINT", srid=4326, spatial_index=False))
    service_area: Mapped[WKBElement] = mapped_column(
        Geometry("POLYGON", srid=4326, spatial_index=False)
    )
