"""``seeds anonymize``: deterministic, key-dependent, unique-preserving, all or nothing."""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import sqlalchemy as sa

from seeds.data.pseudonyms import Kind, Pseudonymizer, _pools, load_key, load_rules, parse_rules
from seeds.errors import AnonymizeError, ConfigurationError
from seeds.runtime import ledger
from seeds.tools.anonymize import AnonymizeReport, anonymize, is_marked_copy
from tests.helpers import PROJECT_ROOT, Migrator, database_name, run_cli

KEY = b"0123456789abcdef-test-key-one"
OTHER_KEY = b"0123456789abcdef-test-key-two"
USERS = {
    "users.email": "email",
    "users.username": "user_name",
    "users.first_name": "first_name",
    "users.last_name": "last_name",
}
PERSONAL = ("username", "email", "first_name", "last_name")


@pytest.fixture
def db(migrator: Migrator, engine: sa.Engine) -> sa.Engine:
    """The reference schema at head; users replaced by 50 of ours with shared names."""
    migrator.upgrade("head")
    users = sa.Table("users", sa.MetaData(), autoload_with=engine)
    rows = [
        {
            "id": n,
            "username": f"user{n}",
            "email": f"user{n}@corp.test",
            "first_name": ("Ann", "Bob", "Cy")[n % 3],
            "last_name": ("Lee", "Kim")[n % 2],
        }
        for n in range(1, 51)
    ]
    if "display_name" in users.c:  # added by a later schema revision, NOT NULL
        for row in rows:
            row["display_name"] = f"{row['first_name']} {row['last_name']}"
    with engine.begin() as conn:
        conn.execute(users.delete())
        conn.execute(users.insert(), rows)
    return engine


def run(
    engine: sa.Engine,
    raw: dict[str, str] | None = None,
    key: bytes = KEY,
    *,
    mark: bool = True,
    **options: Any,
) -> AnonymizeReport:
    """One anonymize run; marks the database as a copy unless told not to."""
    if mark:
        options.setdefault("mark_copy", engine.url.database)
    with engine.connect() as conn:
        return anonymize(conn, parse_rules(raw or USERS), key, **options)


def table_rows(engine: sa.Engine, table: str, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """Every row of ``table`` as (id, *columns), in key order."""
    t = sa.table(table, sa.column("id"), *(sa.column(c) for c in columns))
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(t).order_by(t.c.id))]


def users(engine: sa.Engine) -> list[tuple[Any, ...]]:
    return table_rows(engine, "users", PERSONAL)


def restore(engine: sa.Engine, rows: list[tuple[Any, ...]]) -> None:
    """Put the users' personal values back to ``rows``."""
    t = sa.table("users", sa.column("id"), *(sa.column(c) for c in PERSONAL))
    stmt = (
        t.update()
        .where(t.c.id == sa.bindparam("k"))
        .values({c: sa.bindparam(f"v_{c}") for c in PERSONAL})
    )
    with engine.begin() as conn:
        params = [{f"v_{c}": v for c, v in zip(PERSONAL, r[1:], strict=True)} for r in rows]
        conn.execute(stmt, [{"k": r[0], **p} for r, p in zip(rows, params, strict=True)])


def copy_events(engine: sa.Engine) -> list[tuple[str, str]]:
    """The copy marks and anonymize runs in the ledger."""
    with engine.connect() as conn:
        if not ledger.Ledger.on(conn).exists():
            return []
        events = ledger.events
        ours = events.c.kind.in_([ledger.EventKind.COPY, ledger.EventKind.ANONYMIZE])
        query = sa.select(events.c.kind, events.c.database).where(ours).order_by(events.c.id)
        return [(r.kind, r.database) for r in conn.execute(query)]


def execute(engine: sa.Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement))


# --- the mapping ----------------------------------------------------------------------


def test_mapping_is_deterministic_across_runs_and_depends_on_the_key(db: sa.Engine) -> None:
    original = users(db)
    run(db)
    first = users(db)
    restore(db, original)
    run(db)
    assert users(db) == first
    restore(db, original)
    run(db, key=OTHER_KEY)
    other = users(db)
    # Unique kinds differ on every row under another key; pooled names mostly do.
    for a, b in zip(first, other, strict=True):
        assert a[1] != b[1] and a[2] != b[2]
    assert [r[3:] for r in first] != [r[3:] for r in other]


def test_same_value_maps_to_same_fake_in_every_table_and_column_of_its_kind(
    db: sa.Engine,
) -> None:
    execute(
        db,
        "CREATE TABLE contacts (id bigint PRIMARY KEY, email varchar(255), phone text)",
        "INSERT INTO contacts VALUES (1, 'user3@corp.test', '555 1234'), "
        "(2, 'user7@corp.test', NULL), (3, 'outsider@else.test', '555 1234'), (4, NULL, NULL)",
    )
    join = "SELECT count(*) FROM contacts c JOIN users u ON u.email = c.email"
    with db.connect() as conn:
        assert conn.scalar(sa.text(join)) == 2
    run(db, {**USERS, "contacts.email": "email", "contacts.phone": "phone"})
    by_id = {r[0]: r for r in users(db)}
    contacts = table_rows(db, "contacts", ["email", "phone"])
    assert contacts[0][1] == by_id[3][2] and contacts[1][1] == by_id[7][2]
    assert contacts[2][1] not in {u[2] for u in by_id.values()}
    assert contacts[2][1].endswith(("@example.com", "@example.net", "@example.org"))
    # The same phone number in two rows is one fake number, and NULL stays NULL.
    assert contacts[0][2] == contacts[2][2] != "555 1234"
    assert contacts[1][2] is None and contacts[3][1:] == (None, None)
    with db.connect() as conn:
        assert conn.scalar(sa.text(join)) == 2


def test_unique_columns_stay_unique_while_shared_names_stay_shared(db: sa.Engine) -> None:
    # More users than the user-name pool holds: without the suffix, collisions are certain.
    more = len(_pools().user_names) + 500
    table = sa.Table("users", sa.MetaData(), autoload_with=db)
    extra = {"display_name": "Ann Lee"} if "display_name" in table.c else {}
    with db.begin() as conn:
        conn.execute(
            table.insert(),
            [
                {"id": n, "username": f"u{n}", "email": f"u{n}@corp.test", **extra}
                | {"first_name": "Ann", "last_name": "Lee"}
                for n in range(51, 51 + more)
            ],
        )
    report = run(db, batch_size=1000)
    after = users(db)
    assert len({r[1] for r in after}) == len({r[2] for r in after}) == 50 + more
    # Names are not unique here: value-based, so three first names give three fakes.
    assert len({r[3] for r in after}) == 3 and len({r[4] for r in after}) == 2
    unique = {c.column: c.unique for c in report.columns}
    assert unique == {"email": True, "username": True, "first_name": False, "last_name": False}


def test_a_unique_index_over_names_makes_those_kinds_unique_everywhere(db: sa.Engine) -> None:
    execute(
        db,
        "CREATE TABLE badges (id bigint PRIMARY KEY, first_name varchar(100) NOT NULL, "
        "last_name varchar(100) NOT NULL)",
        "CREATE UNIQUE INDEX badges_name ON badges (lower(first_name), last_name)",
        # More first names than the pool holds, one last name: only a suffix keeps pairs apart.
        "INSERT INTO badges SELECT n, 'Ann' || n, 'Lee' FROM generate_series(1, 1000) AS n",
    )
    report = run(db, {**USERS, "badges.first_name": "first_name", "badges.last_name": "last_name"})
    assert {c.column: c.unique for c in report.columns if c.table == "badges"} == {
        "first_name": True,
        "last_name": True,
    }
    badges = table_rows(db, "badges", ["first_name", "last_name"])
    assert len({r[1:] for r in badges}) == 1000
    # The suffix goes wherever the kind goes, so users' names are distinct per value too.
    assert len({r[3] for r in users(db)}) == 3


def test_every_row_changes_except_nulls_and_null_kind_clears(db: sa.Engine) -> None:
    execute(
        db,
        "CREATE TABLE profiles (id bigint PRIMARY KEY, full_name text, bio text, "
        "secret varchar(20), phone varchar(40))",
        "INSERT INTO profiles SELECT n, CASE WHEN n % 4 = 0 THEN NULL ELSE 'Ann Lee' END, "
        "CASE WHEN n % 5 = 0 THEN NULL ELSE repeat('word ', n) END, 's' || n, "
        "CASE WHEN n % 3 = 0 THEN NULL ELSE '+44 ' || n END FROM generate_series(1, 30) n",
    )
    raw = {
        **USERS,
        "profiles.full_name": "name",
        "profiles.bio": "text",
        "profiles.secret": "null",
        "profiles.phone": "phone",
    }
    before_users = users(db)
    before = table_rows(db, "profiles", ["full_name", "bio", "secret", "phone"])
    report = run(db, raw)
    for old, new in zip(before_users, users(db), strict=True):
        assert all(a != b for a, b in zip(old[1:], new[1:], strict=True))
    after = table_rows(db, "profiles", ["full_name", "bio", "secret", "phone"])
    for old, new in zip(before, after, strict=True):
        for column, (a, b) in enumerate(zip(old[1:], new[1:], strict=True)):
            if column == 2 or a is None:  # kind null, or NULL already
                assert b is None
            else:
                assert b is not None and a != b
        if old[2] is not None:
            assert abs(len(new[2]) - len(old[2])) < 16  # free text keeps about its length
    counts = {(c.table, c.column): (c.rows, c.changed) for c in report.columns}
    assert counts[("profiles", "full_name")] == (30, 23)
    assert counts[("profiles", "bio")] == (30, 24)
    assert counts[("profiles", "secret")] == (30, 30)
    assert counts[("profiles", "phone")] == (30, 20)
    assert report.rows == 50 + 30


def test_batches_give_the_same_result_as_one_batch(db: sa.Engine) -> None:
    execute(
        db,
        "CREATE TABLE notes (a int, b int, body text, PRIMARY KEY (a, b))",
        "INSERT INTO notes SELECT n % 5, n, 'note number ' || n FROM generate_series(1, 50) n",
    )
    raw = {**USERS, "notes.body": "text"}
    original_users = users(db)
    original_notes = _notes(db)
    seen: list[tuple[str, int, int]] = []
    report = run(db, raw, batch_size=7, progress=lambda *p: seen.append(p))
    small_users, small_notes = users(db), _notes(db)
    assert report.rows == 100
    assert [p for p in seen if p[0] == "users"][-1] == ("users", 50, 50)
    assert len([p for p in seen if p[0] == "notes"]) == 8  # ceil(50 / 7)

    restore(db, original_users)
    execute(db, "DELETE FROM notes")
    with db.begin() as conn:
        conn.execute(sa.text("INSERT INTO notes VALUES (:a, :b, :body)"), original_notes)
    run(db, raw, batch_size=5000)
    assert users(db) == small_users and _notes(db) == small_notes
    assert all(n["body"] != o["body"] for n, o in zip(small_notes, original_notes, strict=True))


def _notes(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        result = conn.execute(sa.text("SELECT a, b, body FROM notes ORDER BY a, b"))
        return [dict(r._mapping) for r in result]


@pytest.mark.parametrize("key", [KEY, b"k" * 64, b"a longer key than one SHA-256 block " * 3])
def test_the_mapping_is_hmac_sha256_of_kind_and_value(key: bytes) -> None:
    fake = Pseudonymizer(key, unique={Kind.USER_NAME})
    digest = hmac.digest(key, b"user_name\x00ada", "sha256")
    assert fake.value(Kind.USER_NAME, "ada") == (
        f"{_pools().user_names[int.from_bytes(digest[:8], 'big') % len(_pools().user_names)]}"
        f".{digest[16:24].hex()}"
    )


def test_a_value_never_maps_to_itself() -> None:
    # Originals drawn from the pools themselves: some would be picked for themselves.
    fake = Pseudonymizer(KEY)
    pools = _pools()
    for kind, values in [
        (Kind.FIRST_NAME, pools.first_names),
        (Kind.LAST_NAME, pools.last_names),
        (Kind.USER_NAME, pools.user_names),
        (Kind.PHONE, [f"+1-555-01{n:02d}" for n in range(100)]),
        (Kind.TEXT, pools.words),
    ]:
        assert all(fake.value(kind, v) != v for v in values), kind


# --- dry run, copy mark -----------------------------------------------------------------


def test_dry_run_reports_and_changes_nothing(db: sa.Engine) -> None:
    execute(db, "UPDATE users SET first_name = 'Zed' WHERE id = 1")
    before = users(db)
    report = run(db, dry_run=True, mark=False)
    assert users(db) == before
    assert copy_events(db) == []  # not even the ledger tables were created
    assert report.dry_run and not report.is_copy and report.rows == 50
    by_column = {c.column: c for c in report.columns}
    assert {c: (r.rows, r.changed) for c, r in by_column.items()} == {
        c: (50, 50) for c in ("email", "username", "first_name", "last_name")
    }
    originals = {v for row in before for v in row[1:]}
    for column in by_column.values():
        assert len(column.samples) == 3
        for masked, fake in column.samples:
            assert masked not in originals and "***" in masked
            assert fake not in originals
    assert by_column["email"].samples[0][0] == "u***@c***"


def test_a_database_not_marked_as_a_copy_is_refused(db: sa.Engine) -> None:
    name = database_name(db)
    before = users(db)
    with pytest.raises(AnonymizeError, match=f"pass --mark-copy {name}$"):
        run(db, mark=False)
    with pytest.raises(AnonymizeError, match="names another database"):
        run(db, mark_copy="production_app")
    assert users(db) == before and copy_events(db) == []

    report = run(db)
    assert report.marked_copy and report.is_copy
    assert copy_events(db) == [("copy", name), ("anonymize", name)]
    # Marked once is marked: later runs need no --mark-copy.
    again = run(db, mark=False)
    assert again.is_copy and not again.marked_copy
    with db.connect() as conn:
        assert is_marked_copy(conn, name) and not is_marked_copy(conn, "other")


# --- all or nothing -------------------------------------------------------------------


def test_a_failure_in_the_last_batch_leaves_the_database_unchanged(db: sa.Engine) -> None:
    execute(
        db,
        "CREATE FUNCTION refuse_last() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN IF OLD.id = 50 THEN RAISE EXCEPTION 'row 50 is frozen'; END IF; "
        "RETURN NEW; END $$",
        "CREATE TRIGGER refuse_last BEFORE UPDATE ON users "
        "FOR EACH ROW EXECUTE FUNCTION refuse_last()",
    )
    before = users(db)
    seen: list[tuple[str, int, int]] = []
    with pytest.raises(AnonymizeError) as info:
        run(db, batch_size=7, progress=lambda *p: seen.append(p))
    assert "row 50 is frozen" in str(info.value) and "nothing was changed" in str(info.value)
    assert seen[-1] == ("users", 49, 50)  # seven batches were written before the eighth failed
    assert users(db) == before
    assert copy_events(db) == []  # the copy mark went with the rest


def test_a_unique_collision_fails_clearly_and_changes_nothing(db: sa.Engine) -> None:
    # A row already holding the fake of another row's value: the collision the suffix
    # cannot prevent, which only the database can see.
    fake = Pseudonymizer(KEY, unique={Kind.EMAIL, Kind.USER_NAME}, limits={Kind.EMAIL: 255})
    with db.begin() as conn:
        taken = fake.value(Kind.EMAIL, "user1@corp.test")
        conn.execute(sa.text("UPDATE users SET email = :taken WHERE id = 40"), {"taken": taken})
    before = users(db)
    with pytest.raises(AnonymizeError) as info:
        run(db, batch_size=10)
    message = str(info.value)
    assert "uq_users_email" in message and "another key" in message
    assert "\n" not in message
    assert users(db) == before and copy_events(db) == []


# --- configuration errors, before anything changes --------------------------------------


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ({"users.email": "e-mail"}, "not a kind Seedchain knows; use one of: email, user_name"),
        ({"email": "email"}, 'is not "table.column"'),
        ({}, "lists no columns"),
    ],
)
def test_bad_rules_are_refused(raw: dict[str, str], error: str) -> None:
    with pytest.raises(ConfigurationError, match=error):
        parse_rules(raw)


@pytest.mark.parametrize(
    ("raw", "setup", "error"),
    [
        ({"userz.email": "email"}, None, "anonymize userz: no such table"),
        (
            {"users.emial": "email"},
            None,
            r"anonymize users.emial: no such column \(the table has: id,",
        ),
        ({"users.is_admin": "name"}, None, "is BOOLEAN, not text"),
        ({"users.email": "null"}, None, "is NOT NULL, so kind null cannot clear it"),
        ({"users.id": "null"}, None, "is part of the primary key"),
        (
            {"users.username": "email"},  # unique, so a suffix: 1 + 17 + 1 + 11 characters
            "ALTER TABLE users ALTER COLUMN username TYPE varchar(20)",
            "users.username: the email values .* 20 characters long .* at least 30 "
            r"\(unique values carry a suffix",
        ),
        (
            # Not unique itself, but the kind is (settings.key): the suffix goes everywhere.
            {"tasks.title": "user_name", "settings.key": "user_name"},
            "ALTER TABLE tasks ALTER COLUMN title TYPE varchar(10)",
            "tasks.title: the user_name values written here may be 10 characters long",
        ),
    ],
)
def test_rules_that_do_not_fit_the_database_are_refused(
    db: sa.Engine, raw: dict[str, str], setup: str | None, error: str
) -> None:
    if setup:
        execute(db, setup)
    before = users(db)
    with pytest.raises(AnonymizeError, match=error):
        run(db, raw)
    assert users(db) == before and copy_events(db) == []


def test_foreign_keys_on_personal_columns_join_after_and_must_be_deferrable(
    db: sa.Engine,
) -> None:
    execute(
        db,
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer_email varchar(255) "
        "CONSTRAINT fk_orders_email REFERENCES users (email))",
        "INSERT INTO orders SELECT n, 'user' || (n % 50 + 1) || '@corp.test' "
        "FROM generate_series(1, 120) n",
    )
    with pytest.raises(AnonymizeError, match="references users.email .* same kind"):
        run(db)
    raw = {**USERS, "orders.customer_email": "email"}
    with pytest.raises(AnonymizeError, match="fk_orders_email .* must be DEFERRABLE"):
        run(db, raw)
    execute(db, "ALTER TABLE orders ALTER CONSTRAINT fk_orders_email DEFERRABLE")
    run(db, raw, batch_size=16)
    join = "SELECT count(*) FROM orders o JOIN users u ON u.email = o.customer_email"
    with db.connect() as conn:
        assert conn.scalar(sa.text(join)) == 120
        assert conn.scalar(sa.text("SELECT count(*) FROM users WHERE email LIKE '%corp%'")) == 0


def test_the_key_comes_from_the_environment_or_a_file_and_must_be_long(tmp_path: Any) -> None:
    assert load_key({"SEEDS_ANONYMIZE_KEY": " " + KEY.decode() + "\n"}) == KEY
    path = tmp_path / "key"
    path.write_bytes(OTHER_KEY + b"\n")
    assert load_key({"SEEDS_ANONYMIZE_KEY": KEY.decode()}, path) == OTHER_KEY
    with pytest.raises(ConfigurationError, match="set SEEDS_ANONYMIZE_KEY or pass --key-file"):
        load_key({})
    with pytest.raises(ConfigurationError, match="is 5 bytes; use at least 16"):
        load_key({"SEEDS_ANONYMIZE_KEY": "short"})


# --- the command ------------------------------------------------------------------------


@pytest.fixture
def cli_env(db: sa.Engine) -> Iterator[dict[str, str | None]]:
    yield {
        "DATABASE_URL": db.url.render_as_string(hide_password=False),
        "SEEDS_ANONYMIZE_KEY": KEY.decode(),
    }


def test_the_command_end_to_end(db: sa.Engine, cli_env: dict[str, str | None]) -> None:
    name = database_name(db)
    before = users(db)

    refused = run_cli("seeds", "anonymize", env=cli_env)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"error: anonymize: database {name!r} is not marked as a copy and anonymize rewrites "
        f"personal data in place; if it is a copy, pass --mark-copy {name}"
    ]
    no_key = run_cli("seeds", "anonymize", env={**cli_env, "SEEDS_ANONYMIZE_KEY": None})
    assert no_key.returncode == 1 and "SEEDS_ANONYMIZE_KEY" in no_key.stderr
    assert "Traceback" not in refused.stderr + no_key.stderr

    dry = run_cli("seeds", "anonymize", "--dry-run", env=cli_env)
    assert dry.returncode == 0, dry.stderr
    assert "nothing was changed" in dry.stdout and "users.email" in dry.stdout
    assert users(db) == before

    done = run_cli(
        "seeds", "anonymize", "--mark-copy", name, "--batch-size", "9", "--json", env=cli_env
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["marked_copy"] is True and report["rows"] == 50
    configured = {(r.table, r.column, 50) for r in load_rules(PROJECT_ROOT)}
    assert {(c["table"], c["column"], c["changed"]) for c in report["columns"]} == configured
    assert {(t, c) for t, c, _ in configured} >= {("users", c) for c in PERSONAL}
    after = users(db)
    # The same key in-process gives what the command wrote.
    restore(db, before)
    run(db, mark=False)
    assert users(db) == after
