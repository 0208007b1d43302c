"""Analytics aggregate: daily metric values and the events annotated on them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, BigIntPK


class Metric(Base):
    """The value of one named metric on one day."""

    __tablename__ = "metrics"
    __table_args__ = (
        # One value per metric per day. Named explicitly: the "uq" convention would
        # only mention the first column and call it uq_metrics_name.
        UniqueConstraint("name", "day", name="uq_metrics_name_day"),
    )

    id: Mapped[BigIntPK]
    name: Mapped[str] = mapped_column(String(100))
    day: Mapped[date]
    # Exact decimals: seeded values render to the same text on every machine.
    value: Mapped[Decimal] = mapped_column(Numeric(12, 2))

    events: Mapped[list[Event]] = relationship(
        back_populates="metric", cascade="all, delete-orphan", passive_deletes=True
    )


class Event(Base):
    """Something that happened on a day and explains a metric's value."""

    __tablename__ = "events"

    id: Mapped[BigIntPK]
    metric_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("metrics.id", ondelete="CASCADE"), index=True
    )
    occurred_on: Mapped[date]
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)

    metric: Mapped[Metric] = relationship(back_populates="events")
