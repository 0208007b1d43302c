"""The `seeds` tables at 80 columns (and narrower), and the --json behind them.

Every table keeps all its headers whole and stays inside the terminal: long values
wrap or fold instead of pushing a column (and its header) out. A pipeline reads
--json, which carries every field a table shows.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from rich.cells import cell_len

from tests.seedproject import SCHEMA_USERS, SeedProject, seed_users

# Revision ids as `alembic revision` makes them: twelve hex digits.
SCHEMA, EVERYWHERE, PRODUCTION, DEVELOPMENT = (
    "1a2b3c4d5e6f",
    "2b3c4d5e6f70",
    "3c4d5e6f7081",
    "4d5e6f708192",
)
KEY = "k" * 32

HEADERS = {
    "status": ["revision", "runs in", "state", "ran in", "rows", "applied"],
    "plan": ["revision", "action", "table", "rows", "rows/s"],
    "summary": ["table", "rows"],
    "anonymize": ["column", "kind", "unique", "rows", "changed"],
}


@pytest.fixture
def project(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> SeedProject:
    """A database at EVERYWHERE + PRODUCTION (skipped), DEVELOPMENT pending, EVERYWHERE
    edited since it ran (drift), and a row of the application's in users."""
    p = SeedProject(tmp_path / "narrow", database_url, monkeypatch)
    p.revision(SCHEMA, SCHEMA_USERS)
    p.revision(EVERYWHERE, seed_users('["development", "staging", "testing"]', count=5))
    p.revision(PRODUCTION, seed_users('["production"]').replace("user{n}", "prod{n}"))
    p.revision(DEVELOPMENT, seed_users('["development"]', count=2).replace("user{n}", "dev{n}"))
    (p.root / "pyproject.toml").write_text(
        '[project]\nname = "narrow"\n\n[tool.seeds.anonymize]\n'
        '"users.email" = "email"\n"users.username" = "user_name"\n"posts.title" = "text"\n'
    )
    p.upgrade(PRODUCTION, env="development")
    path = p.root / "migrations" / "versions" / f"{EVERYWHERE}.py"
    path.write_text(path.read_text().replace("post of", "a post of"))
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO users (username, email) VALUES ('app', 'a@x.org')"))
    engine.dispose()
    return p


def seeds(project: SeedProject, *args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    return project.cli(
        "seeds", *args, APP_ENV="development", COLUMNS=str(columns), SEEDS_ANONYMIZE_KEY=KEY
    )


def table_lines(output: str) -> list[str]:
    """The table of a command's output: its title's (last) line to its bottom border.

    Lines around it (plan's header and notes) are not part of it: they stay one line
    each, however long, so they can be grepped.
    """
    lines = output.splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith("┏"))
    bottom = max(i for i, line in enumerate(lines) if line.startswith("└"))
    return lines[top - 1 : bottom + 1]


def header_names(lines: list[str]) -> list[list[str]]:
    """The header row(s) split into cells (one row when no header wrapped)."""
    top = next(i for i, line in enumerate(lines) if line.startswith("┏"))
    rule = next(i for i, line in enumerate(lines) if line.startswith("┡"))
    return [[c.strip() for c in line.strip("┃").split("┃")] for line in lines[top + 1 : rule]]


COMMANDS = {
    "status": ("status",),
    "plan": ("plan",),
    "plan --downgrade": ("plan", "--downgrade", SCHEMA),
    "summary": ("summary",),
    "anonymize": ("anonymize", "--dry-run"),
}


def test_every_table_fits_80_columns_with_its_headers_whole(project: SeedProject) -> None:
    for name, args in COMMANDS.items():
        result = seeds(project, *args)
        assert result.returncode in (0, 3), (name, result.stderr)  # status: 3 is drift
        lines = table_lines(result.stdout)
        assert header_names(lines) == [HEADERS[args[0]]], (name, result.stdout)
        too_wide = [line for line in lines if cell_len(line) > 80]
        assert too_wide == [], (name, result.stdout)
    status = seeds(project, "status").stdout
    assert "development" in status and "staging" in status and "(drift)" in status
    for revision in (EVERYWHERE, PRODUCTION, DEVELOPMENT):
        assert revision in status  # whole, not cut


def test_titles_take_one_line(project: SeedProject, engine: sa.Engine) -> None:
    database = engine.url.database
    summary = table_lines(seeds(project, "summary").stdout)
    assert summary[0].strip() == f"database {database} at revision {PRODUCTION}"
    down = table_lines(seeds(project, "plan", "--downgrade", SCHEMA).stdout)
    assert down[0].strip() == f"plan: downgrade to {SCHEMA} (nothing was changed)"


@pytest.mark.parametrize("columns", [60, 40])
def test_narrower_terminals_wrap_and_stay_inside(project: SeedProject, columns: int) -> None:
    for name, args in COMMANDS.items():
        result = seeds(project, *args, columns=columns)
        assert result.returncode in (0, 3), (name, result.stderr)
        lines = table_lines(result.stdout)
        assert max(cell_len(line) for line in lines) <= columns, (name, result.stdout)


def test_json_carries_every_field_of_the_tables(project: SeedProject) -> None:
    status = json.loads(seeds(project, "status", "--json").stdout)
    everywhere = next(s for s in status if s["revision"] == EVERYWHERE)
    assert everywhere["environments"] == ["development", "staging", "testing"]
    assert everywhere["state"] == "applied" and everywhere["drift"] is True
    assert everywhere["environment"] == "development"
    assert everywhere["row_counts"] == {"users": 5, "posts": 5}
    assert everywhere["applied_at"] and everywhere["duration_ms"] is not None
    assert {s["revision"]: s["state"] for s in status} == {
        EVERYWHERE: "applied",
        PRODUCTION: "skipped",
        DEVELOPMENT: "pending",
    }

    plan = json.loads(seeds(project, "plan", "--json").stdout)
    assert (plan["action"], plan["target"], plan["environment"]) == (
        "upgrade",
        "head",
        "development",
    )
    assert plan["database"] and plan["steps"]
    [up] = plan["outcomes"]
    assert up["revision"] == DEVELOPMENT and up["action"] == "insert"
    assert up["rows"] == {"users": 2, "posts": 2} and set(up["rows_per_second"]) == set(up["rows"])
    # PRODUCTION was skipped: there is nothing to plan for it.
    [down] = json.loads(seeds(project, "plan", "--downgrade", SCHEMA, "--json").stdout)["outcomes"]
    assert (down["revision"], down["action"]) == (EVERYWHERE, "keyed delete")
    assert down["rows"] == {"users": 5, "posts": 5}
    assert down["reason"] and "cascade" in down and "warnings" in down

    summary = json.loads(seeds(project, "summary", "--json").stdout)
    assert summary["name"] and summary["schema"] is None
    assert summary["revision"] == PRODUCTION
    assert summary["tables"] == {"posts": 5, "users": 6}

    verify = json.loads(seeds(project, "verify", "--json").stdout)
    assert [(r["rule"], r["passed"], len(r["problems"])) for r in verify] == [
        ("seed sources unchanged", False, 1),
        ("ledger matches the chain", True, 0),
        ("ledger keys intact", True, 0),
    ]

    anonymize = json.loads(seeds(project, "anonymize", "--dry-run", "--json").stdout)
    [column, *_] = anonymize["columns"]
    assert set(column) >= {"table", "column", "kind", "unique", "rows", "changed", "samples"}
    assert anonymize["dry_run"] is True and anonymize["rows"] > 0
