"""The ``seeds`` command. Human output is printed here and nowhere else.

Exit codes: 0 success; 1 the command could not do its work (a clear one-line
error) or ``verify`` found problems; 2 bad usage (click's own code); 3 ``status``
found an applied seed whose source changed since it ran (drift).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import click
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from seeds.errors import ConfigurationError, SeedError
from seeds.integrations import render
from seeds.runtime.database import Target, connect
from seeds.runtime.environment import Environment
from seeds.runtime.project import (
    AppConfig,
    alembic_config,
    parse_x_pairs,
    project_root,
    target_for,
)
from seeds.runtime.run import dry_run
from seeds.runtime.settings import load_settings
from seeds.tools import verification
from seeds.tools.adoption import plan_init, uses_flask
from seeds.tools.authoring import new_seed_revision
from seeds.tools.inspection import table_row_counts
from seeds.tools.status import collect, stamped_environment


class _SeedErrorsAsMessages(click.Group):
    """Turn expected errors into one red line and exit code 1, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (SeedError, CommandError) as err:
            render.err_console.print(f"[red]error:[/red] {err}", highlight=False)
            sys.exit(1)


@click.group(cls=_SeedErrorsAsMessages)
@click.option("-v", "--verbose", count=True, help="Log at INFO (DEBUG with -vv).")
def main(verbose: int) -> None:
    """Seedchain: seed data in the Alembic version chain."""
    level = {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)-5.5s [%(name)s] %(message)s")


def _host_app() -> AppConfig | None:
    """In a Flask-Migrate project, the Flask app's settings, its context entered for the
    rest of the command; None elsewhere. Loaded once, on first need."""
    ctx = click.get_current_context()
    if "seeds.app" not in ctx.meta:
        app = None
        if uses_flask(project_root()):
            from seeds.integrations.flask import loaded_app  # Flask is an optional extra

            app = ctx.with_resource(loaded_app())
        ctx.meta["seeds.app"] = app
    app_config: AppConfig | None = ctx.meta["seeds.app"]
    return app_config


def _target(schema: str | None) -> Target:
    """The command's database: DATABASE_URL, else the Flask app's, else the local one."""
    return target_for(schema, _host_app())


_X_OPTION = click.option(
    "-x",
    "x_pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Like alembic -x: env=, schema=, seed=, now=, allow_unsafe=, counts.",
)
_JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


@main.group()
def devdb() -> None:
    """The project-local PostgreSQL + PostGIS development database."""


@devdb.command("install")
def devdb_install() -> None:
    """Install PostgreSQL and PostGIS (Debian packages) if missing; print what was installed."""
    from seeds.dev.devdb import DevDB

    for package in DevDB(project_root()).install():
        click.echo(f"installed {package}")


@devdb.command("start")
def devdb_start() -> None:
    """Start it (initialising it the first time); print its URL."""
    from seeds.dev.devdb import DevDB

    click.echo(DevDB(project_root()).start())


@devdb.command("stop")
def devdb_stop() -> None:
    """Stop it, if it runs."""
    from seeds.dev.devdb import DevDB

    stopped = DevDB(project_root()).stop()
    click.echo("stopped" if stopped else "not running")


@devdb.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def devdb_status(as_json: bool) -> None:
    """Say whether it runs, where, and on which port. Exit 1 when it is not running."""
    from seeds.dev.devdb import DevDB

    status = DevDB(project_root()).status()
    fields = {
        "running": status.running,
        "pid": status.pid,
        "data_dir": str(status.data_dir),
        "port": status.port,
        "url": status.url,
    }
    if as_json:
        click.echo(json.dumps(fields))
    else:
        for key, value in fields.items():
            click.echo(f"{key:9} {value}")
    sys.exit(0 if status.running else 1)


@devdb.command("url")
def devdb_url() -> None:
    """Print its SQLAlchemy URL (for DATABASE_URL)."""
    from seeds.dev.devdb import DevDB

    click.echo(DevDB(project_root()).url())


@main.command()
@click.option("--schema", envvar="SCHEMA", default=None, help="PostgreSQL schema to count.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def summary(schema: str | None, as_json: bool) -> None:
    """Rows per table and the Alembic revision of the database."""
    target = _target(schema)
    with connect(target) as conn:
        revision, counts = table_row_counts(conn, target.schema)
    if as_json:
        fields = {
            "database": target.display,
            "name": target.url.database,
            "schema": target.schema,
            "revision": revision,
            "tables": counts,
        }
        click.echo(json.dumps(fields))
        return
    render.summary(target.url.database, revision, counts)


@main.command()
@click.option("--schema", envvar="SCHEMA", default=None, help="PostgreSQL schema.")
@_JSON_OPTION
def status(schema: str | None, as_json: bool) -> None:
    """Every seed revision: applied/skipped/pending, environment, rows, when, drift."""
    target = _target(schema)
    script = ScriptDirectory.from_config(alembic_config({}))
    with connect(target) as conn:
        statuses = collect(conn, script, target.schema)
    drifted = [s.revision for s in statuses if s.drift]
    if as_json:
        click.echo(json.dumps([s.as_json() for s in statuses], indent=2))
    else:
        render.status(statuses)
    sys.exit(3 if drifted else 0)


# A relative target such as -1 looks like an option to click; let it be the argument.
@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("target", default="head")
@click.option("--downgrade", "down", is_flag=True, help="Plan a downgrade to TARGET.")
@_X_OPTION
@_JSON_OPTION
def plan(target: str, down: bool, x_pairs: tuple[str, ...], as_json: bool) -> None:
    """What upgrading (or --downgrade) to TARGET would insert or remove, per table.

    The migration runs for real inside a transaction that is always rolled back, so
    the plan is exact (TRUNCATE cascade reach included) and nothing changes. With no
    environment declared, a plan of a database that was seeded before uses the
    environment it is stamped with.
    """
    x_args = parse_x_pairs(x_pairs)
    app = _host_app()  # a Flask-Migrate env.py runs inside the app's context
    declared = x_args.get("env") or os.environ.get("APP_ENV") or (app and app.environment)
    source = "declared"
    database = _target(x_args.get("schema"))
    if not declared and not database.local_devdb:
        with connect(database) as conn:
            stamp = stamped_environment(conn)
        if stamp is None:
            names = "|".join(e.value for e in Environment)
            raise ConfigurationError(
                "no environment is declared and the database has no stamp yet (nothing "
                f"was seeded in it): pass -x env={names} or set APP_ENV"
            )
        x_args["env"], source = stamp.value, "the database's stamp"
    elif not declared:
        source = "the project-local database's default"
    result = dry_run(alembic_config(x_args), target, downgrade=down)
    action = "downgrade" if down else "upgrade"
    if as_json:
        document = {
            "action": action,
            "target": target,
            "steps": list(result.steps),
            "environment": result.environment,
            "environment_from": source,
            "database": result.database,
            "outcomes": [render.outcome_json(o) for o in result.outcomes],
        }
        click.echo(json.dumps(document, indent=2))
        return
    render.plan_header(action, target, result, source)
    render.plan(result.outcomes, f"plan: {action} to {target} (nothing was changed)")


@main.command()
@click.option("--dry-run", is_flag=True, help="Print the changes as a diff; write nothing.")
def init(dry_run: bool) -> None:
    """Wire Seedchain into this Alembic or Flask-Migrate project, keeping its env.py.

    Rewrites only env.py's connection block into a run_migrations() call, and adds
    seed.py.mako, [tool.seeds] in pyproject.toml and .devdb/ in .gitignore. Running it
    again changes nothing.
    """
    plan = plan_init(project_root())
    for note in plan.notes:
        render.err_console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    if not plan.changes:
        click.echo(f"Seedchain is already wired into {plan.root}; nothing to change")
        return
    if dry_run:
        for change in plan.changes:
            click.echo(change.diff(plan.root), nl=False)
        return
    plan.write()
    for change in plan.changes:
        verb = "created" if change.before is None else "updated"
        click.echo(f"{verb} {change.path.relative_to(plan.root)}: {change.why}")
    click.echo('next: seeds new "first seed" --env development --tables <table,...>')


@main.command()
@click.argument("message")
@click.option(
    "--env", "environments", required=True, help="Comma-separated, e.g. development,testing."
)
@click.option("--tables", required=True, help="Comma-separated tables the seed writes.")
@click.option(
    "--schema", envvar="SCHEMA", default=None, help="PostgreSQL schema to read tables from."
)
def new(message: str, environments: str, tables: str, schema: str | None) -> None:
    """Write a seed revision after head, with its tables frozen as they are now."""
    target = _target(schema)
    with connect(target) as conn:
        path = new_seed_revision(
            alembic_config({}),
            conn,
            schema=target.schema,
            message=message,
            environments=[e.strip() for e in environments.split(",") if e.strip()],
            tables=[t.strip() for t in tables.split(",") if t.strip()],
        )
    click.echo(f"wrote {path}")


@main.command()
@click.option("--schema", envvar="SCHEMA", default=None, help="PostgreSQL schema.")
@click.option("--env", "environment", default=None, help="Environment whose settings apply.")
@_JSON_OPTION
def verify(schema: str | None, environment: str | None, as_json: bool) -> None:
    """Run the verification rules (Seedchain's and the application's). Exit 1 on failure."""
    target = _target(schema)
    root = project_root()
    env = Environment.parse(environment or os.environ.get("APP_ENV") or "development", "--env")
    modules = load_settings(root, env).get("verify", [])
    verification.load_rule_modules(modules, root)
    script = ScriptDirectory.from_config(alembic_config({}))
    rules = verification.engine_rules(script, target.schema) + verification.registered_rules()
    with connect(target) as conn:
        results = verification.run_rules(conn, rules)
    failed = [r for r in results if not r.passed]
    if as_json:
        click.echo(
            json.dumps(
                [{"rule": r.name, "passed": r.passed, "problems": r.problems} for r in results],
                indent=2,
            )
        )
    else:
        render.verification(results)
    sys.exit(1 if failed else 0)


@main.command()
@click.option("--dry-run", is_flag=True, help="Report what would change; change nothing.")
@click.option(
    "--mark-copy",
    metavar="DATABASE",
    default=None,
    help="Mark this database (give its name) as a copy first; needed once per copy.",
)
@click.option(
    "--key-file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="File holding the secret key (default: $SEEDS_ANONYMIZE_KEY).",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=5000, show_default=True)
@click.option("--schema", envvar="SCHEMA", default=None, help="PostgreSQL schema of the tables.")
@_JSON_OPTION
def anonymize(
    dry_run: bool,
    mark_copy: str | None,
    key_file: str | None,
    batch_size: int,
    schema: str | None,
    as_json: bool,
) -> None:
    """Rewrite the personal columns of a copy ([tool.seeds.anonymize]) under a secret key.

    Deterministic: the same key maps the same value to the same fake everywhere. One
    transaction: a failure leaves the database as it was. Refuses a database that is
    not marked as a copy (--mark-copy NAME marks it).
    """
    # Late imports: Faker and the progress bar cost start-up time no other command needs.
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from seeds.data import pseudonyms
    from seeds.tools import anonymize as anonymization

    rules = pseudonyms.load_rules(project_root())
    key = pseudonyms.load_key(os.environ, key_file)
    target = _target(schema)
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=render.err_console,
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def advance(table: str, done: int, total: int) -> None:
        if table not in tasks:
            tasks[table] = bar.add_task(table, total=total)
        bar.update(tasks[table], completed=done)

    with bar, connect(target) as conn:
        report = anonymization.anonymize(
            conn,
            rules,
            key,
            schema=target.schema,
            batch_size=batch_size,
            dry_run=dry_run,
            mark_copy=mark_copy,
            progress=advance,
        )
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
        return
    render.anonymization(report)


@main.command()
@click.argument("environment", type=click.Choice([e.value for e in Environment]))
@click.option(
    "--database",
    metavar="NAME",
    required=True,
    help="This database's name: the re-stamp must name the database it is meant for.",
)
@click.option("--schema", envvar="SCHEMA", default=None, help="PostgreSQL schema of the ledger.")
@_JSON_OPTION
def restamp(environment: str, database: str, schema: str | None, as_json: bool) -> None:
    """Re-stamp an anonymized copy as ENVIRONMENT (staging, say).

    A restored production copy stays protected as production (its stamp and its
    ledger rows say so) until `seeds anonymize` has completed on it after
    --mark-copy; then this records that it protects itself as ENVIRONMENT, so
    development runs and downgrades no longer need -x allow_unsafe. Refused otherwise.
    """
    from seeds.tools import anonymize as anonymization

    target = _target(schema)
    with connect(target) as conn:
        report = anonymization.restamp(conn, Environment(environment), database)
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
        return
    render.restamp(report)


@main.command()
@click.option(
    "--rows",
    default=1_000_000,
    show_default=True,
    help="Users per strategy; N of the whole command and of the undo.",
)
@click.option(
    "--large-rows",
    default=5_000_000,
    show_default=True,
    help="A second N for the whole command.",
)
@click.option("--skip-large", is_flag=True, help="Leave the second N out (a quick run).")
@click.option(
    "--slow-rows",
    default=30_000,
    show_default=True,
    help="Rows the slow strategies are timed on (then extrapolated).",
)
@click.option("--stores", default=100_000, show_default=True, help="Stores of the PostGIS section.")
@click.option(
    "--write",
    "output",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the report (e.g. BENCHMARKS.md).",
)
@click.option(
    "--chart",
    type=click.Path(path_type=Path),
    default=None,
    help="Also draw the chart (PNG), linked from the report.",
)
def bench(
    rows: int,
    large_rows: int,
    skip_large: bool,
    slow_rows: int,
    stores: int,
    output: Path | None,
    chart: Path | None,
) -> None:
    """Generate, load, migrate and undo users every way, side by side, in one run.

    Always on scratch databases of the project-local cluster (created and dropped
    here), never DATABASE_URL: the benchmark creates and drops databases.
    """
    from seeds.dev.bench import charts, harness, report

    # The benchmark's progress, whatever -v says (the seeds it runs stay quiet).
    logging.getLogger("seeds.dev.bench").setLevel(logging.INFO)
    options = harness.Options(
        rows=rows,
        large_rows=None if skip_large else large_rows,
        slow_rows=slow_rows,
        stores=stores,
    )
    results, details = harness.run_local(project_root(), options)
    link = None
    if chart is not None:
        charts.draw(results, details, chart)
        folder = (output or Path.cwd() / "BENCHMARKS.md").resolve().parent
        link = Path(os.path.relpath(chart.resolve(), folder)).as_posix()
    text = report.markdown(results, details, options, link)
    click.echo(text)
    if output is not None:
        output.write_text(text)
