"""Errors a user meets are one SeedError line that says what is wrong and what to do."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.util import CommandError

from seeds import errors
from tests.helpers import rows, version
from tests.reliability import Reliability
from tests.seedproject import FROZEN_USERS, SCHEMA_USERS, SeedProject, seed_users
from tests.test_load_order import CYCLE_SEED


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    return SeedProject(tmp_path / "proj", database_url, monkeypatch)


SETTING_SEED = (
    FROZEN_USERS
    + """

@seed(environments=["development"], tables=[users])
def upgrade(ctx: SeedContext) -> None:
    ctx.insert(users, [{"username": f"u{n}", "email": "e"} for n in range(ctx.setting("users", 2))])


downgrade = upgrade.downgrade
"""
)


def test_a_bad_setting_names_the_seed_and_where_to_fix_it(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", SETTING_SEED)
    with pytest.raises(CommandError) as info:
        project.upgrade("head", env="development", users="many")
    message = str(info.value)
    assert message == (
        "seed s2: setting users='many' is not a whole number; fix -x users= or "
        "[tool.seeds.development] in pyproject.toml"
    )
    assert "table -" not in message
    assert version(engine) == "s1"


def test_an_undo_whose_revision_dropped_a_table_says_so(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.revision("s1", SCHEMA_USERS)
    path = Path(
        project.root / "migrations" / "versions" / f"{project.revision('s2', seed_users())}.py"
    )
    project.upgrade("head", env="development")
    # The author later edits the applied seed and no longer declares posts.
    path.write_text(path.read_text().replace("tables=[users, posts]", "tables=[users]"))
    with pytest.raises(CommandError) as info:
        project.downgrade("s1", env="development")
    message = str(info.value)
    assert "the ledger says it wrote table posts, but the revision no longer declares it" in message
    assert "declare the table again" in message
    assert "changed 0 rows" not in message  # not a ledger rowcount mismatch
    assert len(rows(engine, "posts")) == 3 and version(engine) == "s2"


# SQLite cannot add a foreign key later: both are declared with the tables.
SQLITE_CYCLE_SCHEMA = """
def upgrade() -> None:
    op.create_table("teams", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("name", sa.String(50), nullable=False),
                    sa.Column("lead_id", sa.Integer, nullable=False),
                    sa.ForeignKeyConstraint(["lead_id"], ["people.id"], name="fk_teams_lead",
                                            deferrable=True))
    op.create_table("people", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("name", sa.String(50), nullable=False),
                    sa.Column("team_id", sa.Integer, sa.ForeignKey("teams.id"), nullable=False))


def downgrade() -> None:
    op.drop_table("people")
    op.drop_table("teams")
"""


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_deferrable_cycle_on_sqlite_is_one_line(project: SeedProject, engine: sa.Engine) -> None:
    project.revision("c1", SQLITE_CYCLE_SCHEMA)
    project.revision("c2", CYCLE_SEED.format(lead_nullable=False, deferrable=True))
    with pytest.raises(CommandError) as info:
        project.upgrade("head", env="production")
    message = str(info.value)
    assert "sqlite cannot defer constraints (fk_teams_lead)" in message
    assert "make one foreign key of the cycle nullable" in message
    assert isinstance(info.value.__cause__, errors.UnsupportedByDialect)
    assert version(engine) == "c1" and rows(engine, "teams") == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5", "seed s2: setting users='-5' is below 0"),
        ("1e9", "seed s2: setting users='1e9' is not a whole number"),
        ("abc", "seed s2: setting users='abc' is not a whole number"),
    ],
)
def test_bad_counts_are_refused_before_any_row(
    project: SeedProject, engine: sa.Engine, reliability: Reliability, value: str, message: str
) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", SETTING_SEED)
    started = time.monotonic()
    with pytest.raises(CommandError, match=message) as info:
        project.upgrade("head", env="development", users=value)
    seconds = time.monotonic() - started
    assert version(engine) == "s1" and rows(engine, "users") == []
    reliability.record(
        f"bad-x-users={value}",
        lost=0,
        leaked=len(rows(engine, "users")),
        seconds=seconds,
        seen=f"FAILED: {info.value}",
    )
