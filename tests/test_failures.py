"""A seed that fails, whatever fails in it, is one line and gives back what it took.

Seedchain's loaders already explain the rows they refuse (tests/test_errors.py). These
are the failures that come from elsewhere: the seed's own SQL, its own Python, and
the key sequences the rolled-back rows had drawn from.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.util import CommandError

from tests.helpers import rows, version
from tests.reliability import Reliability
from tests.seedproject import FROZEN_USERS, SCHEMA_USERS, SeedProject, seed_users


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    return SeedProject(tmp_path / "proj", database_url, monkeypatch)


def seed_then(failure: str) -> str:
    """A seed that inserts 200 users, then fails with ``failure`` (indented code)."""
    return (
        FROZEN_USERS
        + f"""

@seed(environments=["development"], tables=[users, posts])
def upgrade(ctx: SeedContext) -> None:
    ctx.insert(users, [{{"username": f"u{{n}}", "email": "e"}} for n in range(200)])
{failure}


downgrade = upgrade.downgrade
"""
    )


RAW_SQL = '    op.execute("INSERT INTO posts (user_id, title) VALUES (1, NULL)")'
CONNECTION_SQL = '    ctx.connection.execute(sa.text("UPDATE users SET username = NULL WHERE id = (SELECT min(id) FROM users)"))'  # noqa: E501
TERMINATE = '    ctx.connection.execute(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))'
PYTHON = '    {"a": 1}["missing_key"]'


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (
            RAW_SQL,
            'seed s2: table posts, column title: null value in column "title" of relation '
            '"posts" violates not-null constraint',
        ),
        (
            CONNECTION_SQL,
            'seed s2: table users, column username: null value in column "username" of '
            'relation "users" violates not-null constraint',
        ),
        (PYTHON, "seed s2: KeyError: 'missing_key' (at s2.py:"),
        # What -x users=100000000 ended in after a minute of building rows.
        ("    raise MemoryError()", "seed s2: ran out of memory building its rows"),
    ],
    ids=["op.execute", "ctx.connection", "python", "memory"],
)
def test_a_failing_seed_is_one_line_and_leaves_nothing(
    project: SeedProject, engine: sa.Engine, failure: str, expected: str
) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", seed_then(failure))
    result = project.cli("alembic", "upgrade", "head", APP_ENV="development")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    [failed] = [line for line in output.splitlines() if line.startswith("FAILED:")]
    assert failed.startswith("FAILED: " + expected), failed
    assert "Traceback" not in output
    assert version(engine) == "s1" and rows(engine, "users") == []


def test_a_failed_seed_gives_its_key_values_back(project: SeedProject, engine: sa.Engine) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", seed_then(PYTHON))
    failed = project.cli("alembic", "upgrade", "head", APP_ENV="development")
    assert failed.returncode != 0
    # The application inserts a row: it gets the key it would have had with no seed.
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (username, email) VALUES ('app', 'a@x')"))
    assert rows(engine, "users") == [(1, "app", "a@x")]


def test_keys_another_session_holds_are_never_given_back(
    project: SeedProject, engine: sa.Engine
) -> None:
    """A row committed above the seed's range while it ran keeps the sequence ahead."""
    project.revision("s1", SCHEMA_USERS)
    project.revision(
        "s2",
        seed_then(
            "    import sqlalchemy as _sa\n"
            "    other = _sa.create_engine(ctx.connection.engine.url)\n"
            "    with other.begin() as conn:\n"
            "        conn.execute(_sa.text(\"INSERT INTO users (username, email) VALUES ('app', 'a')\"))\n"  # noqa: E501
            "    other.dispose()\n"
            "    raise RuntimeError('late failure')"
        ),
    )
    failed = project.cli("alembic", "upgrade", "head", APP_ENV="development")
    assert "RuntimeError: late failure" in failed.stdout + failed.stderr
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (username, email) VALUES ('next', 'n')"))
    keys = [row[0] for row in rows(engine, "users")]
    assert keys == [201, 202]  # the app's row kept its key; nothing collides


def test_a_good_seed_after_a_failed_one_gets_the_first_keys(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", seed_then(PYTHON))
    assert project.cli("alembic", "upgrade", "head", APP_ENV="development").returncode != 0
    path = project.root / "migrations" / "versions" / "s2.py"
    path.write_text(path.read_text().replace(seed_then(PYTHON), seed_users('["development"]')))
    assert project.cli("alembic", "upgrade", "head", APP_ENV="development").returncode == 0
    assert [row[0] for row in rows(engine, "users")] == [1, 2, 3]


def test_a_lost_connection_is_one_line_not_the_lock_release(
    project: SeedProject, engine: sa.Engine
) -> None:
    """The server ends the session mid-seed (as a restart does): the FAILED line says
    so, rather than the failed release of the deploy lock that follows."""
    project.revision("s1", SCHEMA_USERS)
    project.revision(
        "s2",
        seed_then(
            '    ctx.connection.execute(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))'
        ),
    )
    result = project.cli("alembic", "upgrade", "head", APP_ENV="development")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    [failed] = [line for line in output.splitlines() if line.startswith("FAILED:")]
    assert "terminating connection due to administrator command" in failed, failed
    assert "nothing of the seed was written: run the command again" in failed, failed
    assert "Traceback" not in output and "advisory" not in failed
    assert version(engine) == "s1" and rows(engine, "users") == []


def test_a_connection_lost_in_a_bulk_load_is_one_line_not_a_bad_row(
    project: SeedProject, engine: sa.Engine
) -> None:
    """The session ends in the middle of a COPY: the line says the connection was lost,
    not that the rows need fixing."""
    project.revision("s1", SCHEMA_USERS)
    project.revision(
        "s2",
        FROZEN_USERS
        + """

@seed(environments=["development"], tables=[users])
def upgrade(ctx: SeedContext) -> None:
    pid = ctx.connection.execute(sa.select(sa.func.pg_backend_pid())).scalar_one()
    other = sa.create_engine(ctx.connection.engine.url)
    keys = ctx.reserve_keys(users, 20000)

    def rows():
        for n, key in enumerate(keys):
            if n == 1000:
                with other.begin() as conn:
                    conn.execute(sa.select(sa.func.pg_terminate_backend(pid)))
            yield key, f"u{key}", "e"

    ctx.bulk(users, ["id", "username", "email"], rows())


downgrade = upgrade.downgrade
""",
    )
    result = project.cli("alembic", "upgrade", "head", APP_ENV="development")
    output = result.stdout + result.stderr
    [failed] = [line for line in output.splitlines() if line.startswith("FAILED:")]
    assert failed.startswith("FAILED: seed s2: the connection to the database was lost ("), failed
    assert failed.endswith("nothing of the seed was written: run the command again"), failed
    assert "Traceback" not in output
    assert version(engine) == "s1" and rows(engine, "users") == []


def test_a_connection_lost_in_an_undo_is_one_line_not_a_lock_problem(
    project: SeedProject, engine: sa.Engine
) -> None:
    """The undo's session is ended while it waits for a lock: the line says the
    connection was lost, not that a lock was in the way."""
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", seed_users('["development"]'))
    project.upgrade("head", env="development")
    environ = {**os.environ, "DATABASE_URL": project.url, "APP_ENV": "development"}
    command = [sys.executable, "-m", "alembic", "-x", "lock_timeout=60s", "downgrade", "s1"]
    # The watcher in autocommit: a transaction would see one snapshot of the activity.
    watching = engine.execution_options(isolation_level="AUTOCOMMIT")
    with engine.connect() as holder, watching.connect() as killer:
        holder.execute(sa.text("SELECT count(*) FROM users"))  # ACCESS SHARE: TRUNCATE waits
        undo = subprocess.Popen(
            command, cwd=project.root, env=environ, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        waiting = sa.text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        deadline = time.monotonic() + 60
        while not (pids := killer.execute(waiting).scalars().all()):
            assert undo.poll() is None and time.monotonic() < deadline, "the undo never waited"
            time.sleep(0.05)
        killer.execute(sa.select(sa.func.pg_terminate_backend(pids[0])))
        output = undo.communicate(timeout=60)[0]
        holder.rollback()
    [failed] = [line for line in output.splitlines() if line.startswith("FAILED:")]
    # psycopg before 3.2 puts "consuming input failed: " before the server's words.
    assert failed.startswith("FAILED: seed s2: the connection to the database was lost ("), failed
    assert "terminating connection due to administrator command) during the undo" in failed
    assert failed.endswith("; nothing was removed: run the command again"), failed
    assert "Traceback" not in output
    assert version(engine) == "s2" and len(rows(engine, "users")) == 3


def test_a_lock_timeout_is_one_line_that_says_what_to_do(
    project: SeedProject, engine: sa.Engine
) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", seed_users('["development"]'))
    project.upgrade("s1", env="development")
    with engine.connect() as holder:
        holder.execute(sa.text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
        result = project.cli(
            "alembic", "-x", "lock_timeout=300ms", "upgrade", "head", APP_ENV="development"
        )
        holder.rollback()
    output = result.stdout + result.stderr
    [failed] = [line for line in output.splitlines() if line.startswith("FAILED:")]
    assert "lock timeout" in failed and "raise -x lock_timeout" in failed, failed
    assert "Traceback" not in output
    assert version(engine) == "s1"


FROZEN_WRONG = FROZEN_USERS.replace(
    'sa.Column("email", sa.String(255), nullable=False),',
    'sa.Column("email", sa.String(255), nullable=False),\n    sa.Column("nickname", sa.Text),',
    1,
)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            FROZEN_WRONG
            + """

@seed(environments=["development"], tables=[users])
def upgrade(ctx: SeedContext) -> None:
    ctx.insert(users, [{"username": "u", "email": "e", "nickname": "n"}])


downgrade = upgrade.downgrade
""",
            "the seed's frozen table names a column the database table lacks",
        ),
        (
            FROZEN_USERS
            + """

@seed(environments=["development"], tables=[users])
def upgrade(ctx: SeedContext) -> None:
    ctx.insert(users, [{"username": "nul\\x00byte", "email": "e"}])


downgrade = upgrade.downgrade
""",
            "NUL",
        ),
        (
            FROZEN_USERS.replace(
                'sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False)',
                'sa.Column("user_id", sa.String(20), nullable=False)',
            )
            + """

@seed(environments=["development"], tables=[posts])
def upgrade(ctx: SeedContext) -> None:
    ctx.insert(posts, [{"user_id": "1", "title": "t"}])


downgrade = upgrade.downgrade
""",
            "a frozen column's type is not the table's",
        ),
    ],
    ids=["frozen-column-missing", "nul-byte", "frozen-type-wrong"],
)
def test_rows_the_database_cannot_take_are_one_line(
    project: SeedProject,
    engine: sa.Engine,
    reliability: Reliability,
    request: pytest.FixtureRequest,
    body: str,
    expected: str,
) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", body)
    started = time.monotonic()
    result = project.cli("alembic", "upgrade", "head", APP_ENV="development")
    seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    [failed] = [line for line in output.splitlines() if line.startswith("FAILED:")]
    assert failed.startswith("FAILED: seed s2") and expected in failed, failed
    assert "Traceback" not in output
    assert version(engine) == "s1"
    leaked = len(rows(engine, "users"))
    case = request.node.callspec.id  # the parameter's id names the reliability case
    reliability.record(case, lost=0, leaked=leaked, seconds=seconds, seen=failed)


@pytest.mark.parametrize(
    ("app_row", "hold"),
    [
        (False, "SELECT count(*) FROM users"),  # ACCESS SHARE: TRUNCATE must wait
        (True, "SELECT id FROM users WHERE username = 'user0' FOR SHARE"),  # one row
    ],
    ids=["truncate-behind-access-share", "keyed-behind-for-share"],
)
def test_a_blocked_undo_names_the_session_in_its_way(
    project: SeedProject, engine: sa.Engine, reliability: Reliability, app_row: bool, hold: str
) -> None:
    project.revision("s1", SCHEMA_USERS)
    project.revision("s2", seed_users('["development"]'))
    project.upgrade("head", env="development")
    if app_row:  # a row the seed did not insert: the undo deletes by key instead
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO users (username, email) VALUES ('app', 'a')"))
    before = set(rows(engine, "users") + rows(engine, "posts"))
    with engine.connect() as holder:
        holder.execute(sa.text("SET application_name = 'the-reporting-job'"))
        holder.execute(sa.text(hold))
        pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        result = project.cli(
            "alembic", "-x", "lock_timeout=300ms", "downgrade", "s1", APP_ENV="development"
        )
        # The same in this process, timed without a process start: it gives up within
        # lock_timeout, plus what any run takes to read its revisions and plan.
        started = time.monotonic()
        with pytest.raises(CommandError, match="lock timeout"):
            project.downgrade("s1", env="development", lock_timeout="300ms")
        seconds = time.monotonic() - started
        holder.rollback()
    output = result.stdout + result.stderr
    [failed] = [line for line in output.splitlines() if line.startswith("FAILED:")]
    assert "lock timeout" in failed and "nothing was removed" in failed, failed
    assert f"pid {pid} (" in failed and "the-reporting-job" in failed, failed
    assert version(engine) == "s2"
    assert seconds < 0.3 + 2.0, f"gave up after {seconds:.2f} s"
    after = set(rows(engine, "users") + rows(engine, "posts"))
    reliability.record(
        "blocked-keyed-undo" if app_row else "blocked-truncate-undo",
        lost=len(before - after),
        leaked=len(after - before),
        seconds=seconds,
        seen=failed,
        note=f"gave up {seconds:.2f} s after the command began (lock_timeout 0.30 s)",
    )
