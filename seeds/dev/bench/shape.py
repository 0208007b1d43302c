"""The users-shaped table every loading strategy fills, and the rows they load.

The table has the reference app's ``users`` columns and indexes (an identity key,
unique username and e-mail); the rows are made two ways: Faker called per value (the
usual hand-written seeder) and a Seedchain factory of the same shape as
``app.seeds.factories.UserFactory`` (Faker pools sampled per row).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from typing import Any

import sqlalchemy as sa
from faker import Faker
from sqlalchemy import orm

from seeds.data.factories import Chunk, Factory, LazyColumn, Pool

SEED = 12345
COLUMNS = ["username", "email", "first_name", "last_name", "is_admin", "created_at"]
CHUNK = 10_000  # rows handed to a loader at a time by the streaming strategies
# The one row an application writes beside the seeded users, so TRUNCATE is not
# provably the same as the seed's undo and the keyed delete must keep it.
APP_ROW = {
    "username": "made.by.the.app",
    "email": "made.by.the.app@example.com",
    "first_name": "Made",
    "last_name": "By the app",
}

metadata = sa.MetaData()


def _users_table(name: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("username", sa.String(50), nullable=False, unique=True),
        sa.Column("email", sa.String(255), nullable=False, unique=True),
        sa.Column("first_name", sa.String(100), nullable=False),
        sa.Column("last_name", sa.String(100), nullable=False),
        sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )


users = _users_table("users")
# The limit's table: the same columns and indexes, filled by the server itself.
copy_of_users = _users_table("copy_of_users")


class Base(orm.DeclarativeBase):
    """Mapped classes of the benchmark's tables (the ORM and factory_boy strategies)."""

    metadata = metadata


class User(Base):
    """A row of ``users`` as an ORM object."""

    __table__ = users


def _usernames(c: Chunk) -> list[str]:
    names = zip(c["first_name"], c["last_name"], c.n.tolist(), strict=True)
    return [f"{first}.{last}{n}".lower() for first, last, n in names]


def _created_at(c: Chunk) -> list[Any]:
    minutes = c.randint(30, 720) * 1440 + c.randint(0, 1439)
    return [c.now - ago for ago in minutes.astype("timedelta64[m]").tolist()]


class UserRows(Factory):
    """The reference app's ``UserFactory``, declared again (``seeds`` never imports
    ``app``): pools indexed per chunk, the derived fields a column at a time."""

    table = "users"
    first_name = Pool("first_name")
    last_name = Pool("last_name")
    username = LazyColumn(_usernames)
    email = LazyColumn(lambda c: [f"{name}@example.com" for name in c["username"]])
    is_admin = False
    created_at = LazyColumn(_created_at)


def faker_row(fake: Faker, n: int) -> dict[str, Any]:
    """Row ``n`` the naive way: a Faker call per value."""
    first, last = fake.first_name(), fake.last_name()
    username = f"{first}.{last}{n}".lower()
    return {
        "username": username,
        "email": f"{username}@example.com",
        "first_name": first,
        "last_name": last,
        "is_admin": False,
        "created_at": fake.date_time_between("-720d", "-30d", tzinfo=UTC),
    }


def seeded_faker() -> Faker:
    """A Faker seeded like every naive strategy's."""
    fake = Faker()
    fake.seed_instance(SEED)
    return fake


def factory_chunks(count: int, size: int = CHUNK) -> Iterator[list[dict[str, Any]]]:
    """``count`` factory rows, ``size`` at a time: the one place rows come from a factory."""
    yield from UserRows.iter_chunks(count, chunk=size, seed=SEED)
