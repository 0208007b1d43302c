"""Workflow aggregate: publishable items and the history of their state changes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, String, column, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, BigIntPK, CreatedAt

# Every state an item can be in, in the order it normally moves through them.
WORKFLOW_STATES: tuple[str, ...] = ("draft", "review", "approved", "published")


class WorkflowItem(Base):
    """A piece of content that moves from draft to published."""

    __tablename__ = "workflow_items"
    __table_args__ = (CheckConstraint(column("state").in_(WORKFLOW_STATES), name="state"),)

    id: Mapped[BigIntPK]
    title: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20), server_default=WORKFLOW_STATES[0])
    created_at: Mapped[CreatedAt]
    # onupdate keeps ORM and Core updates honest; the database default covers inserts.
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    history: Mapped[list[StateHistory]] = relationship(
        back_populates="item",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="StateHistory.transitioned_at",
    )


class StateHistory(Base):
    """One transition of a workflow item; the first has no ``from_state``."""

    __tablename__ = "state_history"
    __table_args__ = (
        # A CHECK passes on NULL, so the initial transition (from_state NULL) is valid.
        CheckConstraint(column("from_state").in_(WORKFLOW_STATES), name="from_state"),
        CheckConstraint(column("to_state").in_(WORKFLOW_STATES), name="to_state"),
    )

    id: Mapped[BigIntPK]
    item_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("workflow_items.id", ondelete="CASCADE"), index=True
    )
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    transitioned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    item: Mapped[WorkflowItem] = relationship(back_populates="history")
