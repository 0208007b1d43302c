"""A project for fault tests: several seed revisions writing many rows, and the checks
that say whether a database is exactly at a revision boundary after a fault.

Each seed revision ``fN`` inserts ``fault_users`` users with ``ctx.insert`` and
``fault_posts`` posts with ``ctx.reserve_keys`` + ``ctx.bulk`` (sizes from the project's
pyproject.toml, so every command of a test runs at the same size). Every row names
the revision that wrote it, so the rows a database should hold at revision ``fN`` are
those of the seeds up to ``fN`` (plus the application's rows): no reference run per
boundary is needed.

Rows are compared by content, never by key: a killed transaction's sequence values
are gone (PostgreSQL sequences are not transactional), so the re-run may hand out
other keys than an uninterrupted run did. Each post is compared through its user's
username.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from seeds.runtime import ledger
from seeds.tools import verification
from tests.helpers import version
from tests.seedproject import FROZEN_USERS, SCHEMA_USERS, SeedProject

# The application's own rows: in the seeded tables, so the undo deletes by key.
APP_USER = "app-user"
APP_POSTS = 3

# stderr of every command: what Seedchain logs at INFO, and Alembic's FAILED line.
ALEMBIC_INI = """[alembic]
script_location = %(here)s/migrations
path_separator = os

[loggers]
keys = root,seeds

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console

[logger_seeds]
level = INFO
handlers =
qualname = seeds

[handler_console]
class = StreamHandler
args = (sys.stderr,)
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
"""

SEED = (
    FROZEN_USERS
    + """

@seed(environments=["development", "testing"], tables=[users, posts])
def upgrade(ctx: SeedContext) -> None:
    n_users = ctx.setting("fault_users", 10)
    n_posts = ctx.setting("fault_posts", 20)
    ctx.insert(users, [
        {"username": f"{revision}-u{n}", "email": f"{revision}.u{n}@example.org"}
        for n in range(n_users)
    ])
    # By username, not by key: the posts' authors do not depend on the keys handed out.
    ids = ctx.connection.execute(
        sa.select(users.c.id).where(users.c.username.like(f"{revision}-u%"))
        .order_by(users.c.username)
    ).scalars().all()
    keys = ctx.reserve_keys(posts, n_posts)
    ctx.bulk(posts, ["id", "user_id", "title"], (
        (key, ids[n % len(ids)], f"{revision} post {n}") for n, key in enumerate(keys)
    ))


downgrade = upgrade.downgrade
"""
)


@dataclass(frozen=True)
class Size:
    """How big a fault project is."""

    seeds: int
    users: int
    posts: int

    @property
    def rows(self) -> int:
        """Rows every seed revision together writes."""
        return self.seeds * (self.users + self.posts)


def fault_project(root: Path, url: str, monkeypatch: pytest.MonkeyPatch, size: Size) -> SeedProject:
    """Schema ``f0`` and seed revisions ``f1``..``fN`` writing ``size`` rows."""
    project = SeedProject(root, url, monkeypatch)
    (root / "alembic.ini").write_text(ALEMBIC_INI)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "faults"\n\n[tool.seeds]\n'
        f"fault_users = {size.users}\nfault_posts = {size.posts}\n"
    )
    project.revision("f0", SCHEMA_USERS, doc="schema")
    for n in range(1, size.seeds + 1):
        project.revision(f"f{n}", SEED, doc=f"seed {n}")
    return project


_users = sa.table("users", sa.column("id"), sa.column("username"), sa.column("email"))
_posts = sa.table("posts", sa.column("id"), sa.column("user_id"), sa.column("title"))


def add_application_rows(engine: sa.Engine) -> None:
    """A user and posts the application wrote: the undo must keep them."""
    with engine.begin() as conn:
        user = conn.execute(
            sa.insert(_users)
            .values(username=APP_USER, email="app@example.org")
            .returning(_users.c.id)
        ).scalar_one()
        titles = [{"user_id": user, "title": f"app post {n}"} for n in range(APP_POSTS)]
        conn.execute(sa.insert(_posts), titles)


# -- what a database holds ------------------------------------------------------------

Content = Counter[tuple[str, str, str]]


def content(engine: sa.Engine) -> Content:
    """Every row of users and posts, without keys: (table, name, value); a post by its
    user's username (the foreign key makes every post have one)."""
    found: Content = Counter()
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(_users.name):
            return found  # killed before the schema revision committed
        for username, email in conn.execute(sa.select(_users.c.username, _users.c.email)):
            found[("users", username, email)] += 1
        posts = sa.select(_users.c.username, _posts.c.title).join_from(
            _posts, _users, _users.c.id == _posts.c.user_id
        )
        for username, title in conn.execute(posts):
            found[("posts", username, title)] += 1
    return found


def _writer(row: tuple[str, str, str]) -> str:
    """The revision that wrote a row ("app" for the application's)."""
    name = row[1]
    return "app" if name == APP_USER else name.split("-", 1)[0]


def _position(revision: str | None) -> float:
    """How many seed revisions are applied at ``revision`` ("head": all of them)."""
    if revision == "head":
        return float("inf")
    return 0 if revision in (None, "f0") else int(str(revision)[1:])


def at_revision(full: Content, revision: str | None, *, application: bool) -> Content:
    """The rows a database holds at ``revision`` ("head" for all): those of the seeds
    up to it, and the application's when ``application``.

    ``full`` is the content of a database at head (of an uninterrupted run).
    """
    upto = _position(revision)
    expected: Content = Counter()
    for row, count in full.items():
        writer = _writer(row)
        if (writer == "app" and application) or (writer != "app" and int(writer[1:]) <= upto):
            expected[row] = count
    return expected


@dataclass(frozen=True)
class Difference:
    """Rows missing from a database (lost) and rows it should not hold (leaked)."""

    lost: int
    leaked: int
    examples: tuple[tuple[str, str, str], ...]


def compare(expected: Content, found: Content) -> Difference:
    lost, leaked = expected - found, found - expected
    return Difference(
        sum(lost.values()), sum(leaked.values()), tuple(sorted((lost + leaked).keys())[:5])
    )


def ledger_problems(engine: sa.Engine, project: SeedProject) -> list[str]:
    """Where the ledger disagrees with the data or the chain (empty: it agrees).

    Seedchain's own verification rules, then the keys: the ledger's recorded keys of
    each table are exactly the keys of the rows the seeds wrote.
    """
    script = ScriptDirectory.from_config(project.config())
    with engine.connect() as conn:
        results = verification.run_rules(conn, verification.engine_rules(script, None))
        seeded_users = sa.select(_users.c.id).where(_users.c.username != APP_USER)
        seeded_posts = sa.select(_posts.c.id).where(_posts.c.user_id.in_(seeded_users))
        seeded = {
            "users": set(conn.execute(seeded_users).scalars()),
            "posts": set(conn.execute(seeded_posts).scalars()),
        }
    problems = [f"{r.name}: {p}" for r in results for p in r.problems]
    recorded = applied_keys(engine)
    for table in ("users", "posts"):
        if recorded[table] != seeded[table]:
            missing = len(seeded[table] - recorded[table])
            extra = len(recorded[table] - seeded[table])
            problems.append(
                f"{table}: {missing} seeded rows the ledger does not record, "
                f"{extra} recorded keys with no row"
            )
    return problems


def applied_keys(engine: sa.Engine) -> dict[str, set[int]]:
    """The keys the ledger records for the applied runs, by table (a bulk range's
    hash rows, ``last_key`` NULL, are not keys: the range holds them)."""
    keys, runs = ledger.ledger_keys, ledger.ledger
    query = (
        sa.select(keys.c.table_name, keys.c.key, keys.c.first_key, keys.c.last_key)
        .join_from(keys, runs, runs.c.id == keys.c.ledger_id)
        .where(runs.c.status == ledger.Status.APPLIED.value)
    )
    found: dict[str, set[int]] = {"users": set(), "posts": set()}
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(keys.name):
            return found  # no seed has run yet: the ledger is made by the first one
        for table, key, first, last in conn.execute(query):
            if key is not None:
                found[table].add(int(key[0]))
            elif last is not None:
                found[table].update(range(first, last + 1))
    return found


def applied(engine: sa.Engine) -> list[str]:
    """The revisions whose latest ledger row says applied, in order."""
    runs = ledger.ledger
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(runs.name):
            return []
        found = conn.execute(sa.select(runs.c.revision, runs.c.status).order_by(runs.c.id))
        latest = {revision: status for revision, status in found}  # later rows win
    return sorted(name for name, status in latest.items() if status == ledger.Status.APPLIED)


def boundary_problems(
    engine: sa.Engine, project: SeedProject, full: Content, *, application: bool
) -> tuple[str | None, Difference, list[str]]:
    """The revision the database is at, how its rows differ from that revision's, and
    what else is wrong (ledger, chain)."""
    at = version(engine) if _has_version_table(engine) else None
    difference = compare(at_revision(full, at, application=application), content(engine))
    problems = []
    if at is not None:
        problems = ledger_problems(engine, project)
        upto = 0 if at == "f0" else int(at[1:])
        expected = [f"f{n}" for n in range(1, upto + 1)]
        if applied(engine) != expected:
            problems.append(f"ledger applied {applied(engine)}, database at {at}")
    return at, difference, problems


def _has_version_table(engine: sa.Engine) -> bool:
    with engine.connect() as conn:
        return bool(conn.scalar(sa.text("SELECT to_regclass('alembic_version') IS NOT NULL")))


# -- processes ------------------------------------------------------------------------


def spawn(project: SeedProject, *args: str) -> subprocess.Popen[str]:
    """``alembic ARGS`` in the project, in the background (development environment)."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "APP_ENV"}}
    env.update(DATABASE_URL=project.url, APP_ENV="development")
    return subprocess.Popen(
        [sys.executable, "-m", "alembic", *args],
        cwd=project.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _backends(watcher: sa.Connection) -> list[int]:
    """Client sessions on the watched database other than the watcher's own."""
    return list(
        watcher.execute(
            sa.text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
        ).scalars()
    )


def wait_for_session(watcher: sa.Connection, process: subprocess.Popen[str], limit: float) -> bool:
    """Wait until ``process`` has a session on the database; False if it ended first."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if _backends(watcher):
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.005)
    raise AssertionError(f"no session on the database after {limit} s")


_version_table = sa.table("alembic_version", sa.column("version_num"))


def _version(watcher: sa.Connection) -> str | None:
    if watcher.scalar(sa.select(sa.func.to_regclass(_version_table.name))) is None:
        return None
    found: str | None = watcher.scalar(sa.select(_version_table.c.version_num))
    return found


def wait_for_version(
    watcher: sa.Connection, process: subprocess.Popen[str], wanted: str, limit: float
) -> bool:
    """Wait until the database is at ``wanted``; False if ``process`` ended elsewhere."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if _version(watcher) == wanted:
            return True
        if process.poll() is not None:
            return _version(watcher) == wanted
        time.sleep(0.005)
    raise AssertionError(f"the database did not reach {wanted} in {limit} s")


def wait_for_no_sessions(watcher: sa.Connection, limit: float = 120.0) -> None:
    """Wait until the server has ended every other session on the database: a killed
    client's backend finishes its statement, finds the client gone and rolls back."""
    deadline = time.monotonic() + limit
    while _backends(watcher):
        if time.monotonic() > deadline:
            raise AssertionError(f"sessions still open {limit} s after the client died")
        time.sleep(0.02)


def kill(process: subprocess.Popen[str]) -> str:
    """kill -9, then what it printed."""
    process.send_signal(signal.SIGKILL)
    output, _ = process.communicate(timeout=30)
    return output


def failed_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("FAILED:")]
