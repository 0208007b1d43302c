"""scripts/bench at a tiny size: every section is measured and written, and the chart drawn.

Figures are never asserted here (they are wall-clock times); only that the report has
every section, the machine and versions on top, every strategy, and a PNG.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from seeds.dev.bench import charts, harness, loading, report
from seeds.dev.bench.databases import ScratchDatabases
from seeds.dev.bench.machine import machine
from seeds.dev.bench.results import Section
from seeds.dev.devdb import DevDB
from tests.helpers import PROJECT_ROOT

TINY = harness.Options(
    rows=300, large_rows=600, slow_rows=100, naive_rows=100, stores=120, slow_stores=60
)


def test_a_tiny_run_writes_every_section_the_machine_and_the_chart(
    database_url: str, devdb: DevDB, tmp_path: Path
) -> None:
    databases = ScratchDatabases(devdb, prefix=f"test_bench_{uuid.uuid4().hex[:8]}_")
    try:
        results = harness.run(database_url, databases, PROJECT_ROOT, TINY)
    finally:
        databases.drop_all()
    details = machine(database_url)
    chart = tmp_path / "docs" / "benchmarks.png"
    charts.draw(results, details, chart)
    text = report.markdown(results, details, TINY, "docs/benchmarks.png")

    assert {r.section for r in results} == set(Section)
    for title in report.TITLES.values():
        assert f"\n## {title}\n" in text
    assert "(not run)" not in text
    machine_rows = text[: text.index("\n## ")]
    for key in ["cpu", "cores", "memory", "python", "PostgreSQL", "PostGIS", "SQLAlchemy"]:
        assert f"| {key} |" in machine_rows
    for package in ["psycopg", "numpy", "Faker", "alembic", "factory_boy", "matplotlib"]:
        assert f"| {package} |" in machine_rows
    for strategy in loading.STRATEGIES:
        assert f"| {strategy.name} |" in text
    assert "*extrapolated*" in text  # the slow strategies ran on fewer rows
    assert "| 300 |" in text and "| 600 |" in text  # the whole command at both sizes
    assert "keyed delete" in text  # the undo says how it went
    assert "](docs/benchmarks.png)" in text
    assert chart.read_bytes().startswith(b"\x89PNG")
