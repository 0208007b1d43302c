"""Accounts aggregate: the ``users`` table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, BigIntPK, CreatedAt

if TYPE_CHECKING:
    from app.models.planning import Project, Task


class User(Base):
    """A person who signs in; ``username`` and ``email`` are natural keys."""

    __tablename__ = "users"

    id: Mapped[BigIntPK]
    # Both are natural keys: idempotent seeds (the admin user) upsert on them.
    username: Mapped[str] = mapped_column(String(50), unique=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    # Added by revision 0010 after the seed revisions (backfilled "first last").
    display_name: Mapped[str] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(server_default=false())
    created_at: Mapped[CreatedAt]

    # projects.owner_id is ON DELETE CASCADE: let the database remove the projects
    # instead of loading them, and never try to null a NOT NULL owner.
    owned_projects: Mapped[list[Project]] = relationship(
        back_populates="owner", cascade="all, delete-orphan", passive_deletes=True
    )
    # project_members rows go with the user (ON DELETE CASCADE) without being loaded.
    projects: Mapped[list[Project]] = relationship(
        secondary="project_members", back_populates="members", passive_deletes=True
    )
    # tasks.assignee_id is ON DELETE SET NULL: the database unassigns the tasks.
    assigned_tasks: Mapped[list[Task]] = relationship(
        back_populates="assignee", passive_deletes=True
    )
