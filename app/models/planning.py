"""Planning aggregate: projects, their members, sprints, features and tasks."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    column,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, BigIntPK, CreatedAt

if TYPE_CHECKING:
    from app.models.accounts import User

# Allowed task statuses, in the order a task moves through them.
TASK_STATUSES: tuple[str, ...] = ("todo", "doing", "done")

project_members = Table(
    "project_members",
    Base.metadata,
    # The composite primary key leads with project_id, so it also serves as the
    # index for that foreign key; user_id gets its own index below.
    Column(
        "project_id",
        BigInteger,
        ForeignKey("projects.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "user_id",
        BigInteger,
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("role", String(20), nullable=False, server_default="member"),
    Index(None, "user_id"),
)


class Project(Base):
    """A project owned by one user and worked on by its members."""

    __tablename__ = "projects"

    id: Mapped[BigIntPK]
    owner_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[CreatedAt]

    owner: Mapped[User] = relationship(back_populates="owned_projects")
    # project_members rows go with the project (ON DELETE CASCADE) without being loaded.
    members: Mapped[list[User]] = relationship(
        secondary=project_members, back_populates="projects", passive_deletes=True
    )
    sprints: Mapped[list[Sprint]] = relationship(
        back_populates="project",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Sprint.starts_on",
    )
    features: Mapped[list[Feature]] = relationship(
        back_populates="project", cascade="all, delete-orphan", passive_deletes=True
    )


class Sprint(Base):
    """A dated iteration of a project."""

    __tablename__ = "sprints"
    __table_args__ = (
        # A one-day sprint starts and ends on the same date.
        CheckConstraint("ends_on >= starts_on", name="ends_after_starts"),
    )

    id: Mapped[BigIntPK]
    project_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    starts_on: Mapped[date]
    ends_on: Mapped[date]

    project: Mapped[Project] = relationship(back_populates="sprints")
    # features.sprint_id is ON DELETE SET NULL: the database unschedules them.
    features: Mapped[list[Feature]] = relationship(back_populates="sprint", passive_deletes=True)


class Feature(Base):
    """A unit of product work in a project, optionally scheduled into a sprint."""

    __tablename__ = "features"

    id: Mapped[BigIntPK]
    project_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    # Deleting a sprint returns its features to the backlog instead of deleting them.
    sprint_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("sprints.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)

    project: Mapped[Project] = relationship(back_populates="features")
    sprint: Mapped[Sprint | None] = relationship(back_populates="features")
    tasks: Mapped[list[Task]] = relationship(
        back_populates="feature", cascade="all, delete-orphan", passive_deletes=True
    )


class Task(Base):
    """A step of a feature, optionally assigned to a user."""

    __tablename__ = "tasks"
    __table_args__ = (CheckConstraint(column("status").in_(TASK_STATUSES), name="status"),)

    id: Mapped[BigIntPK]
    feature_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("features.id", ondelete="CASCADE"), index=True
    )
    # Deleting a user unassigns their tasks; the work itself stays.
    assignee_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), server_default=TASK_STATUSES[0])

    feature: Mapped[Feature] = relationship(back_populates="tasks")
    assignee: Mapped[User | None] = relationship(back_populates="assigned_tasks")
