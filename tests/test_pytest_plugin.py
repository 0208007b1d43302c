"""The pytest plugin, run on small example suites the way a user's project would.

Each test writes a tiny Alembic project (one schema revision, one seed revision) and
a test module into pytester's folder, runs pytest on it in-process, and checks the
outcomes and what happened to the real database afterwards.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from seeds import errors
from seeds.dev.devdb import DevDB
from seeds.integrations import pytest_plugin
from seeds.integrations.pytest_plugin import DATABASE_PREFIX, URL_ENV_VAR
from tests.helpers import rows, version
from tests.seedproject import ALEMBIC_INI, ENV_PY, FROZEN_USERS, HEADER, SCHEMA_USERS

pytest_plugins = ["pytester"]

SEED_USERS = (
    FROZEN_USERS
    + """

@seed(environments=["development", "testing"], tables=[users])
def upgrade(ctx: SeedContext) -> None:
    count = ctx.setting("users", 3)
    ctx.insert(users, [
        {"username": f"user{n}", "email": ctx.faker("users", n).email()} for n in range(count)
    ])


downgrade = upgrade.downgrade
"""
)

BROKEN_SEED = (
    FROZEN_USERS
    + """

@seed(environments=["testing"], tables=[users])
def upgrade(ctx: SeedContext) -> None:
    ctx.insert(users, [{"username": "no-email"}])


downgrade = upgrade.downgrade
"""
)

# The user's test module. __USERS__ and __ENV__ are replaced by what the run expects.
EXAMPLE_TESTS = """
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str]
    email: Mapped[str]


def usernames(conn):
    return conn.execute(sa.text("SELECT username FROM users ORDER BY id")).scalars().all()


def test_sees_the_seeded_rows(seed_connection):
    assert usernames(seed_connection) == __USERS__


def test_a_committed_row_is_visible_in_its_test(seed_session, seed_connection):
    seed_session.add(User(username="temporary", email="temporary@example.org"))
    seed_session.commit()
    assert seed_session.scalar(sa.select(sa.func.count()).select_from(User)) == len(__USERS__) + 1
    assert "temporary" in usernames(seed_connection)


def test_the_committed_row_is_gone_in_the_next_test(seed_session):
    assert seed_session.scalars(sa.select(User.username).order_by(User.id)).all() == __USERS__


def test_the_seeds_ran_in_the_environment(seed_connection):
    ledger = seed_connection.execute(
        sa.text("SELECT revision, environment, status FROM seed_ledger")
    ).all()
    assert [tuple(row) for row in ledger] == [("0002", __ENV__, "applied")]
"""

THREE_USERS = ["user0", "user1", "user2"]


def write_project(path: Path, seed_body: str = SEED_USERS) -> None:
    """alembic.ini, env.py, revision 0001 (users, posts) and seed revision 0002."""
    versions = path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (path / "alembic.ini").write_text(ALEMBIC_INI)
    (path / "migrations" / "env.py").write_text(ENV_PY)
    for rev, down, body in (("0001", None, SCHEMA_USERS), ("0002", "0001", seed_body)):
        doc = f"revision {rev}"
        header = HEADER.format(doc=doc, rev=rev, down=down or "", down_repr=repr(down))
        (versions / f"{rev}.py").write_text(header + body)


def example_tests(users: list[str] = THREE_USERS, environment: str = "testing") -> str:
    return EXAMPLE_TESTS.replace("__USERS__", repr(users)).replace("__ENV__", repr(environment))


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester's folder holding the example project and tests; no database from the env."""
    monkeypatch.delenv(URL_ENV_VAR, raising=False)
    monkeypatch.delenv("SCHEMA", raising=False)
    write_project(pytester.path)
    pytester.makepyfile(test_example=example_tests())
    return pytester


def test_seeded_once_per_session_and_rolled_back_per_test(
    project: pytest.Pytester, database_url: str, engine: sa.Engine
) -> None:
    result = project.runpytest("--seed-db-url", database_url)

    result.assert_outcomes(passed=4)
    # The session's database stays migrated and seeded, without the tests' rows.
    assert version(engine) == "0002"
    assert [r[1] for r in rows(engine, "users")] == THREE_USERS


def test_url_from_the_environment_variable(
    project: pytest.Pytester,
    database_url: str,
    engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(URL_ENV_VAR, database_url)

    project.runpytest().assert_outcomes(passed=4)
    assert version(engine) == "0002"


def test_environment_x_args_and_revision_options(
    project: pytest.Pytester, database_url: str, engine: sa.Engine
) -> None:
    project.makeini("[pytest]\nseeds_x_args = users=5 seed=7\n")
    project.makepyfile(test_example=example_tests([f"user{n}" for n in range(5)], "development"))

    project.runpytest("--seed-db-url", database_url, "--seed-env", "development").assert_outcomes(
        passed=4
    )

    ledger = sa.table("seed_ledger", sa.column("faker_seed"), sa.column("environment"))
    with engine.connect() as conn:
        assert conn.execute(sa.select(ledger.c.environment, ledger.c.faker_seed)).all() == [
            ("development", 7)
        ]


def test_revision_option(project: pytest.Pytester, database_url: str) -> None:
    project.makepyfile(
        test_example="""
        import sqlalchemy as sa

        def test_schema_only(seed_connection):
            current = seed_connection.scalar(sa.text("SELECT version_num FROM alembic_version"))
            assert current == "0001"
            assert seed_connection.scalar(sa.text("SELECT count(*) FROM users")) == 0
        """
    )

    project.runpytest("--seed-db-url", database_url, "--seed-revision", "0001").assert_outcomes(
        passed=1
    )


def test_schema_is_on_the_search_path_of_the_tests(
    project: pytest.Pytester, database_url: str, engine: sa.Engine
) -> None:
    schema = "tenant a"
    project.makeini(f"[pytest]\nseeds_x_args = 'schema={schema}'\n")

    project.runpytest("--seed-db-url", database_url).assert_outcomes(passed=4)

    users = sa.table("users", sa.column("username"), schema=schema)
    with engine.connect() as conn:
        assert conn.execute(sa.select(users.c.username)).scalars().all() == THREE_USERS


def test_overriding_seed_config_as_its_docstring_shows(
    project: pytest.Pytester, database_url: str
) -> None:
    project.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def seed_config(seed_config):
            seed_config.cmd_opts.x.append("users=2")
            return seed_config
        """
    )
    project.makepyfile(test_example=example_tests(["user0", "user1"]))

    project.runpytest("--seed-db-url", database_url).assert_outcomes(passed=4)


def test_project_local_database_is_created_and_dropped(
    project: pytest.Pytester, devdb: DevDB
) -> None:
    # Point the example project at this repository's running cluster (the `location`
    # file DevDB uses for clusters kept elsewhere) instead of initialising a new one.
    state = project.path / ".devdb"
    state.mkdir()
    (state / "location").write_text(f"{devdb._cluster_dir}\n")
    project.makepyfile(
        test_name="""
        import pathlib
        import sqlalchemy as sa

        def test_database_name(seed_connection):
            name = seed_connection.scalar(sa.text("SELECT current_database()"))
            pathlib.Path("database-name").write_text(name)
        """
    )

    project.runpytest().assert_outcomes(passed=5)

    name = (project.path / "database-name").read_text()
    assert name.startswith(DATABASE_PREFIX)
    admin = sa.create_engine(devdb.url("postgres"), poolclass=NullPool)
    try:
        with admin.connect() as conn:
            query = sa.text("SELECT count(*) FROM pg_database WHERE datname = :name")
            assert conn.scalar(query, {"name": name}) == 0
    finally:
        admin.dispose()


BUGGY_REVISION = """
def upgrade() -> None:
    raise RuntimeError("a bug in revision 0002")


def downgrade() -> None:
    pass
"""


@pytest.mark.parametrize(
    ("seed_body", "args", "lines"),
    [
        pytest.param(
            BROKEN_SEED,
            [],
            [
                "seed_database_url: alembic -x env=testing upgrade head failed on *: seed "
                "0002: table users row 0 column email: is NOT NULL and has no default, but the "
                "row gives no value; set it"
            ],
            id="broken-seed",
        ),
        pytest.param(
            SEED_USERS,
            ["--seed-env", "prod"],
            [
                "seed_config: unknown environment 'prod' (from --seed-env); use one of: "
                "production, staging, development, testing"
            ],
            id="unknown-environment",
        ),
        pytest.param(
            BUGGY_REVISION,
            [],
            [
                '>*raise RuntimeError("a bug in revision 0002")',
                "E*RuntimeError: a bug in revision 0002",
                "E*seeds.errors.SeedDatabaseError: alembic -x env=testing upgrade head "
                "failed on *: RuntimeError('a bug in revision 0002')",
            ],
            id="bug-in-a-revision",
        ),
    ],
)
def test_a_failed_upgrade_errors_every_test_that_needs_the_database(
    pytester: pytest.Pytester,
    database_url: str,
    engine: sa.Engine,
    seed_body: str,
    args: list[str],
    lines: list[str],
) -> None:
    write_project(pytester.path, seed_body)
    pytester.makepyfile(
        test_example=example_tests() + "\n\ndef test_without_the_database():\n    assert True\n"
    )

    result = pytester.runpytest("--seed-db-url", database_url, *args)

    result.assert_outcomes(passed=1, errors=4)
    result.stdout.fnmatch_lines(lines, consecutive=False)
    if seed_body is not SEED_USERS:
        # Tried once for the session (its log is in the first error's report), not per test.
        assert result.stdout.str().count("Running upgrade 0001 -> 0002") == 1
        # The schema revision stayed; the failed one's transaction was rolled back.
        assert version(engine) == "0001"
        assert rows(engine, "users") == []


def test_committing_the_outer_transaction_fails_the_test(
    project: pytest.Pytester, database_url: str, engine: sa.Engine
) -> None:
    project.makepyfile(
        test_example="""
        import sqlalchemy as sa

        def test_commits(seed_connection):
            seed_connection.execute(
                sa.text("INSERT INTO users (username, email) VALUES ('leak', 'leak@example.org')")
            )
            seed_connection.commit()
        """
    )

    result = project.runpytest("--seed-db-url", database_url)

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*seed_connection.commit() committed the test transaction*"])
    assert "leak" in [r[1] for r in rows(engine, "users")]


def test_inert_when_no_test_asks_for_a_seed_fixture(pytester: pytest.Pytester) -> None:
    # No alembic.ini, and a database that does not exist: neither is looked at.
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")

    result = pytester.runpytest("--seed-db-url", "postgresql://nobody@nowhere.invalid/none")

    result.assert_outcomes(passed=1)


def test_seed_database_error_is_a_seed_error_importable_from_the_plugin() -> None:
    assert pytest_plugin.SeedDatabaseError is errors.SeedDatabaseError
    assert issubclass(errors.SeedDatabaseError, errors.SeedError)
