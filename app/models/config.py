"""Configuration aggregate: key/value settings and the navigation menu tree."""

from __future__ import annotations

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, BigIntPK


class Setting(Base):
    """One application setting; ``key`` is the natural key production seeds upsert on."""

    __tablename__ = "settings"

    id: Mapped[BigIntPK]
    key: Mapped[str] = mapped_column(String(100), unique=True)
    value: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)


class MenuItem(Base):
    """A node of a named menu; top-level items have no parent."""

    __tablename__ = "menu_items"

    id: Mapped[BigIntPK]
    # Deleting an item deletes its whole subtree.
    parent_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("menu_items.id", ondelete="CASCADE"), index=True
    )
    menu: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(100))
    # Section headings have no link of their own.
    url: Mapped[str | None] = mapped_column(String(500))
    position: Mapped[int]

    parent: Mapped[MenuItem | None] = relationship(
        back_populates="children", remote_side="MenuItem.id"
    )
    children: Mapped[list[MenuItem]] = relationship(
        back_populates="parent",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="MenuItem.position",
    )
