"""Tables and columns named with SQL reserved words (``user``, ``order``, ``group``,
``select``) or in mixed case work in every command, online and in ``--sql`` output,
in the default schema and another one.

Every name goes through SQLAlchemy's identifier preparer (or psycopg's
``sql.Identifier`` for COPY), so it is quoted wherever the database needs it. Part
of the engine's contract: the online tests run once per backend.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.util import CommandError

from tests.helpers import database_name, recorded_keys, version
from tests.seedproject import SeedProject

# "user" unquoted is CURRENT_USER in PostgreSQL: a column read without quotes would
# silently give the role's name instead of the key.
SCHEMA = """
_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "user",
        sa.Column("id", _id, sa.Identity(), primary_key=True),
        sa.Column("select", sa.String(50), nullable=False, unique=True),
        sa.Column("group", sa.String(50)),
        sa.Column("DisplayName", sa.String(100)),
    )
    op.create_table(
        "order",
        sa.Column("id", _id, sa.Identity(), primary_key=True),
        sa.Column(
            "user", _id, sa.ForeignKey("user.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("order", sa.Integer, nullable=False),
        sa.Column("group", sa.String(50)),
        sa.CheckConstraint('"order" >= 0', name="order_order_not_negative"),
    )
    op.create_index("ix_order_user", "order", ["user"])
    op.create_table(
        "group",
        sa.Column("user", _id, sa.ForeignKey("user.id"), primary_key=True),
        sa.Column("order", sa.Integer, primary_key=True),
        sa.Column("select", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("group")
    op.drop_table("order")
    op.drop_table("user")
"""

FROZEN = """
from seeds import Factory, Lazy, Choice

_meta = sa.MetaData()
user = sa.Table(
    "user", _meta,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("select", sa.String(50), nullable=False, unique=True),
    sa.Column("group", sa.String(50)),
    sa.Column("DisplayName", sa.String(100)),
)
order = sa.Table(
    "order", _meta,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("user", sa.BigInteger, sa.ForeignKey("user.id"), nullable=False),
    sa.Column("order", sa.Integer, nullable=False),
    sa.Column("group", sa.String(50)),
)
group = sa.Table(
    "group", _meta,
    sa.Column("user", sa.BigInteger, sa.ForeignKey("user.id"), primary_key=True),
    sa.Column("order", sa.Integer, primary_key=True),
    sa.Column("select", sa.Text),
)


class OrderFactory(Factory):
    table = "order"
    id = Lazy(lambda r: 1001 + r.n)
    user = Lazy(lambda r: 1001 + r.n % 2)
    order = Lazy(lambda r: r.n)
    group = Choice(["a", "b"])
"""

# Insert-only, keys given: it renders as SQL under --sql.
INSERTS = (
    FROZEN
    + """

@seed(environments=["development", "testing"], tables=[user, order, group])
def upgrade(ctx: SeedContext) -> None:
    ctx.insert(user, [
        {"id": 1001, "select": "ann", "group": "admins", "DisplayName": "Ann"},
        {"id": 1002, "select": "bob", "group": None, "DisplayName": "Bob"},
    ])
    ctx.ensure(user, [
        {"id": 1001, "select": "ann", "group": "admins", "DisplayName": "Ann"},
        {"id": 1003, "select": "cy", "group": "staff", "DisplayName": "Cy"},
    ], key=["select"])
    ctx.insert(order, OrderFactory.build_batch(4, seed=ctx.parameters.seed))
    ctx.insert(group, [
        {"user": 1001, "order": 1, "select": "first"},
        {"user": 1001, "order": 2, "select": "second"},
        {"user": 1002, "order": 1, "select": None},
    ])


downgrade = upgrade.downgrade
"""
)

# Reads the database: online only (reserve_keys, COPY, a cycle-free load).
BULK = (
    FROZEN
    + """

@seed(environments=["development", "testing"], tables=[user, order, group])
def upgrade(ctx: SeedContext) -> None:
    [key] = ctx.reserve_keys(user, 1)
    ctx.insert(user, [{"id": key, "select": "dee", "group": "bulk", "DisplayName": "Dee"}])
    keys = ctx.reserve_keys(order, 50)
    ctx.bulk(order, ["id", "user", "order", "group"],
             ((k, key, n, "bulk") for n, k in enumerate(keys)))
    ctx.load({group: [{"user": key, "order": 9, "select": "loaded"}]})


downgrade = upgrade.downgrade
"""
)


@pytest.fixture
def backend(each_backend: str) -> str:
    return each_backend


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    p = SeedProject(tmp_path / "reserved", database_url, monkeypatch)
    p.revision("r1", SCHEMA, doc="tables named user, order and group")
    p.revision("r2", INSERTS, doc="rows written by insert, ensure and a factory")
    p.revision("r3", BULK, doc="rows written by reserve_keys, bulk and load")
    (p.root / "pyproject.toml").write_text(
        '[project]\nname = "reserved"\n\n[tool.seeds.anonymize]\n'
        '"user.select" = "user_name"\n"user.DisplayName" = "name"\n"order.group" = "text"\n'
    )
    return p


def content(engine: sa.Engine, schema: str | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the three tables, by key."""
    found = {}
    metadata = sa.MetaData()
    with engine.connect() as conn:
        for name in ("user", "order", "group"):
            table = sa.Table(name, metadata, autoload_with=conn, schema=schema)
            query = sa.select(table).order_by(*table.primary_key.columns)
            found[name] = [tuple(row) for row in conn.execute(query)]
    return found


def execute_script(engine: sa.Engine, sql: str) -> None:
    """Run an ``alembic --sql`` script whole, as it would be handed to the database."""
    with engine.connect() as conn:
        conn.exec_driver_sql(sql)
        conn.commit()


EMPTY: dict[str, list[tuple[Any, ...]]] = {"user": [], "order": [], "group": []}


def test_seeds_write_and_undo_exactly(project: SeedProject, engine: sa.Engine) -> None:
    project.upgrade("head")
    seeded = content(engine)
    assert sorted(row[1] for row in seeded["user"]) == ["ann", "bob", "cy", "dee"]
    assert len(seeded["order"]) == 54 and len(seeded["group"]) == 4
    project.downgrade("r1")
    assert content(engine) == EMPTY
    project.upgrade("head")
    assert content(engine) == seeded  # the same keys again

    # With a row of the application's in user, the undo deletes by key around it.
    with engine.begin() as conn:
        conn.execute(sa.insert(sa.table("user", sa.column("select"))).values(select="app"))
    project.downgrade("r1")
    left = content(engine)
    assert [row[1] for row in left["user"]] == ["app"]
    assert left["order"] == [] and left["group"] == []
    assert recorded_keys(engine) == []


REFUSED = (
    FROZEN
    + """

@seed(environments=["testing"], tables=[user, order, group])
def upgrade(ctx: SeedContext) -> None:
    ROW


downgrade = upgrade.downgrade
"""
)


@pytest.mark.parametrize(
    ("row", "named"),
    [
        ('ctx.insert(user, [{"select": "ann"}])', "table user row 0 column select: "),
        ('ctx.insert(order, [{"user": 9999, "order": 1}])', "table order row 0 column user: "),
        ('ctx.insert(group, [{"user": 1001, "order": 1}])', "table group row 0 column user: "),
    ],
)
def test_a_refused_row_is_named_by_its_column(
    project: SeedProject, engine: sa.Engine, row: str, named: str
) -> None:
    project.upgrade("head")
    project.revision("r4", REFUSED.replace("ROW", row))
    with pytest.raises(CommandError, match=f"seed r4: {named}"):
        project.upgrade("head")
    assert version(engine) == "r3"


def seeds(project: SeedProject, *args: str, **environ: str) -> Any:
    """Run a ``seeds`` command in development; parse its --json output."""
    result = project.cli("seeds", *args, APP_ENV="development", **environ)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if "--json" in args else result.stdout


@pytest.mark.requires("offline_inserts")
def test_sql_output_quotes_every_name_and_runs(project: SeedProject, engine: sa.Engine) -> None:
    up = project.cli("alembic", "upgrade", "r2", "--sql", APP_ENV="development")
    assert up.returncode == 0, up.stderr
    assert 'INSERT INTO "user" (id, "select", "group", "DisplayName") VALUES' in up.stdout
    assert 'ON CONFLICT ("select") DO NOTHING' in up.stdout
    assert 'INSERT INTO "order" (id, "user", "order", "group") VALUES' in up.stdout
    assert 'INSERT INTO "group" ("user", "order", "select") VALUES' in up.stdout
    execute_script(engine, up.stdout)
    assert version(engine) == "r2"
    written = content(engine)
    assert [row[1] for row in written["user"]] == ["ann", "bob", "cy"]
    assert len(written["order"]) == 4 and len(written["group"]) == 3

    # What the script recorded is what the online downgrade removes.
    project.downgrade("r1", env="development")
    assert content(engine) == EMPTY
    refused = project.cli("alembic", "downgrade", "r2:r1", "--sql", APP_ENV="development")
    assert refused.returncode != 0
    assert "seed r2: its downgrade reads the ledger" in refused.stdout  # --sql: all on stdout
    down = project.cli("alembic", "downgrade", "r1:base", "--sql", APP_ENV="development")
    assert down.returncode == 0, down.stderr
    assert 'DROP TABLE "order"' in down.stdout
    execute_script(engine, down.stdout)
    inspector = sa.inspect(engine)
    assert not any(inspector.has_table(name) for name in ("user", "order", "group"))


@pytest.mark.requires("dry_run")
def test_every_seeds_command_reads_and_writes_them(project: SeedProject, engine: sa.Engine) -> None:
    project.upgrade("r1", env="development")
    up = seeds(project, "plan", "--json")["outcomes"]
    assert [(p["revision"], p["rows"]) for p in up] == [
        ("r2", {"user": 3, "order": 4, "group": 3}),
        ("r3", {"user": 1, "order": 50, "group": 1}),
    ]
    project.upgrade("head", env="development")
    status = seeds(project, "status", "--json")
    assert [s["row_counts"] for s in status] == [
        {"user": 3, "order": 4, "group": 3},
        {"user": 1, "order": 50, "group": 1},
    ]
    assert "3 passed, 0 failed" in seeds(project, "verify")
    summary = seeds(project, "summary", "--json")
    assert summary["tables"] == {"group": 4, "order": 54, "user": 4}
    down = seeds(project, "plan", "--downgrade", "r1", "--json")["outcomes"]
    assert [(p["revision"], p["method"]) for p in down] == [("r3", "delete"), ("r2", "truncate")]

    # A row of the application's referencing a seeded user is named in the plan.
    application_order = sa.table("order", sa.column("user"), sa.column("order"))
    with engine.begin() as conn:
        conn.execute(sa.insert(application_order).values(user=1001, order=7777))
    blocked = seeds(project, "plan", "--downgrade", "r1", "--json")["outcomes"][1]["blocked_by"]
    assert blocked == [
        {
            "table": "order",
            "constraint": "order_user_fkey",
            "references": "user",
            "on_delete": "CASCADE",
            "rows": 1,
        }
    ]
    with engine.begin() as conn:
        conn.execute(sa.delete(application_order).where(application_order.c.order == 7777))

    # seeds new freezes the three tables; the revision it writes seeds and undoes them.
    wrote = seeds(project, "new", "more", "--env", "development", "--tables", "user,order,group")
    path = Path(wrote.split("wrote ", 1)[1].strip())
    source = path.read_text()
    assert "tables=[user, order, group]" in source
    end = "    # instead of the clock. The downgrade removes exactly the rows inserted here.\n"
    path.write_text(
        source.replace(
            end,
            end
            + '    ctx.insert(user, [{"id": 5000, "select": "new"}])\n'
            + '    ctx.insert(order, [{"user": 5000, "order": 1}])\n'
            + '    ctx.insert(group, [{"user": 5000, "order": 1, "select": "x"}])\n',
        )
    )
    project.upgrade("head", env="development")
    assert summary["tables"] != seeds(project, "summary", "--json")["tables"]
    project.downgrade("r3", env="development")
    assert seeds(project, "summary", "--json")["tables"] == summary["tables"]

    # anonymize rewrites the reserved-word columns of a copy; restamp accepts it after.
    db = database_name(engine)
    key = {"SEEDS_ANONYMIZE_KEY": "k" * 32}
    report = seeds(project, "anonymize", "--mark-copy", db, "--json", **key)
    assert {(c["table"], c["column"]): c["changed"] for c in report["columns"]} == {
        ("user", "select"): 4,
        ("user", "DisplayName"): 4,
        ("order", "group"): 54,
    }
    assert "ann" not in [row[1] for row in content(engine)["user"]]
    assert seeds(project, "restamp", "staging", "--database", db, "--json")["environment"] == (
        "staging"
    )


@pytest.mark.requires("offline_inserts", "dry_run")
def test_in_another_schema(project: SeedProject, engine: sa.Engine) -> None:
    tenant = {"SCHEMA": "tenant_a"}
    up = project.cli("alembic", "upgrade", "r2", "--sql", APP_ENV="development", **tenant)
    assert up.returncode == 0, up.stderr
    assert "CREATE SCHEMA IF NOT EXISTS tenant_a" in up.stdout
    execute_script(engine, up.stdout)
    head = project.cli("alembic", "upgrade", "head", APP_ENV="development", **tenant)
    assert head.returncode == 0, head.stderr
    assert len(content(engine, "tenant_a")["order"]) == 54
    assert not sa.inspect(engine).has_table("user")  # nothing in public

    status = seeds(project, "status", "--json", **tenant)
    assert [(s["revision"], s["state"]) for s in status] == [("r2", "applied"), ("r3", "applied")]
    assert "3 passed, 0 failed" in seeds(project, "verify", **tenant)
    summary = seeds(project, "summary", "--json", **tenant)
    assert (summary["schema"], summary["tables"]) == (
        "tenant_a",
        {"group": 4, "order": 54, "user": 4},
    )
    down = seeds(project, "plan", "--downgrade", "r1", "--json", **tenant)["outcomes"]
    assert [p["revision"] for p in down] == ["r3", "r2"]

    undo = project.cli("alembic", "downgrade", "r1", APP_ENV="development", **tenant)
    assert undo.returncode == 0, undo.stderr
    assert content(engine, "tenant_a") == EMPTY
